//! Where statements run: a Tokio runtime of their own.
//!
//! DataFusion's operators are CPU-bound, and some of them (a nested-loop
//! join whose filter rarely matches, a big in-memory sort) work for seconds
//! in one poll. On the runtime that accepts connections, answers startup,
//! reads protocol messages and delivers CancelRequests, such a poll stalls
//! all of those. So, as DataFusion documents for mixing CPU and I/O work,
//! query execution runs on a second runtime:
//!
//! ```text
//!  I/O runtime (main)                       query runtime ("weir-query-N")
//!  listener, startup, protocol loops,       execute_stream(plan) and every
//!  cancel requests, catalog commits   ◀──   task DataFusion spawns for it
//!  QueryStream ◀── channel of 2 batches ──  driver task
//! ```
//!
//! The channel gives backpressure (a slow client holds the plan back);
//! dropping the `QueryStream` cancels the statement's token (checked inside
//! long-running operators, see [`super::guard`]) and aborts the driver, whose
//! spawned tasks abort with it. The query runtime has one worker per core
//! (at least two): long-running operators yield and check their token, so
//! a heavy statement leaves workers to the others.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::ExecutionPlan;
use futures::{FutureExt, Stream, StreamExt};
use tokio::runtime::{Handle, Runtime};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::DropGuard;

use super::admission::Permit;

/// Stack of every thread that plans or runs statements. Planning recurses
/// over expressions; DataFusion grows its stack on the heap where it
/// recurses (`recursive_protection`), the rest (sqlparser's visitors, drop
/// glue, Weir's renderers) needs room for the deepest expression Weir
/// accepts (see [`crate::statements::depth`]).
pub const STACK_SIZE: usize = 64 << 20;

/// The runtime queries execute on.
pub struct QueryRuntime {
    runtime: Option<Runtime>,
    handle: Handle,
}

impl std::fmt::Debug for QueryRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryRuntime").finish_non_exhaustive()
    }
}

impl QueryRuntime {
    /// A runtime with `threads` workers.
    pub fn new(threads: usize) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name_fn(|| {
                static NEXT: std::sync::atomic::AtomicUsize =
                    std::sync::atomic::AtomicUsize::new(0);
                let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                format!("weir-query-{n}")
            })
            .thread_stack_size(STACK_SIZE)
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        Ok(Self {
            runtime: Some(runtime),
            handle,
        })
    }

    /// Worker threads for `cores` cores: one per core, at least two, so a
    /// statement stuck in a long poll leaves a worker for the others (its
    /// long-running operators yield and check their token, see
    /// [`super::guard`]). More workers than cores cost throughput: TPC-H
    /// SF 1 on 2 cores took 1.14x DataFusion's time with 8 workers, 1.11x
    /// with 4 and 0.99x with 2 (`bench/run --suite tpch`).
    pub fn default_threads(cores: usize) -> usize {
        cores.max(2)
    }

    /// Start `plan` on the query runtime, its long-running operators
    /// guarded by a token that fires when the returned stream is dropped.
    /// `slot` (an admission permit) lives as long as the stream.
    pub fn execute(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        task: Arc<TaskContext>,
        slot: Option<Permit>,
    ) -> DfResult<SendableRecordBatchStream> {
        let (plan, cancel) = super::guard::protect(plan)?;
        let schema = plan.schema();
        let (tx, rx) = mpsc::channel(2);
        let token = cancel.clone();
        let driver = async move {
            let mut stream = match datafusion::physical_plan::execute_stream(plan, task) {
                Ok(s) => s,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return Ok(());
                }
            };
            loop {
                let next = tokio::select! {
                    biased;
                    _ = token.cancelled() => return Err(canceled()),
                    next = stream.next() => next,
                };
                let Some(item) = next else { return Ok(()) };
                let failed = item.is_err();
                if tx.send(item).await.is_err() || failed {
                    return Ok(());
                }
            }
        };
        let driver = self.handle.spawn(catch_panic(driver));
        Ok(Box::pin(QueryStream {
            schema,
            rx,
            driver,
            done: false,
            _cancel: cancel.drop_guard(),
            _slot: slot,
        }))
    }

    /// Run `fut` on the query runtime and wait for it. Dropping the returned
    /// future aborts `fut` at its next await point.
    pub async fn run<T: Send + 'static>(
        &self,
        fut: impl Future<Output = DfResult<T>> + Send + 'static,
    ) -> DfResult<T> {
        let task = AbortOnDrop(self.handle.spawn(fut));
        task.await
    }
}

impl Drop for QueryRuntime {
    fn drop(&mut self) {
        // Dropping a runtime may block, which panics inside another
        // runtime; this does not wait for the workers.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Run `fut`, a CPU-heavy part of a session's work (planning), without
/// holding up the connection-serving runtime's worker: on a multi-thread
/// runtime the worker's other tasks move to a fresh thread while this one
/// plans (`block_in_place`); on a current-thread runtime (in-process tests)
/// it simply runs.
pub async fn cpu_bound<F: Future>(fut: F) -> F::Output {
    use tokio::runtime::RuntimeFlavor;
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(|| handle.block_on(fut))
        }
        _ => fut.await,
    }
}

/// The text of a caught panic.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}

/// The error a statement's work ends with once its token fired.
pub fn canceled() -> DataFusionError {
    DataFusionError::Execution("canceling statement due to user request".into())
}

/// A panic in a statement's driver becomes that statement's error.
async fn catch_panic(fut: impl Future<Output = DfResult<()>>) -> DfResult<()> {
    std::panic::AssertUnwindSafe(fut)
        .catch_unwind()
        .await
        .unwrap_or_else(|panic| {
            let what = panic_message(panic.as_ref());
            tracing::error!(panic = %what, "statement panicked");
            Err(DataFusionError::Internal(format!(
                "the statement panicked: {what}"
            )))
        })
}

/// A task that is aborted when its handle is dropped; its result, or why it
/// did not finish.
struct AbortOnDrop<T>(JoinHandle<DfResult<T>>);

impl<T> Future for AbortOnDrop<T> {
    type Output = DfResult<T>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.poll_unpin(cx).map(|joined| match joined {
            Ok(result) => result,
            Err(e) => Err(join_error(e)),
        })
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn join_error(e: tokio::task::JoinError) -> DataFusionError {
    if e.is_panic() {
        let what = panic_message(e.into_panic().as_ref());
        tracing::error!(panic = %what, "statement panicked");
        DataFusionError::Internal(format!("the statement panicked: {what}"))
    } else {
        DataFusionError::Execution("the statement was stopped (the server is shutting down)".into())
    }
}

/// The rows of a statement running on the query runtime.
struct QueryStream {
    schema: SchemaRef,
    rx: mpsc::Receiver<DfResult<RecordBatch>>,
    driver: JoinHandle<DfResult<()>>,
    /// The driver has been seen to end.
    done: bool,
    _cancel: DropGuard,
    _slot: Option<Permit>,
}

impl Stream for QueryStream {
    type Item = DfResult<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(item)) => Poll::Ready(Some(item)),
            Poll::Pending => Poll::Pending,
            // The channel closed: the driver finished, or died. Only a
            // clean finish ends the rows; anything else is an error, never
            // a silently short result.
            Poll::Ready(None) => match self.driver.poll_unpin(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(joined) => {
                    self.done = true;
                    match joined {
                        Ok(Ok(())) => Poll::Ready(None),
                        Ok(Err(e)) => Poll::Ready(Some(Err(e))),
                        Err(e) => Poll::Ready(Some(Err(join_error(e)))),
                    }
                }
            },
        }
    }
}

impl RecordBatchStream for QueryStream {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }
}

impl Drop for QueryStream {
    fn drop(&mut self) {
        self.driver.abort();
    }
}
