//! The bypass suite: the same attempts to read what policies hide, run
//! against a table on each kind of source (the lake and Iceberg in
//! `governance.rs`, PostgreSQL, MySQL and Redshift in `federation.rs`).
//!
//! Each target schema holds `emp (id, name, salary, ssn, dept)` with the
//! rows `(1, 'Real-Ann', 1000, 'SSN-111', 'eng')`, `(2, 'Real-Bob', 2000,
//! 'SSN-222', 'eng')`, `(3, 'Real-Zed', 5000, 'SSN-333', 'hush')`, and
//! `secret (v)` holding `'secret-marker'`. The user under test may read
//! `emp`'s `id, name, salary, dept` (not `ssn`), sees `name` masked as
//! `'***'`, sees no `hush` row, and holds nothing on `secret`.

use tokio_postgres::Client;

use super::{message, sqlstate};

/// What the user may never see: real names, any SSN, the hidden row, the
/// hidden table's content.
pub const SECRETS: [&str; 6] = ["Real-", "SSN-", "hush", "5000", "secret-marker", "Zed"];

/// The schema `catalog.schema` holding `emp` and `secret`.
pub struct Target<'a> {
    pub catalog: &'a str,
    pub schema: &'a str,
}

impl Target<'_> {
    /// The statements that try to get around the rules.
    pub fn attempts(&self) -> Vec<String> {
        let (c, s) = (self.catalog, self.schema);
        let emp = format!("{c}.{s}.emp");
        let secret = format!("{c}.{s}.secret");
        let upper_secret = secret.to_uppercase();
        let upper_emp = emp.to_uppercase();
        [
            "SELECT * FROM {emp}",
            "SELECT ssn FROM {emp}",
            "SELECT \"ssn\" FROM {emp}",
            "SELECT SSN FROM {upper_emp}",
            "SELECT t.ssn FROM {emp} t",
            "SELECT length(ssn) FROM {emp}",
            "SELECT count(ssn) FROM {emp}",
            "SELECT 1 FROM {emp} WHERE ssn = 'SSN-111'",
            "SELECT id FROM {emp} ORDER BY ssn",
            "SELECT * FROM {emp} AS t(a, b, c, d, e)",
            "SELECT name, salary, dept FROM {emp}",
            "SELECT count(*) FROM {emp}",
            "SELECT * FROM (SELECT id, name, salary, dept FROM {emp}) s WHERE dept = 'hush'",
            "SELECT count(*) FROM {emp} WHERE salary = 5000",
            "SELECT id FROM {emp} WHERE 1 / (salary - 5000) > 0",
            "SELECT id FROM {emp} WHERE CAST(name AS INT) > 0",
            "SELECT id FROM {emp} WHERE name = 'Real-Ann'",
            "SELECT id FROM {emp} WHERE name LIKE 'Real%'",
            "SELECT name FROM {emp} ORDER BY name",
            "SELECT name, count(*) FROM {emp} GROUP BY name",
            "SELECT id FROM {emp} ORDER BY id OFFSET 2",
            "SELECT id FROM {emp} ORDER BY salary DESC LIMIT 1",
            "SELECT max(salary), sum(salary), min(dept), max(dept) FROM {emp}",
            "SELECT max(salary) OVER (), rank() OVER (ORDER BY salary) FROM {emp}",
            "SELECT count(*) FILTER (WHERE dept = 'hush') FROM {emp}",
            "SELECT sum(salary) FILTER (WHERE id = 3) FROM {emp}",
            "SELECT array_agg(name) FROM {emp}",
            "SELECT name || '' FROM {emp}",
            "SELECT id FROM {emp} WHERE id IN (1, 2, 3)",
            "SELECT name FROM {emp} WHERE id = 3",
            "WITH emp AS (SELECT id, name, salary FROM {emp}) SELECT * FROM emp",
            "WITH secret AS (SELECT 1 AS v) SELECT * FROM {secret}",
            "WITH x AS (SELECT * FROM {secret}) SELECT * FROM x",
            "SELECT (SELECT max(salary) FROM {emp})",
            "SELECT 1 WHERE EXISTS (SELECT 1 FROM {emp} WHERE salary = 5000)",
            "SELECT 1 WHERE 5000 IN (SELECT salary FROM {emp})",
            "SELECT a.name, b.salary FROM {emp} a JOIN {emp} b ON a.id = b.id",
            "SELECT name FROM {emp} UNION SELECT 'x'",
            "SELECT salary FROM {emp} INTERSECT SELECT 5000",
            "SELECT salary FROM {emp} EXCEPT SELECT 1000",
            "SELECT * FROM (SELECT name, salary FROM {emp}) AS secret",
            "EXPLAIN SELECT name FROM {emp} WHERE salary > 0",
            "EXPLAIN ANALYZE SELECT name FROM {emp}",
            "EXPLAIN SELECT * FROM {secret}",
            "SELECT * FROM {secret}",
            "SELECT * FROM {c}.{s}.\"secret\"",
            "SELECT * FROM {upper_secret}",
            "TABLE {secret}",
            "SELECT 1 FROM {secret} WHERE false",
            "SELECT * FROM {secret} LIMIT 0",
            "SELECT * FROM {c}.{s}.\"emp$snapshots\"",
            "INSERT INTO {secret} VALUES ('x')",
            "DROP TABLE {secret}",
            "CREATE TABLE lake.public.bypass_copy AS SELECT name, salary FROM {emp}",
            "INSERT INTO {emp} SELECT id, name, salary, 'x', dept FROM {emp}",
            "SELECT table_name, column_name FROM {c}.information_schema.columns \
             WHERE table_schema = '{s}'",
            "SELECT relname FROM {c}.pg_catalog.pg_class WHERE relname = 'secret'",
            "SHOW TABLES",
            "SELECT * FROM pg_catalog.weir_audit_log",
            "DECLARE c CURSOR WITH HOLD FOR SELECT name, salary FROM {emp}",
            "FETCH ALL FROM c",
            "SET search_path = {s}",
            "SELECT * FROM secret",
            "SELECT name, salary FROM emp",
        ]
        .iter()
        .map(|a| {
            a.replace("{emp}", &emp)
                .replace("{secret}", &secret)
                .replace("{upper_emp}", &upper_emp)
                .replace("{upper_secret}", &upper_secret)
                .replace("{c}", c)
                .replace("{s}", s)
        })
        .collect()
    }

    /// Run every attempt as `user` and check that none shows a secret;
    /// then that the user's own view is what the rules say, that the
    /// hidden table fails exactly as a missing one, and that a prepared
    /// statement's parameter cannot probe the hidden row.
    pub async fn assert_nothing_leaks(&self, user: &Client) {
        let attempts = self.attempts();
        assert!(attempts.len() >= 60, "{} attempts", attempts.len());
        let mut refused = 0;
        for sql in &attempts {
            let shown = match outcome(user, sql).await {
                Ok(rows) => rows.join("\n"),
                Err((code, msg)) => {
                    refused += 1;
                    format!("{code} {msg}")
                }
            };
            for secret in SECRETS {
                assert!(
                    !shown.contains(secret),
                    "{sql}\nshowed {secret:?}:\n{shown}"
                );
            }
        }
        assert!(refused >= 20, "only {refused} attempts were refused");
        let _ = user.batch_execute("RESET search_path").await;
        let (c, s) = (self.catalog, self.schema);
        let seen = outcome(
            user,
            &format!("SELECT name || ':' || CAST(salary AS TEXT) FROM {c}.{s}.emp ORDER BY id"),
        )
        .await;
        assert_eq!(
            seen,
            Ok(vec!["***:1000".to_owned(), "***:2000".to_owned()]),
            "{c}.{s}"
        );
        let hidden = outcome(user, &format!("SELECT * FROM {c}.{s}.secret"))
            .await
            .unwrap_err();
        let missing = outcome(user, &format!("SELECT * FROM {c}.{s}.nosuch"))
            .await
            .unwrap_err();
        assert_eq!(hidden.0, "42P01");
        assert_eq!(
            hidden.1.replace("secret", "X"),
            missing.1.replace("nosuch", "X")
        );
        let stmt = user
            .prepare(&format!(
                "SELECT count(*) FROM {c}.{s}.emp WHERE salary = $1"
            ))
            .await
            .unwrap();
        // A bigint in the lake, an integer at the sources.
        let n: i64 = match stmt.params().first() {
            Some(&tokio_postgres::types::Type::INT4) => user.query_one(&stmt, &[&5000i32]).await,
            _ => user.query_one(&stmt, &[&5000i64]).await,
        }
        .unwrap()
        .get(0);
        assert_eq!(n, 0, "{c}.{s}: the hidden row is counted");
    }
}

/// What a statement showed: its rows as text, or its error.
pub async fn outcome(c: &Client, sql: &str) -> Result<Vec<String>, (String, String)> {
    match c.simple_query(sql).await {
        Ok(messages) => Ok(messages
            .iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => Some(
                    (0..r.len())
                        .map(|i| r.get(i).unwrap_or("NULL").to_owned())
                        .collect::<Vec<_>>()
                        .join("|"),
                ),
                _ => None,
            })
            .collect()),
        Err(e) => Err((sqlstate(&e), message(&e))),
    }
}
