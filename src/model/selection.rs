//! What a filter asks of a store: a predicate over trace summaries, and a plan of index terms
//! that every matching trace carries, so a store can narrow the candidates before evaluating.
//! Plans may over-approximate (return traces the predicate rejects), never under-approximate.

use super::intern::{Sid, Sym};
use super::summary::{Flags, Scalar, TraceSummary};
use std::hash::{Hash, Hasher};

/// A fact a trace is indexed under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Term {
    /// A service of the trace by name (any type or account).
    ServiceName(Sym),
    /// A service of the trace by type.
    ServiceType(Sym),
    /// The root response status.
    HttpStatus(u16),
    /// A trace-level flag (`Flags::FAULT`, `ERROR`, `THROTTLE`, `PARTIAL`, `INFERRED`).
    Flag(Flags),
    /// An annotation key is present.
    AnnotationKey(Sym),
    /// An annotation has this value (see [`value_hash`]).
    Annotation(Sym, u64),
    /// A user name (hashed).
    User(u64),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// No narrowing: every trace is a candidate.
    All,
    Term(Term),
    And(Vec<Plan>),
    Or(Vec<Plan>),
}

/// A compiled filter expression.
pub trait TraceFilter: Send + Sync {
    fn matches(&self, s: &TraceSummary) -> bool;
    fn plan(&self) -> Plan;
    /// Whether evaluation needs more than the hot fields (`TraceSummary::hot`).
    fn needs_detail(&self) -> bool {
        true
    }
    /// Whether evaluation needs more than `TraceSummary::decode_head` reads (segment and edge
    /// rows, root causes).
    fn needs_whole(&self) -> bool {
        true
    }
}

/// A stable hash of an annotation value; numbers hash by value (`1` and `1.0` alike).
pub fn value_hash(v: &Scalar) -> u64 {
    let mut h = rustc_hash::FxHasher::default();
    match v {
        Scalar::String(s) => (0u8, s.as_ref()).hash(&mut h),
        Scalar::Number(n) => (1u8, if *n == 0.0 { 0 } else { n.to_bits() }).hash(&mut h),
        Scalar::Bool(b) => (2u8, *b).hash(&mut h),
    }
    h.finish()
}

pub fn text_hash(s: &str) -> u64 {
    let mut h = rustc_hash::FxHasher::default();
    s.hash(&mut h);
    h.finish()
}

/// The terms a trace is indexed under.
pub fn index_terms(s: &TraceSummary, out: &mut Vec<Term>) {
    out.clear();
    let mut names: Vec<Sym> = Vec::new();
    let mut types: Vec<Sym> = Vec::new();
    for &Sid(id) in s.services.iter() {
        let k = super::intern::service_key(Sid(id));
        names.push(k.name);
        if let Some(t) = k.kind {
            types.push(t);
        }
    }
    names.sort_unstable();
    names.dedup();
    types.sort_unstable();
    types.dedup();
    out.extend(names.into_iter().map(Term::ServiceName));
    out.extend(types.into_iter().map(Term::ServiceType));
    if let Some(st) = s.http.as_ref().and_then(|h| h.status) {
        out.push(Term::HttpStatus(st));
    }
    for f in [
        Flags::FAULT,
        Flags::ERROR,
        Flags::THROTTLE,
        Flags::PARTIAL,
        Flags::INFERRED,
    ] {
        if s.has(f) {
            out.push(Term::Flag(f));
        }
    }
    for a in s.annotations.iter() {
        out.push(Term::AnnotationKey(a.key));
        for (v, _) in a.values.iter() {
            out.push(Term::Annotation(a.key, value_hash(v)));
        }
    }
    for u in s.users.iter() {
        out.push(Term::User(text_hash(&u.name)));
    }
    out.sort_unstable();
    out.dedup();
}
