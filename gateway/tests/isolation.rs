//! Isolation, against the real `weir` binary: one session's statement never
//! stalls, starves or takes down the others. Deep statements answer or fail
//! alone (54001); heavy statements leave new connections and small queries
//! fast; CancelRequest, a vanished client and SIGTERM stop them; memory
//! limits fail one statement (53200) or make it spill; admission queues.
//!
//! The tests in this file run one at a time (they measure latency on a
//! 2-core machine), each on a server of its own over TPC-H SF 0.01.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{sqlstate, WeirProcess};
use tokio_postgres::{Client, NoTls};

static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A nested-loop join over 60k × 60k rows: minutes of CPU.
const NESTED_LOOP: &str =
    "SELECT count(*) FROM tpch.lineitem a, tpch.lineitem b WHERE a.l_comment <> b.l_comment";
/// A nested-loop join whose filter rarely matches: long polls, no output.
const NESTED_LOOP_SELECTIVE: &str =
    "SELECT count(*) FROM tpch.lineitem a CROSS JOIN tpch.orders b \
     WHERE a.l_comment || b.o_comment = 'nothing'";
/// A big sort (a window over 40 million rows).
const BIG_SORT: &str =
    "SELECT count(*) FROM (SELECT value, row_number() OVER (ORDER BY value DESC) AS r \
     FROM generate_series(1, 40000000)) s WHERE r % 7 = 3";
/// A heavy aggregation with a string function per row (900 million rows).
const HEAVY_AGGREGATE: &str = "SELECT count(DISTINCT md5(a.l_comment || b.o_comment)) \
     FROM tpch.lineitem a CROSS JOIN tpch.orders b";

fn serve(extra: &str) -> WeirProcess {
    WeirProcess::spawn_configured(
        tempfile::tempdir().unwrap(),
        &format!("[demo]\ntpch_scale_factor = 0.01\n[query]\ntarget_partitions = 2\n{extra}"),
    )
}

async fn connect(w: &WeirProcess) -> Client {
    w.client().await
}

/// Start `sql` on a client of its own; the returned client can cancel it.
async fn start_heavy(
    w: &WeirProcess,
    sql: &'static str,
) -> (
    tokio_postgres::CancelToken,
    tokio::task::JoinHandle<Result<Vec<tokio_postgres::SimpleQueryMessage>, tokio_postgres::Error>>,
) {
    let c = connect(w).await;
    let cancel = c.cancel_token();
    let task = tokio::spawn(async move { c.simple_query(sql).await });
    (cancel, task)
}

/// CPU seconds the process has used.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    // utime and stime are fields 14 and 15 of the whole line.
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

/// CPU the server uses over a quarter of a second, in cores.
async fn quick_load(pid: u32) -> f64 {
    let before = cpu_seconds(pid);
    tokio::time::sleep(Duration::from_millis(250)).await;
    (cpu_seconds(pid) - before) * 4.0
}

/// Waits until the server keeps `cores` busy (its heavy statements are
/// running, so a cancel now finds them registered); fails after 20 s.
async fn until_busy(pid: u32, cores: f64) {
    let what = format!("the server never kept {cores} cores busy");
    until_load(pid, |load| load >= cores, Duration::from_secs(20), &what).await;
}

/// Waits until the server uses less than `cores` (the work it was doing is
/// gone); fails if that takes longer than `within`.
async fn until_idle(pid: u32, cores: f64, within: Duration, what: &str) {
    until_load(pid, |load| load < cores, within, what).await;
}

/// Waits until the server's load over a quarter second satisfies `done`.
async fn until_load(pid: u32, done: impl Fn(f64) -> bool, within: Duration, what: &str) {
    let started = Instant::now();
    loop {
        let load = quick_load(pid).await;
        if done(load) {
            return;
        }
        assert!(
            started.elapsed() < within,
            "{what}: {load:.2} cores after {within:?}"
        );
    }
}

/// `n` terms joined by `op`.
fn chain(n: usize, op: &str, term: impl Fn(usize) -> String) -> String {
    (0..n).map(term).collect::<Vec<_>>().join(op)
}

/// `inner` inside `n` levels of `open … close`.
fn nested(n: usize, open: &str, inner: &str, close: &str) -> String {
    format!("{}{inner}{}", open.repeat(n), close.repeat(n))
}

/// A psql process running `sql` on `w`, to be killed.
fn psql_running(w: &WeirProcess, sql: &str) -> std::process::Child {
    let (host, port) = w.addr.rsplit_once(':').unwrap();
    std::process::Command::new("psql")
        .args([
            "-h", host, "-p", port, "-U", "weir", "-d", "lake", "-c", sql,
        ])
        .env("PGPASSWORD", "weir")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

async fn select_one(w: &WeirProcess) -> i64 {
    let c = connect(w).await;
    let row = c.query_one("SELECT 1", &[]).await.unwrap();
    row.get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_statements_answer_or_fail_alone() {
    let _one = ONE_AT_A_TIME.lock().await;
    let w = serve("");
    let c = connect(&w).await;
    let ors = |n: usize| chain(n, " OR ", |i| format!("o_custkey = {i}"));
    let list = |n: usize| chain(n, ", ", |i| i.to_string());
    for n in [2_000, 20_000] {
        let by_or: i64 = c
            .query_one(
                &format!("SELECT count(*) FROM tpch.orders WHERE {}", ors(n)),
                &[],
            )
            .await
            .unwrap()
            .get(0);
        let by_in: i64 = c
            .query_one(
                &format!(
                    "SELECT count(*) FROM tpch.orders WHERE o_custkey IN ({})",
                    list(n)
                ),
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(by_or, by_in, "{n} OR-ed equalities");
        assert!(by_or > 0);
    }
    // A chain DataFusion must plan as it is: answered.
    let sum = |n: usize| format!("SELECT {}", chain(n, "+", |_| "1".into()));
    let rows = c.simple_query(&sum(3_000)).await.unwrap();
    let value = rows.iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
        _ => None,
    });
    assert_eq!(value.as_deref(), Some("3000"));
    // Too deep: 54001, this statement alone.
    for sql in [
        sum(20_000),
        format!(
            "SELECT count(*) FROM tpch.orders WHERE {}",
            chain(20_000, " OR ", |i| format!("o_custkey + {i} = 0"))
        ),
        format!("SELECT {}", chain(30_000, " || ", |_| "'a'".into())),
    ] {
        let err = c.simple_query(&sql).await.unwrap_err();
        assert_eq!(sqlstate(&err), "54001", "{err}");
    }
    // Nested deeper than the parser goes: 54001 too.
    let parens = format!("SELECT {}", nested(5_000, "(", "1", ")"));
    let err = c.simple_query(&parens).await.unwrap_err();
    assert_eq!(sqlstate(&err), "54001", "{err}");
    // The session and the server go on.
    assert_eq!(
        c.query_one("SELECT 2", &[]).await.unwrap().get::<_, i64>(0),
        2
    );
    assert_eq!(select_one(&w).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heavy_statements_leave_new_connections_and_small_queries_fast() {
    let _one = ONE_AT_A_TIME.lock().await;
    let w = serve("");
    let (c1, t1) = start_heavy(&w, NESTED_LOOP).await;
    let (c2, t2) = start_heavy(&w, BIG_SORT).await;
    until_busy(w.child.id(), 1.0).await;
    for _ in 0..3 {
        let started = Instant::now();
        let c = connect(&w).await;
        let one: i64 = c.query_one("SELECT 1", &[]).await.unwrap().get(0);
        let nations: i64 = c
            .query_one(
                "SELECT count(*) FROM tpch.nation WHERE n_regionkey < 5",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        let took = started.elapsed();
        assert_eq!((one, nations), (1, 25));
        assert!(
            took < Duration::from_secs(1),
            "startup, SELECT 1 and a lake query took {took:?} under load"
        );
    }
    assert!(!t1.is_finished() && !t2.is_finished(), "still running");
    c1.cancel_query(NoTls).await.unwrap();
    c2.cancel_query(NoTls).await.unwrap();
    for t in [t1, t2] {
        assert_eq!(sqlstate(&t.await.unwrap().unwrap_err()), "57014");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_request_stops_each_heavy_statement_within_a_second() {
    let _one = ONE_AT_A_TIME.lock().await;
    let w = serve("");
    for sql in [
        NESTED_LOOP,
        NESTED_LOOP_SELECTIVE,
        BIG_SORT,
        HEAVY_AGGREGATE,
    ] {
        let (cancel, task) = start_heavy(&w, sql).await;
        until_busy(w.child.id(), 0.8).await;
        assert!(!task.is_finished(), "{sql} still runs before the cancel");
        let started = Instant::now();
        cancel.cancel_query(NoTls).await.unwrap();
        let err = task.await.unwrap().unwrap_err();
        let took = started.elapsed();
        assert_eq!(sqlstate(&err), "57014", "{sql}: {err}");
        assert!(took < Duration::from_secs(1), "{sql}: cancel took {took:?}");
        // Its work is gone, not merely unanswered.
        until_idle(w.child.id(), 0.3, Duration::from_secs(2), sql).await;
    }
    // statement_timeout ends them the same way.
    let c = connect(&w).await;
    c.simple_query("SET statement_timeout = 1000")
        .await
        .unwrap();
    let started = Instant::now();
    let err = c.simple_query(NESTED_LOOP_SELECTIVE).await.unwrap_err();
    assert_eq!(sqlstate(&err), "57014");
    assert!(started.elapsed() < Duration::from_secs(2));
}

/// Planning a long chain of additions takes seconds (DataFusion's type
/// coercion is quadratic in the chain's length); a statement_timeout stops
/// the planning at the next checkpoint between planning rules instead of
/// after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_planning_stops_at_its_statement_timeout() {
    let _one = ONE_AT_A_TIME.lock().await;
    let w = serve("");
    let c = connect(&w).await;
    let sum = format!("SELECT {}", chain(2_000, "+", |_| "1".into()));
    let started = Instant::now();
    let rows = c.simple_query(&sum).await.unwrap();
    let planned = started.elapsed();
    assert!(
        matches!(&rows[1], tokio_postgres::SimpleQueryMessage::Row(r) if r.get(0) == Some("2000"))
    );
    c.simple_query("SET statement_timeout = 100").await.unwrap();
    let started = Instant::now();
    let err = c.simple_query(&sum).await.unwrap_err();
    let stopped = started.elapsed();
    assert_eq!(sqlstate(&err), "57014", "{err}");
    assert!(common::message(&err).contains("statement timeout"), "{err}");
    println!("planning took {planned:?}; with a 100 ms timeout it stopped after {stopped:?}");
    assert!(
        stopped < planned / 2,
        "stopped after {stopped:?}; the whole planning takes {planned:?}"
    );
    assert_eq!(select_one(&w).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_client_ends_its_statement() {
    let _one = ONE_AT_A_TIME.lock().await;
    let w = serve("");
    for sql in [NESTED_LOOP, NESTED_LOOP_SELECTIVE] {
        let mut psql = psql_running(&w, sql);
        until_busy(w.child.id(), 0.8).await;
        psql.kill().unwrap();
        psql.wait().unwrap();
        until_idle(w.child.id(), 0.3, Duration::from_secs(3), sql).await;
    }
    assert_eq!(select_one(&w).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_cancels_reads_after_the_grace_period_and_keeps_writes_whole() {
    let _one = ONE_AT_A_TIME.lock().await;
    let w = serve("[server]\nshutdown_grace_secs = 2\n");
    let c = connect(&w).await;
    c.simple_query("CREATE TABLE public.copy AS SELECT * FROM tpch.lineitem LIMIT 0")
        .await
        .unwrap();
    let expected: i64 = c
        .query_one("SELECT count(*) FROM tpch.lineitem", &[])
        .await
        .unwrap()
        .get(0);
    let (_, read) = start_heavy(&w, NESTED_LOOP).await;
    // Several INSERTs, one after the other, so one is likely in flight.
    let writer = connect(&w).await;
    let writes = tokio::spawn(async move {
        let mut done = 0;
        for _ in 0..50 {
            match writer
                .simple_query("INSERT INTO public.copy SELECT * FROM tpch.lineitem")
                .await
            {
                Ok(_) => done += 1,
                Err(e) => return (done, Some(e)),
            }
        }
        (done, None)
    });
    let idle = connect(&w).await;
    until_busy(w.child.id(), 0.8).await;
    let pid = w.child.id().to_string();
    let sent = Instant::now();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    // New connections are refused at once; the idle session is ended.
    let (host, port) = w.addr.rsplit_once(':').unwrap();
    let url = format!("host={host} port={port} user=weir password=weir dbname=lake");
    while tokio_postgres::connect(&url, NoTls).await.is_ok() {
        assert!(
            sent.elapsed() < Duration::from_secs(1),
            "new connections still accepted a second after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let err = loop {
        match idle.simple_query("SELECT 1").await {
            Err(err) => break err,
            Ok(_) => assert!(
                sent.elapsed() < Duration::from_secs(1),
                "the idle session still answers a second after SIGTERM"
            ),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(err.is_closed() || sqlstate(&err) == "57P01", "{err}");
    // The read runs until the grace period ends, then gets 57P01.
    let err = read.await.unwrap().unwrap_err();
    assert_eq!(sqlstate(&err), "57P01", "{err}");
    assert!(sent.elapsed() >= Duration::from_secs(2));
    let (done, _) = writes.await.unwrap();
    let mut w = w;
    let status = w.child.wait().unwrap();
    assert!(status.success(), "exit status {status}");
    assert!(sent.elapsed() < Duration::from_secs(20));

    // Every INSERT that ran is there whole, or not at all.
    let dir = w.kill9();
    let again = WeirProcess::spawn_configured(dir, "[demo]\ntpch_scale_factor = 0.01\n");
    let c = again.client().await;
    let rows: i64 = c
        .query_one("SELECT count(*) FROM public.copy", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows % expected, 0, "{rows} rows: a write was cut");
    assert!(
        rows / expected >= done,
        "{done} INSERTs answered, {rows} rows"
    );
    assert!(rows / expected <= done + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_limits_fail_one_statement_or_make_it_spill() {
    let _one = ONE_AT_A_TIME.lock().await;
    let w = serve("memory_limit_mb = 256\nstatement_memory_limit_mb = 64\n");
    let spill = w.dir.path().join("data").join("spill");
    let c = connect(&w).await;
    // An aggregate without groups cannot spill: collecting every comment
    // sixty times over (about 100 MB) does not fit in 64 MiB.
    let other = connect(&w).await;
    let too_big = "SELECT cardinality(array_agg(repeat(l_comment, 60))) FROM tpch.lineitem";
    let (fails, fine) = tokio::join!(
        c.simple_query(too_big),
        other.query_one("SELECT count(*) FROM tpch.orders", &[])
    );
    let err = fails.unwrap_err();
    assert_eq!(sqlstate(&err), "53200", "{err}");
    assert!(
        common::message(&err).contains("statement_memory_limit_mb"),
        "{err}"
    );
    assert_eq!(fine.unwrap().get::<_, i64>(0), 15_000);
    // A sort of a million hashes (about 100 MB in Arrow) spills and is right.
    let sort = "SELECT md5(value::text) AS h FROM generate_series(1, 1000000) ORDER BY h";
    let rows = c.query(sort, &[]).await.unwrap();
    assert_eq!(rows.len(), 1_000_000);
    let hashes: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    assert!(hashes.windows(2).all(|p| p[0] <= p[1]), "sorted");
    let text = explain_analyze(&c, sort).await;
    assert!(spill_count(&text) > 0, "the sort spilled:\n{text}");
    // A join of two 500 000-row sides (about 90 MB each in Arrow): the hash
    // join cannot spill, so the statement is planned again with sort-merge
    // joins, whose sorts spill; every row is joined.
    let side = |h: &str| {
        format!(
            "(SELECT value AS k, repeat(md5(value::text), 4) AS {h} \
             FROM generate_series(1, 500000))"
        )
    };
    let join = format!(
        "SELECT count(*), sum(length(h1) + length(h2)) FROM {} a JOIN {} b ON a.k = b.k",
        side("h1"),
        side("h2")
    );
    let row = c.query_one(join.as_str(), &[]).await.unwrap();
    assert_eq!(row.get::<_, i64>(0), 500_000);
    assert_eq!(row.get::<_, i64>(1), 128_000_000);
    let text = explain_analyze(&c, &join).await;
    assert!(text.contains("SortMergeJoin"), "sort-merge join:\n{text}");
    assert!(spill_count(&text) > 0, "the join's sorts spilled:\n{text}");
    // Spill files are gone once the statements end.
    let leftover: Vec<_> = walk(&spill).into_iter().filter(|p| p.is_file()).collect();
    assert!(leftover.is_empty(), "spill files left: {leftover:?}");
    assert_eq!(select_one(&w).await, 1);
}

/// The text of `EXPLAIN ANALYZE sql`.
async fn explain_analyze(c: &Client, sql: &str) -> String {
    let lines: Vec<String> = c
        .simple_query(&format!("EXPLAIN ANALYZE {sql}"))
        .await
        .unwrap()
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
            _ => None,
        })
        .collect();
    lines.join("\n")
}

/// The largest `spill_count` in an `EXPLAIN ANALYZE` text.
fn spill_count(text: &str) -> u64 {
    text.split("spill_count=")
        .skip(1)
        .filter_map(|r| r.split(|ch: char| !ch.is_ascii_digit()).next())
        .filter_map(|n| n.parse::<u64>().ok())
        .max()
        .unwrap_or(0)
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        }
        out.push(path);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admission_queues_table_reads_but_never_cheap_statements() {
    let _one = ONE_AT_A_TIME.lock().await;
    let w =
        serve("max_running_statements = 1\nqueue_timeout_secs = 1\nmax_queued_statements = 1\n");
    let (cancel, heavy) = start_heavy(&w, NESTED_LOOP).await;
    until_busy(w.child.id(), 0.8).await;
    // Cheap statements do not wait.
    let c = connect(&w).await;
    let started = Instant::now();
    c.simple_query("SELECT 1").await.unwrap();
    c.simple_query("SHOW search_path").await.unwrap();
    c.simple_query("SET application_name = 'x'").await.unwrap();
    c.simple_query("SELECT count(*) FROM pg_catalog.pg_class")
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_millis(900));
    // A table read waits, then gives up with 53000.
    let started = Instant::now();
    let err = c
        .simple_query("SELECT count(*) FROM tpch.nation")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "53000", "{err}");
    assert!(started.elapsed() >= Duration::from_secs(1));
    // With one already waiting, the queue is full: 53000 at once.
    let waiting = connect(&w).await;
    let queued = tokio::spawn(async move {
        waiting
            .simple_query("SELECT count(*) FROM tpch.region")
            .await
            .map(|_| ())
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let err = c
        .simple_query("SELECT count(*) FROM tpch.nation")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "53000", "{err}");
    assert!(
        common::message(&err).contains("max_queued_statements"),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_millis(500));
    let _ = queued.await;
    // Once the heavy statement ends, reads run again.
    cancel.cancel_query(NoTls).await.unwrap();
    let _ = heavy.await;
    let n: i64 = c
        .query_one("SELECT count(*) FROM tpch.nation", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 25);
}

/// Generated statements of every nesting shape, deep and shallow: each gets
/// an answer or an error of its own (54001 when too deep), never a closed
/// connection, and the server keeps serving others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_deep_statements_never_take_the_server_down() {
    use rand::{Rng, SeedableRng};
    let _one = ONE_AT_A_TIME.lock().await;
    let w = serve("");
    let seed: u64 = std::env::var("WEIR_DEPTH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let c = connect(&w).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    // Nesting the parser recurses into: shallow, or past its limit.
    let nest = |depth: usize| if depth > 50 { 2_000 } else { depth.min(10) };
    let mut cases = 0;
    while Instant::now() < deadline && cases < 40 {
        // Planning some deep shapes is slow (quadratic or worse in
        // DataFusion: nested CASE and scalar subqueries), so accepted depths
        // stay small here; the deep ones must be refused at once.
        let depth = [1, 10, 50, 12_000, 40_000][rng.random_range(0..5)];
        let shape = rng.random_range(0..8);
        let nation = |expr: String| format!("SELECT {expr} FROM tpch.nation");
        let count_where = |cond: String| format!("SELECT count(*) FROM tpch.nation WHERE {cond}");
        let sql = match shape {
            0 => nation(chain(depth, " + ", |_| "n_nationkey".into())),
            1 => count_where(chain(depth, " OR ", |i| format!("n_name = 'N{i}'"))),
            2 => count_where(chain(depth, " AND ", |i| format!("n_nationkey <> {i}"))),
            3 => nation(nested(
                nest(depth),
                "CASE WHEN n_nationkey > 0 THEN ",
                "n_nationkey",
                " ELSE 0 END",
            )),
            4 => nation(nested(nest(depth), "abs(", "n_nationkey", ")")),
            5 => format!("SELECT {}", nested(nest(depth), "(SELECT ", "1", ")")),
            6 => nation(chain(depth, " || ", |_| "n_name".into())),
            _ => count_where(format!(
                "n_nationkey IN ({})",
                chain(depth, ",", |i| i.to_string())
            )),
        };
        match c.simple_query(&sql).await {
            Ok(_) => {}
            Err(e) => {
                assert!(
                    e.as_db_error().is_some(),
                    "seed {seed}, shape {shape}, depth {depth}: not a server error: {e}"
                );
                let code = sqlstate(&e);
                assert!(
                    code == "54001" || code.starts_with("42") || code == "0A000",
                    "seed {seed}, shape {shape}, depth {depth}: {code} {e}"
                );
            }
        }
        assert_eq!(
            select_one(&w).await,
            1,
            "seed {seed}: the server serves others"
        );
        cases += 1;
    }
    assert!(
        cases >= 10,
        "seed {seed}: only {cases} statements in a minute"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_user_cannot_take_every_execution_slot() {
    let _one = ONE_AT_A_TIME.lock().await;
    let w = serve(
        "max_running_statements = 4\nmax_running_statements_per_user = 1\nqueue_timeout_secs = 1\n\
         [[auth.users]]\nname = \"weir\"\npassword = \"weir\"\n\
         [[auth.users]]\nname = \"ann\"\npassword = \"ann\"\n",
    );
    let (cancel, heavy) = start_heavy(&w, NESTED_LOOP).await;
    until_busy(w.child.id(), 0.8).await;
    // weir's second table read waits for weir's own slot, then gives up.
    let weir = connect(&w).await;
    let err = weir
        .simple_query("SELECT count(*) FROM tpch.nation")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "53000", "{err}");
    // ann has slots of her own.
    let (host, port) = w.addr.rsplit_once(':').unwrap();
    let url = format!("host={host} port={port} user=ann password=ann dbname=lake");
    let (ann, conn) = tokio_postgres::connect(&url, NoTls).await.unwrap();
    tokio::spawn(conn);
    let started = Instant::now();
    let n: i64 = ann
        .query_one("SELECT count(*) FROM tpch.nation", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 25);
    assert!(started.elapsed() < Duration::from_millis(900));
    cancel.cancel_query(NoTls).await.unwrap();
    let _ = heavy.await;
}

/// Remote reads: canceling the statement (CancelRequest, or a client that
/// goes away) ends the source's own statement within a second, and at
/// shutdown Weir ends its sessions at the source.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_reads_stop_with_their_statement_and_sources_close_at_shutdown() {
    use sqlx::{Connection, Executor, Row};
    let _one = ONE_AT_A_TIME.lock().await;
    let pg = "postgres://postgres@127.0.0.1:5432";
    let (db, mut admin) = common::create_pg_database("weir_iso").await;
    {
        let mut c = sqlx::PgConnection::connect(&format!("{pg}/{db}"))
            .await
            .unwrap();
        c.execute(
            "CREATE VIEW slow AS SELECT pg_sleep(120)::text AS s; \
             CREATE TABLE small AS SELECT 1 AS x",
        )
        .await
        .unwrap();
    }
    let w = serve(&format!(
        "[server]\nshutdown_grace_secs = 2\n\
         [[source]]\nname = \"rds\"\nkind = \"postgres\"\nurl = \"{pg}/{db}\"\n"
    ));
    // Weir's statements at the source, by state.
    let at_source = |state: &'static str| {
        let sql = format!(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = '{db}' \
             AND ($1 = '' OR state = $1) AND pid <> pg_backend_pid()"
        );
        async move {
            let mut c = sqlx::PgConnection::connect(&format!("{pg}/postgres"))
                .await
                .unwrap();
            let n: i64 = sqlx::query(&sql)
                .bind(state)
                .fetch_one(&mut c)
                .await
                .unwrap()
                .get(0);
            n
        }
    };
    let until = |state: &'static str, want_zero: bool, within: Duration| {
        let at_source = &at_source;
        async move {
            let start = Instant::now();
            loop {
                let n = at_source(state).await;
                if (n == 0) == want_zero {
                    return start.elapsed();
                }
                assert!(
                    start.elapsed() < within,
                    "{n} sessions {state:?} at the source after {within:?}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    // A CancelRequest.
    let (cancel, read) = start_heavy(&w, "SELECT * FROM rds.public.slow").await;
    until("active", false, Duration::from_secs(10)).await;
    cancel.cancel_query(NoTls).await.unwrap();
    let took = until("active", true, Duration::from_secs(1)).await;
    let err = read.await.unwrap().unwrap_err();
    assert_eq!(sqlstate(&err), "57014", "{err}");
    eprintln!("remote statement ended {took:?} after the CancelRequest");
    // A client killed while it waits.
    let mut psql = psql_running(&w, "SELECT * FROM rds.public.slow");
    until("active", false, Duration::from_secs(10)).await;
    psql.kill().unwrap();
    psql.wait().unwrap();
    let took = until("active", true, Duration::from_secs(1)).await;
    eprintln!("remote statement ended {took:?} after the client left");
    // (Cancelled reads close their connections; one that ends normally
    // stays in the pool.)
    let c = connect(&w).await;
    let one: i32 = c
        .query_one("SELECT x FROM rds.public.small", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(one, 1);
    assert!(at_source("").await > 0, "Weir keeps pooled connections");
    // Shutdown closes them.
    let mut w = w;
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &w.child.id().to_string()])
        .status()
        .unwrap()
        .success());
    assert!(w.child.wait().unwrap().success());
    until("", true, Duration::from_secs(2)).await;
    admin
        .execute(format!("DROP DATABASE {db} WITH (FORCE)").as_str())
        .await
        .unwrap();
}
