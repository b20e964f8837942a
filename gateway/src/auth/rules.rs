//! Which login method applies to whom: `[[auth.rules]]` lines matched in
//! order on the user name and the client address, first match wins, as
//! `pg_hba.conf` does. No rules at all means SCRAM for everyone; rules that
//! match nothing refuse the connection (28000).
//!
//! [`Login`] is the server's one [`Authenticator`]: it picks the method,
//! refuses locked-out names and addresses ([`Throttle`]), runs the method,
//! and writes an audit record of every attempt.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use ipnet::IpNet;

use super::jwt::JwtAuthenticator;
use super::ldap::LdapAuthenticator;
use super::scram::PasswordAuthenticator;
use super::throttle::Throttle;
use super::{AuthExchange, Authenticator, Principal};
use crate::audit::{Audit, Record};
use crate::config::{parse_range, AuthConfig, AuthMethod};
use crate::error::{Result, WeirError};
use weir_connectors::remote::config::glob;

/// One rule, parsed.
#[derive(Debug, Clone)]
struct Rule {
    users: Vec<String>,
    ranges: Vec<IpNet>,
    method: AuthMethod,
}

impl Rule {
    fn matches(&self, user: &str, addr: Option<IpAddr>) -> bool {
        let user_ok = self.users.is_empty() || self.users.iter().any(|p| glob(p, user));
        let addr_ok = self.ranges.is_empty()
            || addr.is_some_and(|a| {
                let a = canonical(a);
                self.ranges.iter().any(|r| r.contains(&a))
            });
        user_ok && addr_ok
    }
}

/// IPv4 clients on a dual-stack socket arrive as `::ffff:a.b.c.d`.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

/// The server's authenticator: method rules, lockouts, audit.
#[derive(Debug)]
pub struct Login {
    rules: Vec<Rule>,
    scram: PasswordAuthenticator,
    jwt: Option<JwtAuthenticator>,
    ldap: Option<LdapAuthenticator>,
    throttle: Throttle,
    audit: Arc<Audit>,
}

impl Login {
    /// The methods `config` sets up.
    pub async fn new(
        config: &AuthConfig,
        scram: PasswordAuthenticator,
        audit: Arc<Audit>,
    ) -> std::result::Result<Self, String> {
        let mut rules = Vec::new();
        for rule in &config.rules {
            let mut ranges = Vec::new();
            for r in &rule.addresses {
                ranges.push(parse_range(r).map_err(|e| e.to_string())?);
            }
            rules.push(Rule {
                users: rule.users.clone(),
                ranges,
                method: rule.method,
            });
        }
        if rules.is_empty() {
            rules.push(Rule {
                users: Vec::new(),
                ranges: Vec::new(),
                method: AuthMethod::Scram,
            });
        }
        let jwt = match &config.jwt {
            Some(c) => Some(JwtAuthenticator::new(c).await?),
            None => None,
        };
        let ldap = config
            .ldap
            .as_ref()
            .map(LdapAuthenticator::new)
            .transpose()?;
        Ok(Self {
            rules,
            scram,
            jwt,
            ldap,
            throttle: Throttle::new(
                config.max_failed_logins,
                Duration::from_secs(config.lockout_secs.max(1)),
            ),
            audit,
        })
    }

    fn method(&self, user: &str, peer: Option<SocketAddr>) -> Option<AuthMethod> {
        let addr = peer.map(|p| p.ip());
        self.rules
            .iter()
            .find(|r| r.matches(user, addr))
            .map(|r| r.method)
    }

    async fn run(
        &self,
        method: Option<AuthMethod>,
        user: &str,
        exchange: &mut dyn AuthExchange,
    ) -> Result<Principal> {
        let host = exchange
            .peer()
            .map_or_else(|| "[local]".to_owned(), |p| canonical(p.ip()).to_string());
        match method {
            None => Err(WeirError::AuthRejected(format!(
                "no [[auth.rules]] entry for host \"{host}\", user \"{user}\""
            ))),
            Some(AuthMethod::Reject) => Err(WeirError::AuthRejected(format!(
                "[[auth.rules]] rejects connection for host \"{host}\", user \"{user}\""
            ))),
            Some(AuthMethod::Scram) => self.scram.authenticate(user, exchange).await,
            Some(AuthMethod::Jwt) => match &self.jwt {
                Some(jwt) => jwt.authenticate(user, exchange).await,
                None => Err(WeirError::AuthRejected(
                    "JWT logins are not configured".into(),
                )),
            },
            Some(AuthMethod::Ldap) => match &self.ldap {
                Some(ldap) => ldap.authenticate(user, exchange).await,
                None => Err(WeirError::AuthRejected(
                    "LDAP logins are not configured".into(),
                )),
            },
        }
    }
}

#[async_trait]
impl Authenticator for Login {
    async fn authenticate(&self, user: &str, exchange: &mut dyn AuthExchange) -> Result<Principal> {
        let started = Instant::now();
        let peer = exchange.peer();
        let addr = peer.map(|p| canonical(p.ip()));
        let method = self.method(user, peer);
        let method_name = method.map_or("none", AuthMethod::name);
        let result = if let Some(left) = self.throttle.locked(user, addr) {
            Err(WeirError::AuthRejected(format!(
                "too many failed login attempts for user \"{user}\" or from this address; \
                 try again in {} seconds",
                left.as_secs().max(1)
            )))
        } else {
            self.run(method, user, exchange).await
        };
        let mut record = Record::login(user, method_name, peer);
        record.duration_ms = started.elapsed().as_secs_f64() * 1000.0;
        match &result {
            Ok(principal) => {
                self.throttle.succeeded(user);
                record.roles = principal.roles.clone();
                record.method = principal.method.to_owned();
                record.outcome = "ok";
                self.audit.log(record, false);
            }
            Err(WeirError::Protocol(m)) if m.starts_with("client closed") => {
                // psql closes and asks for the password before trying
                // again: not an attempt.
            }
            Err(e) => {
                if matches!(e, WeirError::BadPassword(_) | WeirError::LoginFailed { .. }) {
                    self.throttle.failed(user, addr);
                }
                let client = e.to_client();
                record.outcome = "failed";
                record.sqlstate = Some(client.code.to_string());
                record.message = Some(client.message);
                self.audit.log(record, true);
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_like_shell_stars() {
        assert!(glob("*", "anyone"));
        assert!(glob("svc_*", "svc_etl"));
        assert!(!glob("svc_*", "bob"));
        assert!(glob("*@corp.com", "ann@corp.com"));
        assert!(glob("a*b*c", "axxbyyc"));
        assert!(!glob("a*b*c", "acb"));
        assert!(glob("alice", "alice"));
        assert!(!glob("alice", "alice2"));
    }

    #[test]
    fn first_matching_rule_wins_and_mapped_v4_addresses_match() {
        let rule = |users: &[&str], ranges: &[&str], method| Rule {
            users: users.iter().map(|s| s.to_string()).collect(),
            ranges: ranges.iter().filter_map(|r| parse_range(r).ok()).collect(),
            method,
        };
        let rules = [
            rule(&["svc_*"], &["10.0.0.0/8"], AuthMethod::Jwt),
            rule(&["svc_*"], &[], AuthMethod::Reject),
            rule(&[], &[], AuthMethod::Scram),
        ];
        let pick = |user: &str, addr: &str| {
            let a: Option<IpAddr> = addr.parse().ok();
            rules.iter().find(|r| r.matches(user, a)).map(|r| r.method)
        };
        assert_eq!(pick("svc_etl", "10.1.2.3"), Some(AuthMethod::Jwt));
        assert_eq!(pick("svc_etl", "::ffff:10.1.2.3"), Some(AuthMethod::Jwt));
        assert_eq!(pick("svc_etl", "192.168.0.1"), Some(AuthMethod::Reject));
        assert_eq!(pick("ann", "192.168.0.1"), Some(AuthMethod::Scram));
    }
}
