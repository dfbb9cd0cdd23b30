//! GetTraceSummaries scans over the shards, newest first.
//!
//! Each shard either evaluates the candidates its inverted index gives for the filter's plan
//! (when they are few) or walks its time index from the newest trace, evaluating each, until it
//! has its share of a page of matches or has spent its scan budget. A shard that stopped has
//! seen only what is newer than where it stopped, so the page keeps only results at or above
//! the highest such stop (the frontier) and the next page resumes from there: like X-Ray, a
//! page may then hold fewer results than it could, with `ApproximateTime` saying how far back
//! the scan got.

use super::blocks::Unpacker;
use super::{IndexKey, Shard, TraceEntry};
use crate::model::summary::TraceSummary;
use crate::model::{Micros, TraceId};
use crate::store::{Cursor, SummaryItem, SummaryPage, SummaryQuery, TimeRangeType};
use parking_lot::Mutex;
use std::ops::Bound;
use std::sync::Arc;

/// Below this many index candidates a shard evaluates them instead of walking its time index.
const MIN_CANDIDATE_LIMIT: u64 = 256;

/// The fewest matches a shard walks its time index for before it stops, unless the page wants
/// fewer.
const MIN_SHARD_QUOTA: usize = 16;

/// How many matches a shard walking its time index collects for a page of `limit`.
///
/// Traces are spread over the shards by ID, so each holds about its share of the newest
/// matches. A shard that collected a whole page would mostly collect matches that other
/// shards' newer ones push off the page, and a filter matching one trace in a hundred
/// walked every shard that far back for every page (a hundred pages of such matches in an
/// hour took 12 s). Twice its share, the shard's stop joining the frontier as a budget stop
/// does, keeps pages full but for chance, and a short page is only an earlier next token.
fn shard_quota(limit: usize, shards: usize) -> usize {
    (limit.div_ceil(shards.max(1)) * 2)
        .max(MIN_SHARD_QUOTA)
        .min(limit)
}

type Pos = (Micros, TraceId);

struct ShardResult {
    /// Matches by position; their summaries are read only if they make the page.
    matches: Vec<Pos>,
    scanned: Vec<Pos>,
    stopped_at: Option<Pos>,
}

fn bounds(pid: u16, q: &SummaryQuery) -> Option<(IndexKey, Bound<IndexKey>)> {
    let lo_key = q.start;
    let hi = match q.range {
        TimeRangeType::TraceId | TimeRangeType::Service => Some(q.end),
        TimeRangeType::Event => None,
    };
    let lo = (pid, lo_key, TraceId([0; 16]));
    // The window's end (exclusive) or, for Event, the newest trace; then the cursor, exclusive.
    let mut hi_bound = match hi {
        Some(h) => Bound::Excluded((pid, h, TraceId([0; 16]))),
        None => Bound::Included((pid, Micros::MAX, TraceId([0xff; 16]))),
    };
    if let Some(c) = q.after {
        let c = (pid, c.key, c.trace_id);
        let tighter = match hi_bound {
            Bound::Excluded(h) | Bound::Included(h) => c <= h,
            Bound::Unbounded => true,
        };
        if tighter {
            hi_bound = Bound::Excluded(c);
        }
    }
    let empty = match hi_bound {
        Bound::Excluded(h) => h <= lo,
        Bound::Included(h) => h < lo,
        Bound::Unbounded => false,
    };
    (!empty).then_some((lo, hi_bound))
}

fn within(k: &IndexKey, lo: &IndexKey, hi: &Bound<IndexKey>) -> bool {
    k >= lo
        && match hi {
            Bound::Excluded(h) => k < h,
            Bound::Included(h) => k <= h,
            Bound::Unbounded => true,
        }
}

fn scan_shard(
    shard: &Shard,
    pid: u16,
    q: &SummaryQuery,
    budget: usize,
    quota: usize,
) -> ShardResult {
    let mut r = ShardResult {
        matches: Vec::new(),
        scanned: Vec::new(),
        stopped_at: None,
    };
    let Some((lo, hi)) = bounds(pid, q) else {
        return r;
    };
    let threshold = q
        .sample_rate
        .map(|rate| (rate.clamp(0.0, 1.0) * u64::MAX as f64) as u64);
    let detail = q.filter.as_ref().is_some_and(|f| f.needs_detail());
    let whole = q.filter.as_ref().is_some_and(|f| f.needs_whole());
    // Summaries are read in time order, which is roughly the order of their blocks.
    let unpacker = std::cell::RefCell::new(Unpacker::default());
    let key_of = |e: &TraceEntry| match q.range {
        TimeRangeType::TraceId => e.start(),
        _ => e.last(),
    };
    let consider = |tid: TraceId, key: Micros, e: &TraceEntry, r: &mut ShardResult| -> bool {
        if q.range == TimeRangeType::Event && e.start() >= q.end {
            return false;
        }
        r.scanned.push((key, tid));
        let sampled = threshold.is_none_or(|t| tid.mix64() <= t);
        let passes = || match &q.filter {
            None => true,
            Some(f) if whole => f.matches(&e.full(&shard.summaries, &mut unpacker.borrow_mut())),
            Some(f) if detail => f.matches(&e.head(&shard.summaries, &mut unpacker.borrow_mut())),
            Some(f) => f.matches(&TraceSummary::from_hot(&e.hot)),
        };
        if sampled && passes() {
            r.matches.push((key, tid));
            return true;
        }
        false
    };

    let candidates = q
        .filter
        .as_ref()
        .and_then(|f| shard.postings.candidates(&f.plan()));
    let limit =
        ((q.limit as f64 * shard.traces.len() as f64).sqrt() as u64).max(MIN_CANDIDATE_LIMIT);
    if let Some(bm) = candidates.filter(|b| b.len() <= limit) {
        for o in bm.iter() {
            let Some(k) = shard.postings.key(o) else {
                continue;
            };
            let Some(e) = shard.traces.get(&k) else {
                continue;
            };
            let key = key_of(e);
            if within(&(pid, key, k.1), &lo, &hi) {
                consider(k.1, key, e, &mut r);
            }
        }
        return r;
    }
    let index = match q.range {
        TimeRangeType::TraceId => &shard.by_start,
        _ => &shard.by_last,
    };
    let mut found = 0;
    let mut visited: Option<Pos> = None;
    for (n, &(_, key, tid)) in index.range((Bound::Included(lo), hi)).rev().enumerate() {
        if n >= budget {
            r.stopped_at = visited;
            break;
        }
        visited = Some((key, tid));
        let Some(e) = shard.traces.get(&(pid, tid)) else {
            continue;
        };
        if consider(tid, key, e, &mut r) {
            found += 1;
            // Older matches of this shard may still belong on the page: the page keeps only
            // what is at or above this stop.
            if found >= quota {
                r.stopped_at = visited;
                break;
            }
        }
    }
    r
}

/// Scans every shard; a filtered scan, which may read many summaries, runs on every core.
fn scan_shards(
    shards: &[Mutex<Shard>],
    pid: u16,
    q: &SummaryQuery,
    budget: usize,
) -> Vec<ShardResult> {
    let quota = shard_quota(q.limit, shards.len());
    let one = |group: &[Mutex<Shard>]| -> Vec<ShardResult> {
        group
            .iter()
            .map(|shard| scan_shard(&shard.lock(), pid, q, budget, quota))
            .collect()
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if q.filter.is_none() || cores < 2 {
        return one(shards);
    }
    std::thread::scope(|scope| {
        let workers: Vec<_> = shards
            .chunks(shards.len().div_ceil(cores))
            .map(|group| scope.spawn(move || one(group)))
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_default())
            .collect()
    })
}

pub(super) fn scan(
    shards: &[Mutex<Shard>],
    pid: u16,
    q: &SummaryQuery,
    budget: usize,
) -> SummaryPage {
    let mut matches = Vec::new();
    let mut scanned = Vec::new();
    let mut frontier: Option<Pos> = None;
    for r in scan_shards(shards, pid, q, budget) {
        matches.extend(r.matches);
        scanned.extend(r.scanned);
        if let Some(s) = r.stopped_at {
            frontier = Some(frontier.map_or(s, |f| f.max(s)));
        }
    }
    if let Some(f) = frontier {
        matches.retain(|p| *p >= f);
    }
    matches.sort_unstable_by_key(|m| std::cmp::Reverse(*m));
    matches.truncate(q.limit);
    let full = matches.len() >= q.limit;
    let cutoff = if full {
        matches.last().copied()
    } else {
        frontier
    };
    let mut page = SummaryPage {
        scanned: scanned
            .iter()
            .filter(|p| cutoff.is_none_or(|c| **p >= c))
            .count() as u64,
        next: cutoff.map(|(key, trace_id)| Cursor { key, trace_id }),
        reached: if full { None } else { frontier.map(|f| f.0) },
        items: Vec::with_capacity(matches.len()),
    };
    // Read the summaries of the page's traces only. A trace evicted since the scan drops out;
    // one updated since shows its newer summary.
    let mut unpacker = Unpacker::default();
    for (key, trace_id) in matches {
        let shard = shards[super::shard_of(&trace_id)].lock();
        if let Some(e) = shard.traces.get(&(pid, trace_id)) {
            let (revision, text) = (e.revision, e.summary_text(&shard.summaries));
            drop(shard);
            let summary = Arc::new(text.read(&mut unpacker));
            page.items.push(SummaryItem {
                trace_id,
                key,
                revision,
                summary,
            });
        }
    }
    page
}
