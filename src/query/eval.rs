//! Evaluation of filter expressions against compact trace summaries, and the index plan that
//! lets a store narrow the candidates first.
//!
//! Meanings chosen where the guide is silent: string comparisons are case-sensitive; on values
//! a trace can hold several of (`user`, `availabilityzone`, `instance.id`, `resource.arn`,
//! annotation values) `=` and the other tests mean "some value passes" and `!=` is the
//! negation of `=`; a comparison with a value the trace lacks (no response time while in
//! progress, no HTTP status) is false.

use super::ast::{BoolKw, Expr, Literal, NodeSel, NumKw, Op, RcKind, RcLevel, StrKw};
use crate::model::intern::{self, Sid, Sym};
use crate::model::render;
use crate::model::selection::{Plan, Term, TraceFilter, text_hash, value_hash};
use crate::model::summary::{
    EdgeRow, Flags, RcEntity, RcException, RcService, RootCause, Scalar, SegmentRow, TraceSummary,
};

/// A node selector with its strings resolved; `Some(None)` names a string no trace carries.
#[derive(Debug, Clone)]
struct Sel {
    name: Option<Option<Sym>>,
    kind: Option<Option<Sym>>,
    account: Option<Option<Sym>>,
}

impl Sel {
    fn new(n: &NodeSel) -> Sel {
        let r = |s: &Option<String>| s.as_deref().map(intern::lookup);
        match n {
            NodeSel::Name(name) => Sel {
                name: Some(intern::lookup(name)),
                kind: None,
                account: None,
            },
            NodeSel::Id {
                name,
                kind,
                account,
            } => Sel {
                name: r(name),
                kind: r(kind),
                account: r(account),
            },
        }
    }

    fn matches(&self, sid: Sid) -> bool {
        let k = intern::service_key(sid);
        let test = |want: &Option<Option<Sym>>, have: Option<Sym>| match want {
            None => true,
            Some(w) => w.is_some() && *w == have,
        };
        test(&self.name, Some(k.name)) && test(&self.kind, k.kind) && test(&self.account, k.account)
    }

    fn term(&self) -> Plan {
        match (self.name, self.kind) {
            (Some(None), _) | (_, Some(None)) => Plan::Or(Vec::new()),
            (Some(Some(n)), _) => Plan::Term(Term::ServiceName(n)),
            (None, Some(Some(t))) => Plan::Term(Term::ServiceType(t)),
            (None, None) => Plan::All,
        }
    }
}

/// A test of whether a service identity is the one a node selector (`"name"`, `id(...)`) names.
pub fn node_matcher(n: &NodeSel) -> impl Fn(Sid) -> bool + Send + Sync + use<> {
    let sel = Sel::new(n);
    move |sid| sel.matches(sid)
}

/// A compiled expression: the tree with node selectors and annotation keys resolved.
#[derive(Debug, Clone)]
enum F {
    And(Box<F>, Box<F>),
    Or(Box<F>, Box<F>),
    Not(Box<F>),
    Bool(BoolKw, bool),
    Num(NumKw, Op, f64),
    Str(StrKw, Option<(Op, String)>),
    Annotation(Option<Sym>, Option<(Op, Literal)>),
    Service(Option<Sel>, Option<Box<F>>),
    Edge(Sel, Sel, Option<Box<F>>),
    RootCause(RcKind, RcLevel, Box<F>),
    RootCauseJson(serde_json::Value),
}

/// An expression ready to run; `group.*` references must have been inlined first.
#[derive(Debug, Clone)]
pub struct Filter {
    f: F,
    text: String,
}

/// Compiles `e`; fails on group references that were not resolved.
pub fn compile(e: &Expr) -> Result<Filter, super::FilterError> {
    Ok(Filter {
        f: lower(e).map_err(super::FilterError::Unresolved)?,
        text: e.to_string(),
    })
}

fn lower(e: &Expr) -> Result<F, String> {
    let b = |x: &Expr| lower(x).map(Box::new);
    Ok(match e {
        Expr::And(a, c) => F::And(b(a)?, b(c)?),
        Expr::Or(a, c) => F::Or(b(a)?, b(c)?),
        Expr::Not(a) => F::Not(b(a)?),
        Expr::Bool { kw, value } => F::Bool(*kw, *value),
        Expr::Num { kw, op, value } => F::Num(*kw, *op, *value),
        Expr::Str { kw, test } => F::Str(*kw, test.clone()),
        Expr::Annotation { key, test } => F::Annotation(intern::lookup(key), test.clone()),
        Expr::Service { node, block } => F::Service(
            node.as_ref().map(Sel::new),
            block.as_deref().map(b).transpose()?,
        ),
        Expr::Edge { from, to, block } => F::Edge(
            Sel::new(from),
            Sel::new(to),
            block.as_deref().map(b).transpose()?,
        ),
        Expr::RootCause { kind, level, block } => F::RootCause(*kind, *level, b(block)?),
        Expr::RootCauseJson(v) => F::RootCauseJson(v.clone()),
        Expr::Group { value, .. } => return Err(format!("group {value:?} was not resolved")),
    })
}

/// What a condition is evaluated against.
#[derive(Clone, Copy)]
enum Cx<'a> {
    Trace(&'a TraceSummary),
    Row(&'a TraceSummary, &'a SegmentRow),
    Edge(&'a EdgeRow),
    RcService(&'a RcService, usize, usize),
    RcEntity(&'a RcEntity, usize, usize),
    RcException(&'a RcException, usize, usize),
}

fn num_cmp(have: Option<f64>, op: Op, want: f64) -> bool {
    let Some(h) = have.filter(|h| !h.is_nan()) else {
        return false;
    };
    match op {
        Op::Eq => h == want,
        Op::Ne => h != want,
        Op::Lt => h < want,
        Op::Le => h <= want,
        Op::Gt => h > want,
        Op::Ge => h >= want,
        _ => false,
    }
}

fn str_cmp(have: &str, op: Op, want: &str) -> bool {
    match op {
        Op::Eq => have == want,
        Op::Ne => have != want,
        Op::Contains => have.contains(want),
        Op::BeginsWith => have.starts_with(want),
        Op::EndsWith => have.ends_with(want),
        _ => false,
    }
}

/// A test over the values of a field: some value passes; `!=` is the negation of `=`.
fn any_str<'s>(values: impl Iterator<Item = &'s str>, test: &Option<(Op, String)>) -> bool {
    let mut values = values.peekable();
    match test {
        None => values.peek().is_some(),
        Some((Op::Ne, want)) => !values.any(|v| v == want),
        Some((op, want)) => values.any(|v| str_cmp(v, *op, want)),
    }
}

fn flags_ok(f: Flags) -> bool {
    !f.intersects(Flags::FAULT | Flags::ERROR | Flags::THROTTLE)
}

fn position_kw(kw: BoolKw, i: usize, n: usize) -> bool {
    match kw {
        BoolKw::First => i == 0,
        BoolKw::Last => i + 1 == n,
        _ => false,
    }
}

fn service_str(sid: Sid, kw: StrKw) -> Option<std::sync::Arc<str>> {
    let k = intern::service_key(sid);
    match kw {
        StrKw::Name => Some(intern::text(k.name)),
        StrKw::Type => k.kind.map(intern::text),
        _ => None,
    }
}

fn annotation_test(s: &TraceSummary, key: Option<Sym>, test: &Option<(Op, Literal)>) -> bool {
    let Some(a) = key.and_then(|k| s.annotations.iter().find(|a| a.key == k)) else {
        return false;
    };
    let Some((op, want)) = test else { return true };
    let one = |v: &Scalar| match (v, want) {
        (Scalar::String(h), Literal::Str(w)) => str_cmp(h, *op, w),
        (Scalar::Number(h), Literal::Num(w)) => num_cmp(Some(*h), *op, *w),
        (Scalar::Bool(h), Literal::Bool(w)) => (*op == Op::Eq) == (h == w),
        _ => false,
    };
    match op {
        Op::Ne => {
            let eq = Literal::clone(want);
            !a.values.iter().any(|(v, _)| match (v, &eq) {
                (Scalar::String(h), Literal::Str(w)) => **h == **w,
                (Scalar::Number(h), Literal::Num(w)) => h == w,
                (Scalar::Bool(h), Literal::Bool(w)) => h == w,
                _ => false,
            })
        }
        _ => a.values.iter().any(|(v, _)| one(v)),
    }
}

fn causes(s: &TraceSummary, kind: RcKind) -> &[RootCause] {
    match s.root_causes.as_deref() {
        None => &[],
        Some(rc) => match kind {
            RcKind::Fault => &rc.fault,
            RcKind::Error => &rc.error,
            RcKind::ResponseTime => &rc.response_time,
        },
    }
}

/// Partial match: every field of the pattern must be in the value and match; arrays match
/// position by position and must have the same length.
fn json_matches(pattern: &serde_json::Value, value: &serde_json::Value) -> bool {
    use serde_json::Value as V;
    match (pattern, value) {
        (V::Object(p), V::Object(v)) => p
            .iter()
            .all(|(k, pv)| v.get(k).is_some_and(|vv| json_matches(pv, vv))),
        (V::Array(p), V::Array(v)) => {
            p.len() == v.len() && p.iter().zip(v).all(|(a, b)| json_matches(a, b))
        }
        (V::Number(a), V::Number(b)) => a.as_f64() == b.as_f64(),
        (a, b) => a == b,
    }
}

impl F {
    fn eval(&self, cx: Cx<'_>) -> bool {
        match self {
            F::And(a, b) => a.eval(cx) && b.eval(cx),
            F::Or(a, b) => a.eval(cx) || b.eval(cx),
            F::Not(a) => !a.eval(cx),
            F::Bool(kw, value) => self.boolean(*kw, cx) == *value,
            F::Num(kw, op, want) => num_cmp(Self::number(*kw, cx), *op, *want),
            F::Str(kw, test) => Self::string(*kw, test, cx),
            F::Annotation(key, test) => match cx {
                Cx::Trace(s) => annotation_test(s, *key, test),
                _ => false,
            },
            F::Service(sel, block) => match cx {
                Cx::Trace(s) => s.services.iter().any(|&sid| {
                    sel.as_ref().is_none_or(|x| x.matches(sid))
                        && match block {
                            None => true,
                            Some(b) => s
                                .rows
                                .iter()
                                .filter(|r| r.sid == sid)
                                .any(|r| b.eval(Cx::Row(s, r))),
                        }
                }),
                _ => false,
            },
            F::Edge(from, to, block) => match cx {
                Cx::Trace(s) => s.edges.iter().any(|e| {
                    from.matches(e.from)
                        && to.matches(e.to)
                        && block.as_ref().is_none_or(|b| b.eval(Cx::Edge(e)))
                }),
                _ => false,
            },
            F::RootCause(kind, level, block) => match cx {
                Cx::Trace(s) => {
                    let list = causes(s, *kind);
                    match level {
                        RcLevel::Service => list.iter().any(|rc| {
                            let n = rc.services.len();
                            rc.services
                                .iter()
                                .enumerate()
                                .any(|(i, svc)| block.eval(Cx::RcService(svc, i, n)))
                        }),
                        RcLevel::Entity => {
                            list.iter().flat_map(|rc| rc.services.iter()).any(|svc| {
                                let n = svc.path.len();
                                svc.path
                                    .iter()
                                    .enumerate()
                                    .any(|(i, e)| block.eval(Cx::RcEntity(e, i, n)))
                            })
                        }
                        RcLevel::Exception => list
                            .iter()
                            .flat_map(|rc| rc.services.iter())
                            .flat_map(|svc| svc.path.iter())
                            .any(|e| {
                                let ex = e.exceptions.as_deref().unwrap_or(&[]);
                                ex.iter()
                                    .enumerate()
                                    .any(|(i, x)| block.eval(Cx::RcException(x, i, ex.len())))
                            }),
                    }
                }
                _ => false,
            },
            F::RootCauseJson(pattern) => match cx {
                Cx::Trace(s) => {
                    let as_json = |k: RcKind| {
                        let list = causes(s, k);
                        match k {
                            RcKind::Fault => serde_json::to_value(render::fault_root_causes(list)),
                            RcKind::Error => serde_json::to_value(render::error_root_causes(list)),
                            RcKind::ResponseTime => {
                                serde_json::to_value(render::response_time_root_causes(list))
                            }
                        }
                    };
                    let all: Vec<serde_json::Value> =
                        [RcKind::Fault, RcKind::Error, RcKind::ResponseTime]
                            .into_iter()
                            .filter_map(|k| as_json(k).ok())
                            .filter_map(|v| v.as_array().cloned())
                            .flatten()
                            .collect();
                    pattern
                        .as_array()
                        .is_some_and(|ps| ps.iter().all(|p| all.iter().any(|v| json_matches(p, v))))
                }
                _ => false,
            },
        }
    }

    fn boolean(&self, kw: BoolKw, cx: Cx<'_>) -> bool {
        match cx {
            Cx::Trace(s) => match kw {
                BoolKw::Ok => flags_ok(s.flags),
                BoolKw::Error => s.has(Flags::ERROR),
                BoolKw::Fault => s.has(Flags::FAULT),
                BoolKw::Throttle => s.has(Flags::THROTTLE),
                BoolKw::Partial => s.has(Flags::PARTIAL),
                BoolKw::Inferred => s.has(Flags::INFERRED),
                _ => false,
            },
            Cx::Row(s, r) => match kw {
                BoolKw::Root => s.entry_point == Some(r.sid),
                _ => Self::row_flag(kw, r.flags),
            },
            Cx::Edge(e) => Self::row_flag(kw, e.flags),
            Cx::RcService(svc, i, n) => match kw {
                BoolKw::Inferred => svc.inferred,
                _ => position_kw(kw, i, n),
            },
            Cx::RcEntity(e, i, n) => match kw {
                BoolKw::Remote => e.remote == Some(true),
                _ => position_kw(kw, i, n),
            },
            Cx::RcException(_, i, n) => position_kw(kw, i, n),
        }
    }

    fn row_flag(kw: BoolKw, f: Flags) -> bool {
        match kw {
            BoolKw::Ok => flags_ok(f),
            BoolKw::Error => f.contains(Flags::ERROR),
            BoolKw::Fault => f.contains(Flags::FAULT),
            BoolKw::Throttle => f.contains(Flags::THROTTLE),
            BoolKw::Partial => f.contains(Flags::PARTIAL),
            BoolKw::Inferred => f.contains(Flags::INFERRED),
            _ => false,
        }
    }

    fn number(kw: NumKw, cx: Cx<'_>) -> Option<f64> {
        match cx {
            Cx::Trace(s) => match kw {
                NumKw::ResponseTime => s.response_time,
                NumKw::Duration => Some(s.duration_secs()),
                NumKw::HttpStatus => s.http.as_ref().and_then(|h| h.status).map(f64::from),
                _ => None,
            },
            Cx::Row(_, r) => Self::row_number(kw, r.duration, r.http_status),
            Cx::Edge(e) => Self::row_number(kw, e.duration, e.http_status),
            Cx::RcService(_, i, _) | Cx::RcException(_, i, _) => {
                (kw == NumKw::Index).then_some(i as f64)
            }
            Cx::RcEntity(e, i, _) => match kw {
                NumKw::Index => Some(i as f64),
                NumKw::Coverage => e.coverage,
                _ => None,
            },
        }
    }

    fn row_number(kw: NumKw, duration: f64, status: Option<u16>) -> Option<f64> {
        match kw {
            NumKw::ResponseTime | NumKw::Duration => Some(duration),
            NumKw::HttpStatus => status.map(f64::from),
            _ => None,
        }
    }

    fn string(kw: StrKw, test: &Option<(Op, String)>, cx: Cx<'_>) -> bool {
        match cx {
            Cx::Trace(s) => {
                let http = s.http.as_deref();
                match kw {
                    StrKw::HttpUrl => {
                        any_str(http.and_then(|h| h.url.as_deref()).into_iter(), test)
                    }
                    StrKw::HttpMethod => {
                        let m = http.and_then(|h| h.method).map(intern::text);
                        any_str(m.as_deref().into_iter(), test)
                    }
                    StrKw::HttpUserAgent => {
                        any_str(http.and_then(|h| h.user_agent.as_deref()).into_iter(), test)
                    }
                    StrKw::HttpClientIp => {
                        any_str(http.and_then(|h| h.client_ip.as_deref()).into_iter(), test)
                    }
                    StrKw::User => any_str(s.users.iter().map(|u| &*u.name), test),
                    StrKw::AvailabilityZone => {
                        let z: Vec<_> = s
                            .availability_zones
                            .iter()
                            .map(|z| intern::text(*z))
                            .collect();
                        any_str(z.iter().map(|x| &**x), test)
                    }
                    StrKw::InstanceId => any_str(s.instance_ids.iter().map(|x| &**x), test),
                    StrKw::ResourceArn => any_str(s.resource_arns.iter().map(|x| &**x), test),
                    _ => false,
                }
            }
            Cx::Row(_, r) => any_str(service_str(r.sid, kw).as_deref().into_iter(), test),
            Cx::Edge(_) => false,
            Cx::RcService(svc, ..) => {
                any_str(service_str(svc.sid, kw).as_deref().into_iter(), test)
            }
            Cx::RcEntity(e, ..) => {
                kw == StrKw::Name && any_str(std::iter::once(&*intern::text(e.name)), test)
            }
            Cx::RcException(x, ..) => match kw {
                StrKw::Name => any_str(x.name.as_deref().into_iter(), test),
                StrKw::Message => any_str(x.message.as_deref().into_iter(), test),
                _ => false,
            },
        }
    }

    fn needs_whole(&self) -> bool {
        match self {
            F::And(a, b) | F::Or(a, b) => a.needs_whole() || b.needs_whole(),
            F::Not(a) => a.needs_whole(),
            F::Service(_, block) => block.is_some(),
            F::Edge(..) | F::RootCause(..) | F::RootCauseJson(_) => true,
            F::Bool(..) | F::Num(..) | F::Str(..) | F::Annotation(..) => false,
        }
    }

    fn needs_detail(&self) -> bool {
        match self {
            F::And(a, b) | F::Or(a, b) => a.needs_detail() || b.needs_detail(),
            F::Not(a) => a.needs_detail(),
            F::Bool(..) => false,
            F::Num(kw, ..) => !matches!(
                kw,
                NumKw::ResponseTime | NumKw::Duration | NumKw::HttpStatus
            ),
            _ => true,
        }
    }

    fn plan(&self) -> Plan {
        match self {
            F::And(a, b) => Plan::And(vec![a.plan(), b.plan()]),
            F::Or(a, b) => Plan::Or(vec![a.plan(), b.plan()]),
            F::Bool(kw, true) => match kw {
                BoolKw::Fault => Plan::Term(Term::Flag(Flags::FAULT)),
                BoolKw::Error => Plan::Term(Term::Flag(Flags::ERROR)),
                BoolKw::Throttle => Plan::Term(Term::Flag(Flags::THROTTLE)),
                BoolKw::Partial => Plan::Term(Term::Flag(Flags::PARTIAL)),
                BoolKw::Inferred => Plan::Term(Term::Flag(Flags::INFERRED)),
                _ => Plan::All,
            },
            F::Num(NumKw::HttpStatus, Op::Eq, v) => match u16::try_from(*v as i64) {
                Ok(st) if v.fract() == 0.0 => Plan::Term(Term::HttpStatus(st)),
                _ => Plan::Or(Vec::new()),
            },
            F::Str(StrKw::User, Some((Op::Eq, v))) => Plan::Term(Term::User(text_hash(v))),
            F::Annotation(None, _) => Plan::Or(Vec::new()),
            F::Annotation(Some(k), None) => Plan::Term(Term::AnnotationKey(*k)),
            F::Annotation(Some(k), Some((Op::Eq, lit))) => {
                let v = match lit {
                    Literal::Str(s) => Scalar::String(s.as_str().into()),
                    Literal::Num(n) => Scalar::Number(*n),
                    Literal::Bool(b) => Scalar::Bool(*b),
                };
                Plan::Term(Term::Annotation(*k, value_hash(&v)))
            }
            F::Annotation(Some(k), Some(_)) => Plan::Term(Term::AnnotationKey(*k)),
            F::Service(Some(sel), _) => sel.term(),
            F::Edge(a, b, _) => Plan::And(vec![a.term(), b.term()]),
            _ => Plan::All,
        }
    }
}

impl TraceFilter for Filter {
    fn matches(&self, s: &TraceSummary) -> bool {
        self.f.eval(Cx::Trace(s))
    }

    fn plan(&self) -> Plan {
        self.f.plan()
    }

    fn needs_detail(&self) -> bool {
        self.f.needs_detail()
    }

    fn needs_whole(&self) -> bool {
        self.f.needs_whole()
    }
}

impl std::fmt::Display for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}
