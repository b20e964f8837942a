//! Connection startup: encryption negotiation, the startup packet,
//! authentication, and the messages that end startup.
//!
//! After an SSLRequest is answered with `S`, any bytes the client already
//! sent are plaintext that arrived before the handshake; they are rejected
//! and the connection closed, never processed as if encrypted (the class of
//! PostgreSQL's CVE-2021-23214).

use std::net::SocketAddr;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use pgwire::messages::response::{ReadyForQuery, TransactionStatus};
use pgwire::messages::startup::{
    Authentication, BackendKeyData, NegotiateProtocolVersion, ParameterStatus, SecretKey,
};
use pgwire::messages::PgWireBackendMessage;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::frontend::{self, Message, Reader, StartupPacket};
use super::{Connection, Stream};
use crate::auth::AuthExchange;
use crate::error::{Result, WeirError};
use crate::session::params::Params;
use crate::session::Session;
use crate::state::ServerState;

/// What a finished startup hands to the query loop.
pub struct Started {
    /// The authenticated connection.
    pub conn: Connection,
    /// The new session.
    pub session: Session,
    /// The session's registration (cancel key, running statement).
    pub cancel: crate::registry::SessionHandle,
}

/// Run startup on a fresh socket. `Ok(None)` when the connection ends
/// without a session (a CancelRequest, or the client going away).
pub async fn handshake(tcp: TcpStream, shared: &ServerState) -> Result<Option<Started>> {
    let _ = tcp.set_nodelay(true);
    let peer = tcp.peer_addr().ok();
    let mut tcp = tcp;
    let mut rbuf = BytesMut::with_capacity(1024);
    let mut packet = read_startup(&mut tcp, &mut rbuf).await?;
    let mut stream = Stream::Plain(tcp);
    let mut negotiated = false;
    loop {
        match packet {
            Some(StartupPacket::SslRequest) | Some(StartupPacket::GssEncRequest) if negotiated => {
                return Err(WeirError::Protocol(
                    "encryption was already negotiated".into(),
                ));
            }
            Some(StartupPacket::SslRequest) => {
                negotiated = true;
                let Stream::Plain(mut tcp) = stream else {
                    return Err(WeirError::Protocol("SSLRequest over TLS".into()));
                };
                match &shared.tls {
                    Some(acceptor) => {
                        tcp.write_all(b"S").await?;
                        if !rbuf.is_empty() {
                            return Err(WeirError::Protocol(
                                "received unencrypted data after SSL request".into(),
                            ));
                        }
                        let tls = acceptor.accept(tcp).await?;
                        stream = Stream::Tls(Box::new(tls));
                    }
                    None => {
                        tcp.write_all(b"N").await?;
                        stream = Stream::Plain(tcp);
                    }
                }
            }
            Some(StartupPacket::GssEncRequest) => {
                negotiated = true;
                let Stream::Plain(mut tcp) = stream else {
                    return Err(WeirError::Protocol("GSSENCRequest over TLS".into()));
                };
                tcp.write_all(b"N").await?;
                stream = Stream::Plain(tcp);
            }
            Some(StartupPacket::Cancel { pid, secret }) => {
                let hit = shared.sessions.cancel(pid, &secret);
                tracing::debug!(pid, hit, "cancel request");
                return Ok(None);
            }
            Some(StartupPacket::Startup { version, params }) => {
                let mut conn = Connection::new(stream, rbuf, frontend::STARTUP_LIMIT);
                conn.peer = peer;
                return startup(conn, version, params, shared).await.map(Some);
            }
            None => return Ok(None),
        }
        packet = read_startup(&mut stream, &mut rbuf).await?;
    }
}

async fn read_startup<S: tokio::io::AsyncRead + Unpin>(
    s: &mut S,
    rbuf: &mut BytesMut,
) -> Result<Option<StartupPacket>> {
    loop {
        if let Some(body) = frontend::split_startup(rbuf)? {
            return frontend::decode_startup(body).map(Some);
        }
        if s.read_buf(rbuf).await? == 0 {
            return Ok(None);
        }
    }
}

async fn startup(
    mut conn: Connection,
    version: i32,
    params: Vec<(String, String)>,
    shared: &ServerState,
) -> Result<Started> {
    if shared.tls_required && !conn.tls {
        return fatal(
            &mut conn,
            WeirError::AuthRejected(
                "this server requires TLS connections (sslmode=require)".into(),
            ),
        )
        .await;
    }
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let Some(user) = get("user").filter(|u| !u.is_empty()) else {
        return fatal(
            &mut conn,
            WeirError::AuthRejected("no PostgreSQL user name specified in startup packet".into()),
        )
        .await;
    };
    if get("replication").is_some_and(|r| r != "false" && r != "0" && r != "off") {
        return fatal(
            &mut conn,
            WeirError::NotSupported("replication connections are not supported".into()),
        )
        .await;
    }
    let unsupported: Vec<String> = params
        .iter()
        .filter(|(k, _)| k.starts_with("_pq_."))
        .map(|(k, _)| k.clone())
        .collect();
    if version & 0xffff != 0 || !unsupported.is_empty() {
        conn.push(PgWireBackendMessage::NegotiateProtocolVersion(
            NegotiateProtocolVersion::new(0, unsupported),
        ))?;
    }

    let principal = match shared
        .authenticator
        .authenticate(&user, &mut Exchange(&mut conn))
        .await
    {
        Ok(principal) => principal,
        Err(e) => return fatal(&mut conn, e).await,
    };
    conn.limit = shared.max_message_bytes;

    let database = get("database")
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| user.clone());
    let catalog = if shared.engine.has_catalog(&database) {
        database
    } else if database == user {
        shared.default_catalog.clone()
    } else {
        return fatal(&mut conn, WeirError::UnknownCatalog(database)).await;
    };

    let mut session_params = Params::new(
        &user,
        &shared.session.search_path,
        &shared.session.timezone,
        shared.session.statement_timeout_ms,
    );
    for (name, value) in &params {
        let applied = match name.as_str() {
            "user" | "database" | "replication" => Ok(()),
            "options" => apply_options(&mut session_params, value),
            n if n.starts_with("_pq_.") => Ok(()),
            n => match session_params.set_from_startup(n, value) {
                Err(WeirError::UnknownParameter(_)) => {
                    tracing::debug!(parameter = n, "ignoring unknown startup parameter");
                    Ok(())
                }
                other => other,
            },
        };
        if let Err(e) = applied {
            return fatal(&mut conn, e).await;
        }
    }
    let cancel = shared
        .sessions
        .register(&principal)
        .audited(std::sync::Arc::clone(&shared.audit), conn.peer);
    conn.push(PgWireBackendMessage::Authentication(Authentication::Ok))?;
    for (name, value) in session_params.reported() {
        conn.push(PgWireBackendMessage::ParameterStatus(ParameterStatus::new(
            name.to_owned(),
            value,
        )))?;
    }
    conn.push(PgWireBackendMessage::BackendKeyData(BackendKeyData::new(
        cancel.pid,
        SecretKey::I32(cancel.secret),
    )))?;
    conn.push(PgWireBackendMessage::ReadyForQuery(ReadyForQuery::new(
        TransactionStatus::Idle,
    )))?;
    conn.flush().await?;
    let session = Session::new(shared.engine.clone(), principal, catalog, session_params)
        .with_password_iterations(shared.scram_iterations);
    Ok(Started {
        conn,
        session,
        cancel,
    })
}

/// `options=-c name=value --name=value`.
fn apply_options(params: &mut Params, options: &str) -> Result<()> {
    let mut words = options.split_whitespace();
    while let Some(w) = words.next() {
        let setting = if w == "-c" {
            words.next().unwrap_or_default().to_owned()
        } else if let Some(rest) = w.strip_prefix("-c") {
            rest.to_owned()
        } else if let Some(rest) = w.strip_prefix("--") {
            rest.to_owned()
        } else {
            return Err(WeirError::InvalidParameterValue(format!(
                "invalid command-line argument for server process: {w}"
            )));
        };
        let Some((k, v)) = setting.split_once('=') else {
            return Err(WeirError::InvalidParameterValue(format!(
                "invalid command-line argument for server process: {setting}"
            )));
        };
        params.set_from_startup(&k.replace('-', "_"), v)?;
    }
    Ok(())
}

async fn fatal<T>(conn: &mut Connection, e: WeirError) -> Result<T> {
    let mut c = e.to_client();
    c.fatal = true;
    conn.push_error(&c)?;
    conn.shutdown().await;
    Err(e)
}

/// The connection during authentication, for an [`Authenticator`].
struct Exchange<'a>(&'a mut Connection);

impl Exchange<'_> {
    async fn read_password_message(&mut self) -> Result<Bytes> {
        match self.0.read_message().await? {
            Some(Ok(Message::Password(body))) => Ok(body),
            Some(Ok(_)) => Err(WeirError::Protocol("expected password response".into())),
            Some(Err(e)) => Err(e),
            None => Err(WeirError::Protocol(
                "client closed the connection during authentication".into(),
            )),
        }
    }
}

#[async_trait]
impl AuthExchange for Exchange<'_> {
    async fn send(&mut self, message: Authentication) -> Result<()> {
        self.0.push(PgWireBackendMessage::Authentication(message))?;
        self.0.flush().await
    }

    async fn password(&mut self) -> Result<String> {
        let mut body = self.read_password_message().await?;
        Reader::new(&mut body).cstr("password")
    }

    async fn sasl_initial(&mut self) -> Result<(String, Bytes)> {
        let mut body = self.read_password_message().await?;
        let mut r = Reader::new(&mut body);
        let mechanism = r.cstr("SASL mechanism")?;
        let len = r.i32("SASL response length")?;
        let first = if len < 0 {
            Bytes::new()
        } else {
            r.bytes(len as usize, "SASL response")?
        };
        Ok((mechanism, first))
    }

    async fn sasl_response(&mut self) -> Result<Bytes> {
        self.read_password_message().await
    }

    fn is_tls(&self) -> bool {
        self.0.tls
    }

    fn peer(&self) -> Option<SocketAddr> {
        self.0.peer
    }
}
