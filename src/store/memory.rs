//! The embedded store: traces in memory, sharded by trace ID. Each shard keeps time-ordered
//! indexes for the three GetTraceSummaries range types and an inverted index of summary facts
//! for filter expressions. Eviction takes the oldest trace of the shard whose oldest start
//! is the earliest, which each shard publishes after every change.
//!
//! Documents are kept as received, in per-shard blocks packed with zstd (`blocks`). Each trace
//! keeps its summary, recomputed from its documents whenever a batch changes it: a few hot fields
//! unpacked (what broad filters and every scan need) and the whole summary encoded into the
//! shard's summary blocks, decoded only for filters that need detail and for the results
//! returned. Queries never parse stored JSON.

mod blocks;
mod keyed;
pub mod persist;
mod postings;
pub mod resident;
mod scan;

use super::{
    IngestDoc, Partition, StoreError, StoreStats, StoredDocument, StoredTrace, SummaryPage,
    SummaryQuery, TraceStore,
};
use crate::graph::Graph;
use crate::model::segment::{DocKind, Rejection};
use crate::model::selection::{Term, index_terms};
use crate::model::summary::{Hot, TraceSummary};
use crate::model::time::Clock;
use crate::model::{Micros, SegmentId, TraceId};
use crate::rules::{self, HeldDoc, Step};
use blocks::{Blocks, Loc, Packing, Text, Unpacker};
use parking_lot::{Mutex, RwLock};
use postings::Postings;
use rustc_hash::FxHashMap;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

/// Few enough that a put of 50 documents finds several in each shard it locks, and that each
/// shard's open blocks and newest index entries stay in cache; enough that writers on many
/// cores rarely wait for each other. With 64, a put touched a cold shard for nearly every
/// document.
const SHARDS: usize = 16;
/// Memory a stored document and a trace take beyond their blocks' bytes and the inverted
/// index (which counts its own, `Postings::held_bytes`): entries, time indexes, allocator
/// rounding, so that the accounted size follows resident memory; calibrated against resident
/// memory with `examples/loadgen.rs fill` and `fill --realistic` (one document per trace) and
/// `examples/otlp_load.rs` (four per trace), rounded up.
const DOC_OVERHEAD: u64 = 40;
const TRACE_OVERHEAD: u64 = 340;

/// Bounds of the memory store; whichever is reached first evicts the oldest traces.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Traces not updated for this long are dropped (X-Ray keeps 30 days).
    pub retention_micros: Micros,
    pub max_traces: u64,
    /// Accounted bytes: packed documents and summaries, the inverted index, and a fixed
    /// overhead per document and per trace.
    pub max_bytes: u64,
    /// X-Ray stops accepting segments for a trace past about 500 KB.
    pub max_trace_bytes: u64,
    /// Bytes of documents as received, at most (what a data directory holds of them);
    /// `u64::MAX` for no bound.
    pub max_raw_bytes: u64,
    /// Traces each shard looks at for one page of a filtered query before it stops and
    /// reports how far it got (16 shards: about 130,000 traces a page by default).
    pub scan_budget_per_shard: usize,
    /// Whether `max_bytes` bounds the process's resident memory (see `resident`), not only
    /// the store's accounted bytes: what the gateway sets; tests with tiny bounds do not.
    pub bound_resident: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            retention_micros: 30 * 24 * 3600 * 1_000_000,
            max_traces: 1_000_000,
            max_bytes: 2 << 30,
            max_trace_bytes: 500 * 1024,
            max_raw_bytes: u64::MAX,
            scan_budget_per_shard: 8192,
            bound_resident: false,
        }
    }
}

struct Doc {
    id: SegmentId,
    /// `parent_id`, 0 for none (an all-zero id is not a valid reference).
    parent: u64,
    is_segment: bool,
    complete: bool,
    text: Loc,
}

impl Doc {
    fn new(d: &IngestDoc<'_>, blocks: &mut Blocks, held: &mut i64) -> Doc {
        Doc {
            id: d.doc.id,
            parent: d.doc.parent_id.map_or(0, |p| p.0),
            is_segment: d.doc.kind == DocKind::Segment,
            complete: !d.doc.in_progress(),
            text: blocks.append(d.raw.as_bytes(), held),
        }
    }

    fn parent_id(&self) -> Option<SegmentId> {
        (self.parent != 0).then_some(SegmentId(self.parent))
    }
}

struct TraceEntry {
    /// Inline when there is one, as for most traces (one segment per request).
    docs: smallvec::SmallVec<[Doc; 1]>,
    hot: Hot,
    /// The whole summary, encoded (`TraceSummary::encode`), in the shard's summary blocks.
    summary: Option<Loc>,
    revision: u32,
    ordinal: u32,
    raw_bytes: u64,
    /// Wall-clock time of the last change, for retention.
    received: Micros,
    limit_exceeded: bool,
}

impl TraceEntry {
    fn start(&self) -> Micros {
        self.hot.start
    }

    fn last(&self) -> Micros {
        self.hot.last
    }

    /// The whole summary, read under the shard's lock.
    fn full(&self, summaries: &Blocks, unpacker: &mut Unpacker) -> TraceSummary {
        self.summary_text(summaries).read(unpacker)
    }

    /// The summary up to what most filters need (`TraceSummary::decode_head`).
    fn head(&self, summaries: &Blocks, unpacker: &mut Unpacker) -> TraceSummary {
        let text = self.summary_text(summaries);
        text.text
            .as_ref()
            .and_then(|t| TraceSummary::decode_head(unpacker.bytes(t)))
            .unwrap_or_else(|| TraceSummary::from_hot(&self.hot))
    }

    /// What `full` reads, taken under the lock to be unpacked and decoded after it.
    fn summary_text(&self, summaries: &Blocks) -> SummaryText {
        SummaryText {
            text: self.summary.map(|loc| summaries.text(loc)),
            hot: self.hot,
        }
    }
}

/// A trace's encoded summary as read under its shard's lock, with its hot fields.
struct SummaryText {
    text: Option<Text>,
    hot: Hot,
}

impl SummaryText {
    /// The whole summary (the hot fields alone if it cannot be read back).
    fn read(&self, unpacker: &mut Unpacker) -> TraceSummary {
        self.text
            .as_ref()
            .and_then(|t| TraceSummary::decode(unpacker.bytes(t)))
            .unwrap_or_else(|| TraceSummary::from_hot(&self.hot))
    }
}

/// A trace as the rules read it, under its shard's lock.
struct MemHeld<'a> {
    entry: &'a TraceEntry,
    is_new: bool,
    blocks: &'a Blocks,
    summaries: &'a Blocks,
    unpacker: Unpacker,
}

impl rules::HeldTrace for MemHeld<'_> {
    fn doc_count(&self) -> usize {
        self.entry.docs.len()
    }

    fn doc(&self, i: usize) -> HeldDoc {
        let d = &self.entry.docs[i];
        HeldDoc {
            id: d.id,
            complete: d.complete,
            len: d.text.len as u64,
        }
    }

    fn raw_bytes(&self) -> u64 {
        self.entry.raw_bytes
    }

    fn same_text(&mut self, i: usize, raw: &str) -> bool {
        self.blocks
            .holds(self.entry.docs[i].text, raw.as_bytes(), &mut self.unpacker)
    }

    fn text(&mut self, i: usize) -> String {
        self.unpacker
            .string(&self.blocks.text(self.entry.docs[i].text))
    }

    fn summary(&mut self) -> Option<TraceSummary> {
        (!self.is_new).then(|| self.entry.full(self.summaries, &mut self.unpacker))
    }
}

type Key = (u16, TraceId);
type IndexKey = (u16, Micros, TraceId);

struct Shard {
    traces: keyed::Keyed<Key, TraceEntry>,
    by_start: BTreeSet<IndexKey>,
    by_last: BTreeSet<IndexKey>,
    postings: Postings,
    /// Document texts.
    blocks: Blocks,
    /// Encoded trace summaries, apart from the documents so that scans unpack only these.
    summaries: Blocks,
    /// The summary block eviction read last. Eviction takes the oldest trace of one shard or
    /// another, whose summary mostly lies in the block of the one evicted before it from the
    /// same shard: kept from one put to the next, a block is unpacked once, not once per
    /// evicted trace (which made zstd most of the cost of a put at the memory bound).
    evicting: Unpacker,
}

impl Default for Shard {
    fn default() -> Self {
        Shard {
            traces: keyed::Keyed::default(),
            by_start: BTreeSet::new(),
            by_last: BTreeSet::new(),
            postings: Postings::default(),
            blocks: Blocks::new(Packing::DOCUMENTS),
            summaries: Blocks::new(Packing::SUMMARIES),
            evicting: Unpacker::keeping(1),
        }
    }
}

/// A span link waiting to be resolved: the linking entity's service and start, and the span
/// it points at (in a trace that may not have arrived yet).
#[derive(Debug, Clone, Copy)]
struct PendingLink {
    pid: u16,
    target: TraceId,
    span: u64,
    from: crate::model::intern::Sid,
    start: Micros,
    /// The graph minute of the linking trace.
    bucket: i64,
}

/// Links waiting for their target trace, at most this many.
const MAX_PENDING_LINKS: usize = 100_000;

/// Changes a put made, applied to the global counters after the shard unlocks.
#[derive(Default)]
struct Delta {
    traces: i64,
    docs: i64,
    bytes: i64,
    /// Bytes of documents as received.
    raw: i64,
    packed: i64,
    /// Graph contributions by (partition, minute of trace start).
    graph: FxHashMap<(u16, i64), Graph>,
    /// Span links the put brought, to resolve once the shards are unlocked.
    links: Vec<PendingLink>,
    /// Traces the put changed, which links may be waiting for.
    arrived: Vec<(u16, TraceId)>,
}

pub struct MemStore {
    shards: Box<[Mutex<Shard>]>,
    parts: RwLock<FxHashMap<Partition, u16>>,
    /// Per shard, the earliest start among its traces (`Micros::MAX` when it holds none).
    heads: Box<[AtomicI64]>,
    /// How many partitions there are (they are numbered from 0).
    part_count: AtomicU64,
    /// The service graph summed per (partition, minute of trace start).
    graphs: Mutex<std::collections::BTreeMap<(u16, i64), Graph>>,
    /// Span links whose target trace (or span) has not arrived, by target trace.
    pending_links: Mutex<FxHashMap<(u16, TraceId), Vec<PendingLink>>>,
    pending_count: AtomicU64,
    limits: Limits,
    clock: Arc<dyn Clock>,
    traces: AtomicU64,
    docs: AtomicU64,
    bytes: AtomicU64,
    evicted: AtomicU64,
    packed: AtomicU64,
    raw: AtomicU64,
    /// Readings of resident memory, when `max_bytes` bounds it.
    resident: Option<resident::Resident>,
}

fn shard_of(t: &TraceId) -> usize {
    (t.mix64() % SHARDS as u64) as usize
}

/// What a trace counts against `max_bytes` besides its documents' share of the blocks.
fn fixed_size(e: &TraceEntry) -> u64 {
    e.docs.len() as u64 * DOC_OVERHEAD + TRACE_OVERHEAD
}

impl MemStore {
    pub fn new(limits: Limits, clock: Arc<dyn Clock>) -> MemStore {
        let resident = limits.bound_resident.then(resident::Resident::of_process);
        MemStore::with_resident(limits, clock, resident)
    }

    /// A store whose `max_bytes` also bounds what `resident` reads.
    pub fn with_resident(
        limits: Limits,
        clock: Arc<dyn Clock>,
        resident: Option<resident::Resident>,
    ) -> MemStore {
        MemStore {
            resident,
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            parts: RwLock::new(FxHashMap::default()),
            heads: (0..SHARDS).map(|_| AtomicI64::new(Micros::MAX)).collect(),
            part_count: AtomicU64::new(0),
            graphs: Mutex::new(std::collections::BTreeMap::new()),
            pending_links: Mutex::new(FxHashMap::default()),
            pending_count: AtomicU64::new(0),
            limits,
            clock,
            traces: AtomicU64::new(0),
            docs: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            evicted: AtomicU64::new(0),
            packed: AtomicU64::new(0),
            raw: AtomicU64::new(0),
        }
    }

    fn partition_id(&self, part: &Partition) -> u16 {
        if let Some(&id) = self.parts.read().get(part) {
            return id;
        }
        let mut parts = self.parts.write();
        let next = parts.len() as u16;
        let id = *parts.entry(part.clone()).or_insert(next);
        self.part_count.store(parts.len() as u64, Relaxed);
        id
    }

    fn existing_partition(&self, part: &Partition) -> Option<u16> {
        self.parts.read().get(part).copied()
    }

    /// Applies the documents of one trace (indices into `batch`) under its shard's lock.
    #[allow(clippy::too_many_arguments)]
    fn apply_trace(
        &self,
        shard: &mut Shard,
        pid: u16,
        trace_id: TraceId,
        batch: &[IngestDoc<'_>],
        idxs: &[usize],
        results: &mut [Option<Rejection>],
        now: Micros,
        delta: &mut Delta,
        terms: &mut (Vec<Term>, Vec<Term>),
    ) {
        let key = (pid, trace_id);
        let Shard {
            traces,
            by_start,
            by_last,
            postings,
            blocks,
            summaries,
            ..
        } = shard;
        let (entry, is_new) = traces.get_or_insert_with(key, || TraceEntry {
            docs: smallvec::SmallVec::new(),
            hot: Hot::default(),
            summary: None,
            revision: 0,
            ordinal: u32::MAX,
            raw_bytes: 0,
            received: now,
            limit_exceeded: false,
        });
        let fixed_before = if is_new { 0 } else { fixed_size(entry) as i64 };
        let (old_start, old_last) = (entry.start(), entry.last());
        let decision = rules::decide(
            &mut MemHeld {
                entry,
                is_new,
                blocks,
                summaries,
                unpacker: Unpacker::default(),
            },
            idxs.iter().map(|&i| (batch[i].raw, &batch[i].doc)),
            self.limits.max_trace_bytes,
        );
        // Bytes the shard's blocks gain or free.
        let mut held = 0i64;
        let merged = decision.merge;
        entry.limit_exceeded |= merged.limit_exceeded;
        delta.raw += merged.raw_bytes as i64 - entry.raw_bytes as i64;
        entry.raw_bytes = merged.raw_bytes;
        for (&i, step) in idxs.iter().zip(merged.steps) {
            match step {
                Step::Unchanged => {}
                Step::Refused(r) => results[i] = Some(r),
                Step::Replace(p) => {
                    blocks.release(entry.docs[p].text, &mut held);
                    entry.docs[p] = Doc::new(&batch[i], blocks, &mut held);
                }
                Step::Add => {
                    entry.docs.push(Doc::new(&batch[i], blocks, &mut held));
                    delta.docs += 1;
                }
            }
        }
        let Some(update) = decision.update else {
            if is_new {
                traces.remove(&key);
            }
            return;
        };
        entry.docs.shrink_to_fit();
        let index_before = postings.held_bytes() as i64;
        if is_new {
            entry.ordinal = postings.allocate(key);
        }
        let (old_terms, new_terms) = terms;
        update.index_changes(old_terms, new_terms);
        for c in update.graph_contributions() {
            delta
                .graph
                .entry((pid, c.minute))
                .or_default()
                .contribute(c.summary, c.sign);
        }
        let bucket = rules::graph_minute(update.new.start);
        for l in update.new_links() {
            delta.links.push(PendingLink {
                pid,
                target: l.trace_id,
                span: l.span,
                from: l.from,
                start: l.start,
                bucket,
            });
        }
        delta.arrived.push((pid, trace_id));
        postings.update(entry.ordinal, old_terms, new_terms);
        delta.bytes += postings.held_bytes() as i64 - index_before;
        if let Some(old) = entry.summary {
            summaries.release(old, &mut held);
        }
        entry.summary = Some(summaries.append(&update.new.encode(), &mut held));
        entry.hot = update.new.hot();
        delta.packed += held;
        delta.bytes += held + fixed_size(entry) as i64 - fixed_before;
        entry.revision += 1;
        entry.received = now;
        let (start, last) = (entry.start(), entry.last());
        if is_new {
            delta.traces += 1;
        }
        if is_new || old_start != start {
            if !is_new {
                by_start.remove(&(pid, old_start, trace_id));
            }
            by_start.insert((pid, start, trace_id));
        }
        if is_new || old_last != last {
            if !is_new {
                by_last.remove(&(pid, old_last, trace_id));
            }
            by_last.insert((pid, last, trace_id));
        }
    }

    /// Takes a trace out of its shard; `unpacker` reads its summary (removals in start order
    /// read the same summary blocks one after another).
    fn remove_trace(
        &self,
        shard: &mut Shard,
        key: &Key,
        unpacker: &mut Unpacker,
    ) -> Option<TraceEntry> {
        let e = shard.traces.remove(key)?;
        shard.by_start.remove(&(key.0, e.start(), key.1));
        shard.by_last.remove(&(key.0, e.last(), key.1));
        let mut terms = Vec::new();
        let summary = e.full(&shard.summaries, unpacker);
        index_terms(&summary, &mut terms);
        let mut graphs = self.graphs.lock();
        if let Some(g) = graphs.get_mut(&(key.0, rules::graph_minute(summary.start))) {
            g.contribute(&summary, -1);
            if g.is_empty() {
                graphs.remove(&(key.0, rules::graph_minute(summary.start)));
            }
        }
        drop(graphs);
        let index_before = shard.postings.held_bytes();
        shard.postings.release(e.ordinal, &terms);
        let freed = index_before.saturating_sub(shard.postings.held_bytes());
        self.bytes
            .fetch_sub(freed.min(self.bytes.load(Relaxed)), Relaxed);
        let mut held = 0i64;
        for d in &e.docs {
            shard.blocks.release(d.text, &mut held);
        }
        if let Some(loc) = e.summary {
            shard.summaries.release(loc, &mut held);
        }
        self.add_held(held);
        Some(e)
    }

    /// Counts a change in the bytes the blocks hold.
    fn add_held(&self, held: i64) {
        if held >= 0 {
            self.packed.fetch_add(held as u64, Relaxed);
            self.bytes.fetch_add(held as u64, Relaxed);
        } else {
            self.packed.fetch_sub(held.unsigned_abs(), Relaxed);
            self.bytes.fetch_sub(held.unsigned_abs(), Relaxed);
        }
    }

    /// When the shard's sealed document or summary blocks hold more dead text than live, moves
    /// the live texts out of the mostly dead blocks, which then go. Called with the shard
    /// locked, after texts were released.
    fn compact(&self, shard: &mut Shard) {
        let Shard {
            traces,
            blocks,
            summaries,
            ..
        } = shard;
        let mut held = 0;
        if blocks.wants_compaction() {
            let mut moves: Vec<(Loc, Key, usize)> = Vec::new();
            for (key, e) in traces.iter() {
                for (i, d) in e.docs.iter().enumerate() {
                    if blocks.sparse(d.text) {
                        moves.push((d.text, *key, i));
                    }
                }
            }
            relocate(blocks, traces, moves, &mut held, |e, i| {
                e.docs.get_mut(i).map(|d| &mut d.text)
            });
        }
        if summaries.wants_compaction() {
            let moves: Vec<(Loc, Key, usize)> = traces
                .iter()
                .filter_map(|(key, e)| {
                    e.summary
                        .filter(|l| summaries.sparse(*l))
                        .map(|l| (l, *key, 0))
                })
                .collect();
            relocate(summaries, traces, moves, &mut held, |e, _| {
                e.summary.as_mut()
            });
        }
        self.add_held(held);
    }

    /// Drops a removed trace from the counters (its blocks' bytes went in `remove_trace`).
    fn forget(&self, e: &TraceEntry) {
        self.traces.fetch_sub(1, Relaxed);
        self.docs.fetch_sub(e.docs.len() as u64, Relaxed);
        self.bytes.fetch_sub(fixed_size(e), Relaxed);
        self.raw.fetch_sub(e.raw_bytes, Relaxed);
    }

    /// The trace of `shard` that started first, over all partitions.
    fn oldest_in(&self, shard: &Shard) -> Option<(Micros, u16, TraceId)> {
        let parts = self.part_count.load(Relaxed) as u16;
        (0..parts)
            .filter_map(|pid| {
                shard
                    .by_start
                    .range((pid, Micros::MIN, TraceId([0; 16]))..)
                    .next()
                    .filter(|k| k.0 == pid)
                    .map(|&(p, start, tid)| (start, p, tid))
            })
            .min()
    }

    /// Publishes shard `s`'s earliest start for eviction; called with the shard locked.
    fn publish_head(&self, s: usize, shard: &Shard) {
        let head = self.oldest_in(shard).map_or(Micros::MAX, |o| o.0);
        self.heads[s].store(head, Relaxed);
    }

    /// What the accounted bytes may reach: `max_bytes`, less what the process holds beyond
    /// them when resident memory is bounded.
    fn byte_budget(&self) -> u64 {
        match &self.resident {
            Some(r) => {
                r.refresh(self.bytes.load(Relaxed));
                r.budget(self.limits.max_bytes)
            }
            None => self.limits.max_bytes,
        }
    }

    /// Evicts the oldest traces (by start) until every bound holds.
    fn enforce_limits(&self) {
        let max_bytes = self.byte_budget();
        while self.traces.load(Relaxed) > self.limits.max_traces
            || self.bytes.load(Relaxed) > max_bytes
            || self.raw.load(Relaxed) > self.limits.max_raw_bytes
        {
            let earliest = self
                .heads
                .iter()
                .map(|h| h.load(Relaxed))
                .enumerate()
                .filter(|(_, h)| *h != Micros::MAX)
                .min_by_key(|(_, h)| *h);
            let Some((s, _)) = earliest else {
                break;
            };
            let mut shard = self.shards[s].lock();
            let mut unpacker = std::mem::take(&mut shard.evicting);
            let removed = self.oldest_in(&shard).and_then(|(_, pid, tid)| {
                self.remove_trace(&mut shard, &(pid, tid), &mut unpacker)
            });
            shard.evicting = unpacker;
            self.compact(&mut shard);
            self.publish_head(s, &shard);
            drop(shard);
            if let Some(e) = removed {
                self.forget(&e);
                self.evicted.fetch_add(1, Relaxed);
            }
        }
    }

    /// The service and start of entity `span` in a stored trace.
    fn lookup_span(
        &self,
        pid: u16,
        trace: TraceId,
        span: u64,
    ) -> Option<(crate::model::intern::Sid, Micros)> {
        let shard = self.shards[shard_of(&trace)].lock();
        shard
            .traces
            .get(&(pid, trace))?
            .full(&shard.summaries, &mut Unpacker::default())
            .span(span)
    }

    /// Turns the put's new links, and links that waited for the traces it brought, into
    /// link edges; what still cannot be resolved waits.
    fn resolve_links(&self, links: Vec<PendingLink>, arrived: Vec<(u16, TraceId)>) {
        let mut todo = links;
        if self.pending_count.load(Relaxed) > 0 {
            let mut pending = self.pending_links.lock();
            for key in &arrived {
                if let Some(waiting) = pending.remove(key) {
                    self.pending_count.fetch_sub(waiting.len() as u64, Relaxed);
                    todo.extend(waiting);
                }
            }
        }
        if todo.is_empty() {
            return;
        }
        let mut resolved = Vec::new();
        let mut waiting = Vec::new();
        for l in todo {
            match self.lookup_span(l.pid, l.target, l.span) {
                Some((sid, at)) => resolved.push((l, sid, at)),
                None => waiting.push(l),
            }
        }
        if !waiting.is_empty() {
            let mut pending = self.pending_links.lock();
            for l in waiting {
                if (self.pending_count.load(Relaxed) as usize) < MAX_PENDING_LINKS {
                    pending.entry((l.pid, l.target)).or_default().push(l);
                    self.pending_count.fetch_add(1, Relaxed);
                }
            }
        }
        let mut graphs = self.graphs.lock();
        for (l, producer, at) in resolved {
            graphs.entry((l.pid, l.bucket)).or_default().add_link(
                producer,
                l.from,
                (l.start - at) as f64 / 1e6,
                l.start,
            );
        }
    }

    /// Stores a batch as if it arrived at `now` (replay gives each record its own time, so
    /// that retention counts from when the documents first arrived).
    pub fn put_at(
        &self,
        part: &Partition,
        batch: &[IngestDoc<'_>],
        now: Micros,
    ) -> Vec<Option<Rejection>> {
        self.put_received(part, batch, &|_| now)
    }

    /// Stores a batch whose documents arrived at different times: `received(i)` for document
    /// `i` (a trace's documents in one batch share their time).
    pub fn put_received(
        &self,
        part: &Partition,
        batch: &[IngestDoc<'_>],
        received: &dyn Fn(usize) -> Micros,
    ) -> Vec<Option<Rejection>> {
        let pid = self.partition_id(part);
        let mut results: Vec<Option<Rejection>> = vec![None; batch.len()];
        let mut order: Vec<(usize, TraceId, usize)> = batch
            .iter()
            .enumerate()
            .map(|(i, d)| (shard_of(&d.doc.trace_id), d.doc.trace_id, i))
            .collect();
        order.sort_unstable();
        let mut delta = Delta::default();
        let mut terms = (Vec::new(), Vec::new());
        let mut idxs = Vec::new();
        let mut at = 0;
        while at < order.len() {
            let s = order[at].0;
            let mut shard = self.shards[s].lock();
            while at < order.len() && order[at].0 == s {
                let tid = order[at].1;
                idxs.clear();
                while at < order.len() && order[at].0 == s && order[at].1 == tid {
                    idxs.push(order[at].2);
                    at += 1;
                }
                self.apply_trace(
                    &mut shard,
                    pid,
                    tid,
                    batch,
                    &idxs,
                    &mut results,
                    received(idxs[0]),
                    &mut delta,
                    &mut terms,
                );
            }
            // Replaced documents leave dead text behind.
            self.compact(&mut shard);
            self.publish_head(s, &shard);
        }
        let (links, arrived) = (
            std::mem::take(&mut delta.links),
            std::mem::take(&mut delta.arrived),
        );
        self.apply_delta(delta);
        self.resolve_links(links, arrived);
        self.enforce_limits();
        results
    }

    fn apply_delta(&self, d: Delta) {
        if !d.graph.is_empty() {
            let mut graphs = self.graphs.lock();
            for (k, g) in &d.graph {
                let slot = graphs.entry(*k).or_default();
                slot.merge(g);
                if slot.is_empty() {
                    graphs.remove(k);
                }
            }
        }
        self.traces.fetch_add(d.traces as u64, Relaxed);
        self.docs.fetch_add(d.docs as u64, Relaxed);
        self.bytes.fetch_add(d.bytes as u64, Relaxed);
        self.packed.fetch_add(d.packed as u64, Relaxed);
        self.raw.fetch_add(d.raw as u64, Relaxed);
    }
}

#[async_trait::async_trait]
impl TraceStore for MemStore {
    async fn put(
        &self,
        part: &Partition,
        batch: &[IngestDoc<'_>],
    ) -> Result<Vec<Option<Rejection>>, StoreError> {
        Ok(self.put_at(part, batch, self.clock.now_micros()))
    }

    async fn existing(
        &self,
        part: &Partition,
        ids: &[TraceId],
    ) -> Result<Vec<TraceId>, StoreError> {
        let Some(pid) = self.existing_partition(part) else {
            return Ok(Vec::new());
        };
        Ok(ids
            .iter()
            .filter(|t| {
                self.shards[shard_of(t)]
                    .lock()
                    .traces
                    .contains_key(&(pid, **t))
            })
            .copied()
            .collect())
    }

    async fn get_traces(
        &self,
        part: &Partition,
        ids: &[TraceId],
    ) -> Result<Vec<StoredTrace>, StoreError> {
        let Some(pid) = self.existing_partition(part) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::with_capacity(ids.len());
        let mut unpacker = Unpacker::default();
        for tid in ids {
            let shard = self.shards[shard_of(tid)].lock();
            let Some(e) = shard.traces.get(&(pid, *tid)) else {
                continue;
            };
            // Copy or reference the texts under the lock; unpack blocks after it.
            let texts: Vec<(SegmentId, bool, Option<SegmentId>, Text)> = e
                .docs
                .iter()
                .map(|d| (d.id, d.is_segment, d.parent_id(), shard.blocks.text(d.text)))
                .collect();
            let (start, last, limit_exceeded) = (e.start(), e.last(), e.limit_exceeded);
            drop(shard);
            let docs = texts
                .into_iter()
                .map(|(id, is_segment, parent_id, text)| StoredDocument {
                    id,
                    is_segment,
                    parent_id,
                    json: unpacker.string(&text),
                })
                .collect();
            out.push(StoredTrace {
                trace_id: *tid,
                docs,
                start,
                last,
                limit_exceeded,
            });
        }
        Ok(out)
    }

    async fn scan_summaries(
        &self,
        part: &Partition,
        q: &SummaryQuery,
    ) -> Result<SummaryPage, StoreError> {
        let Some(pid) = self.existing_partition(part) else {
            return Ok(SummaryPage::default());
        };
        Ok(scan::scan(
            &self.shards,
            pid,
            q,
            self.limits.scan_budget_per_shard,
        ))
    }

    async fn graph_minutes(
        &self,
        part: &Partition,
        start: Micros,
        end: Micros,
        visit: &mut (dyn for<'g> FnMut(i64, &'g Graph) + Send),
    ) -> Result<(), StoreError> {
        let Some(pid) = self.existing_partition(part) else {
            return Ok(());
        };
        let graphs = self.graphs.lock();
        for ((_, m), g) in graphs.range(
            (pid, rules::graph_minute(start))
                ..(pid, rules::graph_minute(end.saturating_sub(1)) + 1),
        ) {
            visit(*m, g);
        }
        Ok(())
    }

    async fn summaries(
        &self,
        part: &Partition,
        ids: &[TraceId],
    ) -> Result<Vec<(TraceId, Arc<TraceSummary>)>, StoreError> {
        let Some(pid) = self.existing_partition(part) else {
            return Ok(Vec::new());
        };
        let mut unpacker = Unpacker::default();
        Ok(ids
            .iter()
            .filter_map(|tid| {
                let shard = self.shards[shard_of(tid)].lock();
                let text = shard
                    .traces
                    .get(&(pid, *tid))?
                    .summary_text(&shard.summaries);
                drop(shard);
                Some((*tid, Arc::new(text.read(&mut unpacker))))
            })
            .collect())
    }

    async fn sweep(&self) -> Result<u64, StoreError> {
        let cutoff = self
            .clock
            .now_micros()
            .saturating_sub(self.limits.retention_micros);
        let mut dropped = 0;
        for (s, shard) in self.shards.iter().enumerate() {
            let mut shard = shard.lock();
            let stale: Vec<Key> = shard
                .traces
                .iter()
                .filter(|(_, e)| e.received < cutoff)
                .map(|(k, _)| *k)
                .collect();
            let mut unpacker = Unpacker::default();
            for k in &stale {
                if let Some(e) = self.remove_trace(&mut shard, k, &mut unpacker) {
                    self.forget(&e);
                    dropped += 1;
                }
            }
            if !stale.is_empty() {
                self.compact(&mut shard);
                self.publish_head(s, &shard);
            }
        }
        Ok(dropped)
    }

    fn stats(&self) -> StoreStats {
        StoreStats {
            traces: self.traces.load(Relaxed),
            documents: self.docs.load(Relaxed),
            bytes: self.bytes.load(Relaxed),
            evicted_traces: self.evicted.load(Relaxed),
            packed_bytes: self.packed.load(Relaxed),
        }
    }
}

/// Moves the texts at `moves` (a location, its trace and which of the trace's texts) out of
/// their blocks, block by block so that each is unpacked once, and records each new location
/// where `slot` says the trace keeps it.
fn relocate(
    blocks: &mut Blocks,
    traces: &mut keyed::Keyed<Key, TraceEntry>,
    mut moves: Vec<(Loc, Key, usize)>,
    held: &mut i64,
    slot: fn(&mut TraceEntry, usize) -> Option<&mut Loc>,
) {
    moves.sort_unstable_by_key(|m| m.0);
    let mut unpacker = Unpacker::default();
    for (_, key, i) in moves {
        if let Some(loc) = traces.get_mut(&key).and_then(|e| slot(e, i)) {
            *loc = blocks.relocate(*loc, held, &mut unpacker);
        }
    }
}

#[cfg(test)]
mod tests;
