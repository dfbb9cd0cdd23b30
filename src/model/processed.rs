//! The documents BatchGetTraces returns: every fragment of a segment merged, independent
//! subsegments folded into their parent's `subsegments`, fields outside the segment schema
//! dropped, and an inferred segment for each downstream call whose callee sent none.

use super::ids::{SegmentId, TraceId};
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};

/// Fields of the segment-document schema; anything else is dropped on read, as X-Ray does.
const SCHEMA_FIELDS: &[&str] = &[
    "name",
    "id",
    "trace_id",
    "parent_id",
    "start_time",
    "end_time",
    "in_progress",
    "origin",
    "user",
    "service",
    "http",
    "aws",
    "sql",
    "error",
    "throttle",
    "fault",
    "cause",
    "annotations",
    "metadata",
    "subsegments",
    "resource_arn",
    "links",
    "inferred",
    "precursor_ids",
    "namespace",
    "traced",
];

/// One stored top-level document.
pub struct StoredDoc<'a> {
    pub is_segment: bool,
    pub parent_id: Option<SegmentId>,
    pub json: &'a str,
}

/// A processed segment: its id and its document as a JSON string.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessedSegment {
    pub id: String,
    pub document: String,
}

fn strip(obj: &mut Map<String, Value>, folded: bool) {
    obj.retain(|k, _| SCHEMA_FIELDS.contains(&k.as_str()));
    if folded {
        obj.remove("trace_id");
        obj.remove("parent_id");
    }
}

fn id_of(obj: &Map<String, Value>) -> Option<String> {
    obj.get("id")
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase)
}

fn start_of(v: &Value) -> f64 {
    v.get("start_time").and_then(Value::as_f64).unwrap_or(0.0)
}

/// Folds the children waiting for this entity (and, recursively, theirs) into it.
fn assemble(
    obj: &mut Map<String, Value>,
    waiting: &mut HashMap<String, Vec<Map<String, Value>>>,
    depth: usize,
) {
    let mut subs: Vec<Value> = match obj.remove("subsegments") {
        Some(Value::Array(a)) => a,
        _ => Vec::new(),
    };
    for s in subs.iter_mut() {
        if let Value::Object(m) = s {
            strip(m, false);
            if depth < 64 {
                assemble(m, waiting, depth + 1);
            }
        }
    }
    if let Some(own) = id_of(obj).and_then(|id| waiting.remove(&id)) {
        let mut folded: Vec<Value> = Vec::with_capacity(own.len());
        for mut m in own {
            strip(&mut m, true);
            if depth < 64 {
                assemble(&mut m, waiting, depth + 1);
            }
            folded.push(Value::Object(m));
        }
        folded.sort_by(|a, b| start_of(a).total_cmp(&start_of(b)));
        subs.extend(folded);
    }
    if !subs.is_empty() {
        obj.insert("subsegments".into(), Value::Array(subs));
    }
}

/// A stable id for the inferred segment of call `sub_id`, distinct from the call's own id.
fn inferred_id(sub_id: &str) -> String {
    let n = SegmentId::parse(sub_id).map(|s| s.0).unwrap_or(0);
    let mut z = n ^ 0x9e37_79b9_7f4a_7c15;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
    SegmentId(z ^ (z >> 31)).to_string()
}

/// The name and origin of the inferred segment of AWS call `sub` (see `tree::aws_node`).
fn inferred_aws_node(sub: &Map<String, Value>) -> (String, String) {
    let name = sub.get("name").and_then(Value::as_str).unwrap_or("");
    let table = sub
        .get("aws")
        .and_then(|a| a.get("table_name"))
        .and_then(Value::as_str);
    let (name, origin) = super::tree::aws_node(name, table);
    (name.to_owned(), origin.into_owned())
}

fn collect_inferred(
    obj: &Map<String, Value>,
    trace_id: &str,
    callees: &HashSet<String>,
    out: &mut Vec<Value>,
    depth: usize,
) {
    let Some(Value::Array(subs)) = obj.get("subsegments") else {
        return;
    };
    for s in subs {
        let Value::Object(m) = s else { continue };
        let ns = m.get("namespace").and_then(Value::as_str);
        if let (Some(ns @ ("aws" | "remote")), Some(id)) = (ns, id_of(m))
            && !callees.contains(&id)
        {
            let mut doc = Map::new();
            doc.insert("id".into(), Value::String(inferred_id(&id)));
            for k in ["name", "start_time", "end_time", "in_progress"] {
                if let Some(v) = m.get(k) {
                    doc.insert(k.into(), v.clone());
                }
            }
            doc.insert("trace_id".into(), Value::String(trace_id.to_owned()));
            doc.insert("parent_id".into(), Value::String(id));
            doc.insert("inferred".into(), Value::Bool(true));
            if ns == "aws" {
                let (name, origin) = inferred_aws_node(m);
                doc.insert("name".into(), Value::String(name));
                doc.insert("origin".into(), Value::String(origin));
            }
            for k in ["http", "aws", "error", "throttle", "fault"] {
                if let Some(v) = m.get(k) {
                    doc.insert(k.into(), v.clone());
                }
            }
            out.push(Value::Object(doc));
        }
        if depth < 64 {
            collect_inferred(m, trace_id, callees, out, depth + 1);
        }
    }
}

/// Builds the processed segments of one trace from its stored documents.
pub fn process(trace_id: TraceId, docs: &[StoredDoc<'_>]) -> Vec<ProcessedSegment> {
    let trace_id = trace_id.to_string();
    let mut segments: Vec<Map<String, Value>> = Vec::new();
    let mut waiting: HashMap<String, Vec<Map<String, Value>>> = HashMap::new();
    let mut callees: HashSet<String> = HashSet::new();
    for d in docs {
        let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(d.json) else {
            continue;
        };
        if d.is_segment {
            if let Some(p) = d.parent_id {
                callees.insert(p.to_string());
            }
            segments.push(obj);
        } else if let Some(p) = d.parent_id {
            waiting.entry(p.to_string()).or_default().push(obj);
        }
    }
    segments.sort_by(|a, b| {
        let (a, b) = (a.get("start_time"), b.get("start_time"));
        a.and_then(Value::as_f64)
            .unwrap_or(0.0)
            .total_cmp(&b.and_then(Value::as_f64).unwrap_or(0.0))
    });
    for seg in segments.iter_mut() {
        strip(seg, false);
        assemble(seg, &mut waiting, 0);
    }
    // Subsegments whose parent never arrived stay visible on their own, as sent.
    let mut orphans: Vec<Map<String, Value>> = waiting.into_values().flatten().collect();
    orphans.sort_by_key(id_of);
    let mut orphan_docs = Vec::with_capacity(orphans.len());
    for mut o in orphans {
        o.retain(|k, _| SCHEMA_FIELDS.contains(&k.as_str()) || k == "type");
        let mut no_more = HashMap::new();
        assemble(&mut o, &mut no_more, 0);
        orphan_docs.push(o);
    }
    let mut inferred = Vec::new();
    for s in segments.iter().chain(orphan_docs.iter()) {
        collect_inferred(s, &trace_id, &callees, &mut inferred, 0);
    }
    segments
        .into_iter()
        .chain(orphan_docs)
        .map(Value::Object)
        .chain(inferred)
        .map(|v| ProcessedSegment {
            id: v.get("id").and_then(Value::as_str).unwrap_or("").to_owned(),
            document: v.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "1-581cf771-a006649127e371903a2de979";

    fn tid() -> TraceId {
        TraceId::parse(T).unwrap()
    }

    fn parse(p: &ProcessedSegment) -> Value {
        serde_json::from_str(&p.document).unwrap()
    }

    #[test]
    fn independent_subsegments_fold_into_parents_at_any_depth() {
        let seg = format!(
            r#"{{"name":"api","id":"1000000000000001","trace_id":"{T}","start_time":1,"end_time":5,"subsegments":[{{"id":"2000000000000002","name":"inner","start_time":1.5,"end_time":2}}],"Dummy":false}}"#
        );
        let sub = format!(
            r#"{{"type":"subsegment","name":"call","id":"3000000000000003","trace_id":"{T}","parent_id":"2000000000000002","start_time":1.6,"end_time":1.9}}"#
        );
        let docs = [
            StoredDoc {
                is_segment: false,
                parent_id: SegmentId::parse("2000000000000002"),
                json: &sub,
            },
            StoredDoc {
                is_segment: true,
                parent_id: None,
                json: &seg,
            },
        ];
        let out = process(tid(), &docs);
        assert_eq!(out.len(), 1);
        let v = parse(&out[0]);
        assert!(v.get("Dummy").is_none());
        let folded = &v["subsegments"][0]["subsegments"][0];
        assert_eq!(folded["id"], "3000000000000003");
        assert!(folded.get("type").is_none() && folded.get("trace_id").is_none());
    }

    #[test]
    fn downstream_calls_without_callee_get_inferred_segments() {
        let seg = format!(
            r#"{{"name":"api","id":"1000000000000001","trace_id":"{T}","start_time":1,"end_time":5,"subsegments":[{{"id":"2000000000000002","name":"DynamoDB","namespace":"aws","aws":{{"operation":"PutItem","table_name":"t"}},"fault":true,"start_time":1.5,"end_time":2}},{{"id":"3000000000000003","name":"backend","namespace":"remote","start_time":2,"end_time":3}}]}}"#
        );
        let callee = format!(
            r#"{{"name":"backend","id":"4000000000000004","trace_id":"{T}","parent_id":"3000000000000003","start_time":2.1,"end_time":2.9}}"#
        );
        let docs = [
            StoredDoc {
                is_segment: true,
                parent_id: None,
                json: &seg,
            },
            StoredDoc {
                is_segment: true,
                parent_id: SegmentId::parse("3000000000000003"),
                json: &callee,
            },
        ];
        let out = process(tid(), &docs);
        assert_eq!(out.len(), 3, "two real segments and one inferred");
        let inferred = parse(&out[2]);
        assert_eq!(inferred["inferred"], true);
        assert_eq!(
            (&inferred["name"], &inferred["origin"]),
            (&"t".into(), &"AWS::DynamoDB::Table".into())
        );
        assert_eq!(inferred["parent_id"], "2000000000000002");
        assert_eq!(inferred["fault"], true);
        assert_eq!(inferred["aws"]["operation"], "PutItem");
        assert_ne!(inferred["id"], "2000000000000002");
        assert_eq!(out[2].id, inferred["id"].as_str().unwrap());
    }

    #[test]
    fn orphan_subsegments_are_returned_on_their_own() {
        let sub = format!(
            r#"{{"type":"subsegment","name":"call","id":"3000000000000003","trace_id":"{T}","parent_id":"2000000000000002","start_time":1.6,"end_time":1.9}}"#
        );
        let docs = [StoredDoc {
            is_segment: false,
            parent_id: SegmentId::parse("2000000000000002"),
            json: &sub,
        }];
        let out = process(tid(), &docs);
        assert_eq!(out.len(), 1);
        assert_eq!(parse(&out[0])["parent_id"], "2000000000000002");
    }
}
