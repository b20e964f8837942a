//! The dialect rules against the real servers: many hostile strings and
//! identifiers (quotes, backslashes, semicolons, comment markers, NUL,
//! newlines, dollar quotes, non-ASCII) are written into SQL by
//! `weir_connectors::remote::Dialect` and sent to the local PostgreSQL
//! (as itself, and as a stand-in for Redshift with
//! `standard_conforming_strings = off`, where backslashes escape as they do
//! on Redshift) and MariaDB. Each must come back byte for byte, and a
//! filter on it must match exactly the rows holding it. Each run creates
//! its own databases and drops them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::cell::RefCell;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use sqlx::{Connection, Executor, Row};
use weir_connectors::remote::Dialect;

const PG: &str = "postgres://postgres@127.0.0.1:5432";
const MARIADB: &str = "mysql://root@127.0.0.1:3306";

fn hostile_pieces() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("'".to_owned()),
        Just("''".to_owned()),
        Just("\"".to_owned()),
        Just("\\".to_owned()),
        Just("\\'".to_owned()),
        Just(";".to_owned()),
        Just("--".to_owned()),
        Just("/*".to_owned()),
        Just("*/".to_owned()),
        Just("#".to_owned()),
        Just("`".to_owned()),
        Just("$$".to_owned()),
        Just("$w$".to_owned()),
        Just("\0".to_owned()),
        Just("\n".to_owned()),
        Just("\r".to_owned()),
        Just("\t".to_owned()),
        Just("é".to_owned()),
        Just("漢".to_owned()),
        Just("🦀".to_owned()),
        Just(" OR 1=1".to_owned()),
        Just("%".to_owned()),
        Just("_".to_owned()),
        "[a-zA-Z0-9 ]{0,3}",
    ]
}

fn hostile_string() -> impl Strategy<Value = String> {
    prop::collection::vec(hostile_pieces(), 0..8).prop_map(|p| p.concat())
}

/// A database of its own on each server, dropped at the end.
struct Scratch {
    name: String,
}

impl Scratch {
    fn new() -> Self {
        Self {
            name: format!("weir_dialect_{}_{}", std::process::id(), nanos()),
        }
    }
}

fn nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn postgres(scratch: &Scratch) -> sqlx::PgConnection {
    let mut admin = sqlx::PgConnection::connect(&format!("{PG}/postgres"))
        .await
        .expect("PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth): see README");
    admin
        .execute(format!("CREATE DATABASE {}", scratch.name).as_str())
        .await
        .unwrap();
    sqlx::PgConnection::connect(&format!("{PG}/{}", scratch.name))
        .await
        .unwrap()
}

async fn drop_postgres(scratch: &Scratch, conn: sqlx::PgConnection) {
    conn.close().await.unwrap();
    let mut admin = sqlx::PgConnection::connect(&format!("{PG}/postgres"))
        .await
        .unwrap();
    admin
        .execute(format!("DROP DATABASE {} WITH (FORCE)", scratch.name).as_str())
        .await
        .unwrap();
}

async fn mariadb(scratch: &Scratch) -> sqlx::MySqlConnection {
    let mut admin = sqlx::MySqlConnection::connect(MARIADB)
        .await
        .expect("MariaDB on 127.0.0.1:3306 (root, empty password): see README");
    admin
        .execute(
            format!(
                "CREATE DATABASE {} CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin",
                scratch.name
            )
            .as_str(),
        )
        .await
        .unwrap();
    sqlx::MySqlConnection::connect(&format!("{MARIADB}/{}", scratch.name))
        .await
        .unwrap()
}

async fn drop_mariadb(scratch: &Scratch, conn: sqlx::MySqlConnection) {
    conn.close().await.unwrap();
    let mut admin = sqlx::MySqlConnection::connect(MARIADB).await.unwrap();
    admin
        .execute(format!("DROP DATABASE {}", scratch.name).as_str())
        .await
        .unwrap();
}

/// Whether `literal`, sent for `value`, echoed it exactly and matched the
/// row inserted for it plus the neighbours equal to it.
fn verdict(literal: &str, value: &str, echo: &str, matched: i64) -> Result<(), String> {
    let expected = 1 + NEIGHBOURS.iter().filter(|n| **n == value).count() as i64;
    if echo != value || matched != expected {
        return Err(format!(
            "sent {literal}: echoed {echo:?}, matched {matched} rows (expected {expected})"
        ));
    }
    Ok(())
}

/// The values every case's table holds besides the generated one.
const NEIGHBOURS: &[&str] = &["", "x", "'", "\\", "\\'", "' OR 1=1 --", "a''b", "a'b"];

#[test]
fn hostile_literals_reach_postgres_and_redshift_byte_for_byte() {
    let rt = runtime();
    let scratch = Scratch::new();
    let mut conn = rt.block_on(postgres(&scratch));
    rt.block_on(async {
        conn.execute("CREATE TABLE t (v text)").await.unwrap();
        for n in NEIGHBOURS {
            sqlx::query("INSERT INTO t VALUES ($1)")
                .bind(*n)
                .execute(&mut conn)
                .await
                .unwrap();
        }
    });
    let conn = RefCell::new(conn);
    let mut runner = TestRunner::new(Config::with_cases(300));
    let result = runner.run(&hostile_string(), |value| {
        for dialect in [Dialect::Postgres, Dialect::Redshift] {
            let sent = rt.block_on(check_postgres(&mut conn.borrow_mut(), dialect, &value));
            prop_assert!(
                sent.is_ok(),
                "{}: {value:?}: {}",
                dialect.name(),
                sent.unwrap_err()
            );
        }
        Ok(())
    });
    rt.block_on(drop_postgres(&scratch, conn.into_inner()));
    result.unwrap();
}

async fn check_postgres(
    conn: &mut sqlx::PgConnection,
    dialect: Dialect,
    value: &str,
) -> Result<(), String> {
    let Ok(literal) = dialect.string(value) else {
        // Only NUL is refused, and PostgreSQL text cannot hold it.
        return if value.contains('\0') {
            Ok(())
        } else {
            Err("refused a value without NUL".to_owned())
        };
    };
    let conforming = if dialect == Dialect::Redshift {
        "off"
    } else {
        "on"
    };
    conn.execute(format!("SET standard_conforming_strings = {conforming}").as_str())
        .await
        .map_err(|e| e.to_string())?;
    let mut tx = conn.begin().await.map_err(|e| e.to_string())?;
    sqlx::query("INSERT INTO t VALUES ($1)")
        .bind(value)
        .execute(&mut *tx)
        .await
        .map_err(|e| e.to_string())?;
    let echo: String = sqlx::query(&format!("SELECT CAST({literal} AS text)"))
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| format!("{literal}: {e}"))?
        .get(0);
    let matched: i64 = sqlx::query(&format!("SELECT count(*) FROM t WHERE v = {literal}"))
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| format!("{literal}: {e}"))?
        .get(0);
    tx.rollback().await.map_err(|e| e.to_string())?;
    verdict(&literal, value, &echo, matched)
}

#[test]
fn hostile_literals_reach_mariadb_byte_for_byte() {
    let rt = runtime();
    let scratch = Scratch::new();
    let mut conn = rt.block_on(mariadb(&scratch));
    rt.block_on(async {
        conn.execute("CREATE TABLE t (v VARCHAR(400))")
            .await
            .unwrap();
        for n in NEIGHBOURS {
            sqlx::query("INSERT INTO t VALUES (?)")
                .bind(*n)
                .execute(&mut conn)
                .await
                .unwrap();
        }
    });
    let conn = RefCell::new(conn);
    let mut runner = TestRunner::new(Config::with_cases(300));
    let result = runner.run(&hostile_string(), |value| {
        // Both backslash modes: the literal must not depend on them.
        for mode in ["", "NO_BACKSLASH_ESCAPES,ANSI_QUOTES"] {
            let sent = rt.block_on(check_mariadb(&mut conn.borrow_mut(), mode, &value));
            prop_assert!(
                sent.is_ok(),
                "sql_mode {mode:?}: {value:?}: {}",
                sent.unwrap_err()
            );
        }
        Ok(())
    });
    rt.block_on(drop_mariadb(&scratch, conn.into_inner()));
    result.unwrap();
}

async fn check_mariadb(
    conn: &mut sqlx::MySqlConnection,
    mode: &str,
    value: &str,
) -> Result<(), String> {
    let literal = Dialect::MySql.string(value).map_err(|e| e.to_string())?;
    conn.execute(format!("SET SESSION sql_mode = '{mode}'").as_str())
        .await
        .map_err(|e| e.to_string())?;
    let mut tx = conn.begin().await.map_err(|e| e.to_string())?;
    sqlx::query("INSERT INTO t VALUES (?)")
        .bind(value)
        .execute(&mut *tx)
        .await
        .map_err(|e| e.to_string())?;
    let echo: String = sqlx::query(&format!(
        "SELECT CAST({literal} AS CHAR CHARACTER SET utf8mb4)"
    ))
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| format!("{literal}: {e}"))?
    .get(0);
    let matched: i64 = sqlx::query(&format!("SELECT count(*) FROM t WHERE v = {literal}"))
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| format!("{literal}: {e}"))?
        .get(0);
    tx.rollback().await.map_err(|e| e.to_string())?;
    verdict(&literal, value, &echo, matched)
}

fn hostile_identifier() -> impl Strategy<Value = String> {
    // Identifiers: no NUL (refused, tested in the unit tests), no emoji
    // (MySQL names are BMP only), and ending in a letter (MySQL names
    // cannot end in a space); PostgreSQL truncates at 63 bytes, the same
    // way when creating and when querying.
    prop::collection::vec(
        hostile_pieces().prop_filter("no NUL or emoji", |p| {
            !p.contains('\0') && !p.contains('🦀')
        }),
        0..5,
    )
    .prop_map(|p| format!("{}x", p.concat()))
}

#[test]
fn hostile_identifiers_name_exactly_their_table_and_column() {
    let rt = runtime();
    let scratch = Scratch::new();
    let pg = RefCell::new(rt.block_on(postgres(&scratch)));
    let my = RefCell::new(rt.block_on(mariadb(&scratch)));
    let mut runner = TestRunner::new(Config::with_cases(60));
    let result = runner.run(
        &(hostile_identifier(), hostile_identifier()),
        |(table, column)| {
            for dialect in [Dialect::Postgres, Dialect::Redshift] {
                let t = dialect.ident(&table).unwrap();
                let c = dialect.ident(&column).unwrap();
                let pg: &mut sqlx::PgConnection = &mut pg.borrow_mut();
                let got: Result<i64, String> = rt.block_on(async {
                    let mut tx = pg.begin().await.map_err(|e| e.to_string())?;
                    for sql in [
                        format!("CREATE TABLE {t} ({c} int)"),
                        format!("INSERT INTO {t} ({c}) VALUES (41), (1)"),
                    ] {
                        (&mut *tx)
                            .execute(sql.as_str())
                            .await
                            .map_err(|e| format!("{sql}: {e}"))?;
                    }
                    let sum: i64 =
                        sqlx::query(&format!("SELECT sum({c})::bigint FROM {t} WHERE {c} > 0"))
                            .fetch_one(&mut *tx)
                            .await
                            .map_err(|e| e.to_string())?
                            .get(0);
                    // The names the source itself recorded, compared with
                    // the names meant (a quoting that mangled both the
                    // same way would pass the query above).
                    let recorded: i64 = sqlx::query(
                        "SELECT count(*) FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid \
                         WHERE c.relname = $1 AND a.attname = $2",
                    )
                    .bind(&table)
                    .bind(&column)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(|e| e.to_string())?
                    .get(0);
                    tx.rollback().await.map_err(|e| e.to_string())?;
                    Ok(if recorded == 1 { sum } else { -recorded })
                });
                prop_assert_eq!(
                    got,
                    Ok(42),
                    "{}: table {:?} column {:?}",
                    dialect.name(),
                    table,
                    column
                );
            }
            let t = Dialect::MySql.ident(&table).unwrap();
            let c = Dialect::MySql.ident(&column).unwrap();
            let my: &mut sqlx::MySqlConnection = &mut my.borrow_mut();
            let got: Result<i64, String> = rt.block_on(async {
                // MySQL DDL commits; drop the table afterwards instead.
                for sql in [
                    format!("CREATE TABLE {t} ({c} int)"),
                    format!("INSERT INTO {t} ({c}) VALUES (41), (1)"),
                ] {
                    my.execute(sql.as_str())
                        .await
                        .map_err(|e| format!("{sql}: {e}"))?;
                }
                let sum = sqlx::query(&format!(
                    "SELECT CAST(sum({c}) AS SIGNED) FROM {t} WHERE {c} > 0"
                ))
                .fetch_one(&mut *my)
                .await
                .map_err(|e| e.to_string())
                .map(|r| r.get::<i64, _>(0));
                let recorded: Result<i64, String> = sqlx::query(
                    "SELECT COUNT(*) FROM information_schema.COLUMNS \
                     WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = ?",
                )
                .bind(&table)
                .bind(&column)
                .fetch_one(&mut *my)
                .await
                .map_err(|e| e.to_string())
                .map(|r| r.get::<i64, _>(0));
                let sum = match recorded {
                    Ok(1) => sum,
                    Ok(n) => Ok(-n),
                    Err(e) => Err(e),
                };
                my.execute(format!("DROP TABLE {t}").as_str())
                    .await
                    .map_err(|e| e.to_string())?;
                sum
            });
            prop_assert_eq!(got, Ok(42), "MySQL: table {:?} column {:?}", table, column);
            Ok(())
        },
    );
    rt.block_on(drop_postgres(&scratch, pg.into_inner()));
    rt.block_on(drop_mariadb(&scratch, my.into_inner()));
    result.unwrap();
}
