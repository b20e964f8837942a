#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The `weir` command's surface: help, the startup line, and clear non-zero
//! exits on a bad config, a taken port, an unusable data directory and an
//! unsafe listen address.

mod common;

use std::process::{Command, Output};

fn weir(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(args)
        .env_remove("WEIR_LISTEN")
        .env_remove("WEIR_DATA_DIR")
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn help_documents_every_flag() {
    let top = weir(&["--help"]);
    assert!(top.status.success());
    let text = String::from_utf8_lossy(&top.stdout);
    assert!(text.contains("serve"), "{text}");
    let serve = weir(&["serve", "--help"]);
    let text = String::from_utf8_lossy(&serve.stdout);
    for flag in ["--config", "--listen", "--data-dir"] {
        assert!(text.contains(flag), "{flag} missing from:\n{text}");
    }
}

#[test]
fn a_bad_config_file_is_named_with_the_offending_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("weir.toml");
    std::fs::write(&config, "[server]\nlisten_on = \"127.0.0.1:1\"\n").unwrap();
    let out = weir(&["serve", "--config", config.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("invalid config file") && err.contains("listen_on"),
        "{err}"
    );

    let out = weir(&[
        "serve",
        "--config",
        dir.path().join("missing.toml").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("cannot read config file"),
        "{}",
        stderr(&out)
    );

    std::fs::write(
        &config,
        "[[auth.users]]\nname = \"a\"\npassword = \"${WEIR_TEST_UNSET_SECRET}\"\n",
    )
    .unwrap();
    let out = weir(&["serve", "--config", config.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("WEIR_TEST_UNSET_SECRET"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_taken_port_is_reported() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let out = weir(&[
        "serve",
        "--listen",
        &addr,
        "--data-dir",
        dir.path().join("d").to_str().unwrap(),
        "--config",
        write_no_demo(&dir).as_str(),
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&format!("cannot listen on {addr}")) && err.contains("another server"),
        "{err}"
    );
}

#[test]
fn an_unusable_data_dir_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let out = weir(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        file.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("data directory") && err.contains("not-a-dir"),
        "{err}"
    );
}

#[test]
fn non_loopback_addresses_need_real_users() {
    let dir = tempfile::tempdir().unwrap();
    let out = weir(&[
        "serve",
        "--listen",
        "0.0.0.0:0",
        "--data-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("non-loopback"), "{}", stderr(&out));
}

fn write_no_demo(dir: &tempfile::TempDir) -> String {
    let config = dir.path().join("no-demo.toml");
    std::fs::write(&config, "[demo]\ntpch_scale_factor = 0\n").unwrap();
    config.to_str().unwrap().to_owned()
}

#[test]
fn startup_prints_one_line_with_a_psql_command() {
    let weir = common::WeirProcess::spawn();
    assert!(
        weir.line.contains("listening on 127.0.0.1:"),
        "{}",
        weir.line
    );
    assert!(
        weir.line.contains("psql \"postgresql://weir@127.0.0.1:"),
        "{}",
        weir.line
    );
    assert!(
        weir.dir.path().join("data/lake").is_dir(),
        "data dir created on first start"
    );
}

/// Start `weir serve` with `args` and `env`, read its startup line, stop it.
fn startup_line(args: &[&str], env: &[(&str, &str)]) -> String {
    use std::io::{BufRead, BufReader};
    let mut command = Command::new(env!("CARGO_BIN_EXE_weir"));
    command
        .arg("serve")
        .args(args)
        .env_remove("WEIR_LISTEN")
        .env_remove("WEIR_DATA_DIR")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    assert!(!line.is_empty(), "no startup line: {}", stderr(&out));
    line
}

#[test]
fn configuration_layers_defaults_then_file_then_environment_then_flags() {
    let dir = tempfile::tempdir().unwrap();
    let d = |name: &str| dir.path().join(name).display().to_string();
    // Each layer listens on its own loopback address (port 0: no port is
    // picked and released for a later bind).
    let config = dir.path().join("weir.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.2:0\"\ndata_dir = \"{}\"\n\
             [demo]\ntpch_scale_factor = 0\n",
            d("from-file")
        ),
    )
    .unwrap();
    let config = config.display().to_string();
    let listening = |line: &str, ip: &str| line.contains(&format!("listening on {ip}:"));

    // The file over the defaults.
    let line = startup_line(&["--config", &config], &[]);
    assert!(listening(&line, "127.0.0.2"), "{line}");
    assert!(dir.path().join("from-file/lake").is_dir());
    // The environment over the file.
    let env = [
        ("WEIR_LISTEN", "127.0.0.3:0"),
        ("WEIR_DATA_DIR", &d("from-env")),
    ];
    let line = startup_line(&["--config", &config], &env);
    assert!(listening(&line, "127.0.0.3"), "{line}");
    assert!(dir.path().join("from-env/lake").is_dir());
    // Flags over the environment.
    let line = startup_line(
        &[
            "--config",
            &config,
            "--listen",
            "127.0.0.4:0",
            "--data-dir",
            &d("from-flag"),
        ],
        &env,
    );
    assert!(listening(&line, "127.0.0.4"), "{line}");
    assert!(dir.path().join("from-flag/lake").is_dir());
}
