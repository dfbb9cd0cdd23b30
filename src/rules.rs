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

/// What a store holds of one trace, read by [`decide`] only as far as a change needs: a new
/// document that changes nothing never costs a text read or a summary decode. A store that
/// does not hold the trace answers with no documents and no summary.
pub trait HeldTrace {
    fn doc_count(&self) -> usize;
    fn doc(&self, i: usize) -> HeldDoc;
    /// Bytes of the texts of its documents.
    fn raw_bytes(&self) -> u64;
    /// Whether held document `i` is `raw` byte for byte.
    fn same_text(&mut self, i: usize, raw: &str) -> bool;
    /// The text of held document `i`.
    fn text(&mut self, i: usize) -> String;
    /// The summary the trace has now, `None` when the store does not hold it.
    fn summary(&mut self) -> Option<TraceSummary>;
}

/// The whole change one batch makes to one trace: what happens to each incoming document,
/// and, when the trace changed, its summary before and after. A store commits all of it at
/// once; the index, graph and link changes are derived from the two summaries.
#[derive(Debug)]
pub struct Decision {
    pub merge: Merge,
    pub update: Option<Update>,
}

/// A changed trace's summary before (`None` for a new trace) and after.
#[derive(Debug)]
pub struct Update {
    pub old: Option<TraceSummary>,
    pub new: TraceSummary,
}

impl Update {
    /// The index terms to remove and to add (see [`index_changes`]).
    pub fn index_changes(&self, removed: &mut Vec<Term>, added: &mut Vec<Term>) {
        index_changes(self.old.as_ref(), &self.new, removed, added)
    }

    /// The graph contributions to withdraw and to add (see [`graph_contributions`]).
    pub fn graph_contributions(&self) -> impl Iterator<Item = Contribution<'_>> {
        graph_contributions(self.old.as_ref(), &self.new)
    }

    /// The span links to resolve (see [`new_links`]).
    pub fn new_links(&self) -> impl Iterator<Item = &LinkRow> {
        new_links(self.old.as_ref(), &self.new)
    }
}

/// Decides how `incoming` (one trace's valid documents with their texts, in arrival order)
/// changes the trace `held`: merges them under the replacement and size rules and, when the
/// trace changed, summarises it again from all its documents. Pure: the store only answers
/// `held`'s questions and then commits the decision.
pub fn decide<'r, 'd: 'r, I>(
    held: &mut dyn HeldTrace,
    incoming: I,
    max_trace_bytes: u64,
) -> Decision
where
    I: ExactSizeIterator<Item = (&'r str, &'r ValidDoc<'d>)> + Clone,
{
    let n = held.doc_count();
    let held_docs: Vec<HeldDoc> = (0..n).map(|i| held.doc(i)).collect();
    let merge = merge(
        held_docs.into_iter(),
        held.raw_bytes(),
        max_trace_bytes,
        incoming.clone(),
        |i, raw| held.same_text(i, raw),
    );
    if !merge.changed() {
        return Decision {
            merge,
            update: None,
        };
    }
    // Which incoming document each position of the trace now holds, if one does.
    let mut fresh: Vec<Option<usize>> = vec![None; n];
    for (j, step) in merge.steps.iter().enumerate() {
        match step {
            Step::Replace(p) => fresh[*p] = Some(j),
            Step::Add => fresh.push(Some(j)),
            Step::Unchanged | Step::Refused(_) => {}
        }
    }
    let older: Vec<String> = (0..n)
        .filter(|&p| fresh[p].is_none())
        .map(|p| held.text(p))
        .collect();
    let docs: Vec<&ValidDoc<'d>> = incoming.map(|(_, d)| d).collect();
    let new = summarize(fresh.iter().flatten().map(|&j| docs[j]), &older);
    let old = held.summary();
    Decision {
        merge,
        update: Some(Update { old, new }),
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
