//! The memory store made durable by a data directory: every accepted batch is queued to the
//! write-ahead log, applied while the log writes it, and acknowledged only once it is written;
//! on start the log is replayed through the same store; checkpoints bound what a restart reads
//! to the live data.
//!
//! Ordering: a put holds the apply gate (shared) from its append until it is applied. A
//! checkpoint takes the gate alone just long enough to start a new wal file, so every record
//! in the files before it has been applied when the store is copied out, and those files can go.

use super::control::ControlStore;
use super::log::payload::{self, Trace};
use super::log::record::Kind;
use super::log::{Log, Replay};
use super::memory::MemStore;
use super::{
    IngestDoc, Partition, StoreError, StoreStats, StoredTrace, SummaryPage, SummaryQuery,
    TraceStore,
};
use crate::graph::Graph;
use crate::model::segment::Rejection;
use crate::model::summary::TraceSummary;
use crate::model::time::Clock;
use crate::model::{Micros, TraceId};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// When to write a checkpoint and how much disk to use.
#[derive(Debug, Clone)]
pub struct CheckpointPolicy {
    /// Write one once the wal files since the last hold this much and more than the last
    /// checkpoint did (so a restart reads at most about twice the live data).
    pub min_wal_bytes: u64,
    /// The directory's bound; `u64::MAX` for none.
    pub max_disk_bytes: u64,
    pub check_every: Duration,
}

impl Default for CheckpointPolicy {
    fn default() -> Self {
        CheckpointPolicy {
            min_wal_bytes: 256 << 20,
            max_disk_bytes: u64::MAX,
            check_every: Duration::from_secs(5),
        }
    }
}

/// How the replay of a data directory is going, for `/health`.
#[derive(Debug, Default)]
pub struct Recovery {
    pub running: AtomicBool,
    pub bytes_read: AtomicU64,
    pub bytes_total: AtomicU64,
    pub records: AtomicU64,
    pub skipped_documents: AtomicU64,
    pub torn_bytes: AtomicU64,
    pub millis: AtomicU64,
    pub checkpoints: AtomicU64,
}

impl Recovery {
    pub fn snapshot(&self) -> serde_json::Value {
        serde_json::json!({
            "recovering": self.running.load(Relaxed),
            "replayed_bytes": self.bytes_read.load(Relaxed),
            "replay_total_bytes": self.bytes_total.load(Relaxed),
            "replayed_records": self.records.load(Relaxed),
            "skipped_documents": self.skipped_documents.load(Relaxed),
            "torn_bytes_cut": self.torn_bytes.load(Relaxed),
            "replay_seconds": self.millis.load(Relaxed) as f64 / 1e3,
            "checkpoints": self.checkpoints.load(Relaxed),
        })
    }
}

pub struct DurableStore {
    mem: Arc<MemStore>,
    log: Arc<Log>,
    control: Arc<ControlStore>,
    clock: Arc<dyn Clock>,
    gate: tokio::sync::RwLock<()>,
    pub recovery: Arc<Recovery>,
    policy: CheckpointPolicy,
}

impl DurableStore {
    pub fn new(
        mem: Arc<MemStore>,
        log: Arc<Log>,
        control: Arc<ControlStore>,
        clock: Arc<dyn Clock>,
        policy: CheckpointPolicy,
    ) -> DurableStore {
        let recovery = Arc::new(Recovery::default());
        recovery.running.store(true, Relaxed);
        DurableStore {
            mem,
            log,
            control,
            clock,
            gate: tokio::sync::RwLock::new(()),
            recovery,
            policy,
        }
    }

    pub fn log(&self) -> &Arc<Log> {
        &self.log
    }

    pub fn control(&self) -> &Arc<ControlStore> {
        &self.control
    }

    /// Replays what the directory holds into the memory and control stores; the store
    /// answers `Unavailable` until this returns.
    pub fn recover(&self, replay: Replay) -> Result<(), super::log::LogError> {
        let started = Instant::now();
        let rec = &self.recovery;
        rec.bytes_total.store(replay.total_bytes, Relaxed);
        let counts = Arc::new(super::replay::Counts::default());
        let mut replayer =
            super::replay::Replayer::new(self.mem.clone(), self.control.clone(), counts.clone());
        let done = replay.run(|kind, p| replayer.apply(kind, p), &|bytes| {
            rec.bytes_read.store(bytes, Relaxed);
            rec.records.store(counts.records.load(Relaxed), Relaxed);
        });
        replayer.finish();
        let done = done?;
        rec.records.store(counts.records.load(Relaxed), Relaxed);
        rec.skipped_documents
            .store(counts.skipped.load(Relaxed), Relaxed);
        rec.bytes_read.store(done.bytes, Relaxed);
        rec.torn_bytes.store(done.torn_bytes, Relaxed);
        rec.millis
            .store(started.elapsed().as_millis() as u64, Relaxed);
        let stats = self.mem.stats();
        tracing::info!(
            records = done.records,
            traces = stats.traces,
            documents = stats.documents,
            seconds = started.elapsed().as_secs_f64(),
            "recovered the data directory"
        );
        rec.running.store(false, Relaxed);
        Ok(())
    }

    fn replayed(&self) -> Result<(), StoreError> {
        if self.recovery.running.load(Relaxed) {
            let (read, total) = (
                self.recovery.bytes_read.load(Relaxed),
                self.recovery.bytes_total.load(Relaxed),
            );
            return Err(StoreError::Unavailable(format!(
                "the gateway is replaying its data directory ({} of {} MB read); retry shortly",
                read >> 20,
                total.max(read) >> 20
            )));
        }
        Ok(())
    }

    /// Writes a checkpoint when the wal has grown past the policy; returns whether it did.
    pub async fn maybe_checkpoint(self: &Arc<Self>) -> Result<bool, StoreError> {
        if self.recovery.running.load(Relaxed) {
            return Ok(false);
        }
        let st = &self.log.stats;
        let wal = st.wal_bytes.load(Relaxed);
        let ckpt = st.checkpoint_bytes.load(Relaxed);
        let p = &self.policy;
        let grown = wal >= p.min_wal_bytes.min(p.max_disk_bytes / 3) && wal > ckpt;
        let crowded = p.max_disk_bytes != u64::MAX && wal + ckpt > p.max_disk_bytes / 3 * 2;
        if !(grown || crowded) {
            return Ok(false);
        }
        self.checkpoint().await.map(|_| true)
    }

    /// Copies every live trace and control state into a new checkpoint; the wal files and the
    /// checkpoint it replaces are then deleted.
    pub async fn checkpoint(self: &Arc<Self>) -> Result<u64, StoreError> {
        let unavailable = |e: super::log::LogError| StoreError::Unavailable(e.to_string());
        let (n, states) = {
            let _alone = self.gate.write().await;
            let (rolled, states) = self.control.export_at(|| self.log.queue_roll());
            (rolled.wait().await.map_err(unavailable)?, states)
        };
        let me = self.clone();
        let started = Instant::now();
        let bytes = tokio::task::spawn_blocking(move || {
            me.log.write_checkpoint(n, |out| {
                let mut buf = Vec::with_capacity(64 << 10);
                for (part, state) in &states {
                    buf.clear();
                    payload::control_record(&mut buf, Kind::ControlState, part, state);
                    out(&buf)?;
                }
                me.mem.export(|t| {
                    buf.clear();
                    payload::trace_record(
                        &mut buf,
                        &Trace {
                            part: t.part.clone(),
                            received: t.received,
                            revision: t.revision,
                            limit_exceeded: t.limit_exceeded,
                            docs: t.docs.to_vec(),
                        },
                    );
                    out(&buf)
                })
            })
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("the checkpoint stopped: {e}")))?
        .map_err(unavailable)?;
        self.recovery.checkpoints.fetch_add(1, Relaxed);
        tracing::info!(
            number = n,
            bytes,
            seconds = started.elapsed().as_secs_f64(),
            "wrote a checkpoint of the data directory"
        );
        Ok(bytes)
    }
}

#[async_trait::async_trait]
impl TraceStore for DurableStore {
    async fn put(
        &self,
        part: &Partition,
        batch: &[IngestDoc<'_>],
    ) -> Result<Vec<Option<Rejection>>, StoreError> {
        self.replayed()?;
        let now = self.clock.now_micros();
        let raws: Vec<&str> = batch.iter().map(|d| d.raw).collect();
        let mut record = Vec::with_capacity(raws.iter().map(|r| r.len() + 4).sum::<usize>() + 64);
        payload::docs_record(&mut record, part, now, &raws);
        let _applying = self.gate.read().await;
        // Applied while the writer writes; acknowledged only once it has. Should the write
        // fail, the documents stay readable until a restart without having been acknowledged,
        // and the client's retry (an identical re-send) is logged like any other batch.
        let written = self.log.append(record);
        let results = self.mem.put_at(part, batch, now);
        written
            .wait()
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(results)
    }

    async fn existing(
        &self,
        part: &Partition,
        ids: &[TraceId],
    ) -> Result<Vec<TraceId>, StoreError> {
        self.replayed()?;
        self.mem.existing(part, ids).await
    }

    async fn get_traces(
        &self,
        part: &Partition,
        ids: &[TraceId],
    ) -> Result<Vec<StoredTrace>, StoreError> {
        self.replayed()?;
        self.mem.get_traces(part, ids).await
    }

    async fn scan_summaries(
        &self,
        part: &Partition,
        q: &SummaryQuery,
    ) -> Result<SummaryPage, StoreError> {
        self.replayed()?;
        self.mem.scan_summaries(part, q).await
    }

    async fn graph_minutes(
        &self,
        part: &Partition,
        start: Micros,
        end: Micros,
        visit: &mut (dyn for<'g> FnMut(i64, &'g Graph) + Send),
    ) -> Result<(), StoreError> {
        self.replayed()?;
        self.mem.graph_minutes(part, start, end, visit).await
    }

    async fn summaries(
        &self,
        part: &Partition,
        ids: &[TraceId],
    ) -> Result<Vec<(TraceId, Arc<TraceSummary>)>, StoreError> {
        self.replayed()?;
        self.mem.summaries(part, ids).await
    }

    async fn sweep(&self) -> Result<u64, StoreError> {
        self.replayed()?;
        self.mem.sweep().await
    }

    fn stats(&self) -> StoreStats {
        self.mem.stats()
    }

    fn ready(&self) -> Result<(), StoreError> {
        self.replayed()
    }
}
