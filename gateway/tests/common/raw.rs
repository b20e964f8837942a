//! A raw protocol client for tests that must send what no driver sends.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Buf, BufMut, BytesMut};
use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub struct Raw {
    pub stream: TcpStream,
    buf: BytesMut,
}

/// One backend message: type byte and body.
#[derive(Debug)]
pub struct Msg {
    pub tag: u8,
    pub body: BytesMut,
}

impl Msg {
    /// Fields of an ErrorResponse/NoticeResponse by code.
    pub fn fields(&self) -> HashMap<char, String> {
        let mut out = HashMap::new();
        let mut b = &self.body[..];
        while let Some((&code, rest)) = b.split_first() {
            if code == 0 {
                break;
            }
            let end = rest.iter().position(|c| *c == 0).unwrap_or(rest.len());
            out.insert(
                code as char,
                String::from_utf8_lossy(&rest[..end]).into_owned(),
            );
            b = &rest[(end + 1).min(rest.len())..];
        }
        out
    }
}

pub fn startup_packet(params: &[(&str, &str)]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&196608i32.to_be_bytes());
    for (k, v) in params {
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut out = ((body.len() + 4) as i32).to_be_bytes().to_vec();
    out.extend_from_slice(&body);
    out
}

pub fn typed(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

pub fn query(sql: &[u8]) -> Vec<u8> {
    let mut body = sql.to_vec();
    body.push(0);
    typed(b'Q', &body)
}

impl Raw {
    pub async fn connect(addr: SocketAddr) -> Self {
        Self {
            stream: TcpStream::connect(addr).await.unwrap(),
            buf: BytesMut::new(),
        }
    }

    /// Connect and authenticate as weir/weir on `lake`, up to ReadyForQuery.
    pub async fn login(addr: SocketAddr) -> Self {
        Self::login_messages(addr).await.0
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// Next message, or None at EOF / after 10 s of silence.
    pub async fn recv(&mut self) -> Option<Msg> {
        loop {
            if self.buf.len() >= 5 {
                let len = i32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]])
                    as usize;
                if self.buf.len() > len {
                    let tag = self.buf[0];
                    self.buf.advance(5);
                    let body = self.buf.split_to(len - 4);
                    return Some(Msg { tag, body });
                }
            }
            let mut chunk = [0u8; 8192];
            let n =
                match tokio::time::timeout(Duration::from_secs(10), self.stream.read(&mut chunk))
                    .await
                {
                    Ok(Ok(n)) => n,
                    _ => return None,
                };
            if n == 0 {
                return None;
            }
            self.buf.put_slice(&chunk[..n]);
        }
    }

    /// Messages up to and including ReadyForQuery (or EOF).
    pub async fn until_ready(&mut self) -> Vec<Msg> {
        let mut out = Vec::new();
        while let Some(m) = self.recv().await {
            let done = m.tag == b'Z';
            out.push(m);
            if done {
                break;
            }
        }
        out
    }

    /// Whether the server closed the connection (EOF or reset) within 10 s.
    /// Whole messages that arrived before the close are kept for
    /// [`Raw::received`].
    pub async fn closed(&mut self) -> bool {
        loop {
            let mut chunk = [0u8; 1024];
            match tokio::time::timeout(Duration::from_secs(10), self.stream.read(&mut chunk)).await
            {
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(n)) => self.buf.put_slice(&chunk[..n]),
                Err(_) => return false,
            }
        }
    }

    /// The whole messages left unread (after [`Raw::closed`]).
    pub fn received(&mut self) -> Vec<Msg> {
        let mut out = Vec::new();
        while self.buf.len() >= 5 {
            let len =
                i32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]) as usize;
            if len < 4 || self.buf.len() <= len {
                break;
            }
            let tag = self.buf[0];
            self.buf.advance(5);
            let body = self.buf.split_to(len - 4);
            out.push(Msg { tag, body });
        }
        out
    }

    /// Run `sql` and return its messages, asserting the session answered
    /// in full: rows or a command tag, no error, and ReadyForQuery.
    pub async fn works(&mut self, sql: &str) -> Vec<Msg> {
        self.send(&query(sql.as_bytes())).await;
        let msgs = self.until_ready().await;
        assert_eq!(
            msgs.last().map(|m| m.tag),
            Some(b'Z'),
            "the session ended instead of answering {sql:?}"
        );
        assert!(error_of(&msgs).is_none(), "{:?}", error_of(&msgs));
        assert!(msgs.iter().any(|m| m.tag == b'C'), "no CommandComplete");
        msgs
    }
}

/// The first ErrorResponse among `msgs`: (severity, code, message).
pub fn error_of(msgs: &[Msg]) -> Option<(String, String, String)> {
    msgs.iter().find(|m| m.tag == b'E').map(|m| {
        let f = m.fields();
        (
            f.get(&'S').cloned().unwrap_or_default(),
            f.get(&'C').cloned().unwrap_or_default(),
            f.get(&'M').cloned().unwrap_or_default(),
        )
    })
}

impl Raw {
    /// Connect, log in, and return the messages of the whole startup.
    pub async fn login_messages(addr: SocketAddr) -> (Self, Vec<Msg>) {
        let mut raw = Self::connect(addr).await;
        raw.send(&startup_packet(&[("user", "weir"), ("database", "lake")]))
            .await;
        let m = raw.recv().await.expect("auth request");
        assert_eq!(m.tag, b'R');
        let mut scram = ScramSha256::new(b"weir", ChannelBinding::unsupported());
        let mut body = b"SCRAM-SHA-256\0".to_vec();
        body.extend_from_slice(&(scram.message().len() as i32).to_be_bytes());
        body.extend_from_slice(scram.message());
        raw.send(&typed(b'p', &body)).await;
        let m = raw.recv().await.expect("sasl continue");
        scram.update(&m.body[4..]).unwrap();
        raw.send(&typed(b'p', scram.message())).await;
        let m = raw.recv().await.expect("sasl final");
        scram.finish(&m.body[4..]).unwrap();
        let msgs = raw.until_ready().await;
        (raw, msgs)
    }
}
