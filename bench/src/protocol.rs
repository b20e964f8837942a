//! The runners' JSON-lines protocol with the harness.

use std::future::Future;
use std::time::Instant;

use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// One request from the harness.
#[derive(Debug, Deserialize)]
pub struct Request {
    pub sql: String,
    /// `binary` (extended protocol, binary results) or `text` (simple
    /// protocol); ignored by the in-process runner.
    #[serde(default)]
    pub format: Format,
    /// Return the answer itself: every cell as PostgreSQL's text form
    /// (`null` for NULL), for the harness to compare engines cell by cell.
    #[serde(default)]
    pub answer: bool,
}

#[derive(Debug, Default, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    #[default]
    Binary,
    Text,
}

/// What running one statement produced.
#[derive(Debug, Default)]
pub struct Outcome {
    pub rows: u64,
    /// Payload bytes received (the wire runner: DataRow message bytes).
    pub bytes: u64,
    /// The rows, when the request asked for the answer.
    pub answer: Option<Vec<Vec<Option<String>>>>,
}

/// Answer requests from stdin until it closes: `run` executes one request.
pub async fn serve<F, Fut>(mut run: F) -> Result<(), String>
where
    F: FnMut(Request) -> Fut,
    Fut: Future<Output = Result<Outcome, String>>,
{
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut stdout = tokio::io::stdout();
    // Tell the harness we are connected and ready.
    write_line(&mut stdout, &serde_json::json!({"ok": true, "ready": true})).await?;
    while let Some(line) = lines
        .next_line()
        .await
        .map_err(|e| format!("reading stdin: {e}"))?
    {
        if line.trim().is_empty() {
            continue;
        }
        let answer = match serde_json::from_str::<Request>(&line) {
            Err(e) => serde_json::json!({"ok": false, "error": format!("bad request: {e}")}),
            Ok(request) => {
                let started = Instant::now();
                match run(request).await {
                    Ok(outcome) => {
                        let mut answer = serde_json::json!({
                            "ok": true,
                            "rows": outcome.rows,
                            "bytes": outcome.bytes,
                            "ms": started.elapsed().as_secs_f64() * 1000.0,
                        });
                        if let Some(rows) = outcome.answer {
                            answer["answer"] = serde_json::json!(rows);
                        }
                        answer
                    }
                    Err(error) => serde_json::json!({"ok": false, "error": error}),
                }
            }
        };
        write_line(&mut stdout, &answer).await?;
    }
    Ok(())
}

async fn write_line(out: &mut tokio::io::Stdout, value: &serde_json::Value) -> Result<(), String> {
    let mut line = value.to_string();
    line.push('\n');
    out.write_all(line.as_bytes())
        .await
        .map_err(|e| format!("writing stdout: {e}"))?;
    out.flush()
        .await
        .map_err(|e| format!("writing stdout: {e}"))
}
