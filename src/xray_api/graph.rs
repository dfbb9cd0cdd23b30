//! GetServiceGraph, GetTraceGraph and GetTimeSeriesServiceStatistics.
//!
//! Without a group (or with `Default`) the graph comes from per-minute sums kept at ingest.
//! With a group, the group's current filter selects the traces of the window and their
//! summaries are summed on the spot; the current filter applies to every trace, so
//! `ContainsOldGroupVersions` is false.

use super::ApiState;
use super::error::ApiError;
use super::groups;
use super::types::{
    ForecastStatistics, GetServiceGraphRequest, GetServiceGraphResult,
    GetTimeSeriesServiceStatisticsRequest, GetTimeSeriesServiceStatisticsResult,
    GetTraceGraphRequest, GetTraceGraphResult, TimeSeriesServiceStatistics,
};
use crate::control::DEFAULT_GROUP;
use crate::graph::{Graph, Stats, edge_stats, histogram, render_services, service_stats};
use crate::model::Micros;
use crate::model::TraceId;
use crate::model::intern::Sid;
use crate::model::summary::TraceSummary;
use crate::model::time::micros_to_secs;
use crate::query::{self, Expr};
use crate::store::{Partition, SummaryQuery, TimeRangeType};
use std::sync::Arc;

const MINUTE: Micros = 60_000_000;
/// Most traces a group-scoped graph sums.
const MAX_GROUP_TRACES: usize = 200_000;

fn window(start: f64, end: f64) -> Result<(Micros, Micros), ApiError> {
    let start = super::traces::time_member(start, "StartTime")?;
    let end = super::traces::time_member(end, "EndTime")?;
    if end < start {
        return Err(ApiError::invalid("EndTime must not be before StartTime."));
    }
    // Whole minutes: the sums are kept per minute.
    Ok((
        start.div_euclid(MINUTE) * MINUTE,
        (end + MINUTE - 1).div_euclid(MINUTE) * MINUTE,
    ))
}

/// The filter of the group a request names, if it names one other than `Default`.
async fn group_filter(
    st: &ApiState,
    part: &Partition,
    name: Option<&str>,
    arn: Option<&str>,
) -> Result<Option<String>, ApiError> {
    if name.is_none() && arn.is_none() {
        return Ok(None);
    }
    let g = groups::find(st, part, name, arn).await?;
    Ok(if g.name == DEFAULT_GROUP {
        None
    } else {
        g.filter
    })
}

/// The summaries of the traces that started in the window and pass the filter.
async fn matching(
    st: &ApiState,
    part: &Partition,
    filter: &str,
    start: Micros,
    end: Micros,
) -> Result<Vec<Arc<TraceSummary>>, ApiError> {
    let compiled = super::traces::compile_filter(st, part, filter).await?;
    let mut q = SummaryQuery {
        range: TimeRangeType::TraceId,
        start,
        end,
        after: None,
        limit: 1000,
        sample_rate: None,
        filter: compiled,
    };
    let mut out = Vec::new();
    loop {
        let page = st.store.scan_summaries(part, &q).await?;
        out.extend(page.items.into_iter().map(|i| i.summary));
        match page.next {
            Some(c) if out.len() < MAX_GROUP_TRACES => q.after = Some(c),
            _ => return Ok(out),
        }
    }
}

pub async fn get_service_graph(
    st: &ApiState,
    part: &Partition,
    req: GetServiceGraphRequest,
) -> Result<String, ApiError> {
    let (start, end) = window(req.start_time, req.end_time)?;
    let group = group_filter(
        st,
        part,
        req.group_name.as_deref(),
        req.group_arn.as_deref(),
    );
    let graph = match group.await? {
        None => st.store.service_graph(part, start, end).await?,
        Some(f) => {
            let mut g = Graph::default();
            for s in matching(st, part, &f, start, end).await? {
                g.contribute(&s, 1);
            }
            g
        }
    };
    super::answer(&GetServiceGraphResult {
        start_time: Some(micros_to_secs(start)),
        end_time: Some(micros_to_secs(end)),
        services: Some(render_services(&graph)),
        contains_old_group_versions: Some(false),
        next_token: None,
    })
}

pub async fn get_trace_graph(
    st: &ApiState,
    part: &Partition,
    req: GetTraceGraphRequest,
) -> Result<String, ApiError> {
    let ids: Vec<TraceId> = req
        .trace_ids
        .iter()
        .filter_map(|t| TraceId::parse(t))
        .collect();
    let mut g = Graph::default();
    for (_, s) in st.store.summaries(part, &ids).await? {
        g.contribute(&s, 1);
    }
    super::answer(&GetTraceGraphResult {
        services: Some(render_services(&g)),
        next_token: None,
    })
}

/// What an EntitySelectorExpression picks out of a graph.
enum Entity {
    Service(Box<dyn Fn(Sid) -> bool + Send + Sync>),
    Edge(
        Box<dyn Fn(Sid) -> bool + Send + Sync>,
        Box<dyn Fn(Sid) -> bool + Send + Sync>,
    ),
    AllEdges,
}

fn entity(text: Option<&str>) -> Result<Entity, ApiError> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(Entity::AllEdges);
    };
    let bad = |m: String| ApiError::invalid(format!("Invalid EntitySelectorExpression: {m}."));
    // A bare id(...) names a service.
    let wrapped = if text.to_ascii_lowercase().starts_with("id(") {
        format!("service({text})")
    } else {
        text.to_owned()
    };
    match query::parse(&wrapped).map_err(|e| bad(e.to_string()))? {
        Expr::Service {
            node: Some(n),
            block: None,
        } => Ok(Entity::Service(Box::new(query::node_matcher(&n)))),
        Expr::Edge {
            from,
            to,
            block: None,
        } => Ok(Entity::Edge(
            Box::new(query::node_matcher(&from)),
            Box::new(query::node_matcher(&to)),
        )),
        _ => Err(bad("use id(...), service(\"name\") or edge(a, b)".into())),
    }
}

fn select(e: &Entity, g: &Graph) -> Stats {
    let mut s = Stats::default();
    match e {
        Entity::Service(m) => g
            .nodes
            .iter()
            .filter(|(sid, _)| m(**sid))
            .for_each(|(_, n)| s.merge(&n.stats)),
        Entity::Edge(a, b) => g
            .edges
            .iter()
            .filter(|((f, t), _)| f.is_some_and(a) && b(*t))
            .for_each(|(_, x)| s.merge(x)),
        Entity::AllEdges => g.edges.values().for_each(|x| s.merge(x)),
    }
    s
}

pub async fn get_time_series_service_statistics(
    st: &ApiState,
    part: &Partition,
    req: GetTimeSeriesServiceStatisticsRequest,
) -> Result<String, ApiError> {
    let (start, end) = window(req.start_time, req.end_time)?;
    let period = req.period.unwrap_or(60);
    if period <= 0 || period % 60 != 0 {
        return Err(ApiError::invalid(format!(
            "Period must be a positive multiple of 60 seconds; got {period}."
        )));
    }
    let entity = entity(req.entity_selector_expression.as_deref())?;
    let forecast = req.forecast_statistics.unwrap_or(false);
    if forecast && !matches!(entity, Entity::Service(_)) {
        return Err(ApiError::invalid(
            "ForecastStatistics needs an id(...) or service(...) EntitySelectorExpression.",
        ));
    }
    let group = group_filter(
        st,
        part,
        req.group_name.as_deref(),
        req.group_arn.as_deref(),
    );
    let minutes: Vec<(Micros, Stats)> = match group.await? {
        None => {
            st.store
                .graph_series(part, start, end, &|g: &Graph| select(&entity, g))
                .await?
        }
        Some(f) => {
            let mut per: std::collections::BTreeMap<Micros, Graph> = Default::default();
            for s in matching(st, part, &f, start, end).await? {
                per.entry(s.start.div_euclid(MINUTE) * MINUTE)
                    .or_default()
                    .contribute(&s, 1);
            }
            per.into_iter()
                .map(|(m, g)| (m, select(&entity, &g)))
                .collect()
        }
    };
    let step = period * 1_000_000;
    let mut periods: Vec<(Micros, Stats)> = Vec::new();
    // Periods start at multiples of the period, as a chart expects.
    let mut at = start.div_euclid(step) * step;
    let mut it = minutes.into_iter().peekable();
    while at < end {
        let mut s = Stats::default();
        while let Some((_, x)) = it.next_if(|(m, _)| *m < at + step) {
            s.merge(&x);
        }
        periods.push((at, s));
        at += step;
    }
    let of_service = matches!(entity, Entity::Service(_));
    let out = periods
        .iter()
        .enumerate()
        .map(|(i, (t, s))| TimeSeriesServiceStatistics {
            timestamp: Some(micros_to_secs(*t)),
            edge_summary_statistics: (!of_service).then(|| edge_stats(s)),
            service_summary_statistics: of_service.then(|| service_stats(s)),
            service_forecast_statistics: forecast.then(|| {
                let (low, high) = fault_forecast(&periods[..i]);
                ForecastStatistics {
                    fault_count_high: Some(high),
                    fault_count_low: Some(low),
                }
            }),
            response_time_histogram: Some(histogram(&s.response)),
        })
        .collect();
    super::answer(&GetTimeSeriesServiceStatisticsResult {
        time_series_service_statistics: Some(out),
        contains_old_group_versions: Some(false),
        next_token: None,
    })
}

/// The fault-count band expected for the next period: the mean of the previous (up to) ten
/// periods, plus and minus two standard deviations, rounded outwards, never below zero.
pub fn fault_forecast(previous: &[(Micros, Stats)]) -> (i64, i64) {
    let recent: Vec<f64> = previous
        .iter()
        .rev()
        .take(10)
        .map(|(_, s)| s.fault as f64)
        .collect();
    if recent.is_empty() {
        return (0, 0);
    }
    let mean = recent.iter().sum::<f64>() / recent.len() as f64;
    let var = recent.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / recent.len() as f64;
    let spread = 2.0 * var.sqrt();
    (
        ((mean - spread).floor() as i64).max(0),
        (mean + spread).ceil() as i64,
    )
}
