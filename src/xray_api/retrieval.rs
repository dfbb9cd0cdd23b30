//! Trace retrieval (StartTraceRetrieval, ListRetrievedTraces, CancelTraceRetrieval).
//!
//! AWS reads retrieved traces back from the Transaction Search log group; here every trace is
//! in the store already, so a retrieval completes at once with the requested traces whose time
//! overlaps the window (both ends inclusive). Retrievals time out after 60 minutes, as in AWS.
//! Traces come back in the `XRAY` format (processed segment documents) or the `OTEL` one
//! (spans as CloudWatch keeps them, see `model::spans`), whichever way they came in.

use super::ApiState;
use super::error::ApiError;
use super::token;
use super::types::{
    CancelTraceRetrievalRequest, CancelTraceRetrievalResult, GetRetrievedTracesGraphRequest,
    GetRetrievedTracesGraphResult, GraphLink, ListRetrievedTracesRequest,
    ListRetrievedTracesResult, RetrievedService, RetrievedTrace, Span, StartTraceRetrievalRequest,
    StartTraceRetrievalResult,
};
use crate::control::{Command, Retrieval};
use crate::error::ErrorKind;
use crate::model::TraceId;
use crate::model::intern;
use crate::model::time::micros_to_secs;
use crate::store::Partition;
use serde_json::Value;

const TIMEOUT_SECS: f64 = 3600.0;
const TRACES_PER_PAGE: usize = 5;
const SPANS_PER_TRACE: usize = 100;

fn not_found(token: &str) -> ApiError {
    let mut e = ApiError::new(
        ErrorKind::NotFound,
        "No trace retrieval has this RetrievalToken.",
    );
    e.resource_name = Some(token.to_owned());
    e
}

pub async fn start_trace_retrieval(
    st: &ApiState,
    part: &Partition,
    req: StartTraceRetrievalRequest,
) -> Result<String, ApiError> {
    let (start, end) = (req.start_time, req.end_time);
    if end < start {
        return Err(ApiError::invalid("EndTime must not be before StartTime."));
    }
    let token = super::random_id();
    let cmd = Command::StartRetrieval {
        token: token.clone(),
        retrieval: Retrieval {
            trace_ids: req.trace_ids,
            start,
            end,
            created_at: st.now_secs(),
            cancelled: false,
        },
    };
    super::execute(st, part, cmd).await?;
    super::answer(&StartTraceRetrievalResult {
        retrieval_token: Some(token),
    })
}

/// A retrieval by token, with its status now.
async fn retrieval(
    st: &ApiState,
    part: &Partition,
    token: &str,
    now: f64,
) -> Result<(Retrieval, &'static str), ApiError> {
    let r = st
        .control
        .read(part, |c| c.retrievals.get(token).cloned())
        .await?
        .ok_or_else(|| not_found(token))?;
    let s = status(&r, now);
    Ok((r, s))
}

fn status(r: &Retrieval, now: f64) -> &'static str {
    if r.cancelled {
        "CANCELLED"
    } else if now - r.created_at > TIMEOUT_SECS {
        "TIMEOUT"
    } else {
        "COMPLETE"
    }
}

pub async fn list_retrieved_traces(
    st: &ApiState,
    part: &Partition,
    req: ListRetrievedTracesRequest,
) -> Result<String, ApiError> {
    let rtoken = req.retrieval_token.as_str();
    let format = req.trace_format.as_deref().unwrap_or("XRAY");
    let now = st.now_secs();
    let (r, status) = retrieval(st, part, rtoken, now).await?;
    let mut out = ListRetrievedTracesResult {
        retrieval_status: Some(status.to_owned()),
        trace_format: Some(format.to_owned()),
        traces: Some(Vec::new()),
        next_token: None,
    };
    if status != "COMPLETE" {
        return super::answer(&out);
    }
    let ids: Vec<TraceId> = r
        .trace_ids
        .iter()
        .filter_map(|t| TraceId::parse(t))
        .collect();
    let found = st.store.get_traces(part, &ids).await?;
    let in_window: Vec<_> = found
        .into_iter()
        .filter(|t| micros_to_secs(t.start) <= r.end && micros_to_secs(t.last) >= r.start)
        .collect();
    let fp = token::fingerprint(&rtoken);
    let offset = match req.next_token.as_deref() {
        None | Some("") => 0,
        Some(t) => token::decode(t, "rt", fp)
            .map_err(ApiError::invalid)?
            .first()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
    };
    let traces = in_window
        .iter()
        .skip(offset)
        .take(TRACES_PER_PAGE)
        .map(|t| {
            let spans = match format {
                "OTEL" => otel_spans(t),
                _ => xray_spans(t),
            };
            RetrievedTrace {
                id: Some(t.trace_id.to_string()),
                duration: Some(t.duration_secs()),
                spans: Some(spans),
            }
        })
        .collect();
    out.traces = Some(traces);
    if offset + TRACES_PER_PAGE < in_window.len() {
        out.next_token = Some(token::encode(
            "rt",
            fp,
            &[(offset + TRACES_PER_PAGE).to_string()],
        ));
    }
    super::answer(&out)
}

fn span(id: String, document: String) -> Span {
    Span {
        id: Some(id),
        document: Some(document),
    }
}

/// A trace's processed documents, each as a span in the `XRAY` format.
fn xray_spans(t: &crate::store::StoredTrace) -> Vec<Span> {
    super::traces::processed(t)
        .into_iter()
        .take(SPANS_PER_TRACE)
        .map(|p| span(p.id, p.document))
        .collect()
}

/// A trace's spans in the `OTEL` format.
fn otel_spans(t: &crate::store::StoredTrace) -> Vec<Span> {
    let docs: Vec<Value> = super::traces::processed(t)
        .iter()
        .filter_map(|p| serde_json::from_str(&p.document).ok())
        .collect();
    crate::model::spans::spans(&docs, SPANS_PER_TRACE)
        .into_iter()
        .map(|(id, doc)| span(id, doc))
        .collect()
}

/// The service graph of a retrieval's traces, each service with the span links it made.
pub async fn get_retrieved_traces_graph(
    st: &ApiState,
    part: &Partition,
    req: GetRetrievedTracesGraphRequest,
) -> Result<String, ApiError> {
    let rtoken = req.retrieval_token.as_str();
    let now = st.now_secs();
    let (r, status) = retrieval(st, part, rtoken, now).await?;
    let mut out = GetRetrievedTracesGraphResult {
        retrieval_status: Some(status.to_owned()),
        services: Some(Vec::new()),
        next_token: None,
    };
    if status != "COMPLETE" {
        return super::answer(&out);
    }
    let ids: Vec<TraceId> = r
        .trace_ids
        .iter()
        .filter_map(|t| TraceId::parse(t))
        .collect();
    let mut graph = crate::graph::Graph::default();
    let mut links: Vec<(crate::model::intern::Sid, String, String)> = Vec::new();
    for (tid, s) in st.store.summaries(part, &ids).await? {
        if micros_to_secs(s.start) > r.end || micros_to_secs(s.last) < r.start {
            continue;
        }
        graph.contribute(&s, 1);
        links.extend(
            s.links
                .iter()
                .map(|l| (l.from, tid.to_string(), l.trace_id.to_string())),
        );
    }
    let services = crate::graph::render_services(&graph)
        .into_iter()
        .map(|svc| {
            let (name, kind) = (svc.name.as_deref(), svc.r#type.as_deref());
            let mine = links
                .iter()
                .filter(|(sid, _, _)| {
                    let k = intern::service_key(*sid);
                    Some(&*intern::text(k.name)) == name
                        && k.kind.map(intern::text).as_deref() == kind
                })
                .map(|(_, source, dest)| GraphLink {
                    reference_type: Some("child".to_owned()),
                    source_trace_id: Some(source.clone()),
                    destination_trace_ids: Some(vec![dest.clone()]),
                })
                .collect();
            RetrievedService {
                service: Some(svc),
                links: Some(mine),
            }
        })
        .collect();
    out.services = Some(services);
    super::answer(&out)
}

pub async fn cancel_trace_retrieval(
    st: &ApiState,
    part: &Partition,
    req: CancelTraceRetrievalRequest,
) -> Result<String, ApiError> {
    let cmd = Command::CancelRetrieval {
        token: req.retrieval_token,
    };
    super::execute(st, part, cmd).await?;
    super::answer(&CancelTraceRetrievalResult {})
}
