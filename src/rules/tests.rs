//! The rules with no store at all: held documents are plain values and texts are compared
//! through a closure over a vector.

use super::*;
use crate::model::segment::validate;
use crate::model::summary::compute;

fn doc(id: u64, end: Option<f64>, pad: usize) -> String {
    let mut d = serde_json::json!({
        "trace_id": "1-5759e988-bd862e3fe1be46a994272793", "id": format!("{id:016x}"),
        "name": "svc", "start_time": 1_500_000_000.0,
    });
    match end {
        Some(e) => d["end_time"] = (1_500_000_000.0 + e).into(),
        None => d["in_progress"] = true.into(),
    }
    if pad > 0 {
        d["metadata"] = serde_json::json!({"default": {"pad": "x".repeat(pad)}});
    }
    d.to_string()
}

/// Merges `texts` into a trace holding `held` (with their texts), as a store would.
fn run(held: &[String], texts: &[String], max: u64) -> Merge {
    let held_docs: Vec<HeldDoc> = held
        .iter()
        .map(|t| {
            let v = validate(t).unwrap();
            HeldDoc {
                id: v.id,
                complete: !v.in_progress(),
                len: t.len() as u64,
            }
        })
        .collect();
    let raw_bytes = held.iter().map(|t| t.len() as u64).sum();
    let parsed: Vec<ValidDoc<'_>> = texts.iter().map(|t| validate(t).unwrap()).collect();
    let incoming = texts.iter().map(String::as_str).zip(&parsed);
    merge(held_docs.into_iter(), raw_bytes, max, incoming, |i, raw| {
        held[i] == raw
    })
}

#[test]
fn a_complete_document_replaces_its_in_progress_version() {
    let m = run(&[doc(1, None, 0)], &[doc(1, Some(1.0), 0)], 500 * 1024);
    assert_eq!(m.steps, vec![Step::Replace(0)]);
    assert!(m.changed());
}

#[test]
fn an_in_progress_document_never_replaces_a_complete_one() {
    let m = run(&[doc(1, Some(1.0), 0)], &[doc(1, None, 0)], 500 * 1024);
    assert_eq!(m.steps, vec![Step::Unchanged]);
    assert!(!m.changed());
}

#[test]
fn an_identical_resend_changes_nothing_even_within_one_batch() {
    let d = doc(1, Some(1.0), 0);
    assert_eq!(
        run(
            std::slice::from_ref(&d),
            std::slice::from_ref(&d),
            500 * 1024
        )
        .steps,
        vec![Step::Unchanged]
    );
    let m = run(&[], &[d.clone(), d], 500 * 1024);
    assert_eq!(m.steps, vec![Step::Add, Step::Unchanged]);
}

#[test]
fn an_in_progress_version_then_its_completion_in_one_batch() {
    let m = run(
        &[],
        &[doc(1, None, 0), doc(1, Some(2.0), 0), doc(2, None, 0)],
        500 * 1024,
    );
    assert_eq!(m.steps, vec![Step::Add, Step::Replace(0), Step::Add]);
    assert_eq!(
        m.raw_bytes,
        (doc(1, Some(2.0), 0).len() + doc(2, None, 0).len()) as u64
    );
}

#[test]
fn past_the_size_limit_documents_are_refused_with_aws_message_and_the_trace_is_marked() {
    let held = vec![doc(1, Some(1.0), 300)];
    let limit = (held[0].len() + doc(2, Some(1.0), 300).len()) as u64;
    let m = run(
        &held,
        &[doc(2, Some(1.0), 300), doc(3, Some(1.0), 0)],
        limit,
    );
    match &m.steps[..] {
        [Step::Add, Step::Refused(r)] => {
            assert_eq!(r.message, TRACE_SIZE_EXCEEDED);
            assert_eq!(r.id.as_deref(), Some("0000000000000003"));
        }
        other => panic!("{other:?}"),
    }
    assert!(m.limit_exceeded);
    assert_eq!(m.raw_bytes, limit);
}

#[test]
fn a_replacement_counts_only_the_difference_against_the_limit() {
    let held = vec![doc(1, None, 300)];
    let done = doc(1, Some(1.0), 300);
    let m = run(&held, std::slice::from_ref(&done), done.len() as u64);
    assert_eq!(m.steps, vec![Step::Replace(0)]);
    assert!(!m.limit_exceeded);
}

#[test]
fn a_changed_trace_withdraws_its_old_graph_contribution_and_adds_the_new() {
    let (a, b) = (doc(1, None, 0), doc(1, Some(61.0), 0));
    let (va, vb) = (validate(&a).unwrap(), validate(&b).unwrap());
    let (old, new) = (compute(&[&va]), compute(&[&vb]));
    let c: Vec<(i64, i64)> = graph_contributions(Some(&old), &new)
        .map(|c| (c.minute, c.sign))
        .collect();
    assert_eq!(
        c,
        vec![(graph_minute(old.start), -1), (graph_minute(new.start), 1)]
    );
    assert_eq!(graph_contributions(None, &new).count(), 1);
    assert_eq!(
        minute_start(graph_minute(new.start + 59_000_000)),
        minute_start(graph_minute(new.start))
    );
}

#[test]
fn index_terms_of_a_new_trace_remove_nothing() {
    let a = doc(1, Some(1.0), 0);
    let va = validate(&a).unwrap();
    let s = compute(&[&va]);
    let (mut removed, mut added) = (vec![], vec![]);
    index_changes(None, &s, &mut removed, &mut added);
    assert!(removed.is_empty() && !added.is_empty());
    index_changes(Some(&s), &s, &mut removed, &mut added);
    assert_eq!(removed, added);
    assert_eq!(new_links(Some(&s), &s).count(), 0);
}

#[test]
fn the_summary_covers_fresh_and_older_documents_and_leaves_out_invalid_ones() {
    let fresh_text = doc(2, Some(3.0), 0);
    let fresh = validate(&fresh_text).unwrap();
    let older = vec![doc(1, Some(1.0), 0), "{\"not\":\"a segment\"}".to_owned()];
    let s = summarize(std::iter::once(&fresh), &older);
    let (a, b) = (validate(&fresh_text).unwrap(), validate(&older[0]).unwrap());
    assert_eq!(s, compute(&[&a, &b]));
    assert_eq!(s.last - s.start, 3_000_000);
}

/// A trace held as plain texts, counting what `decide` reads of it.
struct Plain {
    texts: Vec<String>,
    summary: Option<TraceSummary>,
    reads: usize,
}

impl Plain {
    fn new(texts: Vec<String>) -> Plain {
        let parsed: Vec<ValidDoc<'_>> = texts.iter().map(|t| validate(t).unwrap()).collect();
        let summary = (!texts.is_empty()).then(|| compute(&parsed.iter().collect::<Vec<_>>()));
        drop(parsed);
        Plain {
            texts,
            summary,
            reads: 0,
        }
    }
}

impl HeldTrace for Plain {
    fn doc_count(&self) -> usize {
        self.texts.len()
    }
    fn doc(&self, i: usize) -> HeldDoc {
        let v = validate(&self.texts[i]).unwrap();
        HeldDoc {
            id: v.id,
            complete: !v.in_progress(),
            len: self.texts[i].len() as u64,
        }
    }
    fn raw_bytes(&self) -> u64 {
        self.texts.iter().map(|t| t.len() as u64).sum()
    }
    fn same_text(&mut self, i: usize, raw: &str) -> bool {
        self.texts[i] == raw
    }
    fn text(&mut self, i: usize) -> String {
        self.reads += 1;
        self.texts[i].clone()
    }
    fn summary(&mut self) -> Option<TraceSummary> {
        self.reads += 1;
        self.summary.clone()
    }
}

fn decide_on(held: &mut Plain, texts: &[String]) -> Decision {
    let parsed: Vec<ValidDoc<'_>> = texts.iter().map(|t| validate(t).unwrap()).collect();
    decide(
        held,
        texts.iter().map(String::as_str).zip(&parsed),
        500 * 1024,
    )
}

#[test]
fn a_decision_summarises_the_trace_as_it_will_be_and_keeps_the_summary_it_replaces() {
    let (a, b) = (doc(1, None, 0), doc(2, Some(5.0), 0));
    let mut held = Plain::new(vec![a.clone(), b.clone()]);
    let done = doc(1, Some(9.0), 0);
    let d = decide_on(&mut held, std::slice::from_ref(&done));
    assert_eq!(d.merge.steps, vec![Step::Replace(0)]);
    let u = d.update.expect("the trace changed");
    let (vd, vb) = (validate(&done).unwrap(), validate(&b).unwrap());
    assert_eq!(u.new, compute(&[&vd, &vb]));
    // Debug text, since an in-progress row's duration is NaN.
    assert_eq!(format!("{:?}", u.old), format!("{:?}", held.summary));
    // The replaced document is not read back; the one kept is, and so is the old summary.
    assert_eq!(held.reads, 2);
    assert_eq!(u.graph_contributions().count(), 2);
}

#[test]
fn a_batch_that_changes_nothing_reads_no_text_and_no_summary() {
    let a = doc(1, Some(1.0), 0);
    let mut held = Plain::new(vec![a.clone()]);
    let d = decide_on(&mut held, &[a, doc(1, None, 0)]);
    assert_eq!(d.merge.steps, vec![Step::Unchanged, Step::Unchanged]);
    assert!(d.update.is_none());
    assert_eq!(held.reads, 0);
}

#[test]
fn a_new_trace_has_no_old_summary_and_withdraws_nothing() {
    let mut held = Plain::new(vec![]);
    let d = decide_on(&mut held, &[doc(1, None, 0), doc(1, Some(2.0), 0)]);
    assert_eq!(d.merge.steps, vec![Step::Add, Step::Replace(0)]);
    let u = d.update.unwrap();
    assert!(u.old.is_none());
    assert_eq!(u.new.last - u.new.start, 2_000_000);
    let signs: Vec<i64> = u.graph_contributions().map(|c| c.sign).collect();
    assert_eq!(signs, vec![1]);
    let (mut removed, mut added) = (vec![], vec![]);
    u.index_changes(&mut removed, &mut added);
    assert!(removed.is_empty() && !added.is_empty());
}
