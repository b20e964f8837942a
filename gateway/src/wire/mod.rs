//! The PostgreSQL wire protocol.
//!
//! - [`frontend`]: framing and decoding of client messages (size limits, no panics).
//! - [`startup`]: SSL negotiation, the startup packet, SCRAM-SHA-256 (or
//!   cleartext over TLS), ParameterStatus and BackendKeyData.
//! - [`connection`]: the per-connection message loop: Sync, flushing once
//!   per batch of pipelined messages, errors that end the connection.
//! - `query`: the simple protocol; `extended`: Parse/Bind/Describe/
//!   Execute/Close, portals with row limits.
//! - `rows`: RowDescription, DataRows streamed with backpressure, FETCH.
//! - `scope`: what each statement runs under (cancel token, deadline,
//!   span) and the guard around its work. CancelRequests are matched
//!   against [`crate::registry`].
//!
//! All of it is protocol bookkeeping over the [`crate::session::Session`]
//! API: no planning, no session internals.
//!
//! Backend messages are encoded with the `pgwire` crate's message types;
//! DataRows are written directly into the output buffer by
//! [`weir_pgtypes::RowEncoder`], which also owns the type OIDs and value codecs.

pub mod connection;
mod extended;
pub mod frontend;
mod query;
mod rows;
mod scope;
pub mod startup;

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::BytesMut;
use pgwire::messages::response::{ErrorResponse, NoticeResponse};
use pgwire::messages::PgWireBackendMessage;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use crate::error::{ClientError, Result, SqlState, WeirError};
use frontend::Message;

/// A client socket, plain or TLS.
pub enum Stream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP.
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Output is flushed to the socket whenever this much is buffered.
pub const FLUSH_THRESHOLD: usize = 64 * 1024;

/// A socket with its read and write buffers.
pub struct Connection {
    stream: Stream,
    rbuf: BytesMut,
    /// Outgoing bytes not yet written.
    pub wbuf: BytesMut,
    /// Largest message body accepted now.
    pub limit: usize,
    /// Whether the socket is TLS.
    pub tls: bool,
    /// The client's address, when known.
    pub peer: Option<std::net::SocketAddr>,
}

impl Connection {
    /// Wrap a stream; `rbuf` holds bytes already read from it.
    pub fn new(stream: Stream, rbuf: BytesMut, limit: usize) -> Self {
        let tls = matches!(stream, Stream::Tls(_));
        Self {
            stream,
            rbuf,
            wbuf: BytesMut::with_capacity(FLUSH_THRESHOLD * 2),
            limit,
            tls,
            peer: None,
        }
    }

    /// Read one typed message; `Ok(None)` at a clean end of stream. Framing
    /// errors are fatal; decoding errors leave the connection usable.
    pub async fn read_message(
        &mut self,
    ) -> Result<Option<std::result::Result<Message, WeirError>>> {
        loop {
            if let Some((tag, body)) = frontend::split_message(&mut self.rbuf, self.limit)? {
                if !b"QPBDCESHXpdcf".contains(&tag) {
                    return Err(WeirError::Protocol(format!(
                        "invalid frontend message type {tag}"
                    )));
                }
                return Ok(Some(frontend::decode(tag, body)));
            }
            if self.stream.read_buf(&mut self.rbuf).await? == 0 {
                if self.rbuf.is_empty() {
                    return Ok(None);
                }
                return Err(WeirError::Protocol("unexpected EOF within message".into()));
            }
        }
    }

    /// Queue a backend message.
    pub fn push(&mut self, msg: PgWireBackendMessage) -> Result<()> {
        msg.encode(&mut self.wbuf)
            .map_err(|e| WeirError::Internal(format!("encoding a message: {e}")))
    }

    /// Queue an ErrorResponse.
    pub fn push_error(&mut self, e: &ClientError) -> Result<()> {
        let severity = if e.fatal { "FATAL" } else { "ERROR" };
        let mut fields = vec![
            (b'S', severity.to_owned()),
            (b'V', severity.to_owned()),
            (b'C', e.code.code().to_owned()),
            (b'M', e.message.clone()),
        ];
        if let Some(d) = &e.detail {
            fields.push((b'D', d.clone()));
        }
        if let Some(h) = &e.hint {
            fields.push((b'H', h.clone()));
        }
        if let Some(p) = e.position {
            fields.push((b'P', p.to_string()));
        }
        self.push(PgWireBackendMessage::ErrorResponse(ErrorResponse::new(
            fields,
        )))
    }

    /// Queue a NoticeResponse.
    pub fn push_notice(&mut self, severity: &str, code: SqlState, message: &str) -> Result<()> {
        let fields = vec![
            (b'S', severity.to_owned()),
            (b'V', severity.to_owned()),
            (b'C', code.code().to_owned()),
            (b'M', message.to_owned()),
        ];
        self.push(PgWireBackendMessage::NoticeResponse(NoticeResponse::new(
            fields,
        )))
    }

    /// Write everything queued.
    pub async fn flush(&mut self) -> Result<()> {
        if !self.wbuf.is_empty() {
            self.stream.write_all(&self.wbuf).await?;
            self.wbuf.clear();
        }
        self.stream.flush().await?;
        Ok(())
    }

    /// Whether a whole frontend message is already buffered: the client has
    /// pipelined more work, so replies can wait and leave in one write.
    pub fn message_pending(&self) -> bool {
        if self.rbuf.len() < 5 {
            return false;
        }
        let len = u32::from_be_bytes([self.rbuf[1], self.rbuf[2], self.rbuf[3], self.rbuf[4]]);
        self.rbuf.len() > len as usize
    }

    /// Write what is queued once it passes [`FLUSH_THRESHOLD`] (backpressure:
    /// this waits for the client to read).
    pub async fn flush_if_full(&mut self) -> Result<()> {
        if self.wbuf.len() >= FLUSH_THRESHOLD {
            self.stream.write_all(&self.wbuf).await?;
            self.wbuf.clear();
        }
        Ok(())
    }

    /// Resolves when the client has gone (end of stream or a socket error)
    /// while a statement runs, so its work stops. Bytes the client sends
    /// meanwhile (pipelined messages, a Terminate) are kept for later
    /// reads, up to the message size limit; past that, reading stops.
    pub async fn client_gone(&mut self) -> WeirError {
        loop {
            if self.rbuf.len() > self.limit.saturating_add(5) {
                return std::future::pending().await;
            }
            match self.stream.read_buf(&mut self.rbuf).await {
                Ok(0) => {
                    return WeirError::Io(std::io::Error::new(
                        std::io::ErrorKind::ConnectionAborted,
                        "the client closed the connection while its statement ran",
                    ))
                }
                Ok(_) => continue,
                Err(e) => return WeirError::Io(e),
            }
        }
    }

    /// Close the socket (best effort).
    pub async fn shutdown(&mut self) {
        let _ = self.flush().await;
        let _ = self.stream.shutdown().await;
    }
}
