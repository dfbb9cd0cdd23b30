//! The trace summary, computed once per change of a trace at ingest from its validated
//! documents, and kept compact (interned vocabulary; stored encoded, so its lists stay the
//! vectors they were collected in, never shrunk into boxed slices, which cost a reallocation
//! each at every ingest): it is what filter expressions evaluate against and what
//! GetTraceSummaries renders, so no query ever parses stored JSON.
//!
//! Readings chosen where AWS documents nothing precise (spec §5):
//! - the root segment is the segment without a parent in the trace, the earliest if several;
//! - fault and error root causes name the service that owns the deepest entity carrying the
//!   flag, with the path from its segment down to that entity; a failed `aws`/`remote` call
//!   whose callee sent no segment ends the path at the caller's subsegment, marked `Remote`;
//! - the response-time root cause follows the slowest child from the root down, crossing into
//!   callee segments, each service with its path and each entity's share of the response time.

use super::intern::{self, Sid, Sym};
use super::segment::{AnnotationValue, Cause, Entity, ValidDoc};
use super::time::{Micros, micros_to_secs};
use super::tree::{Node, Tree};
use serde::{Deserialize, Serialize};

/// X-Ray indexes at most this many annotation keys per trace.
pub const MAX_ANNOTATION_KEYS: usize = 50;

bitflags::bitflags! {
    /// What is true of a trace, a segment row or an edge row.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
    pub struct Flags: u8 {
        const FAULT = 1;
        const ERROR = 2;
        const THROTTLE = 4;
        /// Trace: something is in progress or a traced call has no callee. Row: in progress.
        const PARTIAL = 8;
        /// Trace: has inferred nodes. Row: the row is an inferred segment.
        const INFERRED = 16;
    }
}

// As the byte itself, so stored summaries read the same as before the type existed.
impl Serialize for Flags {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(self.bits())
    }
}

impl<'de> Deserialize<'de> for Flags {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        u8::deserialize(d).map(Flags::from_bits_retain)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Scalar {
    String(Box<str>),
    Number(f64),
    Bool(bool),
}

impl Scalar {
    fn from(v: &AnnotationValue<'_>) -> Scalar {
        match v {
            AnnotationValue::String(s) => Scalar::String(s.as_ref().into()),
            AnnotationValue::Number(n) => Scalar::Number(*n),
            AnnotationValue::Bool(b) => Scalar::Bool(*b),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnnotationEntry {
    pub key: Sym,
    /// Each distinct value with the services whose entities carried it.
    pub values: Vec<(Scalar, Vec<Sid>)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserEntry {
    pub name: Box<str>,
    pub services: Vec<Sid>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Http {
    pub url: Option<Box<str>>,
    pub method: Option<Sym>,
    pub user_agent: Option<Box<str>>,
    pub client_ip: Option<Box<str>>,
    pub status: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RcException {
    pub name: Option<Box<str>>,
    pub message: Option<Box<str>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RcEntity {
    pub name: Sym,
    /// Present on fault and error paths (empty on the entities above the cause).
    pub exceptions: Option<Vec<RcException>>,
    /// Response-time paths: the entity's share of the root response time.
    pub coverage: Option<f64>,
    pub remote: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RcService {
    pub sid: Sid,
    pub inferred: bool,
    pub path: Vec<RcEntity>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RootCause {
    pub services: Vec<RcService>,
    pub client_impacting: bool,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RootCauses {
    pub fault: Vec<RootCause>,
    pub error: Vec<RootCause>,
    pub response_time: Vec<RootCause>,
}

/// One segment of a service node (or the inferred segment of a call), for `service() {}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SegmentRow {
    pub sid: Sid,
    pub flags: Flags,
    pub http_status: Option<u16>,
    /// Seconds; NaN while in progress.
    pub duration: f64,
    pub start: Micros,
}

/// One call from a service to another (the caller's subsegment), for `edge() {}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EdgeRow {
    pub from: Sid,
    pub to: Sid,
    pub flags: Flags,
    pub http_status: Option<u16>,
    pub duration: f64,
    pub start: Micros,
}

/// A span link: the service of the linking entity, and the span it follows from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LinkRow {
    pub from: Sid,
    pub start: Micros,
    pub trace_id: super::ids::TraceId,
    pub span: u64,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TraceSummary {
    pub start: Micros,
    /// Latest end (or start, for what is still in progress) of any document.
    pub last: Micros,
    pub response_time: Option<f64>,
    pub flags: Flags,
    pub entry_point: Option<Sid>,
    pub http: Option<Box<Http>>,
    pub services: Vec<Sid>,
    pub annotations: Vec<AnnotationEntry>,
    pub users: Vec<UserEntry>,
    pub resource_arns: Vec<Box<str>>,
    pub instance_ids: Vec<Box<str>>,
    pub availability_zones: Vec<Sym>,
    pub root_causes: Option<Box<RootCauses>>,
    pub rows: Vec<SegmentRow>,
    pub edges: Vec<EdgeRow>,
    /// Every entity's id with its owning service and start, sorted by id: how links from other
    /// traces find the service they point at.
    pub spans: Vec<(u64, Sid, Micros)>,
    pub links: Vec<LinkRow>,
}

impl TraceSummary {
    /// The owning service and start of the entity with this id.
    pub fn span(&self, id: u64) -> Option<(Sid, Micros)> {
        let i = self.spans.binary_search_by_key(&id, |s| s.0).ok()?;
        Some((self.spans[i].1, self.spans[i].2))
    }
}

impl TraceSummary {
    pub fn duration_secs(&self) -> f64 {
        micros_to_secs(self.last.saturating_sub(self.start))
    }

    pub fn has(&self, f: Flags) -> bool {
        self.flags.intersects(f)
    }

    pub fn hot(&self) -> Hot {
        Hot {
            start: self.start,
            last: self.last,
            response_time: self.response_time.unwrap_or(f64::NAN),
            flags: self.flags,
            http_status: self.http.as_ref().and_then(|h| h.status).unwrap_or(0),
            entry_point: self.entry_point,
        }
    }

    /// A summary with only the hot fields: enough for filters that need no detail.
    pub fn from_hot(h: &Hot) -> TraceSummary {
        TraceSummary {
            start: h.start,
            last: h.last,
            response_time: (!h.response_time.is_nan()).then_some(h.response_time),
            flags: h.flags,
            entry_point: h.entry_point,
            http: (h.http_status != 0).then(|| {
                Box::new(Http {
                    status: Some(h.http_status),
                    ..Http::default()
                })
            }),
            ..TraceSummary::default()
        }
    }

    /// A compact binary form (postcard) for storage.
    pub fn encode(&self) -> Vec<u8> {
        // Most summaries fit: one allocation instead of a doubling series.
        postcard::to_extend(self, Vec::with_capacity(512)).unwrap_or_default()
    }

    pub fn decode(bytes: &[u8]) -> Option<TraceSummary> {
        postcard::from_bytes(bytes).ok()
    }

    /// What [`decode`](Self::decode) gives, up to the availability zones: root causes,
    /// segment and edge rows, spans and links are left empty, unread. Most filters need no
    /// more, and reading those (the largest part) was most of a scan's cost.
    pub fn decode_head(bytes: &[u8]) -> Option<TraceSummary> {
        let h: Head = postcard::from_bytes(bytes).ok()?;
        Some(TraceSummary {
            start: h.start,
            last: h.last,
            response_time: h.response_time,
            flags: h.flags,
            entry_point: h.entry_point,
            http: h.http,
            services: h.services,
            annotations: h.annotations,
            users: h.users,
            resource_arns: h.resource_arns,
            instance_ids: h.instance_ids,
            availability_zones: h.availability_zones,
            ..TraceSummary::default()
        })
    }
}

/// The leading fields of [`TraceSummary`], in its order and with its types: postcard reads
/// them from an encoded summary and leaves the rest of the bytes alone.
#[derive(Deserialize)]
struct Head {
    start: Micros,
    last: Micros,
    response_time: Option<f64>,
    flags: Flags,
    entry_point: Option<Sid>,
    http: Option<Box<Http>>,
    services: Vec<Sid>,
    annotations: Vec<AnnotationEntry>,
    users: Vec<UserEntry>,
    resource_arns: Vec<Box<str>>,
    instance_ids: Vec<Box<str>>,
    availability_zones: Vec<Sym>,
}

/// The few fields most filters and every scan need, kept unpacked beside the packed summary.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Hot {
    pub start: Micros,
    pub last: Micros,
    /// NaN while the root segment is in progress.
    pub response_time: f64,
    pub flags: Flags,
    /// 0 when the root segment has none.
    pub http_status: u16,
    pub entry_point: Option<Sid>,
}

fn push_unique<T: PartialEq>(v: &mut Vec<T>, x: T) {
    if !v.contains(&x) {
        v.push(x);
    }
}

fn entity_flags(e: &Entity<'_>) -> Flags {
    let mut f = Flags::empty();
    f.set(Flags::FAULT, e.fault == Some(true));
    f.set(Flags::ERROR, e.error == Some(true));
    f.set(Flags::THROTTLE, e.throttle == Some(true));
    f
}

fn http_status(e: &Entity<'_>) -> Option<u16> {
    e.http
        .as_ref()?
        .response
        .as_ref()?
        .status
        .and_then(|s| u16::try_from(s).ok())
}

fn secs_of(d: Option<Micros>) -> f64 {
    d.map_or(f64::NAN, micros_to_secs)
}

fn row_of(tree: &Tree<'_>, i: usize, sid: Sid, extra: Flags) -> SegmentRow {
    let n = &tree.nodes[i];
    let partial = if n.end.is_none() {
        Flags::PARTIAL
    } else {
        Flags::empty()
    };
    SegmentRow {
        sid,
        flags: entity_flags(n.e) | partial | extra,
        http_status: http_status(n.e),
        duration: secs_of(n.duration()),
        start: n.start.unwrap_or(0),
    }
}

/// Computes the summary of a trace from all its current documents (one per segment id).
pub fn compute(docs: &[&ValidDoc<'_>]) -> TraceSummary {
    let tree = Tree::build(docs);
    let mut c = Collector(TraceSummary {
        start: docs.iter().map(|d| d.start).min().unwrap_or(0),
        last: docs
            .iter()
            .map(|d| d.end.unwrap_or(d.start))
            .max()
            .unwrap_or(0),
        ..TraceSummary::default()
    });
    for i in 0..tree.nodes.len() {
        let owner = tree.owner_service(i);
        c.spans_and_links(&tree, i, owner);
        c.services_and_edges(&tree, i, owner);
        c.entity_flags(&tree, i);
        let e = tree.nodes[i].e;
        c.user(e, owner);
        c.resources(e);
        c.annotations(e, owner);
    }
    c.root(&tree);
    c.finish()
}

/// The summary as `compute` fills it in, walking a trace's entities.
struct Collector(TraceSummary);

impl Collector {
    /// The entity's span (for links into this trace) and the links it makes.
    fn spans_and_links(&mut self, tree: &Tree<'_>, i: usize, owner: Option<Sid>) {
        let n = &tree.nodes[i];
        let (Some(id), Some(o)) = (n.id, owner) else {
            return;
        };
        self.0.spans.push((id.0, o, n.start.unwrap_or(0)));
        for l in n.e.links.iter().flatten() {
            let target = l.trace_id.as_deref().and_then(super::ids::TraceId::parse);
            let span = l.id.as_deref().and_then(super::ids::SegmentId::parse);
            if let (Some(trace_id), Some(span)) = (target, span) {
                self.0.links.push(LinkRow {
                    from: o,
                    start: n.start.unwrap_or(0),
                    trace_id,
                    span: span.0,
                });
            }
        }
    }

    /// A segment's service and the edge from its caller; a call no segment answers, the
    /// inferred node and the edge to it.
    fn services_and_edges(&mut self, tree: &Tree<'_>, i: usize, owner: Option<Sid>) {
        let n = &tree.nodes[i];
        if n.is_segment {
            let sid = tree.service_of(i);
            push_unique(&mut self.0.services, sid);
            self.0.rows.push(row_of(tree, i, sid, Flags::empty()));
            // A callee: the call is the caller's subsegment, or the caller's segment itself.
            if let Some(p) = n.parent
                && let Some(from) = tree.owner_service(p)
            {
                let caller = if tree.nodes[p].is_segment { i } else { p };
                self.edge(from, sid, row_of(tree, caller, sid, Flags::empty()));
            }
        } else if let Some(inferred) = tree.inferred_service(i) {
            push_unique(&mut self.0.services, inferred);
            self.0.flags |= Flags::INFERRED;
            let r = row_of(tree, i, inferred, Flags::INFERRED);
            self.0.rows.push(r);
            if let Some(from) = owner {
                self.edge(from, inferred, r);
            }
        }
    }

    fn edge(&mut self, from: Sid, to: Sid, r: SegmentRow) {
        self.0.edges.push(EdgeRow {
            from,
            to,
            flags: r.flags,
            http_status: r.http_status,
            duration: r.duration,
            start: r.start,
        });
    }

    /// Throttles anywhere; partial when in progress or a traced call's callee has not reported.
    fn entity_flags(&mut self, tree: &Tree<'_>, i: usize) {
        let n = &tree.nodes[i];
        let e = n.e;
        self.0.flags |= entity_flags(e) & Flags::THROTTLE;
        let traced = e.traced == Some(true)
            || e.http
                .as_ref()
                .and_then(|h| h.request.as_ref())
                .and_then(|r| r.traced)
                == Some(true);
        if n.end.is_none() || (traced && !n.is_segment && !tree.has_callee_segment(i)) {
            self.0.flags |= Flags::PARTIAL;
        }
    }

    fn user(&mut self, e: &Entity<'_>, owner: Option<Sid>) {
        let Some(user) = e.user.as_deref() else {
            return;
        };
        match self.0.users.iter_mut().find(|u| &*u.name == user) {
            Some(u) => {
                if let Some(o) = owner.filter(|o| !u.services.contains(o)) {
                    u.services = u.services.iter().copied().chain([o]).collect();
                }
            }
            None => self.0.users.push(UserEntry {
                name: user.into(),
                services: owner.into_iter().collect(),
            }),
        }
    }

    /// Resource ARNs, EC2 instances and availability zones.
    fn resources(&mut self, e: &Entity<'_>) {
        if let Some(arn) = e.resource_arn.as_deref() {
            push_unique(&mut self.0.resource_arns, Box::<str>::from(arn));
        }
        let Some(aws) = &e.aws else {
            return;
        };
        if let Some(ec2) = &aws.ec2 {
            if let Some(id) = ec2.instance_id.as_deref() {
                push_unique(&mut self.0.instance_ids, Box::<str>::from(id));
            }
            if let Some(az) = ec2.availability_zone.as_deref() {
                push_unique(&mut self.0.availability_zones, intern::sym(az));
            }
        }
        if let Some(ecs) = &aws.ecs {
            if let Some(az) = ecs.availability_zone.as_deref() {
                push_unique(&mut self.0.availability_zones, intern::sym(az));
            }
            if let Some(arn) = ecs.container_arn.as_deref() {
                push_unique(&mut self.0.resource_arns, Box::<str>::from(arn));
            }
        }
    }

    /// Each annotation value with the services that carried it, at most
    /// `MAX_ANNOTATION_KEYS` keys.
    fn annotations(&mut self, e: &Entity<'_>, owner: Option<Sid>) {
        let Some(ann) = &e.annotations else {
            return;
        };
        for (k, v) in &ann.0 {
            let key = intern::sym(k);
            let slot = match self.0.annotations.iter().position(|a| a.key == key) {
                Some(p) => p,
                None if self.0.annotations.len() < MAX_ANNOTATION_KEYS => {
                    self.0.annotations.push(AnnotationEntry {
                        key,
                        values: Vec::new(),
                    });
                    self.0.annotations.len() - 1
                }
                None => continue,
            };
            let value = Scalar::from(v);
            let values = &mut self.0.annotations[slot].values;
            let at = match values.iter().position(|(x, _)| *x == value) {
                Some(p) => p,
                None => {
                    values.push((value, Vec::new()));
                    values.len() - 1
                }
            };
            if let Some(o) = owner {
                push_unique(&mut values[at].1, o);
            }
        }
    }

    /// What the root segment decides: the entry point, fault and error, the response time,
    /// the `Http` block; and the root causes.
    fn root(&mut self, tree: &Tree<'_>) {
        let mut causes = RootCauses::default();
        if let Some(r) = tree.root() {
            let n = &tree.nodes[r];
            let e = n.e;
            self.0.entry_point = Some(tree.service_of(r));
            self.0.flags |= entity_flags(e) & (Flags::FAULT | Flags::ERROR);
            self.0.response_time = n
                .end
                .map(|end| micros_to_secs(end - n.start.unwrap_or(end)));
            if let Some(h) = &e.http {
                let req = h.request.as_ref();
                let http = Http {
                    url: req.and_then(|r| r.url.as_deref()).map(Into::into),
                    method: req.and_then(|r| r.method.as_deref()).map(intern::sym),
                    user_agent: req.and_then(|r| r.user_agent.as_deref()).map(Into::into),
                    client_ip: req.and_then(|r| r.client_ip.as_deref()).map(Into::into),
                    status: http_status(e),
                };
                if http != Http::default() {
                    self.0.http = Some(Box::new(http));
                }
            }
            causes.response_time = response_time_root_cause(tree, r).into_iter().collect();
        }
        causes.fault = flag_root_causes(tree, Flags::FAULT, self.0.flags.contains(Flags::FAULT));
        causes.error = flag_root_causes(tree, Flags::ERROR, self.0.flags.contains(Flags::ERROR));
        if causes != RootCauses::default() {
            self.0.root_causes = Some(Box::new(causes));
        }
    }

    /// The summary, its spans sorted by id for `TraceSummary::span`.
    fn finish(mut self) -> TraceSummary {
        let spans = &mut self.0.spans;
        spans.sort_unstable_by_key(|x| x.0);
        spans.dedup_by_key(|x| x.0);
        self.0
    }
}

fn exceptions_of(e: &Entity<'_>) -> (Vec<RcException>, bool) {
    match &e.cause {
        Some(Cause::Details(d)) => {
            let ex = d.exceptions.as_deref().unwrap_or(&[]);
            (
                ex.iter()
                    .map(|x| RcException {
                        name: x.kind.as_deref().map(Into::into),
                        message: x.message.as_deref().map(Into::into),
                    })
                    .collect(),
                ex.iter().any(|x| x.remote == Some(true)),
            )
        }
        _ => (Vec::new(), false),
    }
}

fn is_remote_call(e: &Entity<'_>) -> bool {
    matches!(e.namespace.as_deref(), Some("aws") | Some("remote"))
}

fn name_sym(n: &Node<'_>) -> Sym {
    intern::sym(n.e.name.as_deref().unwrap_or(""))
}

fn flag_root_causes(tree: &Tree<'_>, f: Flags, impacting: bool) -> Vec<RootCause> {
    let has = |i: usize| entity_flags(tree.nodes[i].e).intersects(f);
    let mut out: Vec<RootCause> = Vec::new();
    for (i, n) in tree.nodes.iter().enumerate() {
        if !has(i) || n.children.iter().any(|&c| has(c)) {
            continue;
        }
        let Some(owner) = n.owner else { continue };
        let path = tree
            .path(owner, i)
            .into_iter()
            .map(|p| {
                let pn = &tree.nodes[p];
                let (exceptions, remote_ex) = if p == i {
                    exceptions_of(pn.e)
                } else {
                    (Vec::new(), false)
                };
                RcEntity {
                    name: name_sym(pn),
                    exceptions: Some(exceptions),
                    coverage: None,
                    remote: (p == i).then(|| remote_ex || is_remote_call(pn.e)),
                }
            })
            .collect();
        let cause = RootCause {
            services: vec![RcService {
                sid: tree.service_of(owner),
                inferred: false,
                path,
            }],
            client_impacting: impacting,
        };
        push_unique(&mut out, cause);
    }
    out
}

fn response_time_root_cause(tree: &Tree<'_>, root: usize) -> Option<RootCause> {
    let total = tree.nodes[root].duration().filter(|&d| d > 0)?;
    let mut services: Vec<(Sid, Vec<RcEntity>)> = Vec::new();
    let mut cur = root;
    for _ in 0..=tree.nodes.len() {
        let n = &tree.nodes[cur];
        if n.is_segment {
            services.push((tree.service_of(cur), Vec::new()));
        }
        if let Some((_, path)) = services.last_mut() {
            path.push(RcEntity {
                name: name_sym(n),
                exceptions: None,
                coverage: n.duration().map(|d| (d as f64 / total as f64).min(1.0)),
                remote: is_remote_call(n.e).then_some(true),
            });
        }
        let next = n
            .children
            .iter()
            .copied()
            .filter(|&c| tree.nodes[c].duration().is_some())
            .max_by_key(|&c| tree.nodes[c].duration());
        match next {
            Some(c) => cur = c,
            None => break,
        }
    }
    Some(RootCause {
        services: services
            .into_iter()
            .map(|(sid, path)| RcService {
                sid,
                inferred: false,
                path,
            })
            .collect(),
        client_impacting: true,
    })
}

#[cfg(test)]
mod tests;
