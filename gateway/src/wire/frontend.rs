//! Frontend (client → server) messages: framing with size limits, and
//! decoding that never panics on malformed input.
//!
//! Weir decodes frontend messages itself rather than through pgwire's codec
//! for two reasons: a truncated or lying message must become a clean
//! `08P01` error (never a panic on a short buffer), and text must be valid
//! UTF-8 (`22021`), not silently replaced.

use bytes::{Buf, Bytes, BytesMut};

use crate::error::{Result, WeirError};

/// Largest startup-phase packet (startup, SSLRequest, CancelRequest,
/// password and SASL messages), as in PostgreSQL.
pub const STARTUP_LIMIT: usize = 10_000;

/// The untyped first packet of a connection.
#[derive(Debug, PartialEq, Eq)]
pub enum StartupPacket {
    /// `SSLRequest`.
    SslRequest,
    /// `GSSENCRequest`.
    GssEncRequest,
    /// `CancelRequest` for backend `pid` with `secret`.
    Cancel {
        /// Backend process id.
        pid: i32,
        /// Secret key bytes (4 bytes in protocol 3.0, up to 256 in 3.2).
        secret: Bytes,
    },
    /// `StartupMessage`.
    Startup {
        /// Requested protocol version (major << 16 | minor).
        version: i32,
        /// Parameters (user, database, options, ...), in order.
        params: Vec<(String, String)>,
    },
}

const SSL_REQUEST: i32 = 80_877_103;
const GSSENC_REQUEST: i32 = 80_877_104;
const CANCEL_REQUEST: i32 = 80_877_102;

/// Decode a complete untyped packet body (after its length word).
pub fn decode_startup(mut body: Bytes) -> Result<StartupPacket> {
    let code = Reader::new(&mut body).i32("startup packet code")?;
    match code {
        SSL_REQUEST | GSSENC_REQUEST if !body.is_empty() => Err(WeirError::Protocol(
            "invalid length of encryption request packet".into(),
        )),
        SSL_REQUEST => Ok(StartupPacket::SslRequest),
        GSSENC_REQUEST => Ok(StartupPacket::GssEncRequest),
        CANCEL_REQUEST => {
            let pid = Reader::new(&mut body).i32("cancel request pid")?;
            if body.len() < 4 || body.len() > 256 {
                return Err(WeirError::Protocol(
                    "invalid length of cancel request packet".into(),
                ));
            }
            Ok(StartupPacket::Cancel { pid, secret: body })
        }
        version if version >> 16 == 3 => {
            let mut params = Vec::new();
            let mut r = Reader::new(&mut body);
            loop {
                let name = r.cstr("startup parameter name")?;
                if name.is_empty() {
                    break;
                }
                let value = r.cstr("startup parameter value")?;
                params.push((name, value));
            }
            if !body.is_empty() {
                return Err(WeirError::Protocol(
                    "invalid startup packet layout: expected terminator as last byte".into(),
                ));
            }
            Ok(StartupPacket::Startup { version, params })
        }
        version => Err(WeirError::NotSupported(format!(
            "unsupported frontend protocol {}.{}: server supports 3.0 to 3.0",
            version >> 16,
            version & 0xffff
        ))),
    }
}

/// A typed frontend message.
#[derive(Debug, PartialEq, Eq)]
pub enum Message {
    /// `Q`: simple query.
    Query(String),
    /// `P`: Parse.
    Parse {
        /// Statement name ("" = unnamed).
        name: String,
        /// SQL text.
        sql: String,
        /// Declared parameter type OIDs (0 = infer).
        param_types: Vec<u32>,
    },
    /// `B`: Bind.
    Bind {
        /// Portal name.
        portal: String,
        /// Statement name.
        statement: String,
        /// Parameter format codes (0 text, 1 binary; 0 or 1 entries apply to all).
        param_formats: Vec<i16>,
        /// Parameter values (`None` = NULL).
        params: Vec<Option<Bytes>>,
        /// Result column format codes.
        result_formats: Vec<i16>,
    },
    /// `D`: Describe a statement (`S`) or portal (`P`).
    Describe {
        /// `S` or `P`.
        kind: u8,
        /// Name.
        name: String,
    },
    /// `E`: Execute.
    Execute {
        /// Portal name.
        portal: String,
        /// Row limit, 0 = all.
        max_rows: i32,
    },
    /// `C`: Close a statement (`S`) or portal (`P`).
    Close {
        /// `S` or `P`.
        kind: u8,
        /// Name.
        name: String,
    },
    /// `S`: Sync.
    Sync,
    /// `H`: Flush.
    Flush,
    /// `X`: Terminate.
    Terminate,
    /// `p`: password, SASLInitialResponse or SASLResponse (raw body).
    Password(Bytes),
    /// `d`, `c`, `f`: COPY messages (Weir has no COPY FROM STDIN yet).
    Copy(u8),
}

/// Decode a typed message whose body is complete.
pub fn decode(tag: u8, mut body: Bytes) -> Result<Message> {
    let mut r = Reader::new(&mut body);
    let msg = match tag {
        b'Q' => Message::Query(r.cstr("query string")?),
        b'P' => {
            let name = r.cstr("statement name")?;
            let sql = r.cstr("query string")?;
            let n = r.count("parameter type count", 4)?;
            let mut param_types = Vec::with_capacity(n);
            for _ in 0..n {
                param_types.push(r.i32("parameter type")? as u32);
            }
            Message::Parse {
                name,
                sql,
                param_types,
            }
        }
        b'B' => {
            let portal = r.cstr("portal name")?;
            let statement = r.cstr("statement name")?;
            let n = r.count("parameter format count", 2)?;
            let mut param_formats = Vec::with_capacity(n);
            for _ in 0..n {
                param_formats.push(r.format()?);
            }
            let n = r.count("parameter count", 4)?;
            let mut params = Vec::with_capacity(n);
            for _ in 0..n {
                let len = r.i32("parameter length")?;
                params.push(match len {
                    -1 => None,
                    len if len < 0 => {
                        return Err(WeirError::Protocol(format!(
                            "invalid parameter length {len}"
                        )))
                    }
                    len => Some(r.bytes(len as usize, "parameter value")?),
                });
            }
            let n = r.count("result format count", 2)?;
            let mut result_formats = Vec::with_capacity(n);
            for _ in 0..n {
                result_formats.push(r.format()?);
            }
            Message::Bind {
                portal,
                statement,
                param_formats,
                params,
                result_formats,
            }
        }
        b'D' | b'C' => {
            let kind = r.u8("describe/close target")?;
            if kind != b'S' && kind != b'P' {
                return Err(WeirError::Protocol(format!(
                    "invalid {} message subtype {}",
                    if tag == b'D' { "DESCRIBE" } else { "CLOSE" },
                    kind
                )));
            }
            let name = r.cstr("name")?;
            if tag == b'D' {
                Message::Describe { kind, name }
            } else {
                Message::Close { kind, name }
            }
        }
        b'E' => {
            let portal = r.cstr("portal name")?;
            let max_rows = r.i32("row limit")?;
            Message::Execute {
                portal,
                max_rows: max_rows.max(0),
            }
        }
        b'S' => Message::Sync,
        b'H' => Message::Flush,
        b'X' => Message::Terminate,
        b'p' => return Ok(Message::Password(body)),
        b'd' | b'c' | b'f' => return Ok(Message::Copy(tag)),
        other => {
            return Err(WeirError::Protocol(format!(
                "invalid frontend message type {}",
                if other.is_ascii_graphic() {
                    format!("'{}'", other as char)
                } else {
                    other.to_string()
                }
            )))
        }
    };
    if !body.is_empty() {
        return Err(WeirError::Protocol(format!(
            "invalid message format: {} trailing bytes in message '{}'",
            body.len(),
            tag as char
        )));
    }
    Ok(msg)
}

/// A bounds-checked cursor over a message body.
pub struct Reader<'a> {
    buf: &'a mut Bytes,
}

impl<'a> Reader<'a> {
    /// Read from `buf`, consuming it.
    pub fn new(buf: &'a mut Bytes) -> Self {
        Self { buf }
    }

    fn short(what: &str) -> WeirError {
        WeirError::Protocol(format!(
            "invalid message format: message ends inside {what}"
        ))
    }

    /// One byte.
    pub fn u8(&mut self, what: &str) -> Result<u8> {
        if self.buf.remaining() < 1 {
            return Err(Self::short(what));
        }
        Ok(self.buf.get_u8())
    }

    /// A big-endian i16.
    pub fn i16(&mut self, what: &str) -> Result<i16> {
        if self.buf.remaining() < 2 {
            return Err(Self::short(what));
        }
        Ok(self.buf.get_i16())
    }

    /// A big-endian i32.
    pub fn i32(&mut self, what: &str) -> Result<i32> {
        if self.buf.remaining() < 4 {
            return Err(Self::short(what));
        }
        Ok(self.buf.get_i32())
    }

    /// An i16 element count, checked against the bytes left.
    fn count(&mut self, what: &str, min_elem: usize) -> Result<usize> {
        let n = self.i16(what)?;
        if n < 0 || n as usize * min_elem > self.buf.remaining() {
            return Err(WeirError::Protocol(format!(
                "invalid message format: bad {what} {n}"
            )));
        }
        Ok(n as usize)
    }

    fn format(&mut self) -> Result<i16> {
        let f = self.i16("format code")?;
        if f != 0 && f != 1 {
            return Err(WeirError::Protocol(format!("unsupported format code: {f}")));
        }
        Ok(f)
    }

    /// `n` raw bytes.
    pub fn bytes(&mut self, n: usize, what: &str) -> Result<Bytes> {
        if self.buf.remaining() < n {
            return Err(Self::short(what));
        }
        Ok(self.buf.split_to(n))
    }

    /// A NUL-terminated UTF-8 string.
    pub fn cstr(&mut self, what: &'static str) -> Result<String> {
        let end = self.buf.iter().position(|b| *b == 0).ok_or_else(|| {
            WeirError::Protocol(format!("invalid message format: unterminated {what}"))
        })?;
        let raw = self.buf.split_to(end);
        self.buf.advance(1);
        String::from_utf8(raw.to_vec()).map_err(|_| WeirError::InvalidUtf8(what))
    }
}

/// Split one complete typed message off `buf`, if there is one. Declared
/// lengths below 4 or above `limit` are errors before any body is buffered.
pub fn split_message(buf: &mut BytesMut, limit: usize) -> Result<Option<(u8, Bytes)>> {
    if buf.len() < 5 {
        return Ok(None);
    }
    let tag = buf[0];
    let len = i32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]);
    if len < 4 {
        return Err(WeirError::Protocol(format!("invalid message length {len}")));
    }
    let len = len as usize;
    if len - 4 > limit {
        return Err(WeirError::MessageTooLarge { len, limit });
    }
    if buf.len() < 1 + len {
        buf.reserve(1 + len - buf.len());
        return Ok(None);
    }
    let mut frame = buf.split_to(1 + len);
    frame.advance(5);
    Ok(Some((tag, frame.freeze())))
}

/// Split one complete untyped startup-phase packet off `buf`.
pub fn split_startup(buf: &mut BytesMut) -> Result<Option<Bytes>> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    if !(8..=STARTUP_LIMIT as i32).contains(&len) {
        return Err(WeirError::Protocol(format!(
            "invalid length of startup packet: {len}"
        )));
    }
    let len = len as usize;
    if buf.len() < len {
        return Ok(None);
    }
    let mut frame = buf.split_to(len);
    frame.advance(4);
    Ok(Some(frame.freeze()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn frame(tag: u8, body: &[u8]) -> BytesMut {
        let mut b = BytesMut::new();
        b.extend_from_slice(&[tag]);
        b.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
        b.extend_from_slice(body);
        b
    }

    #[test]
    fn parses_a_bind_with_null_and_binary_parameters() {
        let mut body = Vec::new();
        body.extend_from_slice(b"p1\0s1\0");
        body.extend_from_slice(&1i16.to_be_bytes());
        body.extend_from_slice(&1i16.to_be_bytes());
        body.extend_from_slice(&2i16.to_be_bytes());
        body.extend_from_slice(&(-1i32).to_be_bytes());
        body.extend_from_slice(&4i32.to_be_bytes());
        body.extend_from_slice(&7i32.to_be_bytes());
        body.extend_from_slice(&0i16.to_be_bytes());
        let mut buf = frame(b'B', &body);
        let (tag, body) = split_message(&mut buf, 1 << 20).unwrap().unwrap();
        let Message::Bind {
            portal,
            params,
            param_formats,
            ..
        } = decode(tag, body).unwrap()
        else {
            panic!("not a bind")
        };
        assert_eq!(portal, "p1");
        assert_eq!(param_formats, vec![1]);
        assert_eq!(params, vec![None, Some(Bytes::from_static(&[0, 0, 0, 7]))]);
    }

    #[test]
    fn lengths_are_checked_before_buffering() {
        let mut buf = BytesMut::from(&[b'Q', 0x7f, 0xff, 0xff, 0xff][..]);
        assert!(matches!(
            split_message(&mut buf, 1024),
            Err(WeirError::MessageTooLarge { .. })
        ));
        let mut buf = BytesMut::from(&[b'Q', 0, 0, 0, 2][..]);
        assert!(split_message(&mut buf, 1024).is_err());
        let mut buf = BytesMut::from(&[0xff, 0xff, 0xff, 0xf0, 0, 0, 0, 0][..]);
        assert!(split_startup(&mut buf).is_err());
    }

    #[test]
    fn invalid_utf8_is_22021_not_replaced() {
        let e = decode(b'Q', Bytes::from_static(b"SELECT '\xff'\0")).unwrap_err();
        assert_eq!(e.to_client().code, "22021");
    }

    #[test]
    fn truncated_cancel_and_padded_ssl_requests_are_rejected() {
        let mut cancel = Vec::new();
        cancel.extend_from_slice(&CANCEL_REQUEST.to_be_bytes());
        cancel.extend_from_slice(&[0, 0]);
        assert!(decode_startup(Bytes::from(cancel)).is_err());
        let mut ssl = Vec::new();
        ssl.extend_from_slice(&SSL_REQUEST.to_be_bytes());
        ssl.extend_from_slice(b"extra");
        assert!(decode_startup(Bytes::from(ssl)).is_err());
    }

    proptest! {
        // Whatever bytes arrive, framing and decoding return Ok or Err, never panic.
        #[test]
        fn typed_messages_never_panic(tag in any::<u8>(), len in prop_oneof![Just(-1i32), Just(0), Just(3), Just(4), 5..64i32, Just(i32::MAX)], body in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut buf = BytesMut::new();
            buf.extend_from_slice(&[tag]);
            buf.extend_from_slice(&len.to_be_bytes());
            buf.extend_from_slice(&body);
            if let Ok(Some((tag, body))) = split_message(&mut buf, 1 << 16) {
                let _ = decode(tag, body);
            }
        }

        #[test]
        fn well_framed_garbage_never_panics(tag in prop::sample::select(b"QPBDCESHXpdcf".to_vec()), body in proptest::collection::vec(any::<u8>(), 0..128)) {
            let _ = decode(tag, Bytes::from(body));
        }

        #[test]
        fn startup_packets_never_panic(len in prop_oneof![Just(-8i32), Just(0), Just(7), Just(8), 9..64i32, Just(1_000_000)], code in prop_oneof![Just(SSL_REQUEST), Just(GSSENC_REQUEST), Just(CANCEL_REQUEST), Just(196608), any::<i32>()], rest in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut buf = BytesMut::new();
            buf.extend_from_slice(&len.to_be_bytes());
            buf.extend_from_slice(&code.to_be_bytes());
            buf.extend_from_slice(&rest);
            if let Ok(Some(body)) = split_startup(&mut buf) {
                let _ = decode_startup(body);
            }
        }
    }
}
