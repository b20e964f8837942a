//! Where a test's lake lives: a local directory, or a bucket on a real
//! S3-protocol server (moto_server, from the test virtualenv) on loopback.
//! Tests written against [`TestLake`] run on both.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// moto_server on a free loopback port; killed on drop.
pub struct S3Server {
    child: Child,
    pub port: u16,
}

impl S3Server {
    pub fn start() -> Self {
        let python = std::env::var("WEIR_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
        let bin = std::path::Path::new(&python).with_file_name("moto_server");
        assert!(
            bin.exists(),
            "{} is missing: run scripts/test, which installs moto into the test virtualenv",
            bin.display()
        );
        // Port 0: moto binds a free port itself and prints it ("Running on
        // http://127.0.0.1:PORT"), so no port is picked, released and
        // bound again (another process could take it in between).
        let mut child = Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            let mut sent = false;
            // Read to the end: moto must never block on a full pipe.
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if !sent {
                    if let Some(port) = line
                        .split("Running on http://127.0.0.1:")
                        .nth(1)
                        .and_then(|p| p.trim().parse::<u16>().ok())
                    {
                        let _ = tx.send(port);
                        sent = true;
                    }
                }
            }
        });
        let port = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("moto_server did not start");
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not listen");
            std::thread::sleep(Duration::from_millis(100));
        }
        Self { child, port }
    }

    /// A request with a dummy signature (moto checks none, but refuses a
    /// DELETE without one); returns the status and the response body.
    pub fn exchange(&self, method: &str, path: &str, body: &[u8]) -> (u16, String) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: {}\r\n\
             Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0\r\n\
             Connection: close\r\n\r\n",
            self.port,
            body.len()
        )
        .unwrap();
        s.write_all(body).unwrap();
        let mut response = Vec::new();
        let _ = s.read_to_end(&mut response);
        let response = String::from_utf8_lossy(&response).into_owned();
        let status = response
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        (status, body)
    }

    /// `[lake]` configuration for `location` on this server, with keys.
    pub fn config(&self, location: &str) -> String {
        format!(
            "{}access_key_id = \"testing\"\nsecret_access_key = \"testing-secret\"\n",
            self.config_without_keys(location)
        )
    }

    /// `[lake]` configuration for `location` on this server, no keys.
    pub fn config_without_keys(&self, location: &str) -> String {
        format!(
            "[lake]\nlocation = \"{location}\"\n[lake.s3]\nendpoint = \"http://127.0.0.1:{}\"\npath_style = true\nregion = \"us-east-1\"\nmax_retries = 1\nretry_timeout_secs = 5\n",
            self.port
        )
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A lake for one test: its files can be put, listed, overwritten and
/// deleted behind Weir's back, as a user or another tool would.
pub enum TestLake {
    /// `<dir>/lake` of the Weir process's temporary directory.
    Local(PathBuf),
    /// Bucket `lake`, prefix `warehouse`, on a moto server.
    S3(S3Server),
}

impl TestLake {
    pub fn local(weir_dir: &std::path::Path) -> Self {
        Self::Local(weir_dir.join("lake"))
    }

    pub fn s3() -> Self {
        let s3 = S3Server::start();
        assert_eq!(s3.exchange("PUT", "/lake", b"").0, 200);
        Self::S3(s3)
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::Local(_) => "local",
            Self::S3(_) => "s3",
        }
    }

    /// The lines that put Weir's lake here.
    pub fn config(&self) -> String {
        match self {
            Self::Local(dir) => format!("[lake]\nlocation = \"{}\"\n", dir.display()),
            Self::S3(s3) => s3.config("s3://lake/warehouse"),
        }
    }

    /// The URI of `key` (relative to the lake's root) as SQL would name it.
    pub fn uri(&self, key: &str) -> String {
        match self {
            Self::Local(dir) => format!("{}/{key}", dir.display()),
            Self::S3(_) => format!("s3://lake/warehouse/{key}"),
        }
    }

    /// Write `bytes` at `key`.
    pub fn put(&self, key: &str, bytes: &[u8]) {
        match self {
            Self::Local(dir) => {
                let path = dir.join(key);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(path, bytes).unwrap();
            }
            Self::S3(s3) => {
                let (status, body) = s3.exchange("PUT", &format!("/lake/warehouse/{key}"), bytes);
                assert_eq!(status, 200, "{body}");
            }
        }
    }

    /// Remove `key`.
    pub fn delete(&self, key: &str) {
        match self {
            Self::Local(dir) => std::fs::remove_file(dir.join(key)).unwrap(),
            Self::S3(s3) => {
                let (status, body) = s3.exchange("DELETE", &format!("/lake/warehouse/{key}"), b"");
                assert_eq!(status, 204, "{body}");
            }
        }
    }

    /// Keys under `prefix`, relative to the lake's root, sorted.
    pub fn list(&self, prefix: &str) -> Vec<String> {
        let mut keys = match self {
            Self::Local(dir) => {
                let mut out = Vec::new();
                let mut stack = vec![dir.join(prefix)];
                while let Some(d) = stack.pop() {
                    let Ok(entries) = std::fs::read_dir(&d) else {
                        continue;
                    };
                    for entry in entries.flatten() {
                        let path = entry.path();
                        if path.is_dir() {
                            stack.push(path);
                        } else {
                            let rel = path.strip_prefix(dir).unwrap();
                            out.push(rel.to_string_lossy().into_owned());
                        }
                    }
                }
                out
            }
            Self::S3(s3) => {
                let (status, body) = s3.exchange(
                    "GET",
                    &format!("/lake?list-type=2&prefix=warehouse/{prefix}"),
                    b"",
                );
                assert_eq!(status, 200, "{body}");
                body.split("<Key>")
                    .skip(1)
                    .filter_map(|k| k.split("</Key>").next())
                    .map(|k| k.trim_start_matches("warehouse/").to_owned())
                    .collect()
            }
        };
        keys.sort();
        keys
    }
}
