//! The X-Ray rules for one trace, pure: how new documents merge with what the trace holds, and
//! what a trace's new summary changes in the indexes, the per-minute service graph and the span
//! links. Stores apply these answers; they decide none of it themselves, so a second backend
//! applies the same rules by calling the same functions.
//!
//! - A complete document replaces its in-progress version and is never replaced by one.
//! - A re-send identical byte for byte changes nothing (the trace's revision stays).
//! - A trace stops accepting documents once they would take it past its size limit (X-Ray's
//!   500 KB), with AWS's message, and is marked `LimitExceeded`.
//! - The service graph is summed per minute of trace start: a changed trace withdraws what its
//!   old summary contributed and adds what its new one does.

use crate::model::segment::{INVALID_SEGMENT, Rejection, ValidDoc, validate};
use crate::model::selection::{Term, index_terms};
use crate::model::summary::{LinkRow, TraceSummary, compute};
use crate::model::{Micros, SegmentId};

/// AWS's refusal of a document that would take its trace past the size limit.
pub const TRACE_SIZE_EXCEEDED: &str = "Trace Size Exceeded. Reduce the number of segments per trace and the size of your segment documents.";

/// One document a trace holds, as the merge rules see it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeldDoc {
    pub id: SegmentId,
    pub complete: bool,
    /// Bytes of its text.
    pub len: u64,
}

/// What happens to one incoming document.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Already held as it is, or held complete while this one is in progress.
    Unchanged,
    Refused(Rejection),
    /// Replaces the document at this position (among those held, then those added, in order).
    Replace(usize),
    /// Joins the trace at the end.
    Add,
}

/// The outcome of merging a batch into one trace.
#[derive(Debug, Clone, PartialEq)]
pub struct Merge {
    /// One per incoming document, in order; a store applies them in that order.
    pub steps: Vec<Step>,
    /// Bytes of the trace's documents afterwards.
    pub raw_bytes: u64,
    pub limit_exceeded: bool,
}

impl Merge {
    /// Whether the trace changed (and so needs a new summary and revision).
    pub fn changed(&self) -> bool {
        self.steps
            .iter()
            .any(|s| matches!(s, Step::Replace(_) | Step::Add))
    }
}

/// Merges `incoming` (one trace's valid documents with their texts, in arrival order) into
/// what the trace holds. `same_text(i, raw)` tells whether held document `i` is `raw` byte for
/// byte; it is asked only about documents held before this batch.
pub fn merge<'r, 'd: 'r>(
    held: impl ExactSizeIterator<Item = HeldDoc>,
    raw_bytes: u64,
    max_trace_bytes: u64,
    incoming: impl ExactSizeIterator<Item = (&'r str, &'r ValidDoc<'d>)>,
    mut same_text: impl FnMut(usize, &str) -> bool,
) -> Merge {
    // The trace as it evolves within the batch: what it held, then what the batch brought.
    let mut docs: Vec<(HeldDoc, Option<&str>)> = Vec::with_capacity(held.len() + incoming.len());
    docs.extend(held.map(|h| (h, None)));
    let mut raw_bytes = raw_bytes;
    let mut limit_exceeded = false;
    let mut steps = Vec::with_capacity(incoming.len());
    for (raw, doc) in incoming {
        let len = raw.len() as u64;
        let existing = docs.iter().position(|(h, _)| h.id == doc.id);
        if let Some(p) = existing {
            let (old, text) = docs[p];
            let identical = match text {
                Some(t) => t == raw,
                None => old.len == len && same_text(p, raw),
            };
            if (old.complete && doc.in_progress()) || identical {
                steps.push(Step::Unchanged);
                continue;
            }
        }
        let old_len = existing.map_or(0, |p| docs[p].0.len);
        if raw_bytes - old_len + len > max_trace_bytes {
            limit_exceeded = true;
            steps.push(Step::Refused(Rejection {
                id: Some(doc.id.to_string()),
                code: INVALID_SEGMENT,
                message: TRACE_SIZE_EXCEEDED.into(),
            }));
            continue;
        }
        raw_bytes = raw_bytes - old_len + len;
        let now = HeldDoc {
            id: doc.id,
            complete: !doc.in_progress(),
            len,
        };
        match existing {
            Some(p) => {
                docs[p] = (now, Some(raw));
                steps.push(Step::Replace(p));
            }
            None => {
                docs.push((now, Some(raw)));
                steps.push(Step::Add);
            }
        }
    }
    Merge {
        steps,
        raw_bytes,
        limit_exceeded,
    }
}

/// A trace's summary from all its documents: those a batch brought (validated already) and
/// those held from earlier batches, validated again from their texts (one that no longer
/// validates, after a change of rules, is left out rather than failing the trace).
pub fn summarize<'a>(
    fresh: impl Iterator<Item = &'a ValidDoc<'a>>,
    older: &'a [String],
) -> TraceSummary {
    let older_parsed: Vec<ValidDoc<'a>> = older.iter().filter_map(|s| validate(s).ok()).collect();
    let mut all: Vec<&ValidDoc<'_>> = fresh.collect();
    all.extend(older_parsed.iter());
    compute(&all)
}

const MINUTE: Micros = 60_000_000;

/// The graph minute a trace's contribution is summed in: the minute it started.
pub fn graph_minute(start: Micros) -> i64 {
    start.div_euclid(MINUTE)
}

/// When the graph minute `m` starts.
pub fn minute_start(m: i64) -> Micros {
    m * MINUTE
}

/// A signed contribution of one summary to one graph minute.
pub struct Contribution<'a> {
    pub minute: i64,
    pub summary: &'a TraceSummary,
    /// 1 to add, -1 to withdraw.
    pub sign: i64,
}

/// What a trace's change does to the per-minute graph: the old summary's contribution
/// withdrawn, the new one's added.
pub fn graph_contributions<'a>(
    old: Option<&'a TraceSummary>,
    new: &'a TraceSummary,
) -> impl Iterator<Item = Contribution<'a>> {
    let withdraw = old.map(|o| Contribution {
        minute: graph_minute(o.start),
        summary: o,
        sign: -1,
    });
    withdraw.into_iter().chain(std::iter::once(Contribution {
        minute: graph_minute(new.start),
        summary: new,
        sign: 1,
    }))
}

/// The span links the new summary has and the old one had not: each is resolved once.
pub fn new_links<'a>(
    old: Option<&'a TraceSummary>,
    new: &'a TraceSummary,
) -> impl Iterator<Item = &'a LinkRow> {
    new.links
        .iter()
        .filter(move |l| old.is_none_or(|o| !o.links.contains(l)))
}

/// The index terms of the old summary (into `removed`; none for a new trace) and of the new
/// one (into `added`), for the postings to swap.
pub fn index_changes(
    old: Option<&TraceSummary>,
    new: &TraceSummary,
    removed: &mut Vec<Term>,
    added: &mut Vec<Term>,
) {
    match old {
        Some(o) => index_terms(o, removed),
        None => removed.clear(),
    }
    index_terms(new, added);
}

#[cfg(test)]
mod tests;
