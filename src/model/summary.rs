//! The trace summary GetTraceSummaries returns, computed once per change of a trace at ingest
//! from its validated documents (never from stored JSON on a query).
//!
//! Readings chosen where AWS documents nothing precise (spec §5):
//! - the root segment is the segment without a parent in the trace, the earliest if several;
//! - fault and error root causes name the service that owns the deepest entity carrying the
//!   flag, with the path from its segment down to that entity; a failed `aws`/`remote` call
//!   whose callee sent no segment ends the path at the caller's subsegment, marked `Remote`;
//! - the response-time root cause follows the slowest child from the root down, crossing into
//!   callee segments, each service with its path and each entity's share of the response time.

use super::ids::SegmentId;
use super::segment::{AnnotationValue, Cause, DocKind, Entity, ValidDoc};
use super::time::{Micros, micros_to_secs};
use rustc_hash::FxHashMap;
use serde::Serialize;
use serde::ser::SerializeMap;

/// X-Ray indexes at most this many annotation keys per trace.
pub const MAX_ANNOTATION_KEYS: usize = 50;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceId {
    pub name: String,
    pub names: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(rename = "Type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

impl ServiceId {
    fn new(name: &str, account_id: Option<&str>, kind: Option<&str>) -> ServiceId {
        ServiceId {
            name: name.to_owned(),
            names: vec![name.to_owned()],
            account_id: account_id.map(str::to_owned),
            kind: kind.map(str::to_owned),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct HttpSummary {
    #[serde(rename = "HttpURL", skip_serializing_if = "Option::is_none")]
    pub http_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_method: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    String(String),
    Number(f64),
    Bool(bool),
}

impl Scalar {
    fn from(v: &AnnotationValue<'_>) -> Scalar {
        match v {
            AnnotationValue::String(s) => Scalar::String(s.to_string()),
            AnnotationValue::Number(n) => Scalar::Number(*n),
            AnnotationValue::Bool(b) => Scalar::Bool(*b),
        }
    }
}

impl Serialize for Scalar {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(1))?;
        match self {
            Scalar::String(v) => m.serialize_entry("StringValue", v)?,
            Scalar::Number(v) => m.serialize_entry("NumberValue", v)?,
            Scalar::Bool(v) => m.serialize_entry("BooleanValue", v)?,
        }
        m.end()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ValueWithServiceIds {
    pub annotation_value: Scalar,
    pub service_ids: Vec<ServiceId>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TraceUser {
    pub user_name: String,
    pub service_ids: Vec<ServiceId>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RootCauseException {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RootCauseEntity {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exceptions: Option<Vec<RootCauseException>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coverage: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RootCauseService {
    pub name: String,
    pub names: Vec<String>,
    #[serde(rename = "Type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    pub entity_path: Vec<RootCauseEntity>,
    pub inferred: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RootCause {
    pub services: Vec<RootCauseService>,
    pub client_impacting: bool,
}

/// Everything GetTraceSummaries reports about a trace, less what depends on the query.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TraceSummary {
    pub start: Micros,
    /// Latest end (or start, for what is still in progress) of any document.
    pub last: Micros,
    pub response_time: Option<f64>,
    pub has_fault: bool,
    pub has_error: bool,
    pub has_throttle: bool,
    pub is_partial: bool,
    pub http: Option<HttpSummary>,
    pub annotations: Vec<(String, Vec<ValueWithServiceIds>)>,
    pub users: Vec<TraceUser>,
    pub service_ids: Vec<ServiceId>,
    pub resource_arns: Vec<String>,
    pub instance_ids: Vec<String>,
    pub availability_zones: Vec<String>,
    pub entry_point: Option<ServiceId>,
    pub fault_root_causes: Vec<RootCause>,
    pub error_root_causes: Vec<RootCause>,
    pub response_time_root_causes: Vec<RootCause>,
}

impl TraceSummary {
    pub fn duration_secs(&self) -> f64 {
        micros_to_secs(self.last.saturating_sub(self.start))
    }
}

/// One entity of the assembled trace.
struct Node<'d> {
    e: &'d Entity<'d>,
    id: Option<SegmentId>,
    is_segment: bool,
    start: Option<Micros>,
    end: Option<Micros>,
    parent: Option<usize>,
    children: Vec<usize>,
    owner: Option<usize>,
}

/// The documents of one trace, linked: nested subsegments under their parents, independent
/// subsegments under `parent_id`, callee segments under the caller's subsegment.
struct Tree<'d> {
    nodes: Vec<Node<'d>>,
}

fn secs(t: Option<f64>) -> Option<Micros> {
    t.and_then(super::time::secs_to_micros)
}

impl<'d> Tree<'d> {
    fn build(docs: &'d [&'d ValidDoc<'d>]) -> Tree<'d> {
        let mut nodes: Vec<Node<'d>> = Vec::new();
        let mut stack: Vec<(&'d Entity<'d>, Option<usize>, bool)> = Vec::new();
        let mut doc_roots = Vec::with_capacity(docs.len());
        for d in docs {
            doc_roots.push(nodes.len());
            stack.push((&d.entity, None, d.kind == DocKind::Segment));
            while let Some((e, parent, is_segment)) = stack.pop() {
                let idx = nodes.len();
                nodes.push(Node {
                    e,
                    id: e.id.as_deref().and_then(SegmentId::parse),
                    is_segment,
                    start: secs(e.start_time),
                    end: if e.in_progress == Some(true) {
                        None
                    } else {
                        secs(e.end_time)
                    },
                    parent,
                    children: Vec::new(),
                    owner: None,
                });
                if let Some(p) = parent {
                    nodes[p].children.push(idx);
                }
                if let Some(subs) = &e.subsegments {
                    for s in subs.iter().rev() {
                        stack.push((s, Some(idx), false));
                    }
                }
            }
        }
        let by_id: FxHashMap<SegmentId, usize> = nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| Some((n.id?, i)))
            .collect();
        // Attach independent subsegments and callee segments to their parents.
        for (d, &root) in docs.iter().zip(&doc_roots) {
            if let Some(&p) = d.parent_id.as_ref().and_then(|pid| by_id.get(pid)) {
                if p != root && !is_ancestor(&nodes, root, p) {
                    nodes[root].parent = Some(p);
                    nodes[p].children.push(root);
                }
            }
        }
        // Owner: the nearest segment at or above each node (not across a callee boundary).
        for i in 0..nodes.len() {
            let mut cur = Some(i);
            let mut hops = 0;
            while let Some(c) = cur {
                if nodes[c].is_segment {
                    nodes[i].owner = Some(c);
                    break;
                }
                cur = nodes[c].parent;
                hops += 1;
                if hops > nodes.len() {
                    break;
                }
            }
        }
        Tree { nodes }
    }

    fn service_of(&self, seg: usize) -> ServiceId {
        let e = self.nodes[seg].e;
        ServiceId::new(
            e.name.as_deref().unwrap_or(""),
            e.aws.as_ref().and_then(|a| a.account_id.as_deref()),
            e.origin.as_deref(),
        )
    }

    fn owner_service(&self, i: usize) -> Option<ServiceId> {
        self.nodes[i].owner.map(|o| self.service_of(o))
    }

    /// A downstream call X-Ray shows as an inferred node unless its callee sent a segment.
    fn inferred_service(&self, i: usize) -> Option<ServiceId> {
        let n = &self.nodes[i];
        if n.is_segment || self.has_callee_segment(i) {
            return None;
        }
        let e = n.e;
        let name = e.name.as_deref().unwrap_or("");
        match e.namespace.as_deref() {
            Some("aws") => Some(ServiceId::new(name, None, Some(&aws_resource_type(e)))),
            Some("remote") => Some(ServiceId::new(name, None, Some("remote"))),
            _ => None,
        }
    }

    fn has_callee_segment(&self, i: usize) -> bool {
        self.nodes[i]
            .children
            .iter()
            .any(|&c| self.nodes[c].is_segment)
    }

    fn root(&self) -> Option<usize> {
        self.nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.is_segment && n.parent.is_none())
            .min_by_key(|(_, n)| (n.start, n.id))
            .map(|(i, _)| i)
    }
}

fn is_ancestor(nodes: &[Node<'_>], candidate: usize, of: usize) -> bool {
    let mut cur = Some(of);
    let mut hops = 0;
    while let Some(c) = cur {
        if c == candidate {
            return true;
        }
        cur = nodes[c].parent;
        hops += 1;
        if hops > nodes.len() {
            return true;
        }
    }
    false
}

/// The resource type X-Ray gives the inferred node of an AWS SDK call.
pub fn aws_resource_type(e: &Entity<'_>) -> String {
    let name = e.name.as_deref().unwrap_or("");
    let has_table = e.aws.as_ref().is_some_and(|a| a.table_name.is_some());
    if name.eq_ignore_ascii_case("dynamodb") && has_table {
        "AWS::DynamoDB::Table".to_owned()
    } else {
        format!("AWS::{name}")
    }
}

fn push_unique<T: PartialEq>(v: &mut Vec<T>, x: T) {
    if !v.contains(&x) {
        v.push(x);
    }
}

/// Computes the summary of a trace from all its current documents (one per segment id).
pub fn compute(docs: &[&ValidDoc<'_>]) -> TraceSummary {
    let tree = Tree::build(docs);
    let mut s = TraceSummary {
        start: docs.iter().map(|d| d.start).min().unwrap_or(0),
        last: docs
            .iter()
            .map(|d| d.end.unwrap_or(d.start))
            .max()
            .unwrap_or(0),
        ..TraceSummary::default()
    };

    let mut annotations: Vec<(String, Vec<ValueWithServiceIds>)> = Vec::new();
    for (i, n) in tree.nodes.iter().enumerate() {
        let e = n.e;
        let owner = tree.owner_service(i);
        if n.is_segment {
            push_unique(&mut s.service_ids, tree.service_of(i));
        } else if let Some(inferred) = tree.inferred_service(i) {
            push_unique(&mut s.service_ids, inferred);
        }
        s.has_throttle |= e.throttle == Some(true);
        let traced = e.traced == Some(true)
            || e.http
                .as_ref()
                .and_then(|h| h.request.as_ref())
                .and_then(|r| r.traced)
                == Some(true);
        s.is_partial |= n.end.is_none() || (traced && !n.is_segment && !tree.has_callee_segment(i));
        if let Some(user) = e.user.as_deref() {
            let sids: Vec<ServiceId> = owner.iter().cloned().collect();
            match s.users.iter_mut().find(|u| u.user_name == user) {
                Some(u) => sids
                    .into_iter()
                    .for_each(|x| push_unique(&mut u.service_ids, x)),
                None => s.users.push(TraceUser {
                    user_name: user.to_owned(),
                    service_ids: sids,
                }),
            }
        }
        if let Some(arn) = e.resource_arn.as_deref() {
            push_unique(&mut s.resource_arns, arn.to_owned());
        }
        if let Some(aws) = &e.aws {
            if let Some(ec2) = &aws.ec2 {
                if let Some(id) = ec2.instance_id.as_deref() {
                    push_unique(&mut s.instance_ids, id.to_owned());
                }
                if let Some(az) = ec2.availability_zone.as_deref() {
                    push_unique(&mut s.availability_zones, az.to_owned());
                }
            }
            if let Some(ecs) = &aws.ecs {
                if let Some(az) = ecs.availability_zone.as_deref() {
                    push_unique(&mut s.availability_zones, az.to_owned());
                }
                if let Some(arn) = ecs.container_arn.as_deref() {
                    push_unique(&mut s.resource_arns, arn.to_owned());
                }
            }
        }
        if let Some(ann) = &e.annotations {
            for (k, v) in &ann.0 {
                let value = Scalar::from(v);
                let slot = match annotations.iter().position(|(key, _)| key == k.as_ref()) {
                    Some(p) => p,
                    None if annotations.len() < MAX_ANNOTATION_KEYS => {
                        annotations.push((k.to_string(), Vec::new()));
                        annotations.len() - 1
                    }
                    None => continue,
                };
                let values = &mut annotations[slot].1;
                let entry = match values.iter().position(|x| x.annotation_value == value) {
                    Some(p) => &mut values[p],
                    None => {
                        values.push(ValueWithServiceIds {
                            annotation_value: value,
                            service_ids: Vec::new(),
                        });
                        values.last_mut().expect("just pushed")
                    }
                };
                if let Some(o) = &owner {
                    push_unique(&mut entry.service_ids, o.clone());
                }
            }
        }
    }
    s.annotations = annotations;

    if let Some(r) = tree.root() {
        let n = &tree.nodes[r];
        let e = n.e;
        s.entry_point = Some(tree.service_of(r));
        s.has_fault = e.fault == Some(true);
        s.has_error = e.error == Some(true);
        s.response_time = n
            .end
            .map(|end| micros_to_secs(end - n.start.unwrap_or(end)));
        if let Some(h) = &e.http {
            let req = h.request.as_ref();
            let summary = HttpSummary {
                http_url: req.and_then(|r| r.url.as_deref()).map(str::to_owned),
                http_status: h.response.as_ref().and_then(|r| r.status),
                http_method: req.and_then(|r| r.method.as_deref()).map(str::to_owned),
                user_agent: req.and_then(|r| r.user_agent.as_deref()).map(str::to_owned),
                client_ip: req.and_then(|r| r.client_ip.as_deref()).map(str::to_owned),
            };
            if summary != HttpSummary::default() {
                s.http = Some(summary);
            }
        }
        s.fault_root_causes = flag_root_causes(&tree, |e| e.fault == Some(true), s.has_fault);
        s.error_root_causes = flag_root_causes(&tree, |e| e.error == Some(true), s.has_error);
        s.response_time_root_causes = response_time_root_cause(&tree, r).into_iter().collect();
    } else {
        s.fault_root_causes = flag_root_causes(&tree, |e| e.fault == Some(true), false);
        s.error_root_causes = flag_root_causes(&tree, |e| e.error == Some(true), false);
    }
    s
}

fn exceptions_of(e: &Entity<'_>) -> (Vec<RootCauseException>, bool) {
    match &e.cause {
        Some(Cause::Details(d)) => {
            let ex = d.exceptions.as_deref().unwrap_or(&[]);
            (
                ex.iter()
                    .map(|x| RootCauseException {
                        name: x.kind.as_deref().map(str::to_owned),
                        message: x.message.as_deref().map(str::to_owned),
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

/// Path of entity indices from `top` (a segment) down to `leaf`, within one service.
fn path_within_service(tree: &Tree<'_>, top: usize, leaf: usize) -> Vec<usize> {
    let mut path = vec![leaf];
    let mut cur = leaf;
    while cur != top {
        match tree.nodes[cur].parent {
            Some(p) if path.len() <= tree.nodes.len() => {
                path.push(p);
                cur = p;
            }
            _ => break,
        }
    }
    path.reverse();
    path
}

fn flag_root_causes(
    tree: &Tree<'_>,
    flag: impl Fn(&Entity<'_>) -> bool,
    impacting: bool,
) -> Vec<RootCause> {
    let mut out: Vec<RootCause> = Vec::new();
    for (i, n) in tree.nodes.iter().enumerate() {
        if !flag(n.e) || n.children.iter().any(|&c| flag(tree.nodes[c].e)) {
            continue;
        }
        let Some(owner) = n.owner else { continue };
        let sid = tree.service_of(owner);
        let path = path_within_service(tree, owner, i);
        let entity_path = path
            .iter()
            .map(|&p| {
                let pe = tree.nodes[p].e;
                let (exceptions, remote_ex) = if p == i {
                    exceptions_of(pe)
                } else {
                    (Vec::new(), false)
                };
                RootCauseEntity {
                    name: pe.name.as_deref().unwrap_or("").to_owned(),
                    exceptions: Some(exceptions),
                    coverage: None,
                    remote: (p == i).then(|| remote_ex || is_remote_call(pe)),
                }
            })
            .collect();
        let cause = RootCause {
            services: vec![RootCauseService {
                name: sid.name,
                names: sid.names,
                kind: sid.kind,
                account_id: sid.account_id,
                entity_path,
                inferred: false,
            }],
            client_impacting: impacting,
        };
        push_unique(&mut out, cause);
    }
    out
}

fn duration(n: &Node<'_>) -> Option<Micros> {
    Some(n.end? - n.start?)
}

fn response_time_root_cause(tree: &Tree<'_>, root: usize) -> Option<RootCause> {
    let total = duration(&tree.nodes[root]).filter(|&d| d > 0)?;
    let mut services: Vec<RootCauseService> = Vec::new();
    let mut cur = root;
    let mut steps = 0;
    loop {
        let n = &tree.nodes[cur];
        if n.is_segment {
            let sid = tree.service_of(cur);
            services.push(RootCauseService {
                name: sid.name,
                names: sid.names,
                kind: sid.kind,
                account_id: sid.account_id,
                entity_path: Vec::new(),
                inferred: false,
            });
        }
        let coverage = duration(n).map(|d| (d as f64 / total as f64).min(1.0));
        if let Some(svc) = services.last_mut() {
            svc.entity_path.push(RootCauseEntity {
                name: n.e.name.as_deref().unwrap_or("").to_owned(),
                exceptions: None,
                coverage,
                remote: is_remote_call(n.e).then_some(true),
            });
        }
        let next = n
            .children
            .iter()
            .copied()
            .filter(|&c| duration(&tree.nodes[c]).is_some())
            .max_by_key(|&c| duration(&tree.nodes[c]));
        steps += 1;
        match next {
            Some(c) if steps <= tree.nodes.len() => cur = c,
            _ => break,
        }
    }
    Some(RootCause {
        services,
        client_impacting: true,
    })
}

/// Renders the summary as the members of a wire `TraceSummary`, less `Id`, `Revision` and
/// `MatchedEventTime`, which depend on the store and the query: a JSON object text.
pub fn render(s: &TraceSummary) -> String {
    serde_json::to_string(&WireSummary::new(s)).unwrap_or_else(|_| "{}".to_owned())
}

struct Annotations<'a>(&'a [(String, Vec<ValueWithServiceIds>)]);

impl Serialize for Annotations<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

#[derive(Serialize)]
struct Arn<'a> {
    #[serde(rename = "ARN")]
    arn: &'a str,
}

#[derive(Serialize)]
struct InstanceId<'a> {
    #[serde(rename = "Id")]
    id: &'a str,
}

#[derive(Serialize)]
struct Zone<'a> {
    #[serde(rename = "Name")]
    name: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct WireSummary<'a> {
    start_time: f64,
    duration: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_time: Option<f64>,
    has_fault: bool,
    has_error: bool,
    has_throttle: bool,
    is_partial: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    http: Option<&'a HttpSummary>,
    annotations: Annotations<'a>,
    users: &'a [TraceUser],
    service_ids: &'a [ServiceId],
    #[serde(rename = "ResourceARNs")]
    resource_arns: Vec<Arn<'a>>,
    instance_ids: Vec<InstanceId<'a>>,
    availability_zones: Vec<Zone<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    entry_point: Option<&'a ServiceId>,
    fault_root_causes: &'a [RootCause],
    error_root_causes: &'a [RootCause],
    response_time_root_causes: &'a [RootCause],
}

impl<'a> WireSummary<'a> {
    fn new(s: &'a TraceSummary) -> Self {
        WireSummary {
            start_time: micros_to_secs(s.start),
            duration: s.duration_secs(),
            response_time: s.response_time,
            has_fault: s.has_fault,
            has_error: s.has_error,
            has_throttle: s.has_throttle,
            is_partial: s.is_partial,
            http: s.http.as_ref(),
            annotations: Annotations(&s.annotations),
            users: &s.users,
            service_ids: &s.service_ids,
            resource_arns: s.resource_arns.iter().map(|a| Arn { arn: a }).collect(),
            instance_ids: s
                .instance_ids
                .iter()
                .map(|i| InstanceId { id: i })
                .collect(),
            availability_zones: s
                .availability_zones
                .iter()
                .map(|z| Zone { name: z })
                .collect(),
            entry_point: s.entry_point.as_ref(),
            fault_root_causes: &s.fault_root_causes,
            error_root_causes: &s.error_root_causes,
            response_time_root_causes: &s.response_time_root_causes,
        }
    }
}

#[cfg(test)]
mod tests;
