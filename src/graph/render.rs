//! `Service` and `Edge` documents of GetServiceGraph / GetTraceGraph.

use super::{Graph, Hist, Stats, secs};
use crate::model::api::{
    Edge, EdgeStatistics, ErrorStatistics, FaultStatistics, HistogramEntry, Service,
    ServiceStatistics,
};
use crate::model::intern::{self, Sid};

/// A `HistogramEntry` list.
pub fn histogram(h: &Hist) -> Vec<HistogramEntry> {
    h.entries()
        .map(|(value, n)| HistogramEntry {
            value: Some(value),
            count: Some(n),
        })
        .collect()
}

/// `ServiceStatistics`.
pub fn service_stats(s: &Stats) -> ServiceStatistics {
    ServiceStatistics {
        ok_count: Some(s.ok),
        error_statistics: Some(error_stats(s)),
        fault_statistics: Some(fault_stats(s)),
        total_count: Some(s.total),
        total_response_time: Some(s.total_response_time),
    }
}

/// `EdgeStatistics`: the same counts as a service's.
pub fn edge_stats(s: &Stats) -> EdgeStatistics {
    let v = service_stats(s);
    EdgeStatistics {
        ok_count: v.ok_count,
        error_statistics: v.error_statistics,
        fault_statistics: v.fault_statistics,
        total_count: v.total_count,
        total_response_time: v.total_response_time,
    }
}

fn error_stats(s: &Stats) -> ErrorStatistics {
    ErrorStatistics {
        throttle_count: Some(s.throttle),
        other_count: Some(s.error_other),
        total_count: Some(s.throttle + s.error_other),
    }
}

fn fault_stats(s: &Stats) -> FaultStatistics {
    FaultStatistics {
        other_count: Some(s.fault),
        total_count: Some(s.fault),
    }
}

/// `(StartTime, EndTime)` of what was seen, each when known.
fn times(s: &Stats) -> (Option<f64>, Option<f64>) {
    (
        (s.start != i64::MAX).then(|| secs(s.start)),
        (s.end != i64::MIN).then(|| secs(s.end)),
    )
}

fn edge(to_ref: usize, s: &Stats) -> Edge {
    let (start_time, end_time) = times(s);
    Edge {
        reference_id: Some(to_ref as i64),
        start_time,
        end_time,
        summary_statistics: Some(edge_stats(s)),
        response_time_histogram: Some(histogram(&s.response)),
        aliases: Some(Vec::new()),
        ..Default::default()
    }
}

/// The graph's nodes as `Service` documents: the client node first (ReferenceId 0) when some
/// trace has an entry point, then services by name and type.
pub fn render_services(g: &Graph) -> Vec<Service> {
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
    let edges_from = |from: Option<Sid>| -> Vec<Edge> {
        let mut out: Vec<(usize, Edge)> = g
            .edges
            .iter()
            .filter(|((f, _), s)| *f == from && !s.is_empty())
            .filter_map(|((_, to), s)| Some((reference(*to)?, edge(reference(*to)?, s))))
            .collect();
        if let Some(from) = from {
            for ((_, to), s) in g
                .links
                .iter()
                .filter(|((f, _), s)| *f == from && !s.is_empty())
            {
                let Some(r) = reference(*to) else { continue };
                let (start_time, end_time) = times(s);
                let e = Edge {
                    reference_id: Some(r as i64),
                    start_time,
                    end_time,
                    summary_statistics: Some(edge_stats(s)),
                    aliases: Some(Vec::new()),
                    edge_type: Some("link".to_owned()),
                    received_event_age_histogram: Some(histogram(&s.response)),
                    ..Default::default()
                };
                out.push((r, e));
            }
        }
        out.sort_by_key(|e| e.0);
        out.into_iter().map(|e| e.1).collect()
    };
    let mut services = Vec::with_capacity(sids.len() + 1);
    if has_client {
        services.push(Service {
            reference_id: Some(0),
            name: Some("client".to_owned()),
            names: Some(vec!["client".to_owned()]),
            root: Some(false),
            r#type: Some("client".to_owned()),
            state: Some("unknown".to_owned()),
            edges: Some(edges_from(None)),
            ..Default::default()
        });
    }
    for (i, (name, kind, sid)) in sids.iter().enumerate() {
        let n = &g.nodes[sid];
        let key = intern::service_key(*sid);
        let (start_time, end_time) = times(&n.stats);
        let state = if n.inferred > 0 && n.inferred == n.rows {
            "unknown"
        } else {
            "active"
        };
        services.push(Service {
            reference_id: Some((i + offset) as i64),
            name: Some(name.clone()),
            names: Some(vec![name.clone()]),
            root: Some(n.root > 0),
            account_id: key.account.map(|a| intern::text(a).to_string()),
            r#type: (!kind.is_empty()).then(|| kind.clone()),
            state: Some(state.to_owned()),
            start_time,
            end_time,
            edges: Some(edges_from(Some(*sid))),
            summary_statistics: Some(service_stats(&n.stats)),
            duration_histogram: Some(histogram(&n.stats.response)),
            response_time_histogram: Some(histogram(&n.stats.response)),
        });
    }
    services
}
