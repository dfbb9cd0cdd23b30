//! `Service` and `Edge` documents of GetServiceGraph / GetTraceGraph.

use super::{Graph, Hist, Stats, secs};
use crate::model::intern::{self, Sid};
use serde_json::{Value, json};

/// A `HistogramEntry` list.
pub fn histogram(h: &Hist) -> Value {
    h.entries()
        .map(|(value, n)| json!({"Value": value, "Count": n}))
        .collect()
}

/// `ServiceStatistics` / `EdgeStatistics`.
pub fn stats_json(s: &Stats) -> Value {
    json!({
        "OkCount": s.ok,
        "ErrorStatistics": {"ThrottleCount": s.throttle, "OtherCount": s.error_other, "TotalCount": s.throttle + s.error_other},
        "FaultStatistics": {"OtherCount": s.fault, "TotalCount": s.fault},
        "TotalCount": s.total,
        "TotalResponseTime": s.total_response_time,
    })
}

fn times(v: &mut Value, s: &Stats) {
    if s.start != i64::MAX {
        v["StartTime"] = secs(s.start).into();
    }
    if s.end != i64::MIN {
        v["EndTime"] = secs(s.end).into();
    }
}

fn edge_json(to_ref: usize, s: &Stats) -> Value {
    let mut e = json!({
        "ReferenceId": to_ref,
        "SummaryStatistics": stats_json(s),
        "ResponseTimeHistogram": histogram(&s.response),
        "Aliases": [],
    });
    times(&mut e, s);
    e
}

/// The graph's nodes as `Service` documents: the client node first (ReferenceId 0) when some
/// trace has an entry point, then services by name and type.
pub fn render_services(g: &Graph) -> Vec<Value> {
    let mut sids: Vec<(String, String, Sid)> = g
        .nodes
        .keys()
        .map(|&sid| {
            let k = intern::service_key(sid);
            (
                intern::text(k.name).to_string(),
                k.kind
                    .map(|t| intern::text(t).to_string())
                    .unwrap_or_default(),
                sid,
            )
        })
        .collect();
    sids.sort();
    let has_client = g.edges.keys().any(|(from, _)| from.is_none());
    let offset = usize::from(has_client);
    let reference = |sid: Sid| sids.iter().position(|x| x.2 == sid).map(|p| p + offset);
    let edges_from = |from: Option<Sid>| -> Vec<Value> {
        let mut out: Vec<(usize, Value)> = g
            .edges
            .iter()
            .filter(|((f, _), s)| *f == from && !s.is_empty())
            .filter_map(|((_, to), s)| Some((reference(*to)?, edge_json(reference(*to)?, s))))
            .collect();
        if let Some(from) = from {
            for ((_, to), s) in g
                .links
                .iter()
                .filter(|((f, _), s)| *f == from && !s.is_empty())
            {
                let Some(r) = reference(*to) else { continue };
                let mut e = json!({
                    "ReferenceId": r,
                    "EdgeType": "link",
                    "SummaryStatistics": stats_json(s),
                    "ReceivedEventAgeHistogram": histogram(&s.response),
                    "Aliases": [],
                });
                times(&mut e, s);
                out.push((r, e));
            }
        }
        out.sort_by_key(|e| e.0);
        out.into_iter().map(|e| e.1).collect()
    };
    let mut services = Vec::with_capacity(sids.len() + 1);
    if has_client {
        services.push(json!({
            "ReferenceId": 0,
            "Name": "client",
            "Names": ["client"],
            "Root": false,
            "Type": "client",
            "State": "unknown",
            "Edges": edges_from(None),
        }));
    }
    for (i, (name, kind, sid)) in sids.iter().enumerate() {
        let n = &g.nodes[sid];
        let key = intern::service_key(*sid);
        let mut v = json!({
            "ReferenceId": i + offset,
            "Name": name,
            "Names": [name],
            "Root": n.root > 0,
            "State": if n.inferred > 0 && n.inferred == n.rows { "unknown" } else { "active" },
            "Edges": edges_from(Some(*sid)),
            "SummaryStatistics": stats_json(&n.stats),
            "DurationHistogram": histogram(&n.stats.response),
            "ResponseTimeHistogram": histogram(&n.stats.response),
        });
        if !kind.is_empty() {
            v["Type"] = kind.as_str().into();
        }
        if let Some(a) = key.account {
            v["AccountId"] = intern::text(a).as_ref().into();
        }
        times(&mut v, &n.stats);
        services.push(v);
    }
    services
}
