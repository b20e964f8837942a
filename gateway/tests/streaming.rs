#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Results stream batch by batch with backpressure: a 10-million-row result
//! read by a client keeps the `weir` process's memory bounded. This runs the
//! real binary (so the RSS measured is the gateway's alone) and reads the
//! rows with tokio-postgres as a stream, in text and in binary.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::{pin_mut, StreamExt};
use tokio_postgres::{NoTls, SimpleQueryMessage};

mod common;

use common::WeirProcess;

const ROWS: u64 = 10_000_000;
const LIMIT_BYTES: u64 = 300 << 20;

fn rss_bytes(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// Sample the RSS every 50 ms until stopped; returns the peak seen.
fn sampler(pid: u32) -> (Arc<AtomicBool>, std::thread::JoinHandle<u64>) {
    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(0));
    let flag = stop.clone();
    let handle = std::thread::spawn(move || {
        while !flag.load(Ordering::Relaxed) {
            peak.fetch_max(rss_bytes(pid, "VmRSS:"), Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(50));
        }
        peak.load(Ordering::Relaxed)
    });
    (stop, handle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_million_rows_stream_in_bounded_memory_in_text_and_binary() {
    let weir = WeirProcess::spawn();
    let (host, port) = weir.addr.rsplit_once(':').unwrap();
    let (client, conn) = tokio_postgres::connect(
        &format!("host={host} port={port} user=weir password=weir dbname=lake"),
        NoTls,
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let pid = weir.child.id();
    let (stop, peak) = sampler(pid);

    // Binary, extended protocol.
    let rows = client
        .query_raw(
            "SELECT value, value * 2 AS twice FROM generate_series(1, 10000000)",
            Vec::<i64>::new(),
        )
        .await
        .unwrap();
    pin_mut!(rows);
    let (mut n, mut sum) = (0u64, 0i64);
    while let Some(row) = rows.next().await {
        let row = row.unwrap();
        sum = sum.wrapping_add(row.get::<_, i64>(0));
        n += 1;
    }
    assert_eq!(n, ROWS);
    assert_eq!(sum, (ROWS as i64) * (ROWS as i64 + 1) / 2);

    // Text, simple protocol.
    let stream = client
        .simple_query_raw(
            "SELECT value, 'row ' || value AS label FROM generate_series(1, 10000000)",
        )
        .await
        .unwrap();
    pin_mut!(stream);
    let mut n = 0u64;
    while let Some(msg) = stream.next().await {
        if let SimpleQueryMessage::Row(_) = msg.unwrap() {
            n += 1;
        }
    }
    assert_eq!(n, ROWS);

    stop.store(true, Ordering::Relaxed);
    let sampled = peak.join().unwrap();
    let hwm = rss_bytes(pid, "VmHWM:");
    eprintln!(
        "weir peak RSS while streaming 2 x {ROWS} rows: sampled {} MiB, VmHWM {} MiB",
        sampled >> 20,
        hwm >> 20
    );
    assert!(hwm > 0, "could read the gateway's memory");
    assert!(
        hwm < LIMIT_BYTES,
        "peak RSS {} MiB must stay under {} MiB",
        hwm >> 20,
        LIMIT_BYTES >> 20
    );
}
