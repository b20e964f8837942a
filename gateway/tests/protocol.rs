#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Protocol behaviour over real sockets with tokio-postgres (extended
//! protocol, binary results) and its simple-query API (text results).

mod common;

use std::time::{Duration, Instant};

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use common::{message, sqlstate, TestServer};
use rust_decimal::Decimal;
use tokio_postgres::types::Type;
use tokio_postgres::{NoTls, SimpleQueryMessage};

fn rows(msgs: &[SimpleQueryMessage]) -> Vec<Vec<Option<String>>> {
    msgs.iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => {
                Some((0..r.len()).map(|i| r.get(i).map(str::to_owned)).collect())
            }
            _ => None,
        })
        .collect()
}

fn completions(msgs: &[SimpleQueryMessage]) -> Vec<u64> {
    msgs.iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::CommandComplete(n) => Some(*n),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn simple_protocol_runs_several_statements_in_one_message() {
    let s = TestServer::start().await;
    let c = s.client().await;
    let msgs = c
        .simple_query(
            "SELECT 1 AS a; SELECT 'x' AS b UNION ALL SELECT 'y'; SET application_name = 'multi'",
        )
        .await
        .unwrap();
    // UNION ALL's branches run in parallel: its rows come in either order.
    let mut got = rows(&msgs);
    got[1..].sort();
    assert_eq!(
        got,
        vec![
            vec![Some("1".into())],
            vec![Some("x".into())],
            vec![Some("y".into())]
        ]
    );
    assert_eq!(completions(&msgs), vec![1, 2, 0]);
    let shown = c.simple_query("SHOW application_name").await.unwrap();
    assert_eq!(rows(&shown), vec![vec![Some("multi".into())]]);
}

#[tokio::test]
async fn empty_queries_get_empty_query_response() {
    let s = TestServer::start().await;
    let c = s.client().await;
    assert!(rows(&c.simple_query("").await.unwrap()).is_empty());
    assert!(rows(&c.simple_query("  ;  ").await.unwrap()).is_empty());
    // The session is still usable.
    assert_eq!(
        rows(&c.simple_query("SELECT 2").await.unwrap()),
        vec![vec![Some("2".into())]]
    );
}

#[tokio::test]
async fn tpch_demo_tables_resolve_by_full_name_database_and_search_path() {
    let s = TestServer::start().await;
    let c = s.client().await;
    let n: i64 = c
        .query_one("SELECT count(*) FROM lake.tpch.nation", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 25);
    // database `lake` is the default catalog: schema.table works.
    let n: i64 = c
        .query_one("SELECT count(*) FROM tpch.region", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 5);
    // unqualified names go through search_path.
    let e = c
        .query_one("SELECT count(*) FROM orders", &[])
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&e), "42P01");
    c.batch_execute("SET search_path TO tpch, public")
        .await
        .unwrap();
    let n: i64 = c
        .query_one("SELECT count(*) FROM orders", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 15_000);
    let schema: String = c
        .query_one("SELECT current_schema()", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(schema, "tpch");
    let db: String = c
        .query_one("SELECT current_database()", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(db, "lake");

    // A client that names no database (tokio-postgres then sends none;
    // psql sends the user name): `session.default_catalog`.
    for url in [
        format!(
            "host={} port={} user=weir password=weir",
            s.addr.ip(),
            s.addr.port()
        ),
        s.url("weir"),
    ] {
        let (c, conn) = tokio_postgres::connect(&url, NoTls).await.unwrap();
        tokio::spawn(conn);
        let row = c
            .query_one("SELECT current_database(), count(*) FROM tpch.region", &[])
            .await
            .unwrap();
        assert_eq!(
            (row.get::<_, String>(0), row.get::<_, i64>(1)),
            ("lake".into(), 5),
            "{url}"
        );
    }
}

#[tokio::test]
async fn result_columns_are_named_as_postgresql_names_them() {
    let s = TestServer::start().await;
    let c = s.client().await;
    let stmt = c
        .prepare(
            "SELECT count(*), 1, 2, '7'::int, n_name FROM lake.tpch.nation GROUP BY n_name LIMIT 1",
        )
        .await
        .unwrap();
    let names: Vec<&str> = stmt.columns().iter().map(|c| c.name()).collect();
    assert_eq!(names, ["count", "?column?", "?column?", "int4", "n_name"]);
}

#[tokio::test]
async fn extended_protocol_binds_inferred_and_declared_parameters() {
    let s = TestServer::start().await;
    let c = s.client().await;
    // Inferred: the planner types $1 from the column it is compared with.
    let stmt = c
        .prepare("SELECT n_name FROM lake.tpch.nation WHERE n_nationkey = $1")
        .await
        .unwrap();
    assert_eq!(stmt.params(), &[Type::INT8]);
    let name: String = c.query_one(&stmt, &[&5i64]).await.unwrap().get(0);
    assert_eq!(name, "ETHIOPIA");
    // Declared by the client.
    let stmt = c
        .prepare_typed("SELECT $1::int + 1, $2", &[Type::INT4, Type::TEXT])
        .await
        .unwrap();
    assert_eq!(stmt.params(), &[Type::INT4, Type::TEXT]);
    let row = c.query_one(&stmt, &[&41i32, &"hi"]).await.unwrap();
    // DataFusion types the literal 1 as bigint, so the sum is bigint.
    assert_eq!(row.get::<_, i64>(0), 42);
    assert_eq!(row.get::<_, String>(1), "hi");
    // NULL parameters.
    let row = c
        .query_one(
            "SELECT count(*) FROM lake.tpch.nation WHERE n_regionkey = $1",
            &[&None::<i64>],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 0);
    // Named statements are reused.
    for key in [0i64, 1, 2] {
        let n: i64 = c
            .query_one(
                &c.prepare("SELECT n_regionkey FROM lake.tpch.nation WHERE n_nationkey = $1")
                    .await
                    .unwrap(),
                &[&key],
            )
            .await
            .unwrap()
            .get(0);
        assert!((0..5).contains(&n));
    }
}

#[tokio::test]
async fn binary_results_decode_to_the_right_rust_types() {
    let s = TestServer::start().await;
    let c = s.client().await;
    let row = c
        .query_one(
            "SELECT true AS b, 1::smallint AS i2, 2::int AS i4, 3::bigint AS i8, 1.5::real AS f4, 2.5::double precision AS f8, \
             CAST('12.34' AS numeric(10,2)) AS n, 'txt' AS t, decode('0102', 'hex') AS ba, DATE '2024-01-02' AS d, \
             TIME '03:04:05.5' AS tm, TIMESTAMP '2024-01-02 03:04:05.123456' AS ts, make_array(1, 2, 3) AS arr, \
             NULL::int AS nul, make_array('a', NULL, 'c d') AS tarr",
            &[],
        )
        .await
        .unwrap();
    assert!(row.get::<_, bool>("b"));
    assert_eq!(row.get::<_, i16>("i2"), 1);
    assert_eq!(row.get::<_, i32>("i4"), 2);
    assert_eq!(row.get::<_, i64>("i8"), 3);
    assert_eq!(row.get::<_, f32>("f4"), 1.5);
    assert_eq!(row.get::<_, f64>("f8"), 2.5);
    assert_eq!(row.get::<_, Decimal>("n"), Decimal::new(1234, 2));
    assert_eq!(row.get::<_, String>("t"), "txt");
    assert_eq!(row.get::<_, Vec<u8>>("ba"), vec![1u8, 2]);
    assert_eq!(
        row.get::<_, NaiveDate>("d"),
        NaiveDate::from_ymd_opt(2024, 1, 2).unwrap()
    );
    assert_eq!(
        row.get::<_, NaiveTime>("tm"),
        NaiveTime::from_hms_milli_opt(3, 4, 5, 500).unwrap()
    );
    assert_eq!(
        row.get::<_, NaiveDateTime>("ts"),
        NaiveDate::from_ymd_opt(2024, 1, 2)
            .unwrap()
            .and_hms_micro_opt(3, 4, 5, 123_456)
            .unwrap()
    );
    assert_eq!(row.get::<_, Vec<i64>>("arr"), vec![1, 2, 3]);
    assert_eq!(row.get::<_, Option<i32>>("nul"), None);
    assert_eq!(
        row.get::<_, Vec<Option<String>>>("tarr"),
        vec![Some("a".into()), None, Some("c d".into())]
    );
}

#[tokio::test]
async fn a_syntax_error_points_at_the_offending_token() {
    // The SQLSTATE matrix is tests/slt/errors.slt; positions are checked here.
    let s = TestServer::start().await;
    let c = s.client().await;
    // Syntax errors point at the offending token (1-based character position).
    let e = c.simple_query("SELECT 1;\nSELEC 2").await.unwrap_err();
    let pos = e
        .as_db_error()
        .and_then(|d| d.position())
        .map(|p| format!("{p:?}"));
    assert_eq!(pos.as_deref(), Some("Original(11)"));
}

#[tokio::test]
async fn a_failed_statement_aborts_the_transaction_block_until_rollback() {
    let s = TestServer::start().await;
    let c = s.client().await;
    c.batch_execute("BEGIN").await.unwrap();
    assert_eq!(
        sqlstate(&c.simple_query("SELECT 1/0").await.unwrap_err()),
        "22012"
    );
    let e = c.simple_query("SELECT 1").await.unwrap_err();
    assert_eq!(sqlstate(&e), "25P02");
    // COMMIT of an aborted block rolls back.
    let msgs = c.simple_query("COMMIT").await.unwrap();
    assert!(completions(&msgs).is_empty() || completions(&msgs) == vec![0]);
    assert_eq!(
        rows(&c.simple_query("SELECT 3").await.unwrap()),
        vec![vec![Some("3".into())]]
    );
    // Savepoints repair the block.
    c.batch_execute("BEGIN; SAVEPOINT s1").await.unwrap();
    assert!(c.simple_query("SELECT 1/0").await.is_err());
    c.batch_execute("ROLLBACK TO SAVEPOINT s1").await.unwrap();
    assert_eq!(
        rows(&c.simple_query("SELECT 4").await.unwrap()),
        vec![vec![Some("4".into())]]
    );
    c.batch_execute("ROLLBACK").await.unwrap();
    // Outside a block an error leaves the session idle and usable.
    assert!(c.simple_query("SELECT 1/0").await.is_err());
    assert_eq!(
        rows(&c.simple_query("SELECT 5").await.unwrap()),
        vec![vec![Some("5".into())]]
    );
}

#[tokio::test]
async fn portals_with_row_limits_suspend_and_resume() {
    let s = TestServer::start().await;
    let mut c = s.client().await;
    let tx = c.transaction().await.unwrap();
    let portal = tx
        .bind(
            "SELECT o_orderkey FROM lake.tpch.orders ORDER BY o_orderkey",
            &[],
        )
        .await
        .unwrap();
    let mut total = 0;
    let mut last = 0i64;
    loop {
        let batch = tx.query_portal(&portal, 1000).await.unwrap();
        for row in &batch {
            let k: i64 = row.get(0);
            assert!(k > last, "rows arrive in order across suspensions");
            last = k;
        }
        total += batch.len();
        if batch.len() < 1000 {
            break;
        }
    }
    assert_eq!(total, 15_000);
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn set_show_reset_round_trip_and_report_parameter_status() {
    let s = TestServer::start().await;
    let c = s.client().await;
    for (name, value, shown) in [
        ("application_name", "'tests'", "tests"),
        ("extra_float_digits", "3", "3"),
        ("statement_timeout", "'5s'", "5000"),
        ("search_path", "tpch", "tpch"),
        ("DateStyle", "'ISO, DMY'", "ISO, DMY"),
        ("IntervalStyle", "postgres", "postgres"),
        ("client_encoding", "'UTF8'", "UTF8"),
        ("standard_conforming_strings", "on", "on"),
        ("TimeZone", "'Europe/Paris'", "Europe/Paris"),
    ] {
        c.batch_execute(&format!("SET {name} = {value}"))
            .await
            .unwrap();
        let got: String = c
            .query_one(&format!("SHOW {name}"), &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(got, shown, "{name}");
    }
    c.batch_execute("RESET ALL").await.unwrap();
    let got: String = c
        .query_one("SHOW application_name", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(got, "");
    let all = c.simple_query("SHOW ALL").await.unwrap();
    assert!(rows(&all)
        .iter()
        .any(|r| r[0].as_deref() == Some("server_version")));
}

#[tokio::test]
async fn wrong_password_and_unknown_database_are_rejected_with_their_sqlstates() {
    let s = TestServer::start().await;
    let bad = format!(
        "host={} port={} user=weir password=nope dbname=lake",
        s.addr.ip(),
        s.addr.port()
    );
    let e = tokio_postgres::connect(&bad, NoTls)
        .await
        .err()
        .expect("must fail");
    assert_eq!(sqlstate(&e), "28P01");
    let nouser = format!(
        "host={} port={} user=mallory password=weir dbname=lake",
        s.addr.ip(),
        s.addr.port()
    );
    let e = tokio_postgres::connect(&nouser, NoTls)
        .await
        .err()
        .expect("must fail");
    assert_eq!(sqlstate(&e), "28P01");
    let e = tokio_postgres::connect(&s.url("nodb"), NoTls)
        .await
        .err()
        .expect("must fail");
    assert_eq!(sqlstate(&e), "3D000");
    assert!(message(&e).contains("nodb"));
}

#[tokio::test]
async fn cancel_request_stops_a_running_query_and_the_session_stays_usable() {
    let s = TestServer::start().await;
    let c = s.client().await;
    let started = Instant::now();
    let (result, stopped, sent) = common::cancelled(
        c.cancel_token(),
        Duration::from_millis(500),
        c.simple_query("SELECT count(*) FROM generate_series(1, 5000000000) WHERE value % 7 = 3"),
    )
    .await;
    let e = result.unwrap_err();
    assert_eq!(sqlstate(&e), "57014");
    // Stopped within a second of the cancel that reached it (a cancel sent
    // before the statement was registered is resent after 2 s).
    let last = *sent.last().expect("a cancel was sent");
    assert!(sent.len() <= 2, "{} cancels were needed", sent.len());
    assert!(
        stopped.duration_since(last) < Duration::from_secs(1),
        "took {:?}",
        stopped.duration_since(last)
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(
        rows(&c.simple_query("SELECT 6").await.unwrap()),
        vec![vec![Some("6".into())]]
    );
}

#[tokio::test]
async fn a_cancel_stops_a_statement_while_its_rows_stream() {
    use futures::{pin_mut, TryStreamExt};
    let s = TestServer::start().await;
    let c = s.client().await;
    let rows_stream = c
        .query_raw(
            "SELECT value, md5(value::text) FROM generate_series(1, 2000000000)",
            Vec::<i64>::new(),
        )
        .await
        .unwrap();
    pin_mut!(rows_stream);
    // Rows are flowing: the statement is registered and running.
    for _ in 0..10_000 {
        rows_stream.try_next().await.unwrap().expect("a row");
    }
    let cancelled_at = Instant::now();
    c.cancel_token().cancel_query(NoTls).await.unwrap();
    let mut more = 0u64;
    let e = loop {
        match tokio::time::timeout(Duration::from_secs(30), rows_stream.try_next()).await {
            Ok(Ok(Some(_))) => more += 1,
            Ok(Ok(None)) => panic!("the statement ended without the cancel ({more} more rows)"),
            Ok(Err(e)) => break e,
            Err(_) => panic!("the cancel did not stop the statement within 30 s"),
        }
    };
    assert_eq!(sqlstate(&e), "57014", "{e}");
    assert!(
        cancelled_at.elapsed() < Duration::from_secs(2),
        "took {:?} ({more} rows after the cancel)",
        cancelled_at.elapsed()
    );
    assert_eq!(
        rows(&c.simple_query("SELECT 7").await.unwrap()),
        vec![vec![Some("7".into())]]
    );
}

#[tokio::test]
async fn a_cancel_request_with_the_wrong_secret_is_ignored() {
    use common::raw::{error_of, query, Raw};
    // Backend pids are handed out in order, so the secret key is all that
    // keeps one client from cancelling another's statements.
    let s = TestServer::start().await;
    let (mut raw, startup) = Raw::login_messages(s.addr).await;
    let key = startup
        .iter()
        .find(|m| m.tag == b'K')
        .expect("BackendKeyData");
    let pid = i32::from_be_bytes(key.body[0..4].try_into().unwrap());
    let secret = i32::from_be_bytes(key.body[4..8].try_into().unwrap());
    let cancel = |pid: i32, secret: i32| {
        let mut packet = 16i32.to_be_bytes().to_vec();
        packet.extend_from_slice(&80_877_102i32.to_be_bytes());
        packet.extend_from_slice(&pid.to_be_bytes());
        packet.extend_from_slice(&secret.to_be_bytes());
        packet
    };
    raw.send(&query(
        b"SELECT count(*) FROM generate_series(1, 5000000000) WHERE value % 7 = 3",
    ))
    .await;
    for wrong in [secret ^ 1, secret.wrapping_add(1), 0, !secret] {
        let mut other = Raw::connect(s.addr).await;
        other.send(&cancel(pid, wrong)).await;
        assert!(other.closed().await, "the server closes a CancelRequest");
    }
    // Nothing came back: the statement still runs.
    let quiet = tokio::time::timeout(Duration::from_millis(1500), raw.recv()).await;
    assert!(quiet.is_err(), "answered after wrong secrets: {quiet:?}");
    let mut other = Raw::connect(s.addr).await;
    other.send(&cancel(pid, secret)).await;
    let cancelled = tokio::time::timeout(Duration::from_secs(10), raw.until_ready())
        .await
        .expect("the right secret cancels within seconds");
    let (_, code, _) = error_of(&cancelled).expect("an error");
    assert_eq!(code, "57014");
}

#[tokio::test]
async fn statement_timeout_cancels_long_statements() {
    let s = TestServer::start().await;
    let c = s.client().await;
    c.batch_execute("SET statement_timeout = 300")
        .await
        .unwrap();
    let e = c
        .simple_query("SELECT count(*) FROM generate_series(1, 5000000000) WHERE value % 7 = 3")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&e), "57014");
    assert!(message(&e).contains("statement timeout"));
    assert_eq!(
        rows(&c.simple_query("SELECT 7").await.unwrap()),
        vec![vec![Some("7".into())]]
    );
}

#[tokio::test]
async fn explain_and_explain_analyze_return_query_plan_rows() {
    let s = TestServer::start().await;
    let c = s.client().await;
    for sql in [
        "EXPLAIN SELECT count(*) FROM lake.tpch.orders WHERE o_totalprice > 1000",
        "EXPLAIN ANALYZE SELECT count(*) FROM lake.tpch.orders WHERE o_totalprice > 1000",
    ] {
        let stmt = c.prepare(sql).await.unwrap();
        assert_eq!(stmt.columns().len(), 1);
        assert_eq!(stmt.columns()[0].name(), "QUERY PLAN");
        let lines: Vec<String> = c
            .query(&stmt, &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert!(lines.iter().any(|l| l.contains("Exec")), "{sql}: {lines:?}");
        if sql.contains("ANALYZE") {
            assert!(lines.iter().any(|l| l.contains("metrics")), "{lines:?}");
        }
    }
}

#[tokio::test]
async fn begin_twice_sends_a_warning_notice() {
    let s = TestServer::start().await;
    let (client, mut conn) = tokio_postgres::connect(&s.url("lake"), NoTls)
        .await
        .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut conn = std::pin::pin!(futures::stream::poll_fn(move |cx| conn.poll_message(cx)));
        while let Some(Ok(m)) = futures::StreamExt::next(&mut conn).await {
            if let tokio_postgres::AsyncMessage::Notice(n) = m {
                let _ = tx.send((n.code().code().to_owned(), n.message().to_owned()));
            }
        }
    });
    client.batch_execute("BEGIN; BEGIN").await.unwrap();
    let (code, msg) = rx.recv().await.unwrap();
    assert_eq!(code, "25001");
    assert!(msg.contains("already a transaction"));
}

#[tokio::test]
async fn uuid_json_and_jsonb_have_their_own_types_in_text_and_binary() {
    let s = TestServer::start().await;
    let c = s.client().await;
    let stmt = c
        .prepare("SELECT 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS u, CAST('{\"b\":1,\"a\":[true]}' AS json) AS j, CAST('{\"b\":1,\"a\":[true]}' AS jsonb) AS jb")
        .await
        .unwrap();
    let types: Vec<Type> = stmt.columns().iter().map(|c| c.type_().clone()).collect();
    assert_eq!(types, [Type::UUID, Type::JSON, Type::JSONB]);
    let row = c.query_one(&stmt, &[]).await.unwrap();
    assert_eq!(
        row.get::<_, uuid::Uuid>("u").to_string(),
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
    );
    assert_eq!(
        row.get::<_, serde_json::Value>("j"),
        serde_json::json!({"b": 1, "a": [true]})
    );
    assert_eq!(
        row.get::<_, serde_json::Value>("jb"),
        serde_json::json!({"a": [true], "b": 1})
    );
    let msgs = c
        .simple_query("SELECT 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'::uuid, CAST('{\"b\":1,\"a\":[true]}' AS json), CAST('{\"b\":1,\"a\":[true]}' AS jsonb)")
        .await
        .unwrap();
    assert_eq!(
        rows(&msgs),
        vec![vec![
            Some("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11".into()),
            Some("{\"b\":1,\"a\":[true]}".into()),
            Some("{\"a\": [true], \"b\": 1}".into())
        ]]
    );
    let e = c
        .simple_query("SELECT 'not-a-uuid'::uuid")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&e), "22P02");
    assert!(message(&e).contains("not-a-uuid"));
    let e = c
        .simple_query("SELECT CAST('{oops' AS json)")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&e), "22P02");
}

#[tokio::test]
async fn startup_reports_parameter_status_and_set_reports_changes() {
    use common::raw::{query, Raw};
    let s = TestServer::start().await;
    let (mut raw, startup) = Raw::login_messages(s.addr).await;
    let status: std::collections::HashMap<String, String> = startup
        .iter()
        .filter(|m| m.tag == b'S')
        .filter_map(|m| {
            let text = String::from_utf8_lossy(&m.body).into_owned();
            let mut parts = text.split('\0');
            Some((parts.next()?.to_owned(), parts.next()?.to_owned()))
        })
        .collect();
    for (name, value) in [
        ("server_encoding", "UTF8"),
        ("client_encoding", "UTF8"),
        ("integer_datetimes", "on"),
        ("DateStyle", "ISO, MDY"),
        ("standard_conforming_strings", "on"),
        ("TimeZone", "UTC"),
        ("IntervalStyle", "postgres"),
        ("session_authorization", "weir"),
    ] {
        assert_eq!(
            status.get(name).map(String::as_str),
            Some(value),
            "{name} in {status:?}"
        );
    }
    assert!(
        status
            .get("server_version")
            .is_some_and(|v| v.starts_with("15.")),
        "{status:?}"
    );
    assert!(
        startup.iter().any(|m| m.tag == b'K'),
        "BackendKeyData is sent"
    );
    raw.send(&query(
        b"SET application_name = 'changed'; SET extra_float_digits = 2",
    ))
    .await;
    let msgs = raw.until_ready().await;
    let reported: Vec<String> = msgs
        .iter()
        .filter(|m| m.tag == b'S')
        .map(|m| String::from_utf8_lossy(&m.body).replace('\0', "="))
        .collect();
    assert_eq!(
        reported,
        vec!["application_name=changed="],
        "only GUC_REPORT parameters are reported"
    );
    // Login also works through the plain helper.
    drop(Raw::login(s.addr).await);
}

#[tokio::test]
async fn startup_sends_the_parameters_clients_read() {
    let s = TestServer::start().await;
    let c = s.client().await;
    // tokio-postgres keeps nothing public of ParameterStatus; read them back.
    for (name, expected) in [
        ("server_encoding", "UTF8"),
        ("integer_datetimes", "on"),
        ("client_encoding", "UTF8"),
        ("standard_conforming_strings", "on"),
        ("DateStyle", "ISO, MDY"),
    ] {
        let v: String = c
            .query_one(&format!("SHOW {name}"), &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(v, expected, "{name}");
    }
    let v: String = c
        .query_one("SHOW server_version", &[])
        .await
        .unwrap()
        .get(0);
    assert!(v.starts_with("15."), "{v}");
    let v: String = c.query_one("SELECT version()", &[]).await.unwrap().get(0);
    assert!(v.starts_with("PostgreSQL 15."), "{v}");
}

#[tokio::test]
async fn a_suspended_portal_cannot_resume_in_an_aborted_block() {
    let s = TestServer::start().await;
    let mut c = s.client().await;
    let tx = c.transaction().await.unwrap();
    let portal = tx
        .bind("SELECT o_orderkey FROM lake.tpch.orders", &[])
        .await
        .unwrap();
    assert_eq!(tx.query_portal(&portal, 10).await.unwrap().len(), 10);
    assert_eq!(
        sqlstate(&tx.simple_query("SELECT 1/0").await.unwrap_err()),
        "22012"
    );
    let e = tx.query_portal(&portal, 10).await.unwrap_err();
    assert_eq!(sqlstate(&e), "25P02");
    tx.rollback().await.unwrap();
}

/// Constant statements (`SELECT 1`) are answered from a per-session cache
/// after their first run; the cache must never change what a client sees.
#[tokio::test]
async fn constant_statements_replay_only_while_their_answer_holds() {
    let s = TestServer::start().await;
    let c = s.client().await;
    for _ in 0..3 {
        let r = rows(
            &c.simple_query("SELECT 1 AS one, 'a' || 'b' AS ab")
                .await
                .unwrap(),
        );
        assert_eq!(r, vec![vec![Some("1".into()), Some("ab".into())]]);
    }
    // A session function follows SET even after the statement was cached.
    let first = |r: Vec<Vec<Option<String>>>| r[0][0].clone().unwrap();
    let q = "SELECT current_schema()";
    c.simple_query("SET search_path = tpch").await.unwrap();
    assert_eq!(first(rows(&c.simple_query(q).await.unwrap())), "tpch");
    assert_eq!(first(rows(&c.simple_query(q).await.unwrap())), "tpch");
    c.simple_query("SET search_path = elsewhere").await.unwrap();
    assert_eq!(first(rows(&c.simple_query(q).await.unwrap())), "elsewhere");
    // now() and random() are not constants.
    let t1 = first(rows(&c.simple_query("SELECT now()::text").await.unwrap()));
    tokio::time::sleep(Duration::from_millis(20)).await;
    let t2 = first(rows(&c.simple_query("SELECT now()::text").await.unwrap()));
    assert_ne!(t1, t2, "now() must not be replayed");
    let r1 = first(rows(&c.simple_query("SELECT random()").await.unwrap()));
    let r2 = first(rows(&c.simple_query("SELECT random()").await.unwrap()));
    assert_ne!(r1, r2, "random() must not be replayed");
    // An error is raised every time, and does not poison the cache.
    for _ in 0..2 {
        let e = c.simple_query("SELECT 1 / 0").await.unwrap_err();
        assert_eq!(sqlstate(&e), "22012");
    }
    // Prepared (extended protocol) constants, executed repeatedly.
    let stmt = c.prepare("SELECT 2 + 3 AS five").await.unwrap();
    for _ in 0..3 {
        let r = c.query(&stmt, &[]).await.unwrap();
        assert_eq!(r[0].get::<_, i64>(0), 5);
    }
    // In an aborted transaction block a cached statement is refused too.
    c.simple_query("BEGIN").await.unwrap();
    assert!(c.simple_query("SELECT nope").await.is_err());
    let e = c
        .simple_query("SELECT 1 AS one, 'a' || 'b' AS ab")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&e), "25P02");
    c.simple_query("ROLLBACK").await.unwrap();
}

/// Prepared queries reuse their optimized plan across executions; each
/// execution must still see its own parameters, and time must move on.
#[tokio::test]
async fn prepared_queries_answer_each_execution_with_its_own_parameters() {
    let s = TestServer::start().await;
    let c = s.client().await;
    let stmt = c
        .prepare("SELECT n_name FROM tpch.nation WHERE n_nationkey = $1 AND n_regionkey >= $2")
        .await
        .unwrap();
    for key in [0i64, 7, 24, 7, 99] {
        let expected = rows(
            &c.simple_query(&format!(
                "SELECT n_name FROM tpch.nation WHERE n_nationkey = {key} AND n_regionkey >= 0"
            ))
            .await
            .unwrap(),
        );
        let got: Vec<Vec<Option<String>>> = c
            .query(&stmt, &[&key, &0i64])
            .await
            .unwrap()
            .iter()
            .map(|r| vec![Some(r.get::<_, String>(0))])
            .collect();
        assert_eq!(got, expected, "key {key}");
        assert_eq!(got.len(), usize::from(key < 25));
    }
    let now = c
        .prepare("SELECT now()::text, count(*) FROM tpch.region")
        .await
        .unwrap();
    let t1: String = c.query_one(&now, &[]).await.unwrap().get(0);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let t2: String = c.query_one(&now, &[]).await.unwrap().get(0);
    assert_ne!(t1, t2, "now() must not be frozen into a reused plan");
}

/// What a client sees of one simple query, message by message: command
/// tags, SQLSTATEs of errors and notices, the columns (name and type OID)
/// of row descriptions, the number of rows, the transaction status.
async fn seen(raw: &mut common::raw::Raw, sql: &str) -> Vec<String> {
    raw.send(&common::raw::query(sql.as_bytes())).await;
    let mut out = Vec::new();
    let mut rows = 0;
    for m in raw.until_ready().await {
        let text = |b: &[u8]| {
            String::from_utf8_lossy(b.split(|c| *c == 0).next().unwrap_or(b)).into_owned()
        };
        if m.tag != b'D' && rows > 0 {
            out.push(format!("{rows} rows"));
            rows = 0;
        }
        match m.tag {
            b'C' => out.push(text(&m.body)),
            b'E' | b'N' => out.push(format!(
                "{}{}",
                m.tag as char,
                m.fields().get(&'C').cloned().unwrap_or_default()
            )),
            b'I' => out.push("empty".into()),
            b'D' => rows += 1,
            b'T' => {
                let mut b = &m.body[2..];
                let mut columns = Vec::new();
                while let Some(end) = b.iter().position(|c| *c == 0) {
                    let name = String::from_utf8_lossy(&b[..end]).into_owned();
                    let oid = u32::from_be_bytes([b[end + 7], b[end + 8], b[end + 9], b[end + 10]]);
                    columns.push(format!("{name}:{oid}"));
                    b = &b[end + 19..];
                }
                out.push(format!("T {}", columns.join(",")));
            }
            b'Z' => out.push(format!("Z{}", m.body[0] as char)),
            _ => {}
        }
    }
    out
}

#[tokio::test]
async fn command_tags_errors_and_transaction_states_are_postgresqls() {
    let s = TestServer::start().await;
    let mut weir = common::raw::Raw::login(s.addr).await;
    let mut pg = common::raw::Raw::connect("127.0.0.1:5432".parse().unwrap()).await;
    pg.send(&common::raw::startup_packet(&[
        ("user", "postgres"),
        ("database", "postgres"),
    ]))
    .await;
    assert_eq!(pg.until_ready().await.last().map(|m| m.tag), Some(b'Z'));
    let schema = format!("tags_{}", std::process::id());
    weir.works(&format!(
        "CREATE SCHEMA {schema}; SET search_path = {schema}"
    ))
    .await;
    // (what Weir runs, what PostgreSQL runs): the same where both can.
    // (Output columns avoid integer literals: Weir types them int8 where
    // PostgreSQL types them int4, a known difference.)
    let steps = [
        ("SELECT * FROM (VALUES ('a'), ('b'), ('c')) v(x)", None),
        ("SELECT 'a' AS a WHERE false", None),
        ("", None),
        (";", None),
        (
            "CREATE TABLE t (id int, name text)",
            Some("CREATE TEMP TABLE t (id int, name text)"),
        ),
        ("INSERT INTO t VALUES (1, 'a'), (2, 'b')", None),
        ("INSERT INTO t SELECT id, name FROM t WHERE false", None),
        ("SELECT id FROM t ORDER BY id; SELECT count(*) FROM t", None),
        (
            "CREATE TABLE t2 AS SELECT id FROM t",
            Some("CREATE TEMP TABLE t2 AS SELECT id FROM t"),
        ),
        ("BEGIN; SELECT 1/0; SELECT 2", None),
        ("SELECT 'a' AS a", None),
        ("COMMIT", None),
        ("BEGIN", None),
        ("INSERT INTO t VALUES (3, 'c')", None),
        ("COMMIT", None),
        ("BEGIN; BEGIN", None),
        ("ROLLBACK", None),
        ("ROLLBACK", None),
        ("COMMIT", None),
        (
            "SET application_name = 'tags'; SHOW application_name; RESET application_name",
            None,
        ),
        ("SELECT * FROM nope", None),
        ("SELEC 1", None),
        ("SELECT 'a' AS a; SELEC 2; SELECT 3", None),
        ("EXPLAIN SELECT 1", None),
        ("DROP TABLE t2", None),
        ("DROP TABLE t", None),
    ];
    for (weir_sql, pg_sql) in steps {
        let pg_sql = pg_sql.unwrap_or(weir_sql);
        let (got, want) = (seen(&mut weir, weir_sql).await, seen(&mut pg, pg_sql).await);
        // EXPLAIN's plan has as many lines as the engine prints.
        let (got, want) = if weir_sql.starts_with("EXPLAIN") {
            let drop_rows = |v: Vec<String>| -> Vec<String> {
                v.into_iter().filter(|l| !l.ends_with(" rows")).collect()
            };
            (drop_rows(got), drop_rows(want))
        } else {
            (got, want)
        };
        assert_eq!(got, want, "{weir_sql}");
    }
    // SHOW ALL: PostgreSQL's three text columns.
    let all = seen(&mut weir, "SHOW ALL").await;
    assert_eq!(all[0], "T name:25,setting:25,description:25", "{all:?}");
    assert_eq!(all[all.len() - 2..], ["SHOW".to_owned(), "ZI".to_owned()]);
    weir.works(&format!("DROP SCHEMA {schema} CASCADE")).await;
}
