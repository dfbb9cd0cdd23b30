//! The scale-out store: every trace, index term, graph sum, pending link and control-plane
//! state lives in PostgreSQL, so any number of gateways over one database serve the same
//! data and hold nothing that cannot be rebuilt. The X-Ray rules are the same pure functions
//! the memory store calls (`rules::decide`); this module only loads what they ask for and
//! commits what they decide.
//!
//! - A batch's traces are locked with transaction-scoped advisory locks taken in one fixed
//!   (sorted) order, so concurrent batches through different gateways never deadlock, and two
//!   gateways writing one trace at once end with one trace and one summary. A serialization
//!   failure or broken deadlock retries the transaction.
//! - Summaries and graph sums are stored with their strings (`intern::portable`): interned
//!   handles are numbers of one process.
//! - Graph contributions are appended per minute, never updated in place, and summed into
//!   one row per minute by housekeeping (`sweep`), which one gateway at a time runs under a
//!   transaction-scoped advisory lock, with retention.

mod control;
pub mod db;
mod scan;
mod schema;

pub use control::PgControl;
pub use db::{Db, PgOptions};

use super::{
    IngestDoc, Partition, StoreError, StoreStats, StoredDocument, StoredTrace, SummaryPage,
    SummaryQuery, TraceStore,
};
use crate::graph::Graph;
use crate::model::intern::{self, Sid};
use crate::model::segment::{DocKind, Rejection};
use crate::model::selection::Term;
use crate::model::summary::TraceSummary;
use crate::model::time::Clock;
use crate::model::{Micros, SegmentId, TraceId};
use crate::rules::{self, HeldDoc, Step};
use db::DbError;
use rustc_hash::FxHashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A statement's parameters, for statements sent together.
type Params<'a, const N: usize> = [&'a (dyn tokio_postgres::types::ToSql + Sync); N];

/// Traces one transaction locks at most: a larger batch is written as several transactions,
/// which keeps the advisory locks a transaction holds well inside PostgreSQL's lock table.
const TRACES_PER_TRANSACTION: usize = 64;

/// Housekeeping's advisory lock: one gateway at a time sweeps.
const HOUSEKEEPING_LOCK: i64 = 0x5852_4159_0002;

/// Traces retention deletes per statement.
const SWEEP_BATCH: i64 = 5_000;

pub struct PgStore {
    db: Arc<Db>,
    clock: Arc<dyn Clock>,
    retention_micros: Micros,
    max_trace_bytes: u64,
    /// Estimates refreshed by housekeeping (counting rows exactly would scan the tables).
    traces: AtomicU64,
    documents: AtomicU64,
    bytes: AtomicU64,
}

impl PgStore {
    pub fn new(
        db: Arc<Db>,
        clock: Arc<dyn Clock>,
        retention_micros: Micros,
        max_trace_bytes: u64,
    ) -> PgStore {
        PgStore {
            db,
            clock,
            retention_micros,
            max_trace_bytes,
            traces: AtomicU64::new(0),
            documents: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        }
    }
}

/// A trace's advisory-lock key: its partition and ID, hashed (a collision only makes two
/// traces wait for each other).
fn lock_key(pid: i32, t: &TraceId) -> i64 {
    (t.mix64() ^ (pid as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)) as i64
}

/// An index term as stored: a hash of its strings, so that every gateway computes the same.
/// A collision only makes a trace a candidate it is not (filters evaluate candidates).
pub fn term_hash(t: &Term) -> i64 {
    use std::hash::{Hash, Hasher};
    let mut h = rustc_hash::FxHasher::default();
    let name = |s| intern::text(s);
    match *t {
        Term::ServiceName(s) => (0u8, &*name(s)).hash(&mut h),
        Term::ServiceType(s) => (1u8, &*name(s)).hash(&mut h),
        Term::HttpStatus(st) => (2u8, st).hash(&mut h),
        Term::Flag(f) => (3u8, f.bits()).hash(&mut h),
        Term::AnnotationKey(s) => (4u8, &*name(s)).hash(&mut h),
        Term::Annotation(s, v) => (5u8, &*name(s), v).hash(&mut h),
        Term::User(u) => (6u8, u).hash(&mut h),
    }
    h.finish() as i64
}

fn encode_summary(s: &TraceSummary) -> Vec<u8> {
    intern::portable(|| s.encode())
}

fn decode_summary(b: &[u8]) -> Option<TraceSummary> {
    intern::portable(|| TraceSummary::decode(b))
}

fn decode_head(b: &[u8]) -> Option<TraceSummary> {
    intern::portable(|| TraceSummary::decode_head(b))
}

fn encode_graph(g: &Graph) -> Vec<u8> {
    intern::portable(|| postcard::to_allocvec(g).unwrap_or_default())
}

fn decode_graph(b: &[u8]) -> Option<Graph> {
    intern::portable(|| postcard::from_bytes(b).ok())
}

fn trace_id(b: &[u8]) -> TraceId {
    TraceId(b.try_into().unwrap_or([0; 16]))
}

/// A document a trace holds, as loaded for the rules.
struct LoadedDoc {
    id: SegmentId,
    complete: bool,
    body: String,
}

/// What a trace holds, as loaded under its lock.
struct Loaded {
    revision: i32,
    raw_bytes: u64,
    limit_exceeded: bool,
    summary: Vec<u8>,
    docs: Vec<LoadedDoc>,
}

/// A trace as the rules read it.
struct PgHeld<'a>(Option<&'a Loaded>);

impl rules::HeldTrace for PgHeld<'_> {
    fn doc_count(&self) -> usize {
        self.0.map_or(0, |l| l.docs.len())
    }

    fn doc(&self, i: usize) -> HeldDoc {
        let d = &self.0.expect("asked only about held documents").docs[i];
        HeldDoc {
            id: d.id,
            complete: d.complete,
            len: d.body.len() as u64,
        }
    }

    fn raw_bytes(&self) -> u64 {
        self.0.map_or(0, |l| l.raw_bytes)
    }

    fn same_text(&mut self, i: usize, raw: &str) -> bool {
        self.0.is_some_and(|l| l.docs[i].body == raw)
    }

    fn text(&mut self, i: usize) -> String {
        self.0.map(|l| l.docs[i].body.clone()).unwrap_or_default()
    }

    fn summary(&mut self) -> Option<TraceSummary> {
        self.0.and_then(|l| decode_summary(&l.summary))
    }
}

/// A span link waiting for its target trace.
struct PendingLink {
    target: TraceId,
    span: u64,
    from: Sid,
    start: Micros,
    bucket: i64,
}

/// The rows one transaction writes, gathered column by column for `unnest`.
#[derive(Default)]
struct Writes {
    t_ids: Vec<Vec<u8>>,
    t_start: Vec<i64>,
    t_last: Vec<i64>,
    t_revision: Vec<i32>,
    t_raw: Vec<i64>,
    t_limit: Vec<bool>,
    t_summary: Vec<Vec<u8>>,
    /// Every trace's terms one after another; trace `i`'s are `terms[t_lo[i]..=t_hi[i]]`
    /// (1-based, as PostgreSQL slices arrays).
    terms: Vec<i64>,
    t_lo: Vec<i32>,
    t_hi: Vec<i32>,
    d_ids: Vec<Vec<u8>>,
    d_pos: Vec<i32>,
    d_seg: Vec<i64>,
    d_parent: Vec<Option<i64>>,
    d_is_segment: Vec<bool>,
    d_complete: Vec<bool>,
    d_body: Vec<String>,
    /// Limit flags of traces the batch did not change otherwise.
    limited: Vec<Vec<u8>>,
    graph: FxHashMap<i64, Graph>,
    links: Vec<PendingLink>,
    /// Traces the batch changed, with their new summaries (links may wait for them).
    arrived: FxHashMap<TraceId, usize>,
    summaries: Vec<TraceSummary>,
}

impl PgStore {
    /// Writes the documents of `traces` (indices into `batch`, by trace) in one transaction.
    async fn put_traces(
        &self,
        pid: i32,
        batch: &[IngestDoc<'_>],
        traces: &[(TraceId, Vec<usize>)],
        results: &mut [Option<Rejection>],
    ) -> Result<(), DbError> {
        let mut client = self.db.client().await?;
        let tx = client.transaction().await?;
        let mut keys: Vec<i64> = traces.iter().map(|(t, _)| lock_key(pid, t)).collect();
        keys.sort_unstable();
        keys.dedup();
        let ids: Vec<Vec<u8>> = traces.iter().map(|(t, _)| t.0.to_vec()).collect();
        // Sent together: the locks, in order, then what the traces hold (PostgreSQL runs them
        // in the order sent).
        let (by_keys, by_ids): (Params<1>, Params<2>) = ([&keys], [&pid, &ids]);
        let lock = query_cached(
            &tx,
            "SELECT count(pg_advisory_xact_lock(k)) FROM (SELECT k FROM unnest($1::int8[]) k ORDER BY k) s",
            &by_keys,
        );
        let held = query_cached(
            &tx,
            "SELECT trace_id, revision, raw_bytes, limit_exceeded, summary FROM xray_traces
             WHERE part = $1 AND trace_id = ANY($2)",
            &by_ids,
        );
        let (_, held) = futures_util::try_join!(lock, held)?;
        let mut loaded: FxHashMap<TraceId, Loaded> = FxHashMap::default();
        for r in held {
            loaded.insert(
                trace_id(r.get(0)),
                Loaded {
                    revision: r.get(1),
                    raw_bytes: r.get::<_, i64>(2) as u64,
                    limit_exceeded: r.get(3),
                    summary: r.get(4),
                    docs: Vec::new(),
                },
            );
        }
        // The documents of the traces held already (most batches bring only new traces).
        let existing: Vec<Vec<u8>> = loaded.keys().map(|t| t.0.to_vec()).collect();
        let docs = if existing.is_empty() {
            Vec::new()
        } else {
            query_cached(
                &tx,
                "SELECT trace_id, seg_id, complete, body FROM xray_documents
                 WHERE part = $1 AND trace_id = ANY($2) ORDER BY trace_id, pos",
                &[&pid, &existing],
            )
            .await?
        };
        for r in docs {
            if let Some(l) = loaded.get_mut(&trace_id(r.get(0))) {
                l.docs.push(LoadedDoc {
                    id: SegmentId(r.get::<_, i64>(1) as u64),
                    complete: r.get(2),
                    body: r.get(3),
                });
            }
        }

        let now = self.clock.now_micros();
        let mut w = Writes::default();
        for (tid, idxs) in traces {
            self.decide_trace(&mut w, *tid, loaded.get(tid), batch, idxs, results);
        }
        let mut resolved = Vec::new();
        self.resolve_new_links(&tx, pid, &mut w, &mut resolved)
            .await?;
        for (l, producer, at) in resolved {
            w.graph.entry(l.bucket).or_default().add_link(
                producer,
                l.from,
                (l.start - at) as f64 / 1e6,
                l.start,
            );
        }
        self.write(&tx, pid, &w, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Applies the rules to one trace and gathers what they decided.
    fn decide_trace(
        &self,
        w: &mut Writes,
        tid: TraceId,
        held: Option<&Loaded>,
        batch: &[IngestDoc<'_>],
        idxs: &[usize],
        results: &mut [Option<Rejection>],
    ) {
        let decision = rules::decide(
            &mut PgHeld(held),
            idxs.iter().map(|&i| (batch[i].raw, &batch[i].doc)),
            self.max_trace_bytes,
        );
        let merged = decision.merge;
        let mut count = held.map_or(0, |h| h.docs.len());
        for (&i, step) in idxs.iter().zip(&merged.steps) {
            let pos = match step {
                Step::Unchanged => continue,
                Step::Refused(r) => {
                    results[i] = Some(r.clone());
                    continue;
                }
                Step::Replace(p) => *p,
                Step::Add => {
                    count += 1;
                    count - 1
                }
            };
            let d = &batch[i];
            w.d_ids.push(tid.0.to_vec());
            w.d_pos.push(pos as i32);
            w.d_seg.push(d.doc.id.0 as i64);
            w.d_parent.push(d.doc.parent_id.map(|p| p.0 as i64));
            w.d_is_segment.push(d.doc.kind == DocKind::Segment);
            w.d_complete.push(!d.doc.in_progress());
            w.d_body.push(d.raw.to_owned());
        }
        let Some(update) = decision.update else {
            if merged.limit_exceeded && held.is_some_and(|h| !h.limit_exceeded) {
                w.limited.push(tid.0.to_vec());
            }
            return;
        };
        let limit_exceeded = merged.limit_exceeded || held.is_some_and(|h| h.limit_exceeded);
        let (mut removed, mut added) = (Vec::new(), Vec::new());
        update.index_changes(&mut removed, &mut added);
        for c in update.graph_contributions() {
            w.graph
                .entry(c.minute)
                .or_default()
                .contribute(c.summary, c.sign);
        }
        let bucket = rules::graph_minute(update.new.start);
        for l in update.new_links() {
            w.links.push(PendingLink {
                target: l.trace_id,
                span: l.span,
                from: l.from,
                start: l.start,
                bucket,
            });
        }
        let new = &update.new;
        w.t_ids.push(tid.0.to_vec());
        w.t_start.push(new.start);
        w.t_last.push(new.last);
        w.t_revision.push(held.map_or(0, |h| h.revision) + 1);
        w.t_raw.push(merged.raw_bytes as i64);
        w.t_limit.push(limit_exceeded);
        w.t_summary.push(encode_summary(new));
        w.t_lo.push(w.terms.len() as i32 + 1);
        let mut hashes: Vec<i64> = added.iter().map(term_hash).collect();
        hashes.sort_unstable();
        hashes.dedup();
        w.terms.extend(hashes);
        w.t_hi.push(w.terms.len() as i32);
        w.arrived.insert(tid, w.summaries.len());
        w.summaries.push(update.new);
    }

    /// Resolves the links the batch brought against the traces they point at (in the batch or
    /// stored); the rest wait in `xray_pending_links`.
    async fn resolve_new_links(
        &self,
        tx: &deadpool_postgres::Transaction<'_>,
        pid: i32,
        w: &mut Writes,
        resolved: &mut Vec<(PendingLink, Sid, Micros)>,
    ) -> Result<(), DbError> {
        if w.links.is_empty() {
            return Ok(());
        }
        let targets: Vec<Vec<u8>> = w
            .links
            .iter()
            .filter(|l| !w.arrived.contains_key(&l.target))
            .map(|l| l.target.0.to_vec())
            .collect();
        let mut stored: FxHashMap<TraceId, TraceSummary> = FxHashMap::default();
        if !targets.is_empty() {
            for r in tx
                .query(
                    "SELECT trace_id, summary FROM xray_traces WHERE part = $1 AND trace_id = ANY($2)",
                    &[&pid, &targets],
                )
                .await?
            {
                if let Some(s) = decode_summary(r.get(1)) {
                    stored.insert(trace_id(r.get(0)), s);
                }
            }
        }
        for l in std::mem::take(&mut w.links) {
            let target = match w.arrived.get(&l.target) {
                Some(&i) => Some(&w.summaries[i]),
                None => stored.get(&l.target),
            };
            match target.and_then(|s| s.span(l.span)) {
                Some((producer, at)) => resolved.push((l, producer, at)),
                None => w.links.push(l),
            }
        }
        Ok(())
    }

    /// Sends the gathered rows, all statements at once.
    async fn write(
        &self,
        tx: &deadpool_postgres::Transaction<'_>,
        pid: i32,
        w: &Writes,
        now: Micros,
    ) -> Result<(), DbError> {
        let received = vec![now; w.t_ids.len()];
        let trace_rows: Params<12> = [
            &pid,
            &w.t_ids,
            &w.t_start,
            &w.t_last,
            &w.t_revision,
            &w.t_raw,
            &w.t_limit,
            &received,
            &w.t_summary,
            &w.terms,
            &w.t_lo,
            &w.t_hi,
        ];
        let traces = execute_rows(
            tx,
            w.t_ids.len(),
            "INSERT INTO xray_traces (part, trace_id, start_us, last_us, revision, raw_bytes,
                 limit_exceeded, received_us, summary, terms)
             SELECT $1, u.t, u.s, u.l, u.r, u.b, u.x, u.rc, u.sm, ($10::int8[])[u.lo:u.hi]
             FROM unnest($2::bytea[], $3::int8[], $4::int8[], $5::int4[], $6::int8[],
                         $7::bool[], $8::int8[], $9::bytea[], $11::int4[], $12::int4[])
                  AS u(t, s, l, r, b, x, rc, sm, lo, hi)
             ON CONFLICT (part, trace_id) DO UPDATE SET
                 start_us = EXCLUDED.start_us, last_us = EXCLUDED.last_us,
                 revision = EXCLUDED.revision, raw_bytes = EXCLUDED.raw_bytes,
                 limit_exceeded = EXCLUDED.limit_exceeded, received_us = EXCLUDED.received_us,
                 summary = EXCLUDED.summary, terms = EXCLUDED.terms",
            &trace_rows,
        );
        let doc_rows: Params<8> = [
            &pid,
            &w.d_ids,
            &w.d_pos,
            &w.d_seg,
            &w.d_parent,
            &w.d_is_segment,
            &w.d_complete,
            &w.d_body,
        ];
        let docs = execute_rows(
            tx,
            w.d_ids.len(),
            "INSERT INTO xray_documents (part, trace_id, pos, seg_id, parent_id, is_segment,
                 complete, body)
             SELECT $1, * FROM unnest($2::bytea[], $3::int4[], $4::int8[], $5::int8[],
                                      $6::bool[], $7::bool[], $8::text[])
             ON CONFLICT (part, trace_id, pos) DO UPDATE SET
                 seg_id = EXCLUDED.seg_id, parent_id = EXCLUDED.parent_id,
                 is_segment = EXCLUDED.is_segment, complete = EXCLUDED.complete,
                 body = EXCLUDED.body",
            &doc_rows,
        );
        let limited_rows: Params<2> = [&pid, &w.limited];
        let limited = execute_rows(
            tx,
            w.limited.len(),
            "UPDATE xray_traces SET limit_exceeded = true WHERE part = $1 AND trace_id = ANY($2)",
            &limited_rows,
        );
        let (minutes, graphs): (Vec<i64>, Vec<Vec<u8>>) = w
            .graph
            .iter()
            .filter(|(_, g)| !g.is_empty())
            .map(|(m, g)| (*m, encode_graph(g)))
            .unzip();
        let graph_rows: Params<3> = [&pid, &minutes, &graphs];
        let graph = execute_rows(
            tx,
            minutes.len(),
            "INSERT INTO xray_graph (part, minute, graph)
             SELECT $1, * FROM unnest($2::int8[], $3::bytea[])",
            &graph_rows,
        );
        let l_target: Vec<Vec<u8>> = w.links.iter().map(|l| l.target.0.to_vec()).collect();
        let l_span: Vec<i64> = w.links.iter().map(|l| l.span as i64).collect();
        let l_source: Vec<Vec<u8>> = w
            .links
            .iter()
            .map(|l| intern::portable(|| postcard::to_allocvec(&l.from).unwrap_or_default()))
            .collect();
        let l_start: Vec<i64> = w.links.iter().map(|l| l.start).collect();
        let l_bucket: Vec<i64> = w.links.iter().map(|l| l.bucket).collect();
        let link_rows: Params<6> = [&pid, &l_target, &l_span, &l_source, &l_start, &l_bucket];
        let waiting = execute_rows(
            tx,
            l_target.len(),
            "INSERT INTO xray_pending_links (part, target, span, source, start_us, bucket)
             SELECT $1, * FROM unnest($2::bytea[], $3::int8[], $4::bytea[], $5::int8[], $6::int8[])",
            &link_rows,
        );
        futures_util::try_join!(traces, docs, limited, graph, waiting)?;
        Ok(())
    }

    /// The rows `sql` (`$1` the partition, `$2` the trace IDs) returns for `ids`; none when
    /// nothing was ever written to the partition.
    async fn rows_for(
        &self,
        part: &Partition,
        ids: &[TraceId],
        sql: &str,
    ) -> Result<Vec<tokio_postgres::Row>, StoreError> {
        let Some(pid) = self.db.existing_partition(part).await? else {
            return Ok(Vec::new());
        };
        let c = self.db.client().await?;
        let keys: Vec<Vec<u8>> = ids.iter().map(|t| t.0.to_vec()).collect();
        Ok(query_cached(&c, sql, &[&pid, &keys])
            .await
            .map_err(DbError::from)?)
    }

    /// Retention and graph compaction, when this gateway holds housekeeping's lock.
    async fn housekeeping(&self) -> Result<u64, DbError> {
        let mut client = self.db.client().await?;
        let tx = client.transaction().await?;
        let got: bool = tx
            .query_one(
                "SELECT pg_try_advisory_xact_lock($1)",
                &[&HOUSEKEEPING_LOCK],
            )
            .await?
            .get(0);
        if !got {
            return Ok(0);
        }
        let cutoff = self
            .clock
            .now_micros()
            .saturating_sub(self.retention_micros);
        let mut dropped = 0u64;
        loop {
            let rows = tx
                .query(
                    "DELETE FROM xray_traces WHERE (part, trace_id) IN (
                         SELECT part, trace_id FROM xray_traces WHERE received_us < $1 LIMIT $2)
                     RETURNING part, trace_id, summary",
                    &[&cutoff, &SWEEP_BATCH],
                )
                .await?;
            if rows.is_empty() {
                break;
            }
            dropped += rows.len() as u64;
            let mut parts = Vec::new();
            let mut ids = Vec::new();
            let mut withdrawn: FxHashMap<(i32, i64), Graph> = FxHashMap::default();
            for r in &rows {
                let part: i32 = r.get(0);
                parts.push(part);
                ids.push(r.get::<_, Vec<u8>>(1));
                if let Some(s) = decode_summary(r.get(2)) {
                    withdrawn
                        .entry((part, rules::graph_minute(s.start)))
                        .or_default()
                        .contribute(&s, -1);
                }
            }
            tx.execute(
                "DELETE FROM xray_documents d USING unnest($1::int4[], $2::bytea[]) AS u(p, t)
                 WHERE d.part = u.p AND d.trace_id = u.t",
                &[&parts, &ids],
            )
            .await?;
            insert_graphs(&tx, withdrawn).await?;
        }
        tx.execute(
            "DELETE FROM xray_pending_links WHERE start_us < $1",
            &[&cutoff],
        )
        .await?;
        resolve_waiting_links(&tx).await?;
        compact_graph(&tx).await?;
        let stats = tx
            .query_one(
                "SELECT (SELECT reltuples FROM pg_class WHERE oid = 'xray_traces'::regclass)::int8,
                        (SELECT reltuples FROM pg_class WHERE oid = 'xray_documents'::regclass)::int8,
                        pg_total_relation_size('xray_traces') + pg_total_relation_size('xray_documents')",
                &[],
            )
            .await?;
        tx.commit().await?;
        self.traces
            .store(stats.get::<_, i64>(0).max(0) as u64, Relaxed);
        self.documents
            .store(stats.get::<_, i64>(1).max(0) as u64, Relaxed);
        self.bytes
            .store(stats.get::<_, i64>(2).max(0) as u64, Relaxed);
        Ok(dropped)
    }
}

/// Runs `sql` unless the batch gathered no rows for it.
async fn execute_rows(
    tx: &deadpool_postgres::Transaction<'_>,
    rows: usize,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<u64, tokio_postgres::Error> {
    if rows == 0 {
        return Ok(0);
    }
    tx.execute(&tx.prepare_cached(sql).await?, params).await
}

/// Runs one of the fixed statements, prepared once per connection.
async fn query_cached(
    c: &impl deadpool_postgres::GenericClient,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Vec<tokio_postgres::Row>, tokio_postgres::Error> {
    c.query(&c.prepare_cached(sql).await?, params).await
}

async fn insert_graphs(
    tx: &deadpool_postgres::Transaction<'_>,
    graphs: FxHashMap<(i32, i64), Graph>,
) -> Result<(), DbError> {
    let mut parts = Vec::new();
    let mut minutes = Vec::new();
    let mut bytes = Vec::new();
    for ((p, m), g) in graphs {
        if !g.is_empty() {
            parts.push(p);
            minutes.push(m);
            bytes.push(encode_graph(&g));
        }
    }
    if !parts.is_empty() {
        tx.execute(
            "INSERT INTO xray_graph (part, minute, graph)
             SELECT * FROM unnest($1::int4[], $2::int8[], $3::bytea[])",
            &[&parts, &minutes, &bytes],
        )
        .await?;
    }
    Ok(())
}

/// Turns the links whose target trace has arrived since into link edges. Writes resolve the
/// links they bring against what is stored; a link whose target arrives later is resolved
/// here, so that writes never look for links waiting on their traces. One whose span is not
/// (yet) in its target trace waits on.
async fn resolve_waiting_links(tx: &deadpool_postgres::Transaction<'_>) -> Result<(), DbError> {
    let rows = tx
        .query(
            "DELETE FROM xray_pending_links p USING xray_traces t
             WHERE p.part = t.part AND p.target = t.trace_id
             RETURNING p.part, p.target, p.span, p.source, p.start_us, p.bucket, t.summary",
            &[],
        )
        .await?;
    let mut edges: FxHashMap<(i32, i64), Graph> = FxHashMap::default();
    let mut still = Vec::new();
    for r in &rows {
        let Some(from) = intern::portable(|| postcard::from_bytes::<Sid>(r.get(3)).ok()) else {
            continue;
        };
        let (part, span, start, bucket): (i32, i64, i64, i64) =
            (r.get(0), r.get(2), r.get(4), r.get(5));
        match decode_summary(r.get(6)).and_then(|s| s.span(span as u64)) {
            Some((producer, at)) => edges.entry((part, bucket)).or_default().add_link(
                producer,
                from,
                (start - at) as f64 / 1e6,
                start,
            ),
            None => still.push(r),
        }
    }
    insert_graphs(tx, edges).await?;
    for r in still {
        tx.execute(
            "INSERT INTO xray_pending_links (part, target, span, source, start_us, bucket)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &r.get::<_, i32>(0),
                &r.get::<_, Vec<u8>>(1),
                &r.get::<_, i64>(2),
                &r.get::<_, Vec<u8>>(3),
                &r.get::<_, i64>(4),
                &r.get::<_, i64>(5),
            ],
        )
        .await?;
    }
    Ok(())
}

/// Sums each minute that has several contributions into one row. Rows appended meanwhile are
/// not among those deleted, so they stay to be summed next time.
async fn compact_graph(tx: &deadpool_postgres::Transaction<'_>) -> Result<(), DbError> {
    let rows = tx
        .query(
            "DELETE FROM xray_graph WHERE (part, minute) IN (
                 SELECT part, minute FROM xray_graph GROUP BY part, minute
                 HAVING count(*) > 1 LIMIT 10000)
             RETURNING part, minute, graph",
            &[],
        )
        .await?;
    let mut sums: FxHashMap<(i32, i64), Graph> = FxHashMap::default();
    for r in &rows {
        if let Some(g) = decode_graph(r.get(2)) {
            sums.entry((r.get(0), r.get(1))).or_default().merge(&g);
        }
    }
    insert_graphs(tx, sums).await
}

#[async_trait::async_trait]
impl TraceStore for PgStore {
    async fn put(
        &self,
        part: &Partition,
        batch: &[IngestDoc<'_>],
    ) -> Result<Vec<Option<Rejection>>, StoreError> {
        let mut results: Vec<Option<Rejection>> = vec![None; batch.len()];
        if batch.is_empty() {
            return Ok(results);
        }
        let pid = self.db.partition(part).await?;
        let mut by_trace: FxHashMap<TraceId, Vec<usize>> = FxHashMap::default();
        for (i, d) in batch.iter().enumerate() {
            by_trace.entry(d.doc.trace_id).or_default().push(i);
        }
        let mut traces: Vec<(TraceId, Vec<usize>)> = by_trace.into_iter().collect();
        traces.sort_unstable_by_key(|(t, _)| lock_key(pid, t));
        for chunk in traces.chunks(TRACES_PER_TRANSACTION) {
            let mut tries = 0;
            loop {
                let mut out = results.clone();
                match self.put_traces(pid, batch, chunk, &mut out).await {
                    Ok(()) => {
                        results = out;
                        break;
                    }
                    Err(e) if Db::retry(&e, &mut tries).await => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(results)
    }

    async fn existing(
        &self,
        part: &Partition,
        ids: &[TraceId],
    ) -> Result<Vec<TraceId>, StoreError> {
        let rows = self
            .rows_for(
                part,
                ids,
                "SELECT trace_id FROM xray_traces WHERE part = $1 AND trace_id = ANY($2)",
            )
            .await?;
        let found: std::collections::HashSet<TraceId> =
            rows.iter().map(|r| trace_id(r.get(0))).collect();
        Ok(ids.iter().filter(|t| found.contains(t)).copied().collect())
    }

    async fn get_traces(
        &self,
        part: &Partition,
        ids: &[TraceId],
    ) -> Result<Vec<StoredTrace>, StoreError> {
        let Some(pid) = self.db.existing_partition(part).await? else {
            return Ok(Vec::new());
        };
        let c = self.db.client().await?;
        let keys: Vec<Vec<u8>> = ids.iter().map(|t| t.0.to_vec()).collect();
        let by_ids: Params<2> = [&pid, &keys];
        let heads = query_cached(
            &c,
            "SELECT trace_id, start_us, last_us, limit_exceeded FROM xray_traces
             WHERE part = $1 AND trace_id = ANY($2)",
            &by_ids,
        );
        let docs = query_cached(
            &c,
            "SELECT trace_id, seg_id, is_segment, parent_id, body FROM xray_documents
             WHERE part = $1 AND trace_id = ANY($2) ORDER BY trace_id, pos",
            &by_ids,
        );
        let (heads, docs) = futures_util::try_join!(heads, docs).map_err(DbError::from)?;
        let mut by_id: FxHashMap<TraceId, StoredTrace> = heads
            .iter()
            .map(|r| {
                let t = trace_id(r.get(0));
                let st = StoredTrace {
                    trace_id: t,
                    docs: Vec::new(),
                    start: r.get(1),
                    last: r.get(2),
                    limit_exceeded: r.get(3),
                };
                (t, st)
            })
            .collect();
        for r in docs {
            if let Some(t) = by_id.get_mut(&trace_id(r.get(0))) {
                t.docs.push(StoredDocument {
                    id: SegmentId(r.get::<_, i64>(1) as u64),
                    is_segment: r.get(2),
                    parent_id: r.get::<_, Option<i64>>(3).map(|p| SegmentId(p as u64)),
                    json: r.get(4),
                });
            }
        }
        Ok(ids.iter().filter_map(|t| by_id.remove(t)).collect())
    }

    async fn scan_summaries(
        &self,
        part: &Partition,
        q: &SummaryQuery,
    ) -> Result<SummaryPage, StoreError> {
        let Some(pid) = self.db.existing_partition(part).await? else {
            return Ok(SummaryPage::default());
        };
        Ok(scan::scan(&self.db, pid, q).await?)
    }

    async fn graph_minutes(
        &self,
        part: &Partition,
        start: Micros,
        end: Micros,
        visit: &mut (dyn for<'g> FnMut(i64, &'g Graph) + Send),
    ) -> Result<(), StoreError> {
        let Some(pid) = self.db.existing_partition(part).await? else {
            return Ok(());
        };
        let c = self.db.client().await?;
        let (first, last) = (
            rules::graph_minute(start),
            rules::graph_minute(end.saturating_sub(1)),
        );
        let rows = c
            .query(
                "SELECT minute, graph FROM xray_graph WHERE part = $1 AND minute BETWEEN $2 AND $3
                 ORDER BY minute",
                &[&pid, &first, &last],
            )
            .await
            .map_err(DbError::from)?;
        let mut current: Option<(i64, Graph)> = None;
        for r in rows {
            let minute: i64 = r.get(0);
            let Some(g) = decode_graph(r.get(1)) else {
                continue;
            };
            match &mut current {
                Some((m, sum)) if *m == minute => sum.merge(&g),
                _ => {
                    if let Some((m, sum)) = current.take() {
                        visit(m, &sum);
                    }
                    current = Some((minute, g));
                }
            }
        }
        if let Some((m, sum)) = current {
            visit(m, &sum);
        }
        Ok(())
    }

    async fn summaries(
        &self,
        part: &Partition,
        ids: &[TraceId],
    ) -> Result<Vec<(TraceId, Arc<TraceSummary>)>, StoreError> {
        let rows = self
            .rows_for(
                part,
                ids,
                "SELECT trace_id, summary FROM xray_traces WHERE part = $1 AND trace_id = ANY($2)",
            )
            .await?;
        let mut found: FxHashMap<TraceId, Arc<TraceSummary>> = rows
            .iter()
            .filter_map(|r| Some((trace_id(r.get(0)), Arc::new(decode_summary(r.get(1))?))))
            .collect();
        Ok(ids
            .iter()
            .filter_map(|t| found.remove(t).map(|s| (*t, s)))
            .collect())
    }

    async fn sweep(&self) -> Result<u64, StoreError> {
        Ok(self.housekeeping().await?)
    }

    fn stats(&self) -> StoreStats {
        StoreStats {
            traces: self.traces.load(Relaxed),
            documents: self.documents.load(Relaxed),
            bytes: self.bytes.load(Relaxed),
            evicted_traces: 0,
            packed_bytes: 0,
        }
    }
}
