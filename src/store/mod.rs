//! Where traces live: the seam between the X-Ray rules and the storage that keeps what they
//! decide. Validation and processed documents sit above it; the rules (`crate::rules`) are
//! pure. A backend implements [`TraceStore`]:
//!
//! - **load and commit one trace's change atomically** (`put`): for each trace of a batch, it
//!   answers `rules::decide` through a `rules::HeldTrace` view of what it holds, then writes
//!   the whole `rules::Decision` (documents added or replaced, refusals, the new summary, index
//!   terms swapped, graph contributions withdrawn and added, links to resolve) with nothing
//!   else touching that trace in between (the memory store holds the trace's shard lock; a
//!   database would lock the trace's row for the transaction);
//! - point reads (`existing`, `get_traces`, `summaries`);
//! - time-ordered scans with the filter's candidates (`scan_summaries`);
//! - the per-minute graph sums (`graph_minutes`; the service graph and the series are summed
//!   from them here);
//! - retention (`sweep`).
//!
//! Everything a backend persists is values (documents' texts, names, strings), never the
//! interner's process-local handles: summaries are derived again from the documents on load, or
//! stored with their strings (`intern::portable`). `memory` is the embedded store; `durable`
//! puts it behind a write-ahead log; `postgres` keeps everything in PostgreSQL for several
//! stateless gateways.

pub mod control;
pub mod durable;
pub mod log;
pub mod memory;
pub mod postgres;
mod replay;

use crate::model::segment::{Rejection, ValidDoc};
use crate::model::selection::TraceFilter;
use crate::model::summary::TraceSummary;
use crate::model::{Micros, SegmentId, TraceId};
use std::sync::Arc;

mod partition;
pub use partition::{DEFAULT_ACCOUNT, DEFAULT_REGION, Partition};

/// A validated document on its way into a store, with the text it was validated from.
pub struct IngestDoc<'a> {
    pub raw: &'a str,
    pub doc: ValidDoc<'a>,
}

/// A stored top-level document as read back.
#[derive(Debug, Clone)]
pub struct StoredDocument {
    pub id: SegmentId,
    pub is_segment: bool,
    pub parent_id: Option<SegmentId>,
    pub json: String,
}

#[derive(Debug, Clone)]
pub struct StoredTrace {
    pub trace_id: TraceId,
    pub docs: Vec<StoredDocument>,
    /// Earliest start and latest end (or start, while in progress) of its documents.
    pub start: Micros,
    pub last: Micros,
    pub limit_exceeded: bool,
}

impl StoredTrace {
    pub fn duration_secs(&self) -> f64 {
        crate::model::time::micros_to_secs(self.last.saturating_sub(self.start))
    }
}

/// Which time of a trace a GetTraceSummaries window applies to (spec §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeRangeType {
    /// When the trace started.
    TraceId,
    /// Traces active in the window: first event before its end, last event after its start.
    Event,
    /// Traces whose latest segment end falls in the window.
    Service,
}

/// A position in a newest-first scan: results continue strictly below `(key, trace_id)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub key: Micros,
    pub trace_id: TraceId,
}

#[derive(Clone)]
pub struct SummaryQuery {
    pub range: TimeRangeType,
    pub start: Micros,
    pub end: Micros,
    pub after: Option<Cursor>,
    pub limit: usize,
    /// Keep only traces whose id hash falls below this fraction (FixedRate sampling).
    pub sample_rate: Option<f64>,
    /// Keep only traces this filter accepts.
    pub filter: Option<Arc<dyn TraceFilter>>,
}

#[derive(Debug, Clone)]
pub struct SummaryItem {
    pub trace_id: TraceId,
    pub key: Micros,
    pub revision: u32,
    pub summary: Arc<TraceSummary>,
}

#[derive(Debug, Clone, Default)]
pub struct SummaryPage {
    pub items: Vec<SummaryItem>,
    /// Traces looked at for this page, matching or not.
    pub scanned: u64,
    pub next: Option<Cursor>,
    /// Set when the page stopped at the scan budget rather than at its size: the time the
    /// scan reached (what X-Ray reports as `ApproximateTime`).
    pub reached: Option<Micros>,
}

#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct StoreStats {
    pub traces: u64,
    pub documents: u64,
    pub bytes: u64,
    pub evicted_traces: u64,
    /// Bytes of packed documents and summaries actually held.
    pub packed_bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
}

#[async_trait::async_trait]
pub trait TraceStore: Send + Sync + 'static {
    /// Stores a batch: each trace's documents go through `rules::decide` against what the
    /// store holds of the trace, and the decision is committed atomically per trace. Returns
    /// one entry per input document: `None` when stored (or already there), `Some` when refused.
    async fn put(
        &self,
        part: &Partition,
        batch: &[IngestDoc<'_>],
    ) -> Result<Vec<Option<Rejection>>, StoreError>;

    /// The IDs among `ids` that have a trace, in the order given.
    async fn existing(&self, part: &Partition, ids: &[TraceId])
    -> Result<Vec<TraceId>, StoreError>;

    async fn get_traces(
        &self,
        part: &Partition,
        ids: &[TraceId],
    ) -> Result<Vec<StoredTrace>, StoreError>;

    async fn scan_summaries(
        &self,
        part: &Partition,
        q: &SummaryQuery,
    ) -> Result<SummaryPage, StoreError>;

    /// Visits, in time order, the per-minute graph sums of the minutes `[start, end)` touches
    /// (minutes are numbered by `rules::graph_minute`; the sums are what `rules` contributed
    /// at ingest).
    async fn graph_minutes(
        &self,
        part: &Partition,
        start: Micros,
        end: Micros,
        visit: &mut (dyn for<'g> FnMut(i64, &'g crate::graph::Graph) + Send),
    ) -> Result<(), StoreError>;

    /// The service graph of the traces that started in the minutes `[start, end)` touches.
    async fn service_graph(
        &self,
        part: &Partition,
        start: Micros,
        end: Micros,
    ) -> Result<crate::graph::Graph, StoreError> {
        let mut out = crate::graph::Graph::default();
        self.graph_minutes(part, start, end, &mut |_, g| out.merge(g))
            .await?;
        Ok(out)
    }

    /// Minute by minute over `[start, end)`: what `select` picks out of each minute's graph.
    async fn graph_series(
        &self,
        part: &Partition,
        start: Micros,
        end: Micros,
        select: &(dyn for<'g> Fn(&'g crate::graph::Graph) -> crate::graph::Stats + Sync),
    ) -> Result<Vec<(Micros, crate::graph::Stats)>, StoreError> {
        let mut out = Vec::new();
        self.graph_minutes(part, start, end, &mut |m, g| {
            out.push((crate::rules::minute_start(m), select(g)))
        })
        .await?;
        Ok(out)
    }

    /// The summaries of the traces among `ids` that exist.
    async fn summaries(
        &self,
        part: &Partition,
        ids: &[TraceId],
    ) -> Result<Vec<(TraceId, Arc<TraceSummary>)>, StoreError>;

    /// Applies retention; returns how many traces were dropped.
    async fn sweep(&self) -> Result<u64, StoreError>;

    /// `Unavailable` while the store cannot answer yet (a data directory being replayed).
    fn ready(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn stats(&self) -> StoreStats;
}
#[cfg(test)]
mod conformance;
