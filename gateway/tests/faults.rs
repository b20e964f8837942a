#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Bad input and faults: malformed, oversized, truncated and unknown
//! messages, invalid UTF-8, plaintext smuggled after an SSLRequest, clients
//! that vanish. Each gets the right error or a closed connection, never a
//! panic, and other sessions keep working. Every test ends by checking
//! that the server's code never panicked (Weir answers a caught panic with
//! XX000 or a closed socket, which a test could otherwise mistake for a
//! deliberate refusal).

mod common;

use common::raw::{error_of, query, startup_packet, typed, Raw};
use common::TestServer;

/// Another session still works, and nothing in the server panicked.
async fn others_still_work(s: &TestServer) {
    common::assert_no_server_panic();
    let c = s.client().await;
    let n: i64 = c
        .query_one("SELECT count(*) FROM lake.tpch.region", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 5);
    common::assert_no_server_panic();
}

/// A new session (waiting for the one slot of a one-connection server)
/// answers a query, and nothing in the server panicked.
async fn a_new_session_works(s: &TestServer) {
    let mut raw = login_when_a_slot_frees(s).await;
    raw.works("SELECT count(*) FROM lake.tpch.region").await;
    common::assert_no_server_panic();
}

/// Log in, retrying for up to ten seconds while the server refuses with
/// 53300 (its one connection slot still held by a session being ended).
async fn login_when_a_slot_frees(s: &TestServer) -> Raw {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let mut raw = Raw::connect(s.addr).await;
        raw.send(&startup_packet(&[("user", "weir"), ("database", "lake")]))
            .await;
        let first = raw.recv().await.expect("an answer to the startup packet");
        if first.tag == b'R' {
            drop(raw);
            return Raw::login(s.addr).await;
        }
        let (_, code, _) = error_of(&[first]).expect("auth request or error");
        assert_eq!(code, "53300");
        assert!(
            std::time::Instant::now() < deadline,
            "the vanished client's session still holds its slot"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn an_oversized_message_after_login_is_fatal_08p01() {
    let s = TestServer::start_with(|c| c.server.max_message_bytes = 4096).await;
    let mut raw = Raw::login(s.addr).await;
    // Only the header: the server must refuse before reading the body.
    raw.send(&[b'Q', 0x00, 0x10, 0x00, 0x00]).await;
    let msgs = raw.until_ready().await;
    let (severity, code, message) = error_of(&msgs).expect("an error");
    assert_eq!((severity.as_str(), code.as_str()), ("FATAL", "08P01"));
    assert!(message.contains("exceeds the limit of 4096"), "{message}");
    assert!(raw.closed().await);
    // A message just under the limit is fine.
    let mut raw = Raw::login(s.addr).await;
    let msgs = raw
        .works(&format!("SELECT '{}' AS x", "a".repeat(3000)))
        .await;
    assert!(msgs.iter().any(|m| m.tag == b'D'));
    others_still_work(&s).await;
}

#[tokio::test]
async fn huge_and_negative_lengths_before_login_close_the_connection() {
    let s = TestServer::start().await;
    for header in [
        1_000_000i32.to_be_bytes(),
        (-8i32).to_be_bytes(),
        3i32.to_be_bytes(),
    ] {
        let mut raw = Raw::connect(s.addr).await;
        raw.send(&header).await;
        raw.send(&196608i32.to_be_bytes()).await;
        assert!(
            raw.closed().await,
            "connection closed for length {header:?}"
        );
        // As PostgreSQL: nothing is said to a peer that never spoke the
        // protocol, or a FATAL 08P01.
        for m in raw.received() {
            let (severity, code, _) = error_of(&[m]).expect("only an error");
            assert_eq!((severity.as_str(), code.as_str()), ("FATAL", "08P01"));
        }
    }
    others_still_work(&s).await;
}

#[tokio::test]
async fn a_startup_packet_of_10000_bytes_is_read_and_one_byte_more_is_refused() {
    // PostgreSQL's limit (MAX_STARTUP_PACKET_LENGTH), length word included.
    let s = TestServer::start().await;
    let packet = |total: usize| {
        let empty = startup_packet(&[("user", "weir"), ("application_name", "")]).len();
        let value = "a".repeat(total - empty);
        let p = startup_packet(&[("user", "weir"), ("application_name", &value)]);
        assert_eq!(p.len(), total);
        p
    };
    let mut raw = Raw::connect(s.addr).await;
    raw.send(&packet(10_000)).await;
    let m = raw
        .recv()
        .await
        .expect("an answer to a 10,000-byte startup packet");
    assert_eq!(m.tag, b'R', "authentication is requested");
    let mut raw = Raw::connect(s.addr).await;
    raw.send(&packet(10_001)).await;
    assert!(
        raw.closed().await,
        "a 10,001-byte startup packet ends the connection"
    );
    for m in raw.received() {
        let (severity, code, _) = error_of(&[m]).expect("only an error");
        assert_eq!((severity.as_str(), code.as_str()), ("FATAL", "08P01"));
    }
    others_still_work(&s).await;
}

#[tokio::test]
async fn unknown_message_types_and_bad_lengths_after_login_are_fatal() {
    let s = TestServer::start().await;
    for bytes in [
        typed(b'Z', b""),
        vec![b'Q', 0xff, 0xff, 0xff, 0xf0],
        vec![b'Q', 0, 0, 0, 2],
    ] {
        let mut raw = Raw::login(s.addr).await;
        raw.send(&bytes).await;
        let (severity, code, _) = error_of(&raw.until_ready().await).expect("an error");
        assert_eq!(
            (severity.as_str(), code.as_str()),
            ("FATAL", "08P01"),
            "{bytes:?}"
        );
        assert!(raw.closed().await);
    }
    others_still_work(&s).await;
}

#[tokio::test]
async fn invalid_utf8_is_22021_and_the_session_continues() {
    let s = TestServer::start().await;
    let mut raw = Raw::login(s.addr).await;
    raw.send(&query(b"SELECT '\xff\xfe'")).await;
    let msgs = raw.until_ready().await;
    let (severity, code, message) = error_of(&msgs).expect("an error");
    assert_eq!((severity.as_str(), code.as_str()), ("ERROR", "22021"));
    assert!(message.contains("UTF8"), "{message}");
    let msgs = raw.works("SELECT 1").await;
    assert!(msgs.iter().any(|m| m.tag == b'D'));
    common::assert_no_server_panic();
}

#[tokio::test]
async fn a_truncated_bind_is_an_error_until_sync_and_the_session_continues() {
    let s = TestServer::start().await;
    let mut raw = Raw::login(s.addr).await;
    let mut parse = b"\0SELECT 1\0".to_vec();
    parse.extend_from_slice(&0i16.to_be_bytes());
    raw.send(&typed(b'P', &parse)).await;
    // Bind claims 5 parameter values but carries none.
    let mut bind = b"\0\0".to_vec();
    bind.extend_from_slice(&0i16.to_be_bytes());
    bind.extend_from_slice(&5i16.to_be_bytes());
    raw.send(&typed(b'B', &bind)).await;
    raw.send(&typed(b'E', b"\0\0\0\0\0")).await;
    raw.send(&typed(b'S', b"")).await;
    let msgs = raw.until_ready().await;
    let (severity, code, _) = error_of(&msgs).expect("an error");
    assert_eq!((severity.as_str(), code.as_str()), ("ERROR", "08P01"));
    assert_eq!(
        msgs.iter().filter(|m| m.tag == b'E').count(),
        1,
        "Execute after the error is skipped until Sync"
    );
    let msgs = raw.works("SELECT 2").await;
    assert!(msgs.iter().any(|m| m.tag == b'D'));
    common::assert_no_server_panic();
}

#[tokio::test]
async fn bind_with_the_wrong_parameter_count_names_both_counts() {
    let s = TestServer::start().await;
    let mut raw = Raw::login(s.addr).await;
    let mut parse = b"s1\0SELECT $1::int\0".to_vec();
    parse.extend_from_slice(&1i16.to_be_bytes());
    parse.extend_from_slice(&23i32.to_be_bytes());
    raw.send(&typed(b'P', &parse)).await;
    let mut bind = b"\0s1\0".to_vec();
    bind.extend_from_slice(&0i16.to_be_bytes());
    bind.extend_from_slice(&0i16.to_be_bytes());
    bind.extend_from_slice(&0i16.to_be_bytes());
    raw.send(&typed(b'B', &bind)).await;
    raw.send(&typed(b'S', b"")).await;
    let (_, code, message) = error_of(&raw.until_ready().await).expect("an error");
    assert_eq!(code, "08P01");
    assert!(
        message.contains("supplies 0 parameters") && message.contains("requires 1"),
        "{message}"
    );
    raw.works("SELECT 3").await;
    common::assert_no_server_panic();
}

#[tokio::test]
async fn plaintext_sent_after_an_ssl_request_is_rejected_not_processed() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let s = TestServer::start_with(|c| {
        c.tls = Some(weir_gateway::config::TlsConfig {
            cert: fixtures.join("test-cert.pem"),
            key: fixtures.join("test-key.pem"),
            required: false,
        })
    })
    .await;
    let mut raw = Raw::connect(s.addr).await;
    // SSLRequest and, in the same write, a plaintext startup packet.
    let mut bytes = 8i32.to_be_bytes().to_vec();
    bytes.extend_from_slice(&80_877_103i32.to_be_bytes());
    bytes.extend_from_slice(&startup_packet(&[("user", "weir"), ("database", "lake")]));
    raw.send(&bytes).await;
    let mut answer = [0u8; 1];
    tokio::io::AsyncReadExt::read_exact(&mut raw.stream, &mut answer)
        .await
        .unwrap();
    assert_eq!(&answer, b"S");
    // The server must not answer the smuggled startup with an auth request.
    assert!(raw.closed().await, "connection must be closed");
    let after = raw.received();
    assert!(
        !after.iter().any(|m| m.tag == b'R'),
        "the smuggled startup packet was answered: {:?}",
        after.iter().map(|m| m.tag as char).collect::<String>()
    );
    others_still_work(&s).await;
}

#[tokio::test]
async fn truncated_cancel_requests_and_garbage_are_harmless() {
    let s = TestServer::start_with(|c| c.server.max_connections = 1).await;
    let mut raw = Raw::connect(s.addr).await;
    let mut cancel = 16i32.to_be_bytes().to_vec();
    cancel.extend_from_slice(&80_877_102i32.to_be_bytes());
    cancel.extend_from_slice(&[0, 0]);
    raw.send(&cancel).await;
    // The server waits for the rest (as PostgreSQL does, until its startup
    // timeout) and answers nothing; the client gives up.
    let answer = tokio::time::timeout(std::time::Duration::from_millis(500), raw.recv()).await;
    assert!(
        answer.is_err(),
        "a truncated CancelRequest was answered: {answer:?}"
    );
    drop(raw);
    let mut raw = Raw::connect(s.addr).await;
    raw.send(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03])
        .await;
    assert!(raw.closed().await);
    // Neither took the one connection slot.
    a_new_session_works(&s).await;
}

#[tokio::test]
async fn a_client_that_vanishes_mid_result_does_not_disturb_others() {
    // One slot: each next login proves the vanished session ended (and its
    // statement with it) rather than lingering.
    let s = TestServer::start_with(|c| c.server.max_connections = 1).await;
    for _ in 0..3 {
        let mut raw = login_when_a_slot_frees(&s).await;
        raw.send(&query(b"SELECT * FROM generate_series(1, 200000000)"))
            .await;
        // Read a little of the result, then disappear.
        let first = raw.recv().await.expect("row description");
        assert_eq!(first.tag, b'T');
        let _ = raw.recv().await;
        drop(raw);
    }
    a_new_session_works(&s).await;
}

#[tokio::test]
async fn a_client_that_vanishes_during_authentication_is_forgotten() {
    let s = TestServer::start_with(|c| c.server.max_connections = 1).await;
    let mut raw = Raw::connect(s.addr).await;
    raw.send(&startup_packet(&[("user", "weir"), ("database", "lake")]))
        .await;
    let m = raw.recv().await.unwrap();
    assert_eq!(m.tag, b'R');
    raw.send(&typed(b'p', b"SCRAM-SHA-256\0\0\0\0\x05n,,n"))
        .await;
    drop(raw);
    a_new_session_works(&s).await;
}

/// RowDescription carries type OIDs, sizes and typmods as PostgreSQL does.
#[tokio::test]
async fn row_description_carries_oids_sizes_and_typmods() {
    let s = TestServer::start().await;
    let mut raw = Raw::login(s.addr).await;
    raw.send(&query(
        b"SELECT CAST(1.5 AS numeric(10,2)) AS n, 1::int AS i, 'x' AS t, DATE '2024-01-01' AS d",
    ))
    .await;
    let msgs = raw.until_ready().await;
    let desc = msgs.iter().find(|m| m.tag == b'T').expect("RowDescription");
    let b = &desc.body[..];
    let n = i16::from_be_bytes([b[0], b[1]]) as usize;
    let mut at = 2;
    let mut fields = Vec::new();
    for _ in 0..n {
        let end = at + b[at..].iter().position(|c| *c == 0).unwrap();
        let name = String::from_utf8_lossy(&b[at..end]).into_owned();
        at = end + 1 + 4 + 2;
        let oid = u32::from_be_bytes(b[at..at + 4].try_into().unwrap());
        let size = i16::from_be_bytes(b[at + 4..at + 6].try_into().unwrap());
        let typmod = i32::from_be_bytes(b[at + 6..at + 10].try_into().unwrap());
        at += 12;
        fields.push((name, oid, size, typmod));
    }
    assert_eq!(
        fields,
        vec![
            ("n".to_owned(), 1700, -1, (10 << 16 | 2) + 4),
            ("i".to_owned(), 23, 4, -1),
            ("t".to_owned(), 25, -1, -1),
            ("d".to_owned(), 1082, 4, -1),
        ]
    );
    let complete = msgs
        .iter()
        .find(|m| m.tag == b'C')
        .expect("CommandComplete");
    assert_eq!(&complete.body[..], b"SELECT 1\0");
}

#[tokio::test]
async fn a_client_that_never_finishes_startup_is_disconnected() {
    let s = TestServer::start_with(|c| c.server.startup_timeout_secs = 1).await;
    let mut raw = Raw::connect(s.addr).await;
    raw.send(&[0, 0, 0]).await;
    let started = std::time::Instant::now();
    assert!(raw.closed().await);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "closed after {:?}",
        started.elapsed()
    );
    others_still_work(&s).await;
}

#[tokio::test]
async fn clients_over_max_connections_are_refused_with_53300() {
    let s = TestServer::start_with(|c| c.server.max_connections = 2).await;
    let a = s.client().await;
    let _b = s.client().await;
    let e = tokio_postgres::connect(&s.url("lake"), tokio_postgres::NoTls)
        .await
        .err()
        .expect("third connection refused");
    assert_eq!(common::sqlstate(&e), "53300");
    // Existing sessions are unaffected, and a slot frees when one leaves.
    let n: i64 = a
        .query_one("SELECT count(*) FROM lake.tpch.region", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 5);
    drop(a);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    others_still_work(&s).await;
}

#[tokio::test]
async fn a_statement_that_panics_fails_alone_with_xx000() {
    // `weir_test_panic` (registered for tests only) panics where it runs:
    // on the query runtime, in the middle of a scan, in every batch.
    let s = TestServer::start_with(|c| c.query.test_panic_function = true).await;
    let c = s.client().await;
    let other = s.client().await;
    for sql in [
        "SELECT weir_test_panic(n_name) FROM tpch.nation",
        "SELECT count(*) FROM tpch.lineitem WHERE weir_test_panic(l_comment) = 'x'",
    ] {
        let e = c.query(sql, &[]).await.unwrap_err();
        assert_eq!(common::sqlstate(&e), "XX000", "{sql}: {e}");
        assert!(common::message(&e).contains("panicked"), "{e}");
        // The session goes on, in and out of a transaction block.
        assert_eq!(
            c.query_one("SELECT count(*) FROM tpch.region", &[])
                .await
                .unwrap()
                .get::<_, i64>(0),
            5
        );
    }
    c.batch_execute("BEGIN").await.unwrap();
    let e = c
        .query("SELECT weir_test_panic(r_name) FROM tpch.region", &[])
        .await
        .unwrap_err();
    assert_eq!(common::sqlstate(&e), "XX000");
    assert_eq!(
        common::sqlstate(&c.query("SELECT 1", &[]).await.unwrap_err()),
        "25P02",
        "a panic aborts the block like any error"
    );
    c.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(
        other
            .query_one("SELECT count(*) FROM tpch.nation", &[])
            .await
            .unwrap()
            .get::<_, i64>(0),
        25
    );
    others_still_work(&s).await;
}
