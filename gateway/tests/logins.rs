//! Logins other than stored passwords, over real connections: JWTs checked
//! against configured keys and a JWKS endpoint the test serves, method
//! rules per user and address, lockouts after repeated failures, and the
//! audit trail those attempts and the statements after them leave.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::{message, sqlstate, texts, TestServer};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_postgres::NoTls;
use weir_gateway::config::{AuthMethod, AuthRule, JwtConfig, JwtKeyConfig};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/jwt");
const HS_SECRET: &str = "a test secret of enough length for HS256";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{name}")).unwrap()
}

/// A JWKS endpoint on loopback serving `body`, counting requests; `up`
/// false answers nothing (the connection is closed at once).
#[derive(Clone)]
struct Jwks {
    url: String,
    body: Arc<Mutex<String>>,
    hits: Arc<AtomicUsize>,
    up: Arc<std::sync::atomic::AtomicBool>,
}

impl Jwks {
    async fn start(body: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        let jwks = Jwks {
            url,
            body: Arc::new(Mutex::new(body)),
            hits: Arc::default(),
            up: Arc::new(true.into()),
        };
        let served = jwks.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    break;
                };
                if !served.up.load(Ordering::SeqCst) {
                    continue;
                }
                served.hits.fetch_add(1, Ordering::SeqCst);
                let body = served.body.lock().unwrap().clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let mut read = 0;
                    while !buf[..read].windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut buf[read..]).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => read += n,
                        }
                    }
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                });
            }
        });
        jwks
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn sign(alg: Algorithm, kid: Option<&str>, key: &EncodingKey, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    encode(&header, claims, key).unwrap()
}

fn rsa() -> EncodingKey {
    EncodingKey::from_rsa_pem(&fixture("rsa.key")).unwrap()
}

fn claims(user: &str) -> Value {
    json!({
        "sub": user,
        "iss": "https://idp.test",
        "aud": "weir",
        "exp": now() + 600,
        "nbf": now() - 10,
        "groups": ["analyst"],
        "region": "EU",
        "tier": 3
    })
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn audit_lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

async fn jwt_server(jwks: &Jwks, audit: &std::path::Path) -> TestServer {
    let url = jwks.url.clone();
    let audit = audit.to_path_buf();
    TestServer::start_with(move |c| {
        c.auth.rules = vec![
            AuthRule {
                users: vec!["weir".into()],
                addresses: vec![],
                method: AuthMethod::Scram,
            },
            AuthRule {
                users: vec![],
                addresses: vec!["127.0.0.0/8".into(), "::1".into()],
                method: AuthMethod::Jwt,
            },
        ];
        c.auth.jwt = Some(JwtConfig {
            user_claim: "sub".into(),
            roles_claim: Some("groups".into()),
            issuers: vec!["https://idp.test".into()],
            audiences: vec!["weir".into()],
            leeway_secs: 5,
            jwks_url: Some(url),
            keys: vec![JwtKeyConfig {
                kid: None,
                algorithm: "HS256".into(),
                secret: Some(HS_SECRET.into()),
                pem_file: None,
            }],
            ..JwtConfig::default()
        });
        c.auth.max_failed_logins = 1000;
        c.audit.path = Some(audit);
    })
    .await
}

#[tokio::test]
async fn tokens_signed_by_known_keys_log_in_and_carry_roles_and_claims() {
    let jwks = Jwks::start(String::from_utf8(fixture("jwks.json")).unwrap()).await;
    let dir = tempfile::tempdir().unwrap();
    let server = jwt_server(&jwks, &dir.path().join("audit.jsonl")).await;
    let admin = server.client().await;
    admin
        .batch_execute(
            "CREATE SCHEMA lake.jwt_demo;
             CREATE TABLE lake.jwt_demo.sales AS
               SELECT * FROM (VALUES ('EU', 10), ('EU', 20), ('US', 30)) AS v(region, amount);
             CREATE ROLE analyst;
             GRANT SELECT ON lake.jwt_demo.sales TO analyst;
             CREATE POLICY by_region ON lake.jwt_demo.sales FOR SELECT TO analyst
               USING (region = current_setting('weir.jwt.region'))",
        )
        .await
        .unwrap();

    // RS256 and ES256 from the JWKS, HS256 from the configured secret; the
    // token users exist nowhere but in their tokens.
    let ec = EncodingKey::from_ec_pem(&fixture("ec.key")).unwrap();
    let hs = EncodingKey::from_secret(HS_SECRET.as_bytes()).unwrap();
    for (alg, kid, key) in [
        (Algorithm::RS256, Some("rsa-1"), rsa()),
        (Algorithm::ES256, Some("ec-1"), ec),
        (Algorithm::HS256, None, hs),
    ] {
        let token = sign(alg, kid, &key, &claims("tok_ann"));
        let c = server
            .connect_as("tok_ann", &token)
            .await
            .unwrap_or_else(|e| panic!("{alg:?}: {}", message(&e)));
        assert_eq!(texts(&c, "SELECT current_user").await, vec!["tok_ann"]);
        assert_eq!(
            texts(&c, "SELECT current_setting('weir.jwt.region') || '/' || current_setting('weir.jwt.tier')").await,
            vec!["EU/3"]
        );
        assert_eq!(
            texts(&c, "SELECT pg_has_role('analyst', 'MEMBER')::text").await,
            vec!["true"]
        );
        // The row filter reads the token's region: only EU rows.
        assert_eq!(
            texts(
                &c,
                "SELECT CAST(sum(amount) AS text) FROM lake.jwt_demo.sales"
            )
            .await,
            vec!["30"]
        );
        let missing = c
            .query("SELECT current_setting('weir.jwt.nope')", &[])
            .await
            .unwrap_err();
        assert_eq!(sqlstate(&missing), "42704");
        assert_eq!(
            texts(
                &c,
                "SELECT coalesce(current_setting('weir.jwt.nope', true), 'null')"
            )
            .await,
            vec!["null"]
        );
    }
    // A US token sees the US row only.
    let mut us = claims("tok_bob");
    us["region"] = json!("US");
    let c = server
        .connect_as(
            "tok_bob",
            &sign(Algorithm::RS256, Some("rsa-1"), &rsa(), &us),
        )
        .await
        .unwrap();
    assert_eq!(
        texts(
            &c,
            "SELECT CAST(sum(amount) AS text) FROM lake.jwt_demo.sales"
        )
        .await,
        vec!["30"]
    );
    assert_eq!(
        texts(&c, "SELECT region FROM lake.jwt_demo.sales").await,
        vec!["US"]
    );
    // What a policy reads cannot be changed from the session: the claims
    // are the token's, the roles the login's.
    for spoof in [
        "SET weir.jwt.region = 'EU'",
        "SET SESSION weir.jwt.region TO 'EU'",
        "RESET weir.jwt.region",
        "SELECT set_config('weir.jwt.region', 'EU', false)",
        "SET ROLE weir",
        "SET SESSION AUTHORIZATION weir",
    ] {
        let e = c.batch_execute(spoof).await.unwrap_err();
        assert!(!sqlstate(&e).starts_with("XX"), "{spoof}: {}", message(&e));
    }
    assert_eq!(
        texts(&c, "SELECT region FROM lake.jwt_demo.sales").await,
        vec!["US"]
    );
    assert_eq!(texts(&c, "SELECT current_user").await, vec!["tok_bob"]);
    // Nor from the startup packet's options.
    let mut config = tokio_postgres::Config::new();
    config
        .host(server.addr.ip().to_string())
        .port(server.addr.port())
        .user("tok_bob")
        .password(sign(Algorithm::RS256, Some("rsa-1"), &rsa(), &us))
        .dbname("lake")
        .options("-c weir.jwt.region=EU");
    if let Ok((spoofed, conn)) = config.connect(tokio_postgres::NoTls).await {
        tokio::spawn(conn);
        assert_eq!(
            texts(&spoofed, "SELECT region FROM lake.jwt_demo.sales").await,
            vec!["US"]
        );
        assert_eq!(
            texts(&spoofed, "SELECT current_setting('weir.jwt.region')").await,
            vec!["US"]
        );
    }
    // Without the analyst role in the token, the table is not there at all.
    let mut no_roles = claims("tok_cy");
    no_roles["groups"] = json!([]);
    let c = server
        .connect_as(
            "tok_cy",
            &sign(Algorithm::RS256, Some("rsa-1"), &rsa(), &no_roles),
        )
        .await
        .unwrap();
    let e = c
        .query("SELECT * FROM lake.jwt_demo.sales", &[])
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&e), "42P01", "{}", message(&e));

    // The admin still logs in with a password: the first rule.
    assert_eq!(texts(&admin, "SELECT current_user").await, vec!["weir"]);
}

#[tokio::test]
async fn every_bad_token_is_refused_with_28p01_and_audited() {
    let jwks = Jwks::start(String::from_utf8(fixture("jwks.json")).unwrap()).await;
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let server = jwt_server(&jwks, &audit).await;
    let rsa_pub = fixture("rsa.pub");

    let good = claims("tok_dee");
    let token = sign(Algorithm::RS256, Some("rsa-1"), &rsa(), &good);
    let (head, rest) = token.split_once('.').unwrap();
    let (payload, signature) = rest.split_once('.').unwrap();
    let mut tampered_claims = good.clone();
    tampered_claims["region"] = json!("US");
    let tampered_payload = format!(
        "{head}.{}.{signature}",
        b64(tampered_claims.to_string().as_bytes())
    );
    let mut sig = signature.as_bytes().to_vec();
    sig[10] = if sig[10] == b'A' { b'B' } else { b'A' };
    let tampered_signature = format!("{head}.{payload}.{}", String::from_utf8(sig).unwrap());
    let alg_none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(good.to_string().as_bytes())
    );
    let with = |change: &dyn Fn(&mut Value)| {
        let mut c = good.clone();
        change(&mut c);
        sign(Algorithm::RS256, Some("rsa-1"), &rsa(), &c)
    };
    let cases: Vec<(&str, String, &str)> = vec![
        ("alg none", alg_none, "malformed"),
        (
            "RSA public key as HMAC secret",
            sign(
                Algorithm::HS256,
                Some("rsa-1"),
                &EncodingKey::from_secret(&rsa_pub).unwrap(),
                &good,
            ),
            "no key verifies",
        ),
        (
            "unknown kid",
            sign(Algorithm::RS256, Some("rsa-9"), &rsa(), &good),
            "no key has id",
        ),
        (
            "kid of another key",
            sign(Algorithm::RS256, Some("ec-1"), &rsa(), &good),
            "no key verifies",
        ),
        (
            "signed by a key Weir does not know",
            sign(
                Algorithm::RS256,
                Some("rsa-1"),
                &EncodingKey::from_rsa_pem(&fixture("rsa2.key")).unwrap(),
                &good,
            ),
            "signature",
        ),
        ("tampered payload", tampered_payload, "signature"),
        ("tampered signature", tampered_signature, "signature"),
        (
            "expired",
            with(&|c| c["exp"] = json!(now() - 60)),
            "expired",
        ),
        (
            "not yet valid",
            with(&|c| c["nbf"] = json!(now() + 600)),
            "not valid yet",
        ),
        (
            "wrong issuer",
            with(&|c| c["iss"] = json!("https://evil.test")),
            "issuer",
        ),
        (
            "wrong audience",
            with(&|c| c["aud"] = json!("other")),
            "audience",
        ),
        (
            "no exp",
            with(&|c| {
                c.as_object_mut().unwrap().remove("exp");
            }),
            "\"exp\"",
        ),
        (
            "string exp in the past",
            with(&|c| c["exp"] = json!((now() - 60).to_string())),
            "",
        ),
        (
            "another user's token",
            with(&|c| c["sub"] = json!("tok_eve")),
            "for user \"tok_eve\"",
        ),
        ("not a token", "hunter2".into(), "malformed"),
    ];
    for (what, token, says) in &cases {
        let e = match server.connect_as("tok_dee", token).await {
            Ok(_) => panic!("{what}: accepted"),
            Err(e) => e,
        };
        assert_eq!(sqlstate(&e), "28P01", "{what}: {}", message(&e));
        assert!(
            message(&e).starts_with("JWT authentication failed for user \"tok_dee\""),
            "{what}: {}",
            message(&e)
        );
        assert!(message(&e).contains(says), "{what}: {}", message(&e));
    }
    // The good token still works, and every refusal is in the audit file
    // (written before the client heard of it).
    server.connect_as("tok_dee", &token).await.unwrap();
    let failed = audit_lines(&audit)
        .into_iter()
        .filter(|r| r["kind"] == "login" && r["outcome"] == "failed" && r["user"] == "tok_dee")
        .count();
    assert_eq!(failed, cases.len());
}

#[tokio::test]
async fn jwks_rotation_is_picked_up_and_a_jwks_outage_keeps_cached_keys() {
    let jwks = Jwks::start(String::from_utf8(fixture("jwks.json")).unwrap()).await;
    let dir = tempfile::tempdir().unwrap();
    let server = jwt_server(&jwks, &dir.path().join("audit.jsonl")).await;
    let at_start = jwks.hits();
    assert_eq!(at_start, 1, "fetched once at start");

    // The IdP rotates in a new key: the first token naming it makes Weir
    // refetch once; a second unknown kid within 30 s does not refetch.
    let mut set: Value = serde_json::from_slice(&fixture("jwks.json")).unwrap();
    let new_key: Value = serde_json::from_slice(&fixture("rsa2.jwk.json")).unwrap();
    set["keys"].as_array_mut().unwrap().push(new_key);
    *jwks.body.lock().unwrap() = set.to_string();
    let rsa2 = EncodingKey::from_rsa_pem(&fixture("rsa2.key")).unwrap();
    let token = sign(Algorithm::RS256, Some("rsa-2"), &rsa2, &claims("tok_fay"));
    server.connect_as("tok_fay", &token).await.unwrap();
    assert_eq!(jwks.hits(), at_start + 1);
    let unknown = sign(Algorithm::RS256, Some("rsa-7"), &rsa2, &claims("tok_fay"));
    for _ in 0..3 {
        let e = server.connect_as("tok_fay", &unknown).await.unwrap_err();
        assert!(
            message(&e).contains("no key has id \"rsa-7\""),
            "{}",
            message(&e)
        );
    }
    assert_eq!(
        jwks.hits(),
        at_start + 1,
        "no second refetch within 30 s of the one for rsa-2"
    );

    // The JWKS endpoint goes down: cached keys keep working, unknown kids
    // fail clearly.
    jwks.up.store(false, Ordering::SeqCst);
    server.connect_as("tok_fay", &token).await.unwrap();
    let e = server.connect_as("tok_fay", &unknown).await.unwrap_err();
    assert_eq!(sqlstate(&e), "28P01");
}

#[tokio::test]
async fn method_rules_pick_by_user_and_address_first_match_wins() {
    let server = TestServer::start_with(|c| {
        c.auth.rules = vec![
            AuthRule {
                users: vec!["blocked_*".into()],
                addresses: vec![],
                method: AuthMethod::Reject,
            },
            AuthRule {
                users: vec![],
                addresses: vec!["10.0.0.0/8".into()],
                method: AuthMethod::Scram,
            },
            AuthRule {
                users: vec!["weir".into(), "ann".into()],
                addresses: vec!["127.0.0.1/32".into()],
                method: AuthMethod::Scram,
            },
        ];
    })
    .await;
    let admin = server.client().await;
    admin
        .batch_execute(
            "CREATE USER ann PASSWORD 'ann-pw'; CREATE USER blocked_bo PASSWORD 'bo-pw';
             CREATE USER cy PASSWORD 'cy-pw'",
        )
        .await
        .unwrap();
    server.connect_as("ann", "ann-pw").await.unwrap();
    let e = server.connect_as("blocked_bo", "bo-pw").await.unwrap_err();
    assert_eq!(sqlstate(&e), "28000");
    assert!(
        message(&e).contains("rejects connection"),
        "{}",
        message(&e)
    );
    let e = server.connect_as("cy", "cy-pw").await.unwrap_err();
    assert_eq!(sqlstate(&e), "28000");
    assert_eq!(
        message(&e),
        "no [[auth.rules]] entry for host \"127.0.0.1\", user \"cy\""
    );
}

#[tokio::test]
async fn repeated_failures_lock_out_the_name_and_the_address() {
    let server = TestServer::start_with(|c| {
        c.auth.max_failed_logins = 3;
        c.auth.lockout_secs = 2;
    })
    .await;
    let admin = server.client().await;
    admin
        .batch_execute("CREATE USER gil PASSWORD 'gil-pw'")
        .await
        .unwrap();
    for _ in 0..3 {
        let e = server.connect_as("gil", "wrong").await.unwrap_err();
        assert_eq!(sqlstate(&e), "28P01");
    }
    // Now even the right password is refused, for any name from here.
    let e = server.connect_as("gil", "gil-pw").await.unwrap_err();
    assert_eq!(sqlstate(&e), "28000", "{}", message(&e));
    assert!(message(&e).contains("too many failed login attempts"));
    let e = server.connect_as("nobody_at_all", "x").await.unwrap_err();
    assert_eq!(
        sqlstate(&e),
        "28000",
        "an address lockout covers every name"
    );
    // The admin session already open keeps working.
    assert_eq!(texts(&admin, "SELECT current_user").await, vec!["weir"]);
    // The lockout ends with its window.
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    server.connect_as("gil", "gil-pw").await.unwrap();
}

/// Log in as `user` from loopback address `from` (127.0.0.x): each
/// address has its own failure count.
async fn connect_from(
    server: &TestServer,
    from: std::net::Ipv4Addr,
    user: &str,
    password: &str,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind((from, 0).into()).unwrap();
    let stream = socket.connect(server.addr).await.unwrap();
    let mut config = tokio_postgres::Config::new();
    config.user(user).password(password).dbname("lake");
    let (client, conn) = config.connect_raw(stream, tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    Ok(client)
}

/// Failures count per name whether or not the name exists, so a lockout
/// says nothing of who exists; each address counts apart.
#[tokio::test]
async fn lockouts_count_unknown_names_like_real_ones() {
    let server = TestServer::start_with(|c| {
        c.auth.max_failed_logins = 3;
        c.auth.lockout_secs = 60;
    })
    .await;
    let admin = server.client().await;
    admin
        .batch_execute("CREATE USER gil PASSWORD 'gil-pw'; CREATE USER hana PASSWORD 'hana-pw'")
        .await
        .unwrap();
    let at = |n: u8| std::net::Ipv4Addr::new(127, 0, 0, n);
    // One failure each from three addresses: no address reaches the limit,
    // each name does.
    for (i, name) in ["gil", "ghost_never_created"].iter().enumerate() {
        for n in 0..3u8 {
            let e = connect_from(&server, at(10 + 10 * i as u8 + n), name, "wrong")
                .await
                .unwrap_err();
            assert_eq!(sqlstate(&e), "28P01", "{name}: {}", message(&e));
        }
    }
    let real = connect_from(&server, at(50), "gil", "gil-pw")
        .await
        .unwrap_err();
    let ghost = connect_from(&server, at(51), "ghost_never_created", "x")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&real), "28000", "{}", message(&real));
    assert_eq!(sqlstate(&ghost), "28000", "{}", message(&ghost));
    assert_eq!(
        message(&real).replace("gil", "X"),
        message(&ghost).replace("ghost_never_created", "X"),
        "a locked real name and a locked unknown one answer alike"
    );
    // Another name from a fresh address is not locked out.
    connect_from(&server, at(52), "hana", "hana-pw")
        .await
        .unwrap();
}

/// SCRAM logins of different users at the same time: each session gets
/// its own user, roles and privileges, never another login's.
#[tokio::test]
async fn concurrent_scram_logins_each_get_their_own_identity() {
    let server =
        std::sync::Arc::new(TestServer::start_with(|c| c.auth.max_failed_logins = 1000).await);
    let admin = server.client().await;
    let mut setup =
        String::from("CREATE SCHEMA lake.idn; CREATE TABLE lake.idn.t AS SELECT 1 AS x;");
    for i in 0..8 {
        setup.push_str(&format!("CREATE USER idn_{i} PASSWORD 'pw-{i}';"));
        if i % 2 == 0 {
            setup.push_str(&format!("GRANT SELECT ON lake.idn.t TO idn_{i};"));
        }
    }
    admin.batch_execute(&setup).await.unwrap();
    let mut tasks = Vec::new();
    for round in 0..3 {
        for i in 0..8 {
            let server = server.clone();
            tasks.push(tokio::spawn(async move {
                let c = server
                    .connect_as(&format!("idn_{i}"), &format!("pw-{i}"))
                    .await
                    .unwrap_or_else(|e| panic!("idn_{i} round {round}: {e}"));
                let user: String = c
                    .query_one("SELECT current_user", &[])
                    .await
                    .unwrap()
                    .get(0);
                assert_eq!(user, format!("idn_{i}"));
                let reads = c.query("SELECT x FROM lake.idn.t", &[]).await.is_ok();
                assert_eq!(reads, i % 2 == 0, "idn_{i} has the privileges of idn_{i}");
                // A wrong password at the same time stays wrong.
                let e = server
                    .connect_as(&format!("idn_{i}"), &format!("pw-{}", (i + 1) % 8))
                    .await
                    .unwrap_err();
                assert_eq!(sqlstate(&e), "28P01");
            }));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
}

/// A real OpenLDAP `slapd` on free loopback ports (ldap:// with StartTLS,
/// and ldaps://), on a private database seeded with two people and two
/// groups; killed on drop.
struct Slapd {
    child: std::process::Child,
    ldap: String,
    ldaps: String,
    _dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Slapd {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
        let d = dir.path().display();
        std::fs::create_dir(dir.path().join("db")).unwrap();
        let conf = dir.path().join("slapd.conf");
        std::fs::write(
            &conf,
            format!(
                "include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile {d}/slapd.pid
# A name with an empty password binds (unauthenticated, RFC 4513 5.1.2):
# Weir must refuse empty passwords itself, and the tests show it does.
allow bind_anon_dn
TLSCertificateFile {fixtures}/test-cert.pem
TLSCertificateKeyFile {fixtures}/test-key.pem
database mdb
maxsize 10485760
suffix \"dc=weir,dc=test\"
rootdn \"cn=admin,dc=weir,dc=test\"
rootpw admin-secret
directory {d}/db
"
            ),
        )
        .unwrap();
        let person = |uid: &str, pw: &str| {
            format!(
                "dn: uid={uid},ou=people,dc=weir,dc=test\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {uid}\nsn: {uid}\nuserPassword: {pw}\n\n"
            )
        };
        let seed = format!(
            "dn: dc=weir,dc=test\nobjectClass: dcObject\nobjectClass: organization\ndc: weir\no: Weir\n\n\
             dn: ou=people,dc=weir,dc=test\nobjectClass: organizationalUnit\nou: people\n\n\
             dn: ou=groups,dc=weir,dc=test\nobjectClass: organizationalUnit\nou: groups\n\n\
             {}{}\
             dn: cn=analysts,ou=groups,dc=weir,dc=test\nobjectClass: groupOfNames\ncn: analysts\nmember: uid=lena,ou=people,dc=weir,dc=test\n\n\
             dn: cn=staff,ou=groups,dc=weir,dc=test\nobjectClass: groupOfNames\ncn: staff\nmember: uid=lena,ou=people,dc=weir,dc=test\nmember: uid=otto,ou=people,dc=weir,dc=test\n",
            person("lena", "lena-pw"),
            person("otto", "otto-pw"),
        );
        let seed_path = dir.path().join("seed.ldif");
        std::fs::write(&seed_path, seed).unwrap();
        let status = std::process::Command::new("/usr/sbin/slapadd")
            .arg("-f")
            .arg(&conf)
            .arg("-l")
            .arg(&seed_path)
            .stderr(std::process::Stdio::null())
            .status()
            .expect("slapadd (scripts/install-test-deps installs slapd)");
        assert!(status.success());
        let (plain, tls) = (free_port(), free_port());
        let ldap = format!("ldap://127.0.0.1:{plain}");
        let ldaps = format!("ldaps://127.0.0.1:{tls}");
        let child = std::process::Command::new("/usr/sbin/slapd")
            .arg("-h")
            .arg(format!("{ldap}/ {ldaps}/"))
            .arg("-f")
            .arg(&conf)
            .args(["-d", "0"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", plain)).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Self {
            child,
            ldap,
            ldaps,
            _dir: dir,
        }
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ldap_server(
    ldap: weir_gateway::config::LdapConfig,
) -> impl FnOnce(&mut weir_gateway::config::Config) {
    move |c| {
        c.auth.rules = vec![
            AuthRule {
                users: vec!["weir".into()],
                addresses: vec![],
                method: AuthMethod::Scram,
            },
            AuthRule {
                users: vec![],
                addresses: vec![],
                method: AuthMethod::Ldap,
            },
        ];
        c.auth.ldap = Some(ldap);
        c.auth.max_failed_logins = 1000;
    }
}

fn test_ca() -> std::path::PathBuf {
    concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/test-ca.pem").into()
}

#[tokio::test]
async fn ldap_simple_bind_over_starttls_maps_groups_to_roles() {
    let slapd = Slapd::start();
    let mut group_roles = std::collections::BTreeMap::new();
    group_roles.insert("analysts".to_owned(), "analyst".to_owned());
    let server = TestServer::start_with(ldap_server(weir_gateway::config::LdapConfig {
        url: slapd.ldap.clone(),
        starttls: true,
        ca_file: Some(test_ca()),
        prefix: "uid=".into(),
        suffix: ",ou=people,dc=weir,dc=test".into(),
        group_base_dn: Some("ou=groups,dc=weir,dc=test".into()),
        group_roles,
        ..Default::default()
    }))
    .await;
    let admin = server.client().await;
    admin
        .batch_execute(
            "CREATE SCHEMA lake.ldap_demo;
             CREATE TABLE lake.ldap_demo.t AS SELECT 1 AS x;
             CREATE ROLE analyst; GRANT SELECT ON lake.ldap_demo.t TO analyst",
        )
        .await
        .unwrap();
    let lena = server.connect_as("lena", "lena-pw").await.unwrap();
    assert_eq!(texts(&lena, "SELECT current_user").await, vec!["lena"]);
    // analysts → analyst (mapped); staff is not mapped.
    assert_eq!(
        texts(&lena, "SELECT CAST(x AS text) FROM lake.ldap_demo.t").await,
        vec!["1"]
    );
    assert_eq!(
        texts(&lena, "SELECT pg_has_role('staff', 'member')::text").await,
        vec!["false"]
    );
    let otto = server.connect_as("otto", "otto-pw").await.unwrap();
    let e = otto
        .query("SELECT x FROM lake.ldap_demo.t", &[])
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&e), "42P01");

    let wrong = server.connect_as("lena", "nope").await.unwrap_err();
    let unknown = server.connect_as("zed", "nope").await.unwrap_err();
    let empty = server.connect_as("lena", "").await.unwrap_err();
    for e in [&wrong, &unknown, &empty] {
        assert_eq!(sqlstate(e), "28P01", "{}", message(e));
    }
    assert_eq!(
        message(&wrong).replace("lena", "X"),
        message(&unknown).replace("zed", "X")
    );
    // Names are escaped into the DN: no injection into the bind.
    let e = server
        .connect_as("lena,ou=people,dc=weir,dc=test", "lena-pw")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&e), "28P01");
}

#[tokio::test]
async fn ldap_search_and_bind_over_ldaps_and_a_directory_that_is_down() {
    let slapd = Slapd::start();
    let server = TestServer::start_with(ldap_server(weir_gateway::config::LdapConfig {
        url: slapd.ldaps.clone(),
        ca_file: Some(test_ca()),
        base_dn: Some("dc=weir,dc=test".into()),
        bind_dn: Some("cn=admin,dc=weir,dc=test".into()),
        bind_password: Some("admin-secret".into()),
        group_base_dn: Some("ou=groups,dc=weir,dc=test".into()),
        ..Default::default()
    }))
    .await;
    let otto = server.connect_as("otto", "otto-pw").await.unwrap();
    // Without a mapping, each group is the role of its own name.
    assert_eq!(
        texts(&otto, "SELECT pg_has_role('staff', 'member')::text || pg_has_role('analysts', 'member')::text").await,
        vec!["truefalse"]
    );
    let e = server.connect_as("otto", "bad").await.unwrap_err();
    assert_eq!(sqlstate(&e), "28P01");
    // A filter-injection attempt finds nobody: `ott*` unescaped would find
    // otto alone and bind as him.
    for name in ["*", "ott*", "otto)(uid=*"] {
        let e = server.connect_as(name, "otto-pw").await.unwrap_err();
        assert_eq!(sqlstate(&e), "28P01", "{name}: {}", message(&e));
    }
    // An empty password would bind unauthenticated (the directory allows
    // it): Weir refuses it first.
    let e = server.connect_as("otto", "").await.unwrap_err();
    assert_eq!(sqlstate(&e), "28P01", "{}", message(&e));

    // The directory goes away: LDAP logins fail with 28000 in time,
    // password logins (the admin) are unaffected.
    drop(slapd);
    let started = std::time::Instant::now();
    let e = server.connect_as("otto", "otto-pw").await.unwrap_err();
    assert_eq!(sqlstate(&e), "28000", "{}", message(&e));
    assert!(started.elapsed() < std::time::Duration::from_secs(11));
    let admin = server.client().await;
    assert_eq!(texts(&admin, "SELECT current_user").await, vec!["weir"]);
}

/// A directory that accepts the connection and never answers: the login
/// fails with 28000 within the configured time, and other logins go on.
#[tokio::test]
async fn an_ldap_directory_that_never_answers_fails_logins_in_time() {
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((conn, _)) = silent.accept().await {
            open.push(conn); // accepted, never read nor answered
        }
    });
    let server = TestServer::start_with(ldap_server(weir_gateway::config::LdapConfig {
        url: format!("ldap://127.0.0.1:{port}"),
        prefix: "uid=".into(),
        suffix: ",ou=people,dc=weir,dc=test".into(),
        timeout_ms: 1000,
        ..Default::default()
    }))
    .await;
    let started = std::time::Instant::now();
    let e = server.connect_as("otto", "otto-pw").await.unwrap_err();
    assert_eq!(sqlstate(&e), "28000", "{}", message(&e));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let admin = server.client().await;
    assert_eq!(texts(&admin, "SELECT current_user").await, vec!["weir"]);
    held.abort();
}

#[tokio::test]
async fn the_audit_trail_records_logins_and_statements_for_admins_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let audit_path = path.clone();
    let server = TestServer::start_with(move |c| c.audit.path = Some(audit_path)).await;
    let admin = server.client().await;
    admin
        .batch_execute(
            "CREATE USER ann WITH PASSWORD 'secret-pw-123';
             CREATE SCHEMA lake.audit_demo;
             CREATE TABLE lake.audit_demo.t AS SELECT 1 AS x, 2 AS y;
             GRANT SELECT (x) ON lake.audit_demo.t TO ann",
        )
        .await
        .unwrap();
    let _ = server.connect_as("ann", "wrong").await.unwrap_err();
    let ann = server.connect_as("ann", "secret-pw-123").await.unwrap();
    ann.batch_execute("SET application_name = 'audit-test'")
        .await
        .unwrap();
    assert_eq!(
        texts(&ann, "SELECT CAST(x AS text) FROM lake.audit_demo.t").await,
        vec!["1"]
    );
    let e = ann
        .query("SELECT y FROM lake.audit_demo.t", &[])
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&e), "42501");
    let e = ann
        .query("SELECT count(*) FROM pg_catalog.weir_audit_log", &[])
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&e), "42501", "{}", message(&e));
    assert!(message(&e).contains("weir_audit_log"));

    // Admins query the records in SQL.
    let rows = admin
        .query(
            "SELECT user_name, outcome, coalesce(sqlstate, ''), coalesce(application_name, ''), \
                    array_to_string(objects_read, ',') \
             FROM pg_catalog.weir_audit_log WHERE kind = 'statement' AND user_name = 'ann' \
             ORDER BY time",
            &[],
        )
        .await
        .unwrap();
    let seen: Vec<(String, String, String, String, String)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect();
    assert!(
        seen.contains(&(
            "ann".into(),
            "ok".into(),
            "".into(),
            "audit-test".into(),
            "lake.audit_demo.t".into()
        )),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|s| s.1 == "error" && s.2 == "42501"),
        "{seen:?}"
    );

    // The file: denials and DDL at once, the rest within a second.
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        !text.contains("secret-pw-123"),
        "a password reached the audit file"
    );
    let records = audit_lines(&path);
    let find = |pred: &dyn Fn(&Value) -> bool| records.iter().find(|r| pred(r)).cloned();
    let login_failed =
        find(&|r| r["kind"] == "login" && r["user"] == "ann" && r["outcome"] == "failed")
            .expect("failed login");
    assert_eq!(login_failed["sqlstate"], "28P01");
    assert_eq!(login_failed["client"], "127.0.0.1");
    let login_ok = find(&|r| r["kind"] == "login" && r["user"] == "ann" && r["outcome"] == "ok")
        .expect("login");
    assert_eq!(login_ok["method"], "scram");
    let select = find(&|r| r["user"] == "ann" && r["outcome"] == "ok" && r["command"] == "SELECT")
        .expect("select");
    assert_eq!(select["rows"], 1);
    assert_eq!(select["read"], json!(["lake.audit_demo.t"]));
    assert_eq!(select["application_name"], "audit-test");
    let grant = find(&|r| r["command"] == "GRANT").expect("grant");
    assert_eq!(grant["user"], "weir");
    let create_user = find(&|r| r["command"] == "CREATE ROLE").expect("create user");
    assert!(
        create_user["statement"]
            .as_str()
            .unwrap()
            .contains("PASSWORD '***'"),
        "{create_user}"
    );
}

/// Denials, failures, DDL, GRANT/REVOKE, policies and masks are on disk
/// before the client hears of them: the server is killed with SIGKILL the
/// moment each reply arrives (no sleep), and the record is there.
#[tokio::test]
async fn audited_kinds_are_on_disk_before_the_client_hears_of_them() {
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let config = format!("[audit]\npath = {:?}\n", audit.display().to_string());
    let mut weir = common::WeirProcess::spawn_in(tempfile::tempdir().unwrap(), &config);
    weir.client()
        .await
        .batch_execute(
            "CREATE USER kim WITH PASSWORD 'kim-pw';
             CREATE SCHEMA lake.k9; CREATE TABLE lake.k9.t AS SELECT 1 AS secret_col;
             GRANT SELECT ON lake.k9.t TO kim",
        )
        .await
        .unwrap();
    // (who, statement, SQLSTATE it fails with, or None)
    let kinds: [(&str, &str, Option<&str>); 7] = [
        ("kim", "DROP TABLE lake.k9.t", Some("42501")),
        (
            "kim",
            "SELECT 1 / (secret_col - 1) FROM lake.k9.t",
            Some("22012"),
        ),
        ("weir", "CREATE TABLE lake.k9.u AS SELECT 2 AS x", None),
        ("weir", "GRANT SELECT ON lake.k9.u TO kim", None),
        ("weir", "REVOKE SELECT ON lake.k9.u FROM kim", None),
        (
            "weir",
            "CREATE POLICY p ON lake.k9.t TO kim USING (true)",
            None,
        ),
        (
            "weir",
            "ALTER TABLE lake.k9.t ALTER COLUMN secret_col SET MASK (0) FOR kim",
            None,
        ),
    ];
    for (user, sql, fails) in kinds {
        let (host, port) = weir.addr.rsplit_once(':').unwrap();
        let password = if user == "kim" { "kim-pw" } else { "weir" };
        let (client, conn) = tokio_postgres::connect(
            &format!("host={host} port={port} user={user} password={password} dbname=lake"),
            NoTls,
        )
        .await
        .unwrap();
        tokio::spawn(conn);
        let result = client.batch_execute(sql).await;
        // kill -9 the moment the reply arrived.
        let data = weir.kill9();
        match (fails, &result) {
            (Some(code), Err(e)) => assert_eq!(sqlstate(e), code, "{sql}: {}", message(e)),
            (None, Ok(())) => {}
            _ => panic!("{sql}: {result:?}"),
        }
        let records = audit_lines(&audit);
        let record = records
            .iter()
            .find(|r| r["user"] == user && r["kind"] == "statement" && r["statement"] == sql)
            .unwrap_or_else(|| panic!("no record of {sql} in {records:?}"));
        assert_eq!(record["sqlstate"].as_str(), fails, "{sql}: {record}");
        weir = common::WeirProcess::spawn_in(data, &config);
    }
}
