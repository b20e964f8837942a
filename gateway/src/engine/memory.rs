//! Memory for sorts, joins and aggregations: one pool for the server, a
//! limit per statement inside it, and spill files in the data directory.
//!
//! The server's pool is DataFusion's `FairSpillPool`: operators that can
//! spill (sort, hash aggregate, sort-merge join) share what is left fairly
//! and write to disk when their share is used; the others take what is
//! free. Each statement draws through a [`StatementPool`] that refuses to
//! grow past the statement's own limit, so one statement fails with 53200
//! (or spills) long before it can take the memory other sessions need.

use std::cell::Cell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::memory_pool::{
    FairSpillPool, MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation, TrackConsumersPool,
};
use datafusion::physical_plan::joins::HashJoinExec;
use datafusion::physical_plan::ExecutionPlan;

/// How many of a statement's largest memory consumers a 53200 names.
const TOP_CONSUMERS: std::num::NonZeroUsize = std::num::NonZeroUsize::MIN.saturating_add(3);

/// A statement's share of the server's pool: a fair spill pool of its own
/// (so a statement's sorts and aggregations share its limit fairly, and
/// spill before they starve each other's merge buffers), drawing every byte
/// from the server's pool as well.
#[derive(Debug)]
pub struct StatementPool {
    own: TrackConsumersPool<FairSpillPool>,
    server: Arc<dyn MemoryPool>,
    limit: usize,
    sorts: Mutex<Sorts>,
}

/// What a statement's sorts hold, to keep their merges of spill files
/// within bounds (see [`StatementPool::try_grow`]).
///
/// DataFusion 53's sort has two consumers per partition:
/// `ExternalSorter[p]` (its buffered batches; spillable) and
/// `ExternalSorterMerge[p]` (merge buffers; not spillable). Once a sort has
/// spilled everything and merges its spill files, it reserves read buffers
/// for as many files as the pool allows, and that memory cannot spill: left
/// alone it takes the whole statement's limit and the statement's other
/// sorts starve (53200 "128 KB remain"), e.g. the second side of a
/// sort-merge join.
#[derive(Debug, Default)]
struct Sorts {
    /// Bytes each sorter holds, by consumer id.
    sorters: HashMap<usize, usize>,
    /// Each merge consumer's sorter and how many times its reservation
    /// grew since it was last empty.
    merges: HashMap<usize, Merge>,
    /// Bytes all merges hold.
    merging: usize,
}

#[derive(Debug)]
struct Merge {
    sorter: usize,
    grows: usize,
}

thread_local! {
    /// The sorter registered last on this thread: DataFusion registers a
    /// sort's merge consumer right after its sorter, on the same thread.
    static LAST_SORTER: Cell<Option<usize>> = const { Cell::new(None) };
}

#[derive(Clone, Copy, PartialEq)]
enum SortRole {
    Sorter,
    Merge,
}

fn sort_role(consumer: &MemoryConsumer) -> Option<SortRole> {
    let name = consumer.name();
    if consumer.can_spill() && name.starts_with("ExternalSorter[") {
        Some(SortRole::Sorter)
    } else if !consumer.can_spill() && name.starts_with("ExternalSorterMerge[") {
        Some(SortRole::Merge)
    } else {
        None
    }
}

impl Sorts {
    fn register(&mut self, consumer: &MemoryConsumer, role: SortRole) {
        match role {
            SortRole::Sorter => {
                self.sorters.insert(consumer.id(), 0);
                LAST_SORTER.with(|last| last.set(Some(consumer.id())));
            }
            SortRole::Merge => {
                if let Some(sorter) = LAST_SORTER.with(Cell::take) {
                    self.merges
                        .insert(consumer.id(), Merge { sorter, grows: 0 });
                }
            }
        }
    }

    fn unregister(&mut self, consumer: &MemoryConsumer) {
        self.sorters.remove(&consumer.id());
        self.merges.remove(&consumer.id());
    }

    /// `reservation` (of `role`, holding `before` bytes) grew or shrank.
    fn changed(
        &mut self,
        reservation: &MemoryReservation,
        role: SortRole,
        bytes: usize,
        grown: bool,
    ) {
        let id = reservation.consumer().id();
        let before = reservation.size();
        match role {
            SortRole::Sorter => {
                if let Some(held) = self.sorters.get_mut(&id) {
                    *held = if grown {
                        *held + bytes
                    } else {
                        held.saturating_sub(bytes)
                    };
                }
            }
            SortRole::Merge => {
                self.merging = if grown {
                    self.merging + bytes
                } else {
                    self.merging.saturating_sub(bytes)
                };
                if let (true, Some(merge)) = (grown, self.merges.get_mut(&id)) {
                    merge.grows = if before == 0 { 1 } else { merge.grows + 1 };
                }
            }
        }
    }

    /// Whether a merge may take `additional` more bytes: the first two
    /// files of each merge always (a merge needs two); past that, while its
    /// sort merges spill files only (its sorter holds nothing or is gone), all merges
    /// of the statement together keep to `cap`, and the rest of the files
    /// are merged in further passes.
    fn admits(&self, reservation: &MemoryReservation, additional: usize, cap: usize) -> bool {
        let Some(merge) = self.merges.get(&reservation.consumer().id()) else {
            return true;
        };
        let grows = if reservation.size() == 0 {
            0
        } else {
            merge.grows
        };
        // A sort that spilled everything holds nothing as a sorter, or has
        // let go of its sorter altogether.
        let spill_files_only = self
            .sorters
            .get(&merge.sorter)
            .is_none_or(|&held| held == 0);
        grows < 2 || !spill_files_only || self.merging + additional <= cap
    }
}

impl StatementPool {
    /// At most `limit` bytes of `server`.
    pub fn new(server: Arc<dyn MemoryPool>, limit: usize) -> Self {
        Self {
            own: TrackConsumersPool::new(FairSpillPool::new(limit), TOP_CONSUMERS),
            server,
            limit,
            sorts: Mutex::new(Sorts::default()),
        }
    }

    fn sorts(&self) -> std::sync::MutexGuard<'_, Sorts> {
        self.sorts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn track(&self, reservation: &MemoryReservation, bytes: usize, grown: bool) {
        if let Some(role) = sort_role(reservation.consumer()) {
            self.sorts().changed(reservation, role, bytes, grown);
        }
    }
}

impl MemoryPool for StatementPool {
    fn register(&self, consumer: &MemoryConsumer) {
        self.own.register(consumer);
        self.server.register(consumer);
        if let Some(role) = sort_role(consumer) {
            self.sorts().register(consumer, role);
        }
    }

    fn unregister(&self, consumer: &MemoryConsumer) {
        self.own.unregister(consumer);
        self.server.unregister(consumer);
        if sort_role(consumer).is_some() {
            self.sorts().unregister(consumer);
        }
    }

    fn grow(&self, reservation: &MemoryReservation, additional: usize) {
        self.own.grow(reservation, additional);
        self.server.grow(reservation, additional);
        self.track(reservation, additional, true);
    }

    fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
        self.own.shrink(reservation, shrink);
        self.server.shrink(reservation, shrink);
        self.track(reservation, shrink, false);
    }

    fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> DfResult<()> {
        let role = sort_role(reservation.consumer());
        if role == Some(SortRole::Merge)
            && !self.sorts().admits(reservation, additional, self.limit / 2)
        {
            return Err(DataFusionError::ResourcesExhausted(format!(
                "{} may not take more than {} for merging spill files",
                reservation.consumer().name(),
                mib(self.limit / 2)
            )));
        }
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
        if let Some(role) = role {
            self.sorts().changed(reservation, role, additional, true);
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
