//! Memory for sorts, joins and aggregations: one pool for the server, a
//! limit per statement inside it, and spill files in the data directory.
//!
//! The server's pool is DataFusion's `FairSpillPool`: operators that can
//! spill (sort, hash aggregate, sort-merge join) share what is left fairly
//! and write to disk when their share is used; the others take what is
//! free. Each statement draws through a [`StatementPool`] that refuses to
//! grow past the statement's own limit, so one statement fails with 53200
//! (or spills) long before it can take the memory other sessions need.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::memory_pool::{
    FairSpillPool, MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation,
};
use datafusion::physical_plan::joins::HashJoinExec;
use datafusion::physical_plan::ExecutionPlan;

/// A statement's share of the server's pool: a fair spill pool of its own
/// (so a statement's sorts and aggregations share its limit fairly, and
/// spill before they starve each other's merge buffers), drawing every byte
/// from the server's pool as well.
#[derive(Debug)]
pub struct StatementPool {
    own: FairSpillPool,
    server: Arc<dyn MemoryPool>,
    limit: usize,
}

impl StatementPool {
    /// At most `limit` bytes of `server`.
    pub fn new(server: Arc<dyn MemoryPool>, limit: usize) -> Self {
        Self {
            own: FairSpillPool::new(limit),
            server,
            limit,
        }
    }
}

impl MemoryPool for StatementPool {
    fn register(&self, consumer: &MemoryConsumer) {
        self.own.register(consumer);
        self.server.register(consumer);
    }

    fn unregister(&self, consumer: &MemoryConsumer) {
        self.own.unregister(consumer);
        self.server.unregister(consumer);
    }

    fn grow(&self, reservation: &MemoryReservation, additional: usize) {
        self.own.grow(reservation, additional);
        self.server.grow(reservation, additional);
    }

    fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
        self.own.shrink(reservation, shrink);
        self.server.shrink(reservation, shrink);
    }

    fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> DfResult<()> {
        self.own
            .try_grow(reservation, additional)
            .map_err(|e| match e {
                DataFusionError::ResourcesExhausted(m) => {
                    DataFusionError::ResourcesExhausted(format!(
                        "the statement needs more than its limit of {} \
                         (query.statement_memory_limit_mb): {m}",
                        mib(self.limit)
                    ))
                }
                other => other,
            })?;
        if let Err(e) = self.server.try_grow(reservation, additional) {
            self.own.shrink(reservation, additional);
            return Err(match e {
                DataFusionError::ResourcesExhausted(m) => DataFusionError::ResourcesExhausted(
                    format!("the server's query memory (query.memory_limit_mb) is in use: {m}"),
                ),
                other => other,
            });
        }
        Ok(())
    }

    fn reserved(&self) -> usize {
        self.own.reserved()
    }

    fn memory_limit(&self) -> MemoryLimit {
        MemoryLimit::Finite(self.limit)
    }
}

/// Whether `plan` builds a hash table for a join: DataFusion's hash join
/// keeps its whole build side in memory and cannot spill.
pub fn has_hash_join(plan: &Arc<dyn ExecutionPlan>) -> bool {
    plan.as_any().is::<HashJoinExec>() || plan.children().into_iter().any(has_hash_join)
}

/// Whether `err` is, at its root, a memory reservation that was refused.
pub fn is_out_of_memory(err: &DataFusionError) -> bool {
    match err {
        DataFusionError::ResourcesExhausted(_) => true,
        DataFusionError::Context(_, inner) | DataFusionError::Diagnostic(_, inner) => {
            is_out_of_memory(inner)
        }
        DataFusionError::Shared(inner) => is_out_of_memory(inner),
        DataFusionError::Collection(errs) => errs.iter().any(is_out_of_memory),
        DataFusionError::External(e) => e
            .downcast_ref::<DataFusionError>()
            .is_some_and(is_out_of_memory),
        _ => false,
    }
}

fn mib(bytes: usize) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

/// The memory this machine (or its cgroup) gives the process, in bytes.
pub fn machine_memory() -> Option<u64> {
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok());
    let total = std::fs::read_to_string("/proc/meminfo").ok().and_then(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
    });
    match (cgroup, total) {
        (Some(c), Some(t)) => Some(c.min(t)),
        (c, t) => c.or(t),
    }
}

/// Create the spill directory and remove what a server that did not exit
/// cleanly left in it (DataFusion's `datafusion-*` folders).
pub fn prepare_spill_dir(dir: &Path) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    for entry in std::fs::read_dir(dir)?.flatten() {
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with("datafusion-")
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    Ok(dir.to_path_buf())
}
