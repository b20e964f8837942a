//! Governance over real connections: roles and users stored as SCRAM
//! verifiers in the catalog database, GRANT/REVOKE/DENY decided by casbin,
//! and the plan rewrite that hides tables and refuses denied columns,
//! whatever path a query takes to them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{count, message, sqlstate, texts, TestServer};
use tokio_postgres::Client;

/// A connection to the test server's catalog database (SQLite), to look
/// at what is stored, or to leave what a crash would leave.
async fn catalog_db() -> sqlx::SqliteConnection {
    let db = common::data_dir().join("catalog.db");
    <sqlx::SqliteConnection as sqlx::Connection>::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap()
}

/// The SQLSTATE and message a statement fails with.
async fn fails(c: &Client, sql: &str) -> (String, String) {
    match c.batch_execute(sql).await {
        Ok(()) => panic!("{sql} should fail"),
        Err(e) => (sqlstate(&e), message(&e)),
    }
}

#[tokio::test]
async fn users_log_in_with_passwords_stored_only_as_scram_verifiers() {
    let server = TestServer::start().await;
    let admin = server.client().await;
    admin
        .batch_execute(
            "CREATE USER ann WITH PASSWORD 'ann-pw-1'; CREATE ROLE quiet WITH PASSWORD 'q-pw'",
        )
        .await
        .unwrap();
    let ann = server.connect_as("ann", "ann-pw-1").await.unwrap();
    assert_eq!(texts(&ann, "SELECT current_user").await, vec!["ann"]);

    let wrong = server.connect_as("ann", "nope").await.unwrap_err();
    let unknown = server.connect_as("nobody", "nope").await.unwrap_err();
    assert_eq!(sqlstate(&wrong), "28P01");
    assert_eq!(sqlstate(&unknown), "28P01");
    assert_eq!(
        message(&wrong).replace("ann", "X"),
        message(&unknown).replace("nobody", "X"),
        "an unknown user fails exactly as a wrong password does"
    );
    let nologin = server.connect_as("quiet", "q-pw").await.unwrap_err();
    assert_eq!(sqlstate(&nologin), "28000", "{}", message(&nologin));

    admin
        .batch_execute("ALTER USER ann WITH PASSWORD 'ann-pw-2'")
        .await
        .unwrap();
    assert!(server.connect_as("ann", "ann-pw-1").await.is_err());
    server.connect_as("ann", "ann-pw-2").await.unwrap();

    // The catalog database holds verifiers, never the password.
    let mut conn = catalog_db().await;
    let stored: String = sqlx::query_scalar("SELECT verifier FROM weir_roles WHERE name = 'ann'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert!(stored.starts_with("SCRAM-SHA-256$4096:"), "{stored}");
    assert!(!stored.contains("ann-pw"), "{stored}");

    // Only superusers manage roles.
    let (code, msg) = fails(&ann, "CREATE ROLE sneaky").await;
    assert_eq!(code, "42501", "{msg}");
    let (code, _) = fails(&ann, "ALTER USER ann WITH SUPERUSER").await;
    assert_eq!(code, "42501");

    admin.batch_execute("DROP USER ann").await.unwrap();
    assert_eq!(
        sqlstate(&server.connect_as("ann", "ann-pw-2").await.unwrap_err()),
        "28P01"
    );
    let (code, _) = fails(&admin, "DROP ROLE ann").await;
    assert_eq!(code, "42704");
    admin
        .batch_execute("DROP ROLE IF EXISTS ann")
        .await
        .unwrap();
    let (code, _) = fails(&admin, "CREATE ROLE quiet").await;
    assert_eq!(code, "42710");
    let (code, _) = fails(&admin, "CREATE ROLE public").await;
    assert_eq!(code, "42939");
    let (code, _) = fails(&admin, "DROP ROLE weir").await;
    assert_eq!(code, "55006", "the session's own role");
}

#[tokio::test]
async fn a_verifier_made_by_postgresql_logs_in_to_weir() {
    use sqlx::Connection;
    let mut pg = sqlx::PgConnection::connect("postgres://postgres@127.0.0.1:5432/postgres")
        .await
        .unwrap();
    let role = format!("weir_verifier_{}", std::process::id());
    sqlx::query(&format!("DROP ROLE IF EXISTS {role}"))
        .execute(&mut pg)
        .await
        .unwrap();
    sqlx::query("SET password_encryption = 'scram-sha-256'")
        .execute(&mut pg)
        .await
        .unwrap();
    sqlx::query(&format!("CREATE ROLE {role} PASSWORD 'made-in-pg'"))
        .execute(&mut pg)
        .await
        .unwrap();
    let verifier: String =
        sqlx::query_scalar("SELECT rolpassword FROM pg_authid WHERE rolname = $1")
            .bind(&role)
            .fetch_one(&mut pg)
            .await
            .unwrap();
    sqlx::query(&format!("DROP ROLE {role}"))
        .execute(&mut pg)
        .await
        .unwrap();

    let server = TestServer::start().await;
    let admin = server.client().await;
    admin
        .batch_execute(&format!("CREATE USER carl PASSWORD '{verifier}'"))
        .await
        .unwrap();
    let carl = server.connect_as("carl", "made-in-pg").await.unwrap();
    assert_eq!(texts(&carl, "SELECT current_user").await, vec!["carl"]);
}

#[tokio::test]
async fn tables_without_a_privilege_answer_as_missing_ones() {
    let server = TestServer::start().await;
    let admin = server.client().await;
    admin
        .batch_execute("CREATE USER ann PASSWORD 'pw'")
        .await
        .unwrap();
    let ann = server.connect_as("ann", "pw").await.unwrap();

    let (code, hidden) = fails(&ann, "SELECT * FROM tpch.nation").await;
    assert_eq!(code, "42P01", "{hidden}");
    let (code, missing) = fails(&ann, "SELECT * FROM tpch.no_such_table").await;
    assert_eq!(code, "42P01");
    assert_eq!(
        hidden.replace("nation", "X"),
        missing.replace("no_such_table", "X"),
        "same message shape as a missing table"
    );
    for sql in [
        "SELECT count(*) FROM lake.tpch.nation",
        "SELECT 1 WHERE EXISTS (SELECT 1 FROM tpch.nation)",
        "SELECT (SELECT max(n_name) FROM tpch.nation)",
        "WITH x AS (SELECT * FROM tpch.nation) SELECT count(*) FROM x",
        "SELECT 1 UNION ALL SELECT n_nationkey FROM tpch.nation",
        "EXPLAIN SELECT * FROM tpch.nation",
        "CREATE TABLE public.copy AS SELECT * FROM tpch.nation",
        "DESCRIBE tpch.nation",
    ] {
        let (code, msg) = fails(&ann, sql).await;
        assert!(code == "42P01" || code == "42501", "{sql}: {code} {msg}");
        assert!(!msg.contains("n_comment"), "{sql}: {msg}");
    }

    admin
        .batch_execute("GRANT SELECT ON tpch.nation TO ann")
        .await
        .unwrap();
    assert_eq!(count(&ann, "SELECT count(*) FROM tpch.nation").await, 25);
    let (code, _) = fails(&ann, "SELECT * FROM tpch.region").await;
    assert_eq!(code, "42P01", "one table's grant opens no other");

    admin
        .batch_execute("REVOKE SELECT ON lake.tpch.nation FROM ann")
        .await
        .unwrap();
    let (code, _) = fails(&ann, "SELECT * FROM tpch.nation").await;
    assert_eq!(code, "42P01");

    admin
        .batch_execute("GRANT SELECT ON ALL TABLES IN SCHEMA lake.tpch TO ann")
        .await
        .unwrap();
    assert_eq!(count(&ann, "SELECT count(*) FROM tpch.region").await, 5);
    admin
        .batch_execute("DENY SELECT ON tpch.region TO ann")
        .await
        .unwrap();
    let (code, _) = fails(&ann, "SELECT * FROM tpch.region").await;
    assert_eq!(code, "42P01", "a deny overrides the schema-wide grant");
    assert_eq!(count(&ann, "SELECT count(*) FROM tpch.nation").await, 25);
    // Prepared statements and cursors plan through the same door.
    let stmt = ann.prepare("SELECT n_name FROM tpch.nation WHERE n_nationkey = $1");
    assert!(stmt.await.is_ok());
    let (code, _) = fails(
        &ann,
        "BEGIN; DECLARE c CURSOR FOR SELECT * FROM tpch.region; COMMIT",
    )
    .await;
    assert_eq!(code, "42P01");
}

#[tokio::test]
async fn denied_columns_fail_by_name_wherever_a_query_uses_them() {
    let server = TestServer::start().await;
    let admin = server.client().await;
    admin
        .batch_execute(
            "CREATE USER ann PASSWORD 'pw';
             GRANT SELECT (n_nationkey, n_name) ON tpch.nation TO ann;
             GRANT SELECT ON tpch.customer TO ann;
             DENY SELECT (c_phone) ON tpch.customer TO ann",
        )
        .await
        .unwrap();
    let ann = server.connect_as("ann", "pw").await.unwrap();
    assert_eq!(
        texts(&ann, "SELECT n_name FROM tpch.nation WHERE n_nationkey = 7").await,
        vec!["GERMANY"]
    );
    assert_eq!(count(&ann, "SELECT count(*) FROM tpch.nation").await, 25);
    assert_eq!(
        count(&ann, "SELECT count(c_name) FROM tpch.customer").await,
        1500
    );
    for (sql, column) in [
        ("SELECT * FROM tpch.nation", "n_regionkey"),
        ("SELECT n_comment FROM tpch.nation", "n_comment"),
        ("SELECT count(*) FROM tpch.nation WHERE n_comment LIKE 'a%'", "n_comment"),
        ("SELECT n_name FROM tpch.nation ORDER BY n_regionkey", "n_regionkey"),
        ("SELECT n_regionkey, count(*) FROM tpch.nation GROUP BY 1", "n_regionkey"),
        ("SELECT x.n_comment FROM (SELECT * FROM tpch.nation) x", "n_regionkey"),
        ("WITH w AS (SELECT n_comment AS c FROM tpch.nation) SELECT 1 FROM w", "n_comment"),
        ("SELECT n_name FROM tpch.nation UNION SELECT n_comment FROM tpch.nation", "n_comment"),
        (
            "SELECT a.n_name FROM tpch.nation a JOIN tpch.nation b ON a.n_regionkey = b.n_nationkey",
            "n_regionkey",
        ),
        (
            "SELECT n_name FROM tpch.nation n WHERE EXISTS \
             (SELECT 1 FROM tpch.customer c WHERE c.c_nationkey = n.n_regionkey)",
            "n_regionkey",
        ),
        ("SELECT * FROM tpch.customer LIMIT 1", "c_phone"),
        ("SELECT max(c_phone) FROM tpch.customer", "c_phone"),
        ("SELECT c_name FROM tpch.customer WHERE c_phone = '25-989-741-2988'", "c_phone"),
        ("SELECT \"C_PHONE\" FROM tpch.customer", "C_PHONE"),
        ("EXPLAIN SELECT c_phone FROM tpch.customer", "c_phone"),
        ("SELECT row_number() OVER (ORDER BY c_phone) FROM tpch.customer", "c_phone"),
    ] {
        let (code, msg) = fails(&ann, sql).await;
        if column == "C_PHONE" {
            // A quoted name that is not the column: no such column.
            assert_eq!(code, "42703", "{sql}: {msg}");
            continue;
        }
        assert_eq!(code, "42501", "{sql}: {msg}");
        assert!(msg.contains(column), "{sql}: {msg}");
    }
    // A prepared statement with a parameter on a denied column.
    let err = ann
        .query(
            "SELECT c_name FROM tpch.customer WHERE c_phone = $1",
            &[&"x"],
        )
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "42501");
}

#[tokio::test]
async fn grants_reach_users_through_role_hierarchies() {
    let server = TestServer::start().await;
    let admin = server.client().await;
    admin
        .batch_execute(
            "CREATE ROLE staff; CREATE ROLE analyst IN ROLE staff;
             CREATE USER ann PASSWORD 'pw' IN ROLE analyst;
             GRANT SELECT ON lake.tpch.region TO staff",
        )
        .await
        .unwrap();
    let ann = server.connect_as("ann", "pw").await.unwrap();
    assert_eq!(count(&ann, "SELECT count(*) FROM tpch.region").await, 5);
    let (code, msg) = fails(&admin, "GRANT analyst TO staff").await;
    assert_eq!(code, "0LP01", "{msg}");
    admin
        .batch_execute("REVOKE staff FROM analyst")
        .await
        .unwrap();
    let (code, _) = fails(&ann, "SELECT * FROM tpch.region").await;
    assert_eq!(code, "42P01");
    admin.batch_execute("GRANT staff TO ann").await.unwrap();
    assert_eq!(count(&ann, "SELECT count(*) FROM tpch.region").await, 5);

    let (code, msg) = fails(&admin, "DROP ROLE staff").await;
    assert_eq!(code, "2BP01", "rules still name it: {msg}");
    let (code, _) = fails(&admin, "GRANT SELECT ON tpch.region TO nobody").await;
    assert_eq!(code, "42704");
    let (code, _) = fails(&admin, "GRANT SELECT ON tpch.nowhere TO staff").await;
    assert_eq!(code, "42P01");
    let (code, _) = fails(&admin, "GRANT SELECT (nope) ON tpch.region TO staff").await;
    assert_eq!(code, "42703");
    let (code, _) = fails(&admin, "GRANT USAGE ON tpch.region TO staff").await;
    assert_eq!(code, "0LP01");
    let (code, _) = fails(&admin, "GRANT SELEKT ON tpch.region TO staff").await;
    assert_eq!(code, "42601");

    let rows = ann
        .query("SHOW GRANTS", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| {
            (
                r.get::<_, String>(0),
                r.get::<_, String>(1),
                r.get::<_, String>(2),
            )
        })
        .collect::<Vec<_>>();
    assert_eq!(
        rows,
        vec![("staff".into(), "lake.tpch.region".into(), "SELECT".into())]
    );
    let (code, _) = fails(&ann, "SHOW GRANTS FOR weir").await;
    assert_eq!(code, "42501");
}

#[tokio::test]
async fn writes_need_privileges_and_creators_own_what_they_create() {
    let server = TestServer::start().await;
    let admin = server.client().await;
    admin
        .batch_execute(
            "CREATE USER ann PASSWORD 'pw'; CREATE USER bob PASSWORD 'pw';
             GRANT SELECT ON tpch.nation TO ann",
        )
        .await
        .unwrap();
    let ann = server.connect_as("ann", "pw").await.unwrap();
    let bob = server.connect_as("bob", "pw").await.unwrap();
    let (code, msg) = fails(&ann, "CREATE TABLE public.mine (id INT)").await;
    assert_eq!(
        (code.as_str(), msg.as_str()),
        ("42501", "permission denied for schema public")
    );
    let (code, msg) = fails(&ann, "INSERT INTO tpch.nation SELECT * FROM tpch.nation").await;
    assert_eq!(
        (code.as_str(), msg.as_str()),
        ("42501", "permission denied for table nation")
    );
    let (code, _) = fails(&ann, "DROP TABLE tpch.region").await;
    assert_eq!(code, "42P01", "a table ann cannot see");

    admin
        .batch_execute("GRANT CREATE ON SCHEMA lake.public TO ann")
        .await
        .unwrap();
    ann.batch_execute("CREATE TABLE public.mine (id INT); INSERT INTO public.mine VALUES (1), (2)")
        .await
        .unwrap();
    assert_eq!(count(&ann, "SELECT count(*) FROM public.mine").await, 2);
    let (code, _) = fails(&bob, "SELECT * FROM public.mine").await;
    assert_eq!(code, "42P01");
    ann.batch_execute("GRANT SELECT ON public.mine TO bob")
        .await
        .unwrap();
    assert_eq!(count(&bob, "SELECT count(*) FROM public.mine").await, 2);
    let (code, _) = fails(&bob, "GRANT SELECT ON public.mine TO ann").await;
    assert_eq!(code, "42501", "bob holds no grant option");
    ann.batch_execute("GRANT SELECT ON public.mine TO bob WITH GRANT OPTION")
        .await
        .unwrap();
    bob.batch_execute("GRANT SELECT ON public.mine TO public")
        .await
        .unwrap();
    ann.batch_execute("REVOKE GRANT OPTION FOR SELECT ON public.mine FROM bob; REVOKE SELECT ON public.mine FROM public")
        .await
        .unwrap();
    assert_eq!(
        count(&bob, "SELECT count(*) FROM public.mine").await,
        2,
        "bob keeps SELECT"
    );
    // As in PostgreSQL, a table's row policies do not apply to its owner.
    ann.batch_execute("CREATE POLICY ones ON public.mine USING (id = 1)")
        .await
        .unwrap();
    assert_eq!(count(&bob, "SELECT count(*) FROM public.mine").await, 1);
    assert_eq!(
        count(&ann, "SELECT count(*) FROM public.mine").await,
        2,
        "the owner sees every row"
    );
    let (code, _) = fails(&bob, "GRANT SELECT ON public.mine TO public").await;
    assert_eq!(code, "42501", "but no longer the right to grant it");
    let (code, _) = fails(&bob, "INSERT INTO public.mine VALUES (3)").await;
    assert_eq!(code, "42501");
    ann.batch_execute("DROP TABLE public.mine").await.unwrap();
    // The dropped table's grants went with it: a new table of that name
    // starts with none.
    admin
        .batch_execute("CREATE TABLE public.mine (id INT)")
        .await
        .unwrap();
    let (code, _) = fails(&bob, "SELECT * FROM public.mine").await;
    assert_eq!(code, "42P01");
}

/// A user who may create tables registers, as an external table, only
/// folders inside the lake whose tables they may read whole: not a file
/// the server keeps beside the lake (a key, the audit trail), not the
/// folder of a table a row policy filters for them, nor one holding it,
/// however the path is spelt.
#[tokio::test]
async fn external_tables_reach_only_lake_folders_whose_tables_the_creator_reads_whole() {
    let server = TestServer::start().await;
    let admin = server.client().await;
    let dir = std::fs::canonicalize(common::data_dir()).unwrap();
    std::fs::write(dir.join("secret.csv"), "k\nhunter2\n").unwrap();
    let dropbox = dir.join("lake").join("dropbox");
    std::fs::create_dir_all(&dropbox).unwrap();
    std::fs::write(dropbox.join("a.csv"), "k\n1\n2\n").unwrap();
    std::os::unix::fs::symlink(&dir, dir.join("lake").join("out")).unwrap();
    admin
        .batch_execute(
            "CREATE USER ann PASSWORD 'pw'; CREATE USER bo PASSWORD 'pw'; CREATE SCHEMA lake.scratch;
             GRANT CREATE ON SCHEMA lake.scratch TO ann; GRANT CREATE ON SCHEMA lake.scratch TO bo;
             GRANT pg_read_server_files TO ann;
             GRANT SELECT ON tpch.nation TO ann; GRANT SELECT ON tpch.customer TO ann;
             CREATE POLICY few ON tpch.customer USING (c_nationkey = 1)",
        )
        .await
        .unwrap();
    let ann = server.connect_as("ann", "pw").await.unwrap();
    // Registering files by location is a privilege of its own
    // (PostgreSQL's pg_read_server_files), beside CREATE in the schema.
    let bo = server.connect_as("bo", "pw").await.unwrap();
    let (code, msg) = fails(
        &bo,
        "CREATE EXTERNAL TABLE lake.scratch.mine STORED AS CSV LOCATION 'dropbox/'",
    )
    .await;
    assert_eq!(code, "42501", "{msg}");
    assert!(msg.contains("pg_read_server_files"), "{msg}");
    bo.batch_execute("CREATE TABLE lake.scratch.own AS SELECT 1 AS x")
        .await
        .unwrap();
    let secret = dir.join("secret.csv").display().to_string();
    let refused = [
        ("CSV", "../secret.csv".to_owned()),
        ("CSV", "dropbox/../../secret.csv".to_owned()),
        ("CSV", secret.clone()),
        ("CSV", format!("file://{secret}")),
        ("CSV", "out/secret.csv".to_owned()),
        ("JSON", "../audit/".to_owned()),
        ("CSV", "/etc/".to_owned()),
        ("PARQUET", "tpch/customer/".to_owned()),
        ("PARQUET", "./tpch/customer/".to_owned()),
        ("PARQUET", "x/../tpch/customer/".to_owned()),
        ("PARQUET", "tpch//customer".to_owned()),
        ("PARQUET", "tpch/customer/part-1.parquet".to_owned()),
        ("PARQUET", "tpch/".to_owned()),
        ("PARQUET", ".".to_owned()),
        ("PARQUET", "tpch/region/".to_owned()),
        ("PARQUET", "tpch%2Fcustomer/".to_owned()),
    ];
    for (i, (format, location)) in refused.iter().enumerate() {
        let sql = format!(
            "CREATE EXTERNAL TABLE lake.scratch.t{i} STORED AS {format} LOCATION '{location}'"
        );
        let (code, msg) = fails(&ann, &sql).await;
        let want = if location.contains('%') {
            "22023"
        } else {
            "42501"
        };
        assert_eq!(code, want, "{sql}: {msg}");
        let (code, _) = fails(&ann, &format!("SELECT * FROM lake.scratch.t{i}")).await;
        assert_eq!(code, "42P01", "{sql} registered nothing");
    }
    // What ann may read whole, and a folder holding no table, she may.
    ann.batch_execute(
        "CREATE EXTERNAL TABLE lake.scratch.nations STORED AS PARQUET LOCATION 'tpch/nation/';
         CREATE EXTERNAL TABLE lake.scratch.drops STORED AS CSV LOCATION 'dropbox/'
           OPTIONS ('format.has_header' 'true')",
    )
    .await
    .unwrap();
    assert_eq!(
        count(&ann, "SELECT count(*) FROM lake.scratch.nations").await,
        25
    );
    assert_eq!(
        count(&ann, "SELECT count(*) FROM lake.scratch.drops").await,
        2
    );
    // Through the filter she sees one nation's customers, as before.
    let all = count(&admin, "SELECT count(*) FROM tpch.customer").await;
    let hers = count(&ann, "SELECT count(*) FROM tpch.customer").await;
    assert!(hers < all, "{hers} of {all}");
    // A superuser registers any of it.
    admin
        .batch_execute(
            "CREATE EXTERNAL TABLE lake.scratch.customers STORED AS PARQUET LOCATION './tpch/customer/'",
        )
        .await
        .unwrap();
    assert_eq!(
        count(&admin, "SELECT count(*) FROM lake.scratch.customers").await,
        all
    );

    // The check runs again at every read: a table created later inside
    // ann's folder, with a policy that hides its rows from her, closes
    // her external table to her (not to a superuser) until she may read
    // that table whole.
    let hush = dropbox.join("hush");
    std::fs::create_dir_all(&hush).unwrap();
    std::fs::write(hush.join("h.csv"), "k\n99\n").unwrap();
    admin
        .batch_execute(
            "CREATE EXTERNAL TABLE lake.scratch.hush STORED AS CSV LOCATION 'dropbox/hush/'
               OPTIONS ('format.has_header' 'true')",
        )
        .await
        .unwrap();
    admin
        .batch_execute("CREATE POLICY nobody ON lake.scratch.hush USING (false)")
        .await
        .unwrap();
    let (code, msg) = fails(&ann, "SELECT count(*) FROM lake.scratch.drops").await;
    assert_eq!(code, "42501", "{msg}");
    let (code, msg) = fails(
        &ann,
        "SELECT n_name FROM tpch.nation WHERE n_nationkey IN (SELECT k FROM lake.scratch.drops)",
    )
    .await;
    assert_eq!(code, "42501", "in a subquery too: {msg}");
    assert_eq!(
        count(&ann, "SELECT count(*) FROM lake.scratch.nations").await,
        25,
        "her other tables read as before"
    );
    // (Whether the new file is listed yet depends on DataFusion's listing
    // cache; the decision does not.)
    let whole = count(&admin, "SELECT count(*) FROM lake.scratch.drops").await;
    assert!(whole >= 2, "a superuser reads it: {whole}");
    admin
        .batch_execute(
            "DROP POLICY nobody ON lake.scratch.hush; GRANT SELECT ON lake.scratch.hush TO ann",
        )
        .await
        .unwrap();
    assert_eq!(
        count(&ann, "SELECT count(*) FROM lake.scratch.drops").await,
        whole
    );
}

/// Weir's own files are reserved even when the lake's folder holds them
/// (here the lake is the whole data directory): the catalog database, the
/// audit trail, spill files. A member of pg_read_server_files may not
/// register them, nor a folder holding them.
#[tokio::test]
async fn reserved_paths_inside_the_lake_are_never_registered() {
    let data = std::fs::canonicalize(common::data_dir()).unwrap();
    let lake = data.clone();
    let server = TestServer::start_with(move |c| {
        c.lake.location = Some(lake.display().to_string());
    })
    .await;
    std::fs::create_dir_all(data.join("drop")).unwrap();
    std::fs::write(data.join("drop").join("a.csv"), "k\n1\n").unwrap();
    let admin = server.client().await;
    admin
        .batch_execute(
            "CREATE USER rex PASSWORD 'pw'; CREATE SCHEMA lake.rs;
             GRANT CREATE ON SCHEMA lake.rs TO rex; GRANT pg_read_server_files TO rex",
        )
        .await
        .unwrap();
    // Something for the audit trail to hold.
    admin.batch_execute("SELECT 1").await.unwrap();
    let rex = server.connect_as("rex", "pw").await.unwrap();
    for (i, (format, location)) in [
        ("CSV", "catalog.db"),
        ("JSON", "audit/"),
        ("JSON", "audit/audit.jsonl"),
        ("CSV", "spill/"),
        ("CSV", "./"),
    ]
    .iter()
    .enumerate()
    {
        let sql = format!(
            "CREATE EXTERNAL TABLE lake.rs.r{i} (k VARCHAR) STORED AS {format} LOCATION '{location}'"
        );
        let (code, msg) = fails(&rex, &sql).await;
        assert_eq!(code, "42501", "{sql}: {msg}");
    }
    rex.batch_execute(
        "CREATE EXTERNAL TABLE lake.rs.ok STORED AS CSV LOCATION 'drop/'
           OPTIONS ('format.has_header' 'true')",
    )
    .await
    .unwrap();
    assert_eq!(count(&rex, "SELECT count(*) FROM lake.rs.ok").await, 1);
}

#[tokio::test]
async fn a_grant_on_one_server_reaches_another_on_the_same_catalog_within_two_seconds() {
    let (db, admin_db) = common::create_pg_database("weir_grants").await;
    let lake = tempfile::tempdir().unwrap();
    let configure = |c: &mut weir_gateway::config::Config| {
        c.lake.catalog_url = Some(format!("postgres://postgres@127.0.0.1:5432/{db}"));
        c.lake.location = Some(lake.path().display().to_string());
        // Logins tried before the user arrives must not lock the address.
        c.auth.max_failed_logins = 1000;
    };
    let a = TestServer::start_with(configure).await;
    let b = TestServer::start_with(configure).await;
    let on_a = a.client().await;
    on_a.batch_execute(
        "CREATE SCHEMA shared; CREATE TABLE shared.t (id INT); INSERT INTO shared.t VALUES (1);
         CREATE USER ann PASSWORD 'pw'",
    )
    .await
    .unwrap();
    // The user created on a logs in on b.
    let mut ann_b = None;
    for _ in 0..40 {
        if let Ok(c) = b.connect_as("ann", "pw").await {
            ann_b = Some(c);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let ann_b = ann_b.expect("the user reached server b");
    let (code, _) = fails(&ann_b, "SELECT * FROM shared.t").await;
    assert_eq!(code, "42P01");
    on_a.batch_execute("GRANT SELECT ON shared.t TO ann")
        .await
        .unwrap();
    let granted = std::time::Instant::now();
    loop {
        if ann_b.query("SELECT * FROM shared.t", &[]).await.is_ok() {
            break;
        }
        assert!(
            granted.elapsed() < std::time::Duration::from_secs(2),
            "the grant did not reach server b within 2 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    on_a.batch_execute("REVOKE SELECT ON shared.t FROM ann")
        .await
        .unwrap();
    let revoked = std::time::Instant::now();
    loop {
        if ann_b.query("SELECT * FROM shared.t", &[]).await.is_err() {
            break;
        }
        assert!(
            revoked.elapsed() < std::time::Duration::from_secs(2),
            "the revoke did not reach server b within 2 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // Role memberships, masks, row filters and column denies travel too:
    // each change made on a shows on b within 2 s.
    let within_two_seconds =
        |what: &'static str, sql: &'static str, want: Result<Vec<String>, String>| {
            let ann_b = &ann_b;
            async move {
                let changed = std::time::Instant::now();
                loop {
                    let got = match ann_b.query(sql, &[]).await {
                        Ok(rows) => Ok(rows
                            .iter()
                            .map(|r| r.get::<_, String>(0))
                            .collect::<Vec<_>>()),
                        Err(e) => Err(sqlstate(&e)),
                    };
                    if got == want {
                        return;
                    }
                    assert!(
                        changed.elapsed() < std::time::Duration::from_secs(2),
                        "{what} did not reach server b within 2 s: {got:?}"
                    );
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        };
    on_a.batch_execute(
        "CREATE TABLE shared.p AS SELECT * FROM (VALUES (1, 'eu', 'x1'), (2, 'us', 'x2')) AS v(id, region, secret);
         CREATE ROLE readers; GRANT SELECT ON shared.p TO readers; GRANT readers TO ann",
    )
    .await
    .unwrap();
    let ids = "SELECT string_agg(CAST(id AS TEXT), ',' ORDER BY id) FROM shared.p";
    within_two_seconds("a role membership", ids, Ok(vec!["1,2".into()])).await;
    on_a.batch_execute("CREATE POLICY eu ON shared.p TO readers USING (region = 'eu')")
        .await
        .unwrap();
    within_two_seconds("a row filter", ids, Ok(vec!["1".into()])).await;
    on_a.batch_execute("ALTER TABLE shared.p ALTER COLUMN region SET MASK ('**') FOR ann")
        .await
        .unwrap();
    within_two_seconds(
        "a mask",
        "SELECT region FROM shared.p",
        Ok(vec!["**".into()]),
    )
    .await;
    on_a.batch_execute("DENY SELECT (secret) ON shared.p TO ann")
        .await
        .unwrap();
    within_two_seconds(
        "a column deny",
        "SELECT secret FROM shared.p",
        Err("42501".into()),
    )
    .await;
    on_a.batch_execute("REVOKE readers FROM ann").await.unwrap();
    within_two_seconds("a revoked membership", ids, Err("42P01".into())).await;
    drop((ann_b, on_a, a, b));
    let mut admin_db = admin_db;
    sqlx::Executor::execute(
        &mut admin_db,
        format!("DROP DATABASE {db} WITH (FORCE)").as_str(),
    )
    .await
    .unwrap();
}

/// Fail closed: a server that cannot confirm the rule version with the
/// catalog database for ten poll intervals refuses the statements of users
/// who are not superusers with 57P03 (a REVOKE made on another server
/// might be missing), and serves them again once it can.
#[tokio::test]
async fn a_server_that_cannot_confirm_its_rules_fails_closed() {
    let (db, admin_db) = common::create_pg_database("weir_stale").await;
    let link = common::CatalogLink::start().await;
    let lake = tempfile::tempdir().unwrap();
    let url = format!(
        "postgres://postgres@127.0.0.1:{}/{db}?sslmode=disable",
        link.port
    );
    let server = TestServer::start_with(|c| {
        c.lake.catalog_url = Some(url);
        c.lake.location = Some(lake.path().display().to_string());
        c.auth.policy_poll_ms = 100;
    })
    .await;
    let admin = server.client().await;
    admin
        .batch_execute(
            "CREATE SCHEMA st; CREATE TABLE st.t (id INT); INSERT INTO st.t VALUES (1);
             CREATE USER ann PASSWORD 'pw'; GRANT SELECT ON st.t TO ann",
        )
        .await
        .unwrap();
    let ann = server.connect_as("ann", "pw").await.unwrap();
    assert_eq!(count(&ann, "SELECT count(*) FROM st.t").await, 1);

    link.cut();
    let cut = std::time::Instant::now();
    let refused = loop {
        // (A parameter: constant statements are answered from a cache.)
        match ann.query("SELECT $1::bigint", &[&1i64]).await {
            Err(e) => break e,
            Ok(_) => {
                assert!(
                    cut.elapsed() < std::time::Duration::from_secs(30),
                    "still serving unconfirmed rules"
                );
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    };
    assert_eq!(sqlstate(&refused), "57P03", "{}", message(&refused));
    assert!(
        message(&refused).contains("catalog database"),
        "{}",
        message(&refused)
    );
    let (code, _) = fails(&ann, "SELECT count(*) FROM st.t").await;
    assert_eq!(code, "57P03");
    // A superuser is not refused (a statement that needs no catalog runs).
    assert_eq!(count(&admin, "SELECT 2::bigint").await, 2);

    link.restore();
    let restored = std::time::Instant::now();
    loop {
        match ann.query("SELECT count(*) FROM st.t", &[]).await {
            Ok(rows) => {
                assert_eq!(rows[0].get::<_, i64>(0), 1);
                break;
            }
            Err(e) => {
                assert!(
                    restored.elapsed() < std::time::Duration::from_secs(30),
                    "never served again: {}",
                    message(&e)
                );
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
    drop((ann, admin, server));
    let mut admin_db = admin_db;
    sqlx::Executor::execute(
        &mut admin_db,
        format!("DROP DATABASE {db} WITH (FORCE)").as_str(),
    )
    .await
    .unwrap();
}

/// EXPLAIN in every form shows nothing of what lies under a row filter:
/// not the policy's predicate (it names the values it hides), not the row
/// counts or pruning figures of the table below it.
#[tokio::test]
async fn explain_in_every_form_hides_what_is_under_a_row_filter() {
    let server = TestServer::start().await;
    let admin = server.client().await;
    admin
        .batch_execute(
            "CREATE USER xena PASSWORD 'pw'; CREATE SCHEMA lake.ex;
             CREATE TABLE lake.ex.staff AS SELECT * FROM (VALUES
               (1, 'eng'), (2, 'eng'), (3, 'zq_hidden_dept'), (4, 'zq_hidden_dept'), (5, 'zq_hidden_dept'))
               AS v(id, dept);
             GRANT SELECT ON lake.ex.staff TO xena;
             CREATE POLICY no_hidden ON lake.ex.staff TO xena USING (dept <> 'zq_hidden_dept')",
        )
        .await
        .unwrap();
    let xena = server.connect_as("xena", "pw").await.unwrap();
    let query = "SELECT id FROM lake.ex.staff WHERE id > 0";
    for form in [
        "EXPLAIN",
        "EXPLAIN VERBOSE",
        "EXPLAIN ANALYZE",
        "EXPLAIN ANALYZE VERBOSE",
        "EXPLAIN FORMAT TREE",
        "EXPLAIN FORMAT GRAPHVIZ",
        "EXPLAIN FORMAT INDENT",
        "EXPLAIN FORMAT PGJSON",
        "EXPLAIN (FORMAT TREE)",
        "EXPLAIN (FORMAT JSON)",
        "EXPLAIN (ANALYZE, FORMAT JSON)",
    ] {
        let sql = format!("{form} {query}");
        let shown = match xena.simple_query(&sql).await {
            Ok(messages) => messages
                .iter()
                .filter_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(r) => Some(
                        (0..r.len())
                            .filter_map(|i| r.get(i))
                            .collect::<Vec<_>>()
                            .join(" "),
                    ),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join("\n"),
            Err(e) => {
                assert!(!sqlstate(&e).starts_with("XX"), "{sql}: {}", message(&e));
                continue;
            }
        };
        assert!(!shown.contains("zq_hidden"), "{sql}:\n{shown}");
        // The hidden rows are 3 of 5: no count of 5 (or 3) rows below the barrier.
        for leak in [
            "output_rows=5",
            "output_rows=3",
            "rows=5",
            "num_rows=5",
            "Rows=Exact(5)",
            "Rows=Inexact(5)",
            "Rows=Exact(3)",
            "Rows=Inexact(3)",
        ] {
            assert!(!shown.contains(leak), "{sql}: {leak}\n{shown}");
        }
    }
}

/// What a user may write carries only what they may read: CREATE TABLE
/// AS and INSERT … SELECT from a row-filtered, masked table copy the
/// visible rows with masked values (the copy's owner would otherwise read
/// it whole), and time travel and metadata tables keep the table's rules.
#[tokio::test]
async fn copies_and_history_carry_the_rules_of_the_table_they_read() {
    let server = TestServer::start().await;
    let admin = server.client().await;
    admin
        .batch_execute(
            "CREATE USER wes PASSWORD 'pw'; CREATE SCHEMA lake.src; CREATE SCHEMA lake.sbox;
             CREATE TABLE lake.src.pay AS SELECT * FROM (VALUES
               (1, 'eu', 'IBAN-1'), (2, 'us', 'IBAN-2'), (3, 'eu', 'IBAN-3')) AS v(id, region, iban);
             INSERT INTO lake.src.pay VALUES (4, 'us', 'IBAN-4'), (5, 'eu', 'IBAN-5');
             GRANT SELECT ON lake.src.pay TO wes;
             GRANT CREATE ON SCHEMA lake.sbox TO wes;
             CREATE POLICY eu ON lake.src.pay TO wes USING (region = 'eu');
             ALTER TABLE lake.src.pay ALTER COLUMN iban SET MASK ('masked') FOR wes",
        )
        .await
        .unwrap();
    let wes = server.connect_as("wes", "pw").await.unwrap();
    wes.batch_execute(
        "CREATE TABLE lake.sbox.copy AS SELECT * FROM lake.src.pay;
         CREATE TABLE lake.sbox.appended (id BIGINT, region VARCHAR, iban VARCHAR);
         INSERT INTO lake.sbox.appended SELECT * FROM lake.src.pay",
    )
    .await
    .unwrap();
    for table in ["lake.sbox.copy", "lake.sbox.appended"] {
        // Read back as the superuser: what was written.
        assert_eq!(
            column(
                &admin,
                &format!("SELECT id || ':' || region || ':' || iban FROM {table} ORDER BY id")
            )
            .await,
            vec!["1:eu:masked", "3:eu:masked", "5:eu:masked"],
            "{table}"
        );
    }
    // Time travel: the first snapshot under the same rules.
    let first: i64 = admin
        .query_one(
            "SELECT snapshot_id FROM lake.src.\"pay$snapshots\" ORDER BY committed_at LIMIT 1",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        column(
            &wes,
            &format!("SELECT id || ':' || iban FROM lake.src.\"pay@{first}\" ORDER BY id")
        )
        .await,
        vec!["1:masked", "3:masked"]
    );
    // Metadata tables describe the whole table (counts, bounds): refused.
    for meta in ["snapshots", "manifests"] {
        let (code, msg) = fails(&wes, &format!("SELECT * FROM lake.src.\"pay${meta}\"")).await;
        assert_eq!(code, "42501", "{meta}: {msg}");
    }
}

/// The first column of every row, as text, in order.
async fn column(c: &Client, sql: &str) -> Vec<String> {
    let rows = c.simple_query(sql).await.unwrap();
    rows.iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => Some(r.get(0).unwrap_or("").to_owned()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn row_policies_combine_as_in_postgresql_and_hide_rows_from_every_path() {
    let server = TestServer::start().await;
    let admin = server.client().await;
    admin
        .batch_execute(
            "CREATE ROLE eu; CREATE USER ann PASSWORD 'pw' IN ROLE eu; CREATE USER bob PASSWORD 'pw';
             GRANT SELECT ON tpch.customer TO ann, bob;
             CREATE POLICY germany ON tpch.customer FOR SELECT TO eu USING (c_nationkey = 7)",
        )
        .await
        .unwrap();
    let ann = server.connect_as("ann", "pw").await.unwrap();
    let bob = server.connect_as("bob", "pw").await.unwrap();
    let expect = |sql: &str| {
        let sql = format!("SELECT count(*) FROM tpch.customer WHERE {sql}");
        let admin = &admin;
        async move { count(admin, &sql).await }
    };
    let germany = expect("c_nationkey = 7").await;
    assert!(germany > 0);
    assert_eq!(
        count(&ann, "SELECT count(*) FROM tpch.customer").await,
        germany
    );
    assert_eq!(
        count(&bob, "SELECT count(*) FROM tpch.customer").await,
        0,
        "a table with row security and no policy for the user shows no rows"
    );
    assert_eq!(
        count(&admin, "SELECT count(*) FROM tpch.customer").await,
        1500
    );

    admin
        .batch_execute(
            "CREATE POLICY france ON tpch.customer TO eu USING (c_nationkey = 6);
             CREATE POLICY positive ON tpch.customer AS RESTRICTIVE TO ann USING (c_acctbal > 0)",
        )
        .await
        .unwrap();
    let visible = expect("c_nationkey IN (6, 7) AND c_acctbal > 0").await;
    assert!(visible > 0 && visible < germany * 2);
    for (sql, want) in [
        ("SELECT count(*) FROM tpch.customer", visible),
        ("SELECT count(*) FROM tpch.customer WHERE c_nationkey = 1", 0),
        ("SELECT count(*) FROM (SELECT * FROM tpch.customer LIMIT 10000 OFFSET 0) x", visible),
        (
            "SELECT count(*) FROM tpch.customer a JOIN tpch.customer b ON a.c_custkey = b.c_custkey",
            visible,
        ),
        (
            "SELECT count(*) FROM (SELECT c_custkey FROM tpch.customer UNION ALL \
             SELECT c_custkey FROM tpch.customer WHERE c_acctbal < 0) x",
            visible,
        ),
        (
            "SELECT count(*) FROM tpch.nation n WHERE EXISTS \
             (SELECT 1 FROM tpch.customer c WHERE c.c_nationkey = n.n_nationkey)",
            2,
        ),
        (
            "WITH customer AS (SELECT * FROM tpch.customer) SELECT count(*) FROM customer",
            visible,
        ),
        (
            "SELECT (SELECT count(*) FROM tpch.customer WHERE c_nationkey = 1)",
            0,
        ),
    ] {
        if sql.contains("tpch.nation") {
            admin
                .batch_execute("GRANT SELECT ON tpch.nation TO ann")
                .await
                .unwrap();
        }
        assert_eq!(count(&ann, sql).await, want, "{sql}");
    }
    // Prepared statements with parameters, and cursors, take the same path.
    let stmt = ann
        .prepare("SELECT count(*) FROM tpch.customer WHERE c_nationkey = $1")
        .await
        .unwrap();
    let hidden: i64 = ann.query_one(&stmt, &[&1i64]).await.unwrap().get(0);
    assert_eq!(hidden, 0);
    let fetched = column(
        &ann,
        "BEGIN; DECLARE c CURSOR FOR SELECT c_nationkey FROM tpch.customer WHERE c_nationkey = 1; \
         FETCH ALL FROM c; COMMIT",
    )
    .await;
    assert!(fetched.is_empty(), "{fetched:?}");

    // No oracle: a predicate that fails on a hidden row is not evaluated on it.
    let (code, _) = fails(
        &admin,
        "SELECT count(*) FROM tpch.customer WHERE 100 / (c_nationkey - 1) > 0",
    )
    .await;
    assert_eq!(code, "22012", "the probe does divide by zero on nation 1");
    assert_eq!(
        count(
            &ann,
            "SELECT count(*) FROM tpch.customer WHERE 100 / (c_nationkey - 1) > 0"
        )
        .await,
        visible
    );
    assert_eq!(
        count(
            &ann,
            "SELECT count(*) FROM (SELECT * FROM tpch.customer) x WHERE 100 / (c_nationkey - 1) > 0 AND c_acctbal > 0"
        )
        .await,
        visible
    );
    let plan = column(
        &ann,
        "EXPLAIN SELECT * FROM tpch.customer WHERE c_mktsegment = 'BUILDING' AND 1 / c_acctbal > 0",
    )
    .await
    .join("\n");
    // The leakproof conjunct goes down to the scan with the row filter
    // (below the barrier, where EXPLAIN shows nothing: the policy's
    // predicate would name what it hides); the division stays above.
    let barrier = plan.find("RowSecurity").expect("a barrier in the plan");
    let division = plan.find("/ c_acctbal").expect("the division in the plan");
    assert!(division < barrier, "{plan}");
    assert!(!plan.contains("BUILDING"), "{plan}");
    assert!(plan.contains("row security applied"), "{plan}");

    admin
        .batch_execute("DROP POLICY france ON tpch.customer")
        .await
        .unwrap();
    assert_eq!(
        count(&ann, "SELECT count(*) FROM tpch.customer").await,
        expect("c_nationkey = 7 AND c_acctbal > 0").await
    );

    for (sql, code) in [
        ("CREATE POLICY p ON tpch.nowhere USING (true)", "42P01"),
        (
            "CREATE POLICY p ON tpch.customer USING (c_nationkey)",
            "42804",
        ),
        (
            "CREATE POLICY p ON tpch.customer USING (no_such_column = 1)",
            "42703",
        ),
        (
            "CREATE POLICY germany ON tpch.customer USING (true)",
            "42710",
        ),
        (
            "CREATE POLICY p ON tpch.customer TO nobody USING (true)",
            "42704",
        ),
        (
            "CREATE POLICY p ON tpch.customer USING (count(*) > 0)",
            "0A000",
        ),
        ("DROP POLICY nope ON tpch.customer", "42704"),
    ] {
        let (got, msg) = fails(&admin, sql).await;
        assert_eq!(got, code, "{sql}: {msg}");
    }
    admin
        .batch_execute("DROP POLICY IF EXISTS nope ON tpch.customer")
        .await
        .unwrap();
    let (code, _) = fails(&ann, "CREATE POLICY mine ON tpch.customer USING (true)").await;
    assert_eq!(code, "42501", "only the owner sets policies");
}

#[tokio::test]
async fn masked_columns_keep_name_and_type_and_cannot_be_probed() {
    let server = TestServer::start().await;
    let admin = server.client().await;
    admin
        .batch_execute(
            "CREATE ROLE analyst; CREATE USER ann PASSWORD 'pw' IN ROLE analyst;
             GRANT SELECT ON tpch.customer TO analyst;
             ALTER TABLE tpch.customer ALTER COLUMN c_phone SET MASK ('***' || right(c_phone, 4)) FOR analyst;
             ALTER TABLE tpch.customer ALTER COLUMN c_acctbal SET MASK (round(c_acctbal, -3)) FOR analyst",
        )
        .await
        .unwrap();
    let ann = server.connect_as("ann", "pw").await.unwrap();
    let real = column(
        &admin,
        "SELECT c_phone FROM tpch.customer WHERE c_custkey = 1",
    )
    .await;
    let masked = column(
        &ann,
        "SELECT c_phone FROM tpch.customer WHERE c_custkey = 1",
    )
    .await;
    assert_eq!(masked.len(), 1);
    assert_eq!(masked[0], format!("***{}", &real[0][real[0].len() - 4..]));
    let a = admin
        .prepare("SELECT c_phone, c_acctbal FROM tpch.customer")
        .await
        .unwrap();
    let b = ann
        .prepare("SELECT c_phone, c_acctbal FROM tpch.customer")
        .await
        .unwrap();
    let shape = |s: &tokio_postgres::Statement| {
        s.columns()
            .iter()
            .map(|c| (c.name().to_owned(), c.type_().oid()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        shape(&a),
        shape(&b),
        "a masked column keeps its name and type"
    );
    // Filters, grouping and ordering see the masked value.
    let probe = format!(
        "SELECT count(*) FROM tpch.customer WHERE c_phone = '{}'",
        real[0]
    );
    assert_eq!(count(&admin, &probe).await, 1);
    assert_eq!(count(&ann, &probe).await, 0);
    assert_eq!(
        count(
            &ann,
            "SELECT count(*) FROM tpch.customer WHERE c_phone LIKE '***%'"
        )
        .await,
        1500
    );
    let rounded = column(
        &ann,
        "SELECT DISTINCT c_acctbal FROM tpch.customer ORDER BY 1 LIMIT 3",
    )
    .await;
    for v in &rounded {
        let n: f64 = v.parse().unwrap();
        assert_eq!(n % 1000.0, 0.0, "{rounded:?}");
    }
    let top = column(
        &ann,
        "SELECT c_phone FROM tpch.customer GROUP BY c_phone ORDER BY count(*) DESC, 1 LIMIT 1",
    )
    .await;
    assert!(top[0].starts_with("***"), "{top:?}");
    // Copying out copies the masked value.
    admin
        .batch_execute("GRANT CREATE ON SCHEMA lake.public TO ann")
        .await
        .unwrap();
    ann.batch_execute("CREATE TABLE public.phones AS SELECT c_phone FROM tpch.customer")
        .await
        .unwrap();
    assert_eq!(
        count(
            &admin,
            "SELECT count(*) FROM public.phones WHERE c_phone NOT LIKE '***%'"
        )
        .await,
        0
    );

    for (sql, code) in [
        (
            "ALTER TABLE tpch.customer ALTER COLUMN nope SET MASK (1) FOR analyst",
            "42703",
        ),
        (
            "ALTER TABLE tpch.customer ALTER COLUMN c_custkey SET MASK (now()) FOR analyst",
            "42804",
        ),
        (
            "ALTER TABLE tpch.customer ALTER COLUMN c_phone SET MASK (c_phone) FOR nobody",
            "42704",
        ),
        (
            "ALTER TABLE tpch.customer ALTER COLUMN c_name DROP MASK FOR analyst",
            "42704",
        ),
    ] {
        let (got, msg) = fails(&admin, sql).await;
        assert_eq!(got, code, "{sql}: {msg}");
    }
    admin
        .batch_execute("ALTER TABLE tpch.customer ALTER COLUMN c_phone DROP MASK FOR analyst")
        .await
        .unwrap();
    assert_eq!(
        column(
            &ann,
            "SELECT c_phone FROM tpch.customer WHERE c_custkey = 1"
        )
        .await,
        real
    );
    // Metadata tables show column bounds: readable only with all of the
    // table unmasked and unfiltered.
    admin
        .batch_execute(
            "CREATE TABLE public.ledger AS SELECT c_custkey, c_phone FROM tpch.customer;
             GRANT SELECT ON public.ledger TO analyst",
        )
        .await
        .unwrap();
    assert!(count(&ann, "SELECT count(*) FROM public.\"ledger$snapshots\"").await >= 1);
    admin
        .batch_execute("ALTER TABLE public.ledger ALTER COLUMN c_phone SET MASK ('x') FOR analyst")
        .await
        .unwrap();
    let (code, msg) = fails(&ann, "SELECT * FROM public.\"ledger$snapshots\"").await;
    assert_eq!(code, "42501", "{msg}");
    assert_eq!(
        column(&ann, "SELECT DISTINCT c_phone FROM public.ledger").await,
        vec!["x"]
    );
}

#[tokio::test]
async fn configured_admins_replace_the_demo_user() {
    let server = TestServer::start_with(|c| {
        c.auth.users.push(weir_gateway::config::UserConfig {
            name: "admin".into(),
            password: "admin-pw".into(),
            password_file: None,
        })
    })
    .await;
    let err = server.connect_as("weir", "weir").await.unwrap_err();
    assert_eq!(sqlstate(&err), "28P01", "the demo user is gone");
    let admin = server.connect_as("admin", "admin-pw").await.unwrap();
    admin
        .batch_execute("CREATE USER ann PASSWORD 'pw'; ALTER ROLE ann RENAME TO anna")
        .await
        .unwrap();
    // A SCRAM verifier does not depend on the name: the password stays.
    server.connect_as("anna", "pw").await.unwrap();
}

/// psql as `user`, one command: (stdout, stderr).
async fn psql_as(
    server: &TestServer,
    user: &str,
    password: &str,
    command: &str,
) -> (String, String) {
    let (host, port) = (server.addr.ip().to_string(), server.addr.port().to_string());
    let (user, password, command) = (user.to_owned(), password.to_owned(), command.to_owned());
    // The server runs on this test's runtime: psql waits on another thread.
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("psql")
            .env("PGPASSWORD", password)
            .args([
                "-X", "-h", &host, "-p", &port, "-U", &user, "-d", "lake", "-c", &command,
            ])
            .output()
            .expect("psql (scripts/install-test-deps)")
    })
    .await
    .unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn catalog_views_list_only_what_the_user_may_see() {
    let server = TestServer::start().await;
    let admin = server.client().await;
    admin
        .batch_execute(
            "CREATE USER ann WITH PASSWORD 'ann-pw';
             CREATE SCHEMA lake.vis_a; CREATE SCHEMA lake.vis_b; CREATE SCHEMA lake.vis_c;
             CREATE TABLE lake.vis_a.t1 AS SELECT 1 AS x;
             CREATE TABLE lake.vis_a.t2 AS SELECT 1 AS x;
             CREATE TABLE lake.vis_b.t3 AS SELECT 1 AS x, 2 AS y;
             CREATE TABLE lake.vis_c.t4 AS SELECT 1 AS x;
             GRANT SELECT ON lake.vis_a.t1 TO ann;
             GRANT SELECT (x) ON lake.vis_b.t3 TO ann",
        )
        .await
        .unwrap();
    let ann = server.connect_as("ann", "ann-pw").await.unwrap();
    let q = |sql: &'static str| {
        let ann = &ann;
        async move { texts(ann, sql).await }
    };
    assert_eq!(
        q(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables \
           WHERE table_schema LIKE 'vis_%' ORDER BY 1"
        )
        .await,
        vec!["vis_a.t1", "vis_b.t3"]
    );
    assert_eq!(
        q("SELECT schema_name FROM information_schema.schemata \
           WHERE schema_name LIKE 'vis_%' ORDER BY 1")
        .await,
        vec!["vis_a", "vis_b"]
    );
    assert_eq!(
        q("SELECT c.relname FROM pg_catalog.pg_class c \
           JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
           WHERE n.nspname LIKE 'vis_%' ORDER BY 1")
        .await,
        vec!["t1", "t3"]
    );
    assert_eq!(
        q("SELECT nspname FROM pg_catalog.pg_namespace WHERE nspname LIKE 'vis_%' ORDER BY 1")
            .await,
        vec!["vis_a", "vis_b"]
    );
    let (out, err) = psql_as(&server, "ann", "ann-pw", "\\dt vis_*.*").await;
    assert!(out.contains("t1") && out.contains("t3"), "{out}{err}");
    assert!(!out.contains("t2") && !out.contains("t4"), "{out}");
    let (out, _) = psql_as(&server, "weir", "weir", "\\dt vis_*.*").await;
    assert!(
        out.contains("t2") && out.contains("t4"),
        "superusers see all: {out}"
    );

    // A hidden table answers exactly as a missing one.
    let hidden = ann
        .query("SELECT * FROM lake.vis_a.t2", &[])
        .await
        .unwrap_err();
    let missing = ann
        .query("SELECT * FROM lake.vis_a.nope", &[])
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&hidden), "42P01");
    assert_eq!(
        message(&hidden).replace("t2", "X"),
        message(&missing).replace("nope", "X")
    );
    let hidden = ann
        .query("SELECT * FROM lake.vis_c.t4", &[])
        .await
        .unwrap_err();
    let missing = ann
        .query("SELECT * FROM lake.vis_q.t4", &[])
        .await
        .unwrap_err();
    assert_eq!(
        message(&hidden).replace("vis_c", "X"),
        message(&missing).replace("vis_q", "X")
    );

    // Roles are listed, as in PostgreSQL, to everyone.
    admin
        .batch_execute("CREATE ROLE auditors; GRANT auditors TO ann")
        .await
        .unwrap();
    assert_eq!(
        q("SELECT rolname FROM pg_catalog.pg_roles WHERE rolname IN ('ann', 'auditors', 'weir') ORDER BY 1").await,
        vec!["ann", "auditors", "weir"]
    );
    assert_eq!(
        q("SELECT usename FROM pg_catalog.pg_user WHERE usename IN ('ann', 'auditors') ORDER BY 1").await,
        vec!["ann"]
    );
    let (out, err) = psql_as(&server, "ann", "ann-pw", "\\du").await;
    assert!(
        out.contains("ann") && out.contains("auditors") && out.contains("Superuser"),
        "{out}{err}"
    );

    // A grant shows up in the listings at once.
    admin
        .batch_execute("GRANT SELECT ON lake.vis_a.t2 TO ann")
        .await
        .unwrap();
    assert_eq!(
        q("SELECT table_name FROM information_schema.tables WHERE table_schema = 'vis_a' ORDER BY 1")
            .await,
        vec!["t1", "t2"]
    );
}

/// Leak 4 of the governance review: `information_schema.columns` listed
/// columns the user holds no privilege on. PostgreSQL lists only columns
/// the user holds some privilege on; so do `pg_attribute`, psql's `\d` and
/// `SHOW COLUMNS`, while a statement naming such a column still fails with
/// 42501 (not as a missing column).
#[tokio::test]
async fn catalog_views_list_only_columns_the_user_holds_a_privilege_on() {
    let server = TestServer::start().await;
    let admin = server.client().await;
    admin
        .batch_execute(
            "CREATE USER cole WITH PASSWORD 'cole-pw';
             CREATE SCHEMA lake.cols;
             CREATE TABLE lake.cols.pay AS SELECT * FROM (VALUES
               (1, 'ann', 10.5, 'x'), (2, 'bob', 20.5, 'y')) AS v(id, who, secret_amount, note);
             CREATE TABLE lake.cols.wide AS SELECT 1 AS a, 2 AS b, 3 AS hidden_b;
             GRANT SELECT (id, who) ON lake.cols.pay TO cole;
             GRANT SELECT ON lake.cols.wide TO cole;
             DENY SELECT (hidden_b) ON lake.cols.wide TO cole",
        )
        .await
        .unwrap();
    let cole = server.connect_as("cole", "cole-pw").await.unwrap();
    let listed = |table: &'static str| {
        let cole = &cole;
        async move {
            (
                texts(
                    cole,
                    &format!(
                        "SELECT column_name FROM information_schema.columns \
                         WHERE table_schema = 'cols' AND table_name = '{table}' \
                         ORDER BY ordinal_position"
                    ),
                )
                .await,
                texts(
                    cole,
                    &format!(
                        "SELECT a.attname FROM pg_catalog.pg_attribute a \
                         JOIN pg_catalog.pg_class c ON c.oid = a.attrelid \
                         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                         WHERE n.nspname = 'cols' AND c.relname = '{table}' AND a.attnum > 0 \
                         ORDER BY a.attnum"
                    ),
                )
                .await,
            )
        }
    };
    let (columns, attributes) = listed("pay").await;
    assert_eq!(columns, vec!["id", "who"]);
    assert_eq!(attributes, columns);
    let (columns, attributes) = listed("wide").await;
    assert_eq!(columns, vec!["a", "b"]);
    assert_eq!(attributes, columns);
    let shown: Vec<String> = cole
        .simple_query("SHOW COLUMNS FROM lake.cols.pay")
        .await
        .unwrap()
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get("column_name").map(str::to_owned),
            _ => None,
        })
        .collect();
    assert_eq!(shown, vec!["id", "who"]);
    assert_eq!(
        texts(&cole, "DESCRIBE lake.cols.pay").await,
        vec!["id", "who"],
        "DESCRIBE lists as the catalogs do"
    );
    let (out, err) = psql_as(&server, "cole", "cole-pw", "\\d cols.pay").await;
    assert!(out.contains("who") && out.contains("id"), "{out}{err}");
    assert!(!out.contains("secret_amount"), "{out}");

    // Naming the column is still a privilege error, not a missing column.
    let (code, msg) = fails(&cole, "SELECT secret_amount FROM lake.cols.pay").await;
    assert_eq!(code, "42501", "{msg}");
    let (code, msg) = fails(&cole, "SELECT hidden_b FROM lake.cols.wide").await;
    assert_eq!(code, "42501", "{msg}");

    // The superuser lists every column.
    assert_eq!(
        texts(
            &admin,
            "SELECT column_name FROM information_schema.columns \
             WHERE table_schema = 'cols' AND table_name = 'pay' ORDER BY ordinal_position"
        )
        .await,
        vec!["id", "who", "secret_amount", "note"]
    );
    // A grant shows the column at once.
    admin
        .batch_execute("GRANT SELECT (secret_amount) ON lake.cols.pay TO cole")
        .await
        .unwrap();
    assert_eq!(listed("pay").await.0, vec!["id", "who", "secret_amount"]);
}

/// Leak 3 of the governance review: after `RENAME COLUMN` of a masked
/// column the analyst read it unmasked. Rules follow the column: its mask
/// and deny move to the new name, and a row filter naming a renamed column
/// keeps filtering. A mask left on a name the table no longer has (a rename
/// whose rule change never landed) closes the table (42P17), never unmasks.
#[tokio::test]
async fn renamed_columns_keep_their_masks_denies_and_filters() {
    let server = TestServer::start().await;
    let admin = server.client().await;
    admin
        .batch_execute(
            "CREATE USER ana WITH PASSWORD 'ana-pw';
             CREATE SCHEMA lake.ren;
             CREATE TABLE lake.ren.cards AS SELECT * FROM (VALUES
               (1, '4111-1111-1111-1111', 'eu', '123'),
               (2, '5500-0000-0000-0004', 'us', '456'),
               (3, '3400-0000-0000-0009', 'eu', '789')) AS v(id, pan, region, cvv);
             GRANT SELECT ON lake.ren.cards TO ana;
             ALTER TABLE lake.ren.cards ALTER COLUMN pan SET MASK ('****-' || right(pan, 4)) FOR ana;
             DENY SELECT (cvv) ON lake.ren.cards TO ana;
             CREATE POLICY eu ON lake.ren.cards TO ana USING (region = 'eu')",
        )
        .await
        .unwrap();
    let ana = server.connect_as("ana", "ana-pw").await.unwrap();
    let read = |sql: &'static str| {
        let ana = &ana;
        async move {
            ana.query(sql, &[])
                .await
                .map(|rows| {
                    rows.iter()
                        .map(|r| format!("{}:{}", r.get::<_, i64>(0), r.get::<_, String>(1)))
                        .collect::<Vec<_>>()
                })
                .map_err(|e| (sqlstate(&e), message(&e)))
        }
    };
    assert_eq!(
        read("SELECT id, pan FROM lake.ren.cards ORDER BY id").await,
        Ok(vec!["1:****-1111".to_owned(), "3:****-0009".to_owned()])
    );
    admin
        .batch_execute(
            "ALTER TABLE lake.ren.cards RENAME COLUMN pan TO card_no;
             ALTER TABLE lake.ren.cards RENAME COLUMN cvv TO code;
             ALTER TABLE lake.ren.cards RENAME COLUMN region TO area",
        )
        .await
        .unwrap();
    assert_eq!(
        read("SELECT id, card_no FROM lake.ren.cards ORDER BY id").await,
        Ok(vec!["1:****-1111".to_owned(), "3:****-0009".to_owned()]),
        "the mask and the row filter follow their columns"
    );
    assert_eq!(
        read("SELECT id, area FROM lake.ren.cards WHERE card_no LIKE '3400%' ORDER BY id").await,
        Ok(vec![]),
        "the masked value cannot be probed under its new name"
    );
    let (code, msg) = read("SELECT id, code FROM lake.ren.cards")
        .await
        .unwrap_err();
    assert_eq!(code, "42501", "the deny follows cvv to code: {msg}");
    let (code, msg) = read("SELECT id, pan FROM lake.ren.cards")
        .await
        .unwrap_err();
    assert_eq!(code, "42703", "{msg}");
    // The superuser sees the renamed columns whole.
    let all = admin
        .query("SELECT card_no FROM lake.ren.cards ORDER BY id", &[])
        .await
        .unwrap();
    assert_eq!(all[1].get::<_, String>(0), "5500-0000-0000-0004");
    // The stored rules name the new columns.
    let mut conn = catalog_db().await;
    let rules: Vec<(String, String)> = sqlx::query_as(
        "SELECT object, expression FROM weir_access_rules \
         WHERE object LIKE 'lake.ren.cards%' AND subject = 'ana' ORDER BY 1, 2",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(
        rules,
        vec![
            ("lake.ren.cards".to_owned(), String::new()),
            ("lake.ren.cards".to_owned(), "area = 'eu'".to_owned()),
            (
                "lake.ren.cards.card_no".to_owned(),
                "'****-' || right(card_no, 4)".to_owned()
            ),
            ("lake.ren.cards.code".to_owned(), String::new()),
        ]
    );

    // A rule left on a name the table no longer has (as if a server had
    // stopped between the rename and the rule change) closes the table to
    // those it applies to.
    sqlx::query(
        "UPDATE weir_access_rules SET object = 'lake.ren.cards.pan' WHERE object = 'lake.ren.cards.card_no'",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    sqlx::query("UPDATE weir_access_version SET version = version + 1 WHERE id = 1")
        .execute(&mut conn)
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let closed = loop {
        match read("SELECT id, card_no FROM lake.ren.cards ORDER BY id").await {
            Err(e) => break e,
            Ok(rows) => {
                assert!(
                    rows.iter().all(|r| r.contains("****")),
                    "never unmasked: {rows:?}"
                );
                assert!(
                    std::time::Instant::now() < deadline,
                    "the change never arrived"
                );
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    };
    assert_eq!(closed.0, "42P17", "{}", closed.1);
    let (code, _) = read("SELECT id, area FROM lake.ren.cards")
        .await
        .unwrap_err();
    assert_eq!(
        code, "42P17",
        "the whole table is closed to ana, not one column"
    );
    assert_eq!(
        admin
            .query("SELECT card_no FROM lake.ren.cards", &[])
            .await
            .unwrap()
            .len(),
        3,
        "a superuser is not subject to the rule"
    );
}

/// A hidden table or schema answers exactly like a missing one for every
/// statement kind, `IF EXISTS` included; a DROP of an absent name leaves
/// the rule version as it was, and a table created under a dropped one's
/// name starts with only its owner's rule.
#[tokio::test]
async fn hidden_objects_answer_every_statement_as_missing_ones() {
    let server = TestServer::start().await;
    let admin = server.client().await;
    admin
        .batch_execute(
            "CREATE USER hal WITH PASSWORD 'hal-pw';
             CREATE SCHEMA lake.hid; CREATE SCHEMA lake.shown;
             CREATE TABLE lake.hid.secret AS SELECT 1 AS x;
             CREATE TABLE lake.shown.secret AS SELECT 1 AS x;
             CREATE TABLE lake.shown.open AS SELECT 1 AS x;
             GRANT SELECT ON lake.shown.open TO hal",
        )
        .await
        .unwrap();
    let hal = server.connect_as("hal", "hal-pw").await.unwrap();
    // Each pair: the statement on a hidden object, then on a missing one.
    let answer = |sql: String| {
        let hal = &hal;
        async move {
            match hal.simple_query(&sql).await {
                Ok(_) => "ok".to_owned(),
                Err(e) => format!("{} {}", sqlstate(&e), message(&e)),
            }
        }
    };
    // (hidden, missing, the names that differ)
    for (hidden, missing, (h, m)) in [
        ("lake.shown.secret", "lake.shown.nope", ("secret", "nope")),
        ("lake.hid.secret", "lake.nope.secret", ("hid", "nope")),
    ] {
        for template in [
            "DROP TABLE {}",
            "DROP TABLE IF EXISTS {}",
            "ALTER TABLE {} ADD COLUMN y int",
            "ALTER TABLE IF EXISTS {} RENAME COLUMN x TO y",
            "ALTER TABLE {} RENAME COLUMN x TO y",
            "SELECT * FROM {}",
            "INSERT INTO {} VALUES (1)",
            "DESCRIBE {}",
            "GRANT SELECT ON {} TO hal",
            "CREATE POLICY p ON {} USING (true)",
            "ALTER TABLE {} ALTER COLUMN x SET MASK ('0') FOR hal",
        ] {
            let on_hidden = answer(template.replace("{}", hidden)).await;
            let on_missing = answer(template.replace("{}", missing)).await;
            assert_eq!(
                on_hidden.replace(h, "NAME"),
                on_missing.replace(m, "NAME"),
                "{template}: hidden {hidden} vs missing {missing}"
            );
            assert!(!on_hidden.starts_with("XX"), "{template}: {on_hidden}");
        }
    }
    for (hidden, missing) in [("hid", "nope")] {
        for template in [
            "DROP SCHEMA {}",
            "DROP SCHEMA IF EXISTS {}",
            "DROP SCHEMA {} CASCADE",
        ] {
            let on_hidden = answer(template.replace("{}", hidden)).await;
            let on_missing = answer(template.replace("{}", missing)).await;
            assert_eq!(
                on_hidden.replace(hidden, "S"),
                on_missing.replace(missing, "S"),
                "{template}"
            );
        }
    }
    // Nothing was dropped or changed.
    assert_eq!(
        count(&admin, "SELECT count(*) FROM lake.hid.secret").await,
        1
    );
    assert_eq!(
        count(&admin, "SELECT count(*) FROM lake.shown.secret").await,
        1
    );
    // A visible table the user may not drop: a privilege error, as in PostgreSQL.
    let (code, msg) = fails(&hal, "DROP TABLE lake.shown.open").await;
    assert_eq!(code, "42501", "{msg}");
    // IF EXISTS of an absent name says so, and leaves the rules' version.
    let version = || async {
        let mut conn = catalog_db().await;
        sqlx::query_scalar::<_, i64>("SELECT version FROM weir_access_version WHERE id = 1")
            .fetch_one(&mut conn)
            .await
            .unwrap()
    };
    let before = version().await;
    admin
        .batch_execute("DROP TABLE IF EXISTS lake.shown.never; DROP SCHEMA IF EXISTS never")
        .await
        .unwrap();
    assert_eq!(
        version().await,
        before,
        "nothing to forget: the version stays"
    );

    // A table created under a dropped table's name starts with its owner's
    // rule only, even if the drop's rule cleanup never ran.
    admin
        .batch_execute(
            "CREATE POLICY none ON lake.shown.open TO hal USING (false);
             DROP TABLE lake.shown.open",
        )
        .await
        .unwrap();
    let mut conn = catalog_db().await;
    // As if the server had stopped before forgetting: put a rule back.
    sqlx::query(
        "INSERT INTO weir_access_rules \
         (kind, subject, object, action, effect, grant_option, name, expression, grantor) \
         VALUES ('privilege', 'hal', 'lake.shown.open', 'select', 'allow', 0, '', '', 'weir')",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    sqlx::query("UPDATE weir_access_version SET version = version + 1 WHERE id = 1")
        .execute(&mut conn)
        .await
        .unwrap();
    admin
        .batch_execute("CREATE TABLE lake.shown.open AS SELECT 2 AS x")
        .await
        .unwrap();
    let (code, msg) = fails(&hal, "SELECT * FROM lake.shown.open").await;
    assert_eq!(
        code, "42P01",
        "the old grant did not attach to the new table: {msg}"
    );
}

#[tokio::test]
async fn prepared_statements_follow_rule_changes_made_after_they_were_prepared() {
    let server = TestServer::start().await;
    let admin = server.client().await;
    admin
        .batch_execute(
            "CREATE USER pat WITH PASSWORD 'pat-pw';
             CREATE SCHEMA lake.prep; CREATE TABLE lake.prep.t AS
               SELECT * FROM (VALUES (1, 'one'), (2, 'two')) AS v(id, label);
             GRANT SELECT ON lake.prep.t TO pat",
        )
        .await
        .unwrap();
    let pat = server.connect_as("pat", "pat-pw").await.unwrap();
    let stmt = pat
        .prepare("SELECT label FROM lake.prep.t WHERE id >= $1 ORDER BY id")
        .await
        .unwrap();
    let labels = |rows: Vec<tokio_postgres::Row>| -> Vec<String> {
        rows.iter().map(|r| r.get::<_, String>(0)).collect()
    };
    assert_eq!(
        labels(pat.query(&stmt, &[&1i64]).await.unwrap()),
        vec!["one", "two"]
    );
    // A mask and a row filter added later apply to the statement prepared before.
    admin
        .batch_execute(
            "ALTER TABLE lake.prep.t ALTER COLUMN label SET MASK ('x') FOR pat;
             CREATE POLICY only_two ON lake.prep.t TO pat USING (id = 2)",
        )
        .await
        .unwrap();
    assert_eq!(labels(pat.query(&stmt, &[&1i64]).await.unwrap()), vec!["x"]);
    // A REVOKE does too: the table is gone for the old statement.
    admin
        .batch_execute("REVOKE SELECT ON lake.prep.t FROM pat")
        .await
        .unwrap();
    let e = pat.query(&stmt, &[&1i64]).await.unwrap_err();
    assert_eq!(sqlstate(&e), "42P01", "{}", message(&e));
}

#[tokio::test]
async fn sixty_bypass_attempts_leak_nothing() {
    let server = TestServer::start().await;
    let admin = server.client().await;
    admin
        .batch_execute(
            "CREATE USER eve WITH PASSWORD 'eve-pw';
             CREATE SCHEMA lake.byp;
             CREATE TABLE lake.byp.emp AS SELECT * FROM (VALUES
               (1, 'Real-Ann', 1000, 'SSN-111', 'eng'),
               (2, 'Real-Bob', 2000, 'SSN-222', 'eng'),
               (3, 'Real-Zed', 5000, 'SSN-333', 'hush')) AS v(id, name, salary, ssn, dept);
             CREATE TABLE lake.byp.secret AS SELECT 'secret-marker' AS v;
             GRANT SELECT (id, name, salary, dept) ON lake.byp.emp TO eve;
             ALTER TABLE lake.byp.emp ALTER COLUMN name SET MASK ('***') FOR eve;
             CREATE POLICY not_hush ON lake.byp.emp TO eve USING (dept <> 'hush')",
        )
        .await
        .unwrap();
    let eve = server.connect_as("eve", "eve-pw").await.unwrap();
    common::bypass::Target {
        catalog: "lake",
        schema: "byp",
    }
    .assert_nothing_leaks(&eve)
    .await;
}

/// The lake's governed table for the twin suite: `lake.gv.emp`, an Iceberg
/// table written in three commits (three files, three snapshots), its
/// twin `lake.gvt.emp` and the ungoverned `lake.gv.dept_info`; `eve` holds
/// the rules the suite's module describes.
async fn twin_lake(server: &TestServer) -> (Client, Client, common::twin::Tables) {
    use common::twin;
    let admin = server.client().await;
    admin
        .batch_execute(&format!(
            "CREATE USER eve PASSWORD 'eve-pw';
             CREATE SCHEMA lake.gv;
             CREATE SCHEMA lake.gvt;
             CREATE TABLE lake.gv.emp (id INT, name VARCHAR, salary INT, ssn VARCHAR, dept VARCHAR);
             CREATE TABLE lake.gvt.emp (id INT, name VARCHAR, salary INT, dept VARCHAR);
             CREATE TABLE lake.gv.dept_info AS SELECT * FROM (VALUES {}) AS v(dept, budget)",
            twin::dept_info_rows()
        ))
        .await
        .unwrap();
    let rows = twin::fixture();
    for insert in twin::inserts("lake.gv.emp", &rows, true)
        .into_iter()
        .chain(twin::inserts("lake.gvt.emp", &twin::visible(&rows), false))
    {
        admin.batch_execute(&insert).await.unwrap();
    }
    admin
        .batch_execute(&format!(
            "GRANT SELECT (id, name, salary, dept) ON lake.gv.emp TO eve;
             GRANT SELECT ON lake.gv.dept_info TO eve;
             ALTER TABLE lake.gv.emp ALTER COLUMN name SET MASK ({}) FOR eve;
             CREATE POLICY visible ON lake.gv.emp TO eve USING ({})",
            twin::MASK,
            twin::FILTER
        ))
        .await
        .unwrap();
    assert_eq!(
        common::count(&admin, "SELECT count(*) FROM lake.gv.\"emp$snapshots\"").await,
        3
    );
    let eve = server.connect_as("eve", "eve-pw").await.unwrap();
    let tables = twin::Tables {
        source: "lake",
        emp: "lake.gv.emp".into(),
        twin: "lake.gvt.emp".into(),
        dept: "lake.gv.dept_info".into(),
        strict: true,
    };
    (eve, admin, tables)
}

/// Generated attempts (see `common::twin`) answer as the same SQL over a
/// twin the rules cannot influence: rows, order, counts, errors.
#[tokio::test]
async fn generated_attempts_answer_as_the_twin_does_on_the_lake() {
    let server = TestServer::start().await;
    let (eve, admin, tables) = twin_lake(&server).await;
    let report = common::twin::run(&eve, &admin, &tables, common::twin::cases_for(40)).await;
    common::twin::assert_clean(&tables, &report);
    common::assert_no_server_panic();
}

/// The canary: with the row filter dropped, and then with the mask
/// dropped, the same suite must find the difference, proving it can fail.
#[tokio::test]
async fn the_twin_suite_fails_against_a_weakened_gate() {
    let server = TestServer::start().await;
    let (eve, admin, tables) = twin_lake(&server).await;
    admin
        .batch_execute("DROP POLICY visible ON lake.gv.emp")
        .await
        .unwrap();
    let report = common::twin::run(&eve, &admin, &tables, 100).await;
    assert!(
        report.failures.len() >= 10,
        "without the row filter only {} of 100 cases disagreed",
        report.failures.len()
    );
    admin
        .batch_execute(&format!(
            "CREATE POLICY visible ON lake.gv.emp TO eve USING ({});
             ALTER TABLE lake.gv.emp ALTER COLUMN name DROP MASK FOR eve",
            common::twin::FILTER
        ))
        .await
        .unwrap();
    let report = common::twin::run(&eve, &admin, &tables, 100).await;
    let masked = report
        .failures
        .iter()
        .filter(|(_, sql, ..)| sql.contains("name"))
        .count();
    assert!(
        masked >= 5 && masked == report.failures.len(),
        "without the mask {masked} of {} disagreeing cases name the masked column",
        report.failures.len()
    );
}
