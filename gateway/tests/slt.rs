#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The SQL-file tier: sqllogictest (`.slt`) files in `tests/slt/`, each run
//! against a real Weir server over the wire (tokio-postgres, simple
//! protocol, text results as psql shows them).
//!
//! Errors read `<SQLSTATE>: <message>`, so a file checks the code and the
//! message together: `statement error 22012: division by zero`. NULL shows
//! as `NULL` and an empty string as `(empty)`.

mod common;

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use common::TestServer;
use sqllogictest::{DBOutput, DefaultColumnType};
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

/// A connection to Weir, as sqllogictest drives it.
struct Weir {
    client: Client,
}

/// A statement's failure: the server's SQLSTATE and message.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Failed(String);

#[async_trait]
impl sqllogictest::AsyncDB for Weir {
    type Error = Failed;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, Failed> {
        let messages = self.client.simple_query(sql).await.map_err(|e| {
            Failed(match e.as_db_error() {
                Some(db) => format!("{}: {}", db.code().code(), db.message()),
                None => format!("not a server error: {e}"),
            })
        })?;
        let mut rows = Vec::new();
        let mut columns = None;
        let mut affected = 0;
        for m in messages {
            match m {
                SimpleQueryMessage::RowDescription(d) => columns = Some(d.len()),
                SimpleQueryMessage::Row(r) => rows.push(
                    (0..r.len())
                        .map(|i| match r.get(i) {
                            None => "NULL".to_owned(),
                            Some("") => "(empty)".to_owned(),
                            Some(v) => v.to_owned(),
                        })
                        .collect(),
                ),
                SimpleQueryMessage::CommandComplete(n) => affected = n,
                _ => {}
            }
        }
        Ok(match columns {
            Some(n) => DBOutput::Rows {
                types: vec![DefaultColumnType::Any; n],
                rows,
            },
            None => DBOutput::StatementComplete(affected),
        })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "weir"
    }
}

fn slt_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slt")
}

/// Run one file against a fresh server; each `connection` in it is a new
/// client of that server.
async fn run(file: &str) {
    let server = TestServer::start().await;
    let url = server.url("lake");
    let mut runner = sqllogictest::Runner::new(move || {
        let url = url.clone();
        async move {
            let (client, conn) = tokio_postgres::connect(&url, NoTls)
                .await
                .map_err(|e| Failed(format!("connect: {e}")))?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            Ok(Weir { client })
        }
    });
    let path = slt_dir().join(file);
    if let Err(e) = runner.run_file_async(&path).await {
        panic!("{}\n{}", path.display(), e.display(true));
    }
    common::assert_no_server_panic();
}

macro_rules! slt {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                run(concat!(stringify!($name), ".slt")).await;
            }
        )*

        /// Every file in `tests/slt` has its test above: none is skipped
        /// by forgetting to list it.
        #[test]
        fn every_slt_file_runs() {
            let listed: Vec<String> = vec![$(concat!(stringify!($name), ".slt").to_owned()),*];
            let mut found: Vec<String> = std::fs::read_dir(slt_dir())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".slt"))
                .collect();
            found.sort();
            let mut listed_sorted = listed.clone();
            listed_sorted.sort();
            assert_eq!(found, listed_sorted, "list every .slt file in slt!(...)");
        }
    };
}

slt!(errors, text_formats, routing, subqueries);
