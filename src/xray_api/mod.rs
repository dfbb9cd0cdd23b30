//! The X-Ray API over rest-json: every operation is a POST to a fixed path with a JSON body.
//! Routing is by path alone; errors follow the rest-json model botocore reads.

mod error;
mod graph;
mod groups;
mod policies;
pub mod put_body;
mod retrieval;
mod sampling;
mod settings;
mod shapes;
mod tags;
mod token;
mod traces;
pub use crate::model::api as types;
pub mod validate;

pub use crate::store::DEFAULT_ACCOUNT;
pub use error::ApiError;

use crate::model::ids::random_u64;
use crate::model::time::{Clock, micros_to_secs};
use crate::store::control::ControlStore;
use crate::store::{Partition, TraceStore};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use axum::routing::any;
use serde_json::{Value, json};
use std::sync::Arc;
use validate::{Op, operation_for_path, validate_input};

/// Largest request body: 50 documents of 64 KB, JSON-escaped, with room to spare.
pub const MAX_BODY_BYTES: usize = 16 << 20;

pub struct ApiState {
    pub store: Arc<dyn TraceStore>,
    /// Who may call, and in which account their calls land.
    pub auth: Arc<crate::auth::Auth>,
    /// The segments-per-second quota PutTraceSegments takes from.
    pub quota: Arc<crate::quota::SegmentQuota>,
    pub control: Arc<ControlStore>,
    pub clock: Arc<dyn Clock>,
    pub default_partition: Partition,
    /// `(name, address)` of every listener, for `/health`.
    pub listeners: Vec<(String, String)>,
    /// More counters for `/health`, by name (the daemon's UDP intake, ...).
    pub health_extras: Vec<(String, HealthFn)>,
    /// Called before `/metrics` is answered, to bring gauges read from elsewhere up to date.
    pub on_scrape: Vec<Box<dyn Fn() + Send + Sync>>,
}

pub type HealthFn = Box<dyn Fn() -> Value + Send + Sync>;

impl ApiState {
    pub fn now_secs(&self) -> f64 {
        micros_to_secs(self.clock.now_micros())
    }

    /// The filter expression of a group among the partition's `groups` (empty for one
    /// without a filter), for `group.name` / `group.arn` in filters.
    pub fn group_filter(
        groups: &[crate::control::Group],
        part: &Partition,
        by: crate::query::ast::GroupBy,
        name: &str,
    ) -> Option<String> {
        use crate::query::ast::GroupBy;
        let found = match by {
            GroupBy::Name => groups::find_in(groups, part, Some(name), None),
            GroupBy::Arn => groups::find_in(groups, part, None, Some(name)),
        };
        found.ok().map(|g| g.filter.unwrap_or_default())
    }
}

pub fn router(state: Arc<ApiState>) -> Router {
    Router::new()
        .route("/health", any(health))
        .route("/metrics", axum::routing::get(metrics))
        .merge(crate::ui::router())
        .fallback(dispatch)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(refuse_declared_oversize))
        .with_state(state)
}

async fn health(State(st): State<Arc<ApiState>>) -> Response {
    let listeners: serde_json::Map<String, Value> = st
        .listeners
        .iter()
        .map(|(n, a)| (n.clone(), Value::String(a.clone())))
        .collect();
    let mut body = json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "listeners": listeners,
        "store": st.store.stats(),
        "rss_bytes": crate::store::memory::resident::process_resident_bytes(),
    });
    for (name, f) in &st.health_extras {
        body[name.as_str()] = f();
    }
    respond(StatusCode::OK, body.to_string(), &request_id(), None)
}

async fn metrics(State(st): State<Arc<ApiState>>) -> Response {
    let m = &crate::metrics::METRICS;
    let s = st.store.stats();
    m.stored_traces.set(s.traces as i64);
    m.stored_documents.set(s.documents as i64);
    m.stored_bytes.set(s.bytes as i64);
    m.evicted_by_limits(s.evicted_traces);
    m.sampling_clients.set(st.control.sampling_clients() as i64);
    for f in &st.on_scrape {
        f();
    }
    let mut r = Response::new(Body::from(m.encode()));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    r
}

/// 32 hex digits.
pub(crate) fn random_id() -> String {
    format!("{:016x}{:016x}", random_u64(), random_u64())
}

fn request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn respond(status: StatusCode, body: String, rid: &str, error_type: Option<&str>) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(rid) {
        h.insert("x-amzn-RequestId", v);
    }
    if let Some(t) = error_type.and_then(|t| HeaderValue::from_str(t).ok()) {
        h.insert("x-amzn-ErrorType", t);
    }
    r
}

/// Answers a request whose declared length is over the limit before reading its body, so a
/// client that stops on the answer never writes megabytes into a closing connection.
async fn refuse_declared_oversize(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    match declared {
        Some(n) if n > MAX_BODY_BYTES => {
            let e = ApiError::new(
                crate::error::ErrorKind::TooLarge,
                format!("The request body is {n} bytes; the limit is {MAX_BODY_BYTES}."),
            );
            respond(
                StatusCode::PAYLOAD_TOO_LARGE,
                e.body(),
                &request_id(),
                Some(e.code),
            )
        }
        _ => next.run(req).await,
    }
}

async fn dispatch(
    State(st): State<Arc<ApiState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let rid = request_id();
    let began = std::time::Instant::now();
    let op = operation_for_path(uri.path());
    let result = match body {
        Ok(body) => handle(&st, op, &method, &uri, &headers, &body).await,
        // Too large or unreadable: still a rest-json error, never the framework's plain text.
        Err(e) => Err(ApiError::new(
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                crate::error::ErrorKind::TooLarge
            } else {
                crate::error::ErrorKind::InvalidRequest
            },
            format!("The request body could not be read: {}.", e.body_text()),
        )),
    };
    let operation = op.map_or("unknown", |op| op.name);
    let status = result.as_ref().map_or_else(|e| e.status, |_| 200);
    let m = &crate::metrics::METRICS;
    m.api_requests
        .get_or_create(&crate::metrics::ApiLabels { operation, status })
        .inc();
    m.api_latency
        .get_or_create(&crate::metrics::OperationLabel { operation })
        .observe(began.elapsed().as_secs_f64());
    match result {
        Ok(body) => respond(StatusCode::OK, body, &rid, None),
        Err(e) => {
            if e.status >= 500 {
                tracing::warn!(path = uri.path(), code = e.code, "{}", e.message);
            }
            let status =
                StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            respond(status, e.body(), &rid, Some(e.code))
        }
    }
}

async fn handle(
    st: &ApiState,
    op: Option<&'static Op>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<String, ApiError> {
    let path = uri.path();
    let Some(op) = op else {
        return Err(ApiError::with_code(
            404,
            "UnknownOperationException",
            format!("No X-Ray operation is served at {method} {path}."),
        ));
    };
    if method != Method::POST {
        return Err(ApiError::with_code(
            404,
            "UnknownOperationException",
            format!("{} is served as POST {path}, not {method}.", op.name),
        ));
    }
    let signed = crate::auth::sigv4::Request {
        method: method.as_str(),
        path,
        query: uri.query().unwrap_or(""),
        headers,
        body,
    };
    let now = st.clock.now_micros() / 1_000_000;
    let part = st.auth.signed(&signed, &st.default_partition, now)?;
    // Nothing is answered from half-recovered state.
    st.store.ready()?;
    call(st, op, &part, body).await
}

/// The answer when a command applied but answered in a way its operation does not expect: a
/// bug, reported as an internal error rather than a panic.
fn unexpected(a: crate::control::Applied) -> ApiError {
    ApiError::new(
        crate::error::ErrorKind::Internal,
        format!("The change was applied but answered unexpectedly ({a:?})."),
    )
}

/// Applies a control-plane command (durably, with a data directory).
async fn execute(
    st: &ApiState,
    part: &Partition,
    cmd: crate::control::Command,
) -> Result<crate::control::Applied, ApiError> {
    Ok(st.control.execute(part, cmd).await?)
}

fn parse_body(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(ApiError::invalid("Request body must be a JSON object.")),
        Err(e) => Err(ApiError::invalid(format!(
            "Request body is not valid JSON: {e}."
        ))),
    }
}

/// The validated request as its operation's typed request.
fn typed<T: serde::de::DeserializeOwned>(req: Value) -> Result<T, ApiError> {
    serde_json::from_value(req).map_err(|e| ApiError::invalid(format!("{e}.")))
}

/// A typed response as the body of the answer.
fn answer<T: serde::Serialize>(response: &T) -> Result<String, ApiError> {
    serde_json::to_string(response).map_err(|e| {
        ApiError::new(
            crate::error::ErrorKind::Internal,
            format!("The answer could not be written: {e}."),
        )
    })
}

/// Answers `op`. PutTraceSegments reads its document list straight from the body (its hot
/// path); every other operation's body is parsed and checked against the model first.
async fn call(st: &ApiState, op: &Op, part: &Partition, body: &[u8]) -> Result<String, ApiError> {
    use shapes::Operation as O;
    if op.operation == O::PutTraceSegments {
        return traces::put_trace_segments(st, part, body).await;
    }
    let req = parse_body(body)?;
    validate_input(op, &req).map_err(ApiError::invalid)?;
    match op.operation {
        O::PutTraceSegments => traces::put_trace_segments(st, part, body).await,
        O::BatchGetTraces => traces::batch_get_traces(st, part, typed(req)?).await,
        O::GetTraceSummaries => traces::get_trace_summaries(st, part, typed(req)?).await,
        O::GetEncryptionConfig => settings::get_encryption_config(st, part).await,
        O::PutEncryptionConfig => settings::put_encryption_config(st, part, typed(req)?).await,
        O::GetTraceSegmentDestination => settings::get_trace_segment_destination(st, part).await,
        O::UpdateTraceSegmentDestination => {
            settings::update_trace_segment_destination(st, part, typed(req)?).await
        }
        O::GetIndexingRules => settings::get_indexing_rules(st, part).await,
        O::UpdateIndexingRule => settings::update_indexing_rule(st, part, typed(req)?).await,
        O::PutTelemetryRecords => settings::put_telemetry_records(st, part, typed(req)?).await,
        O::GetInsightSummaries => settings::get_insight_summaries(typed(req)?),
        O::GetInsight => settings::get_insight(typed(req)?),
        O::GetInsightEvents => settings::get_insight_events(typed(req)?),
        O::GetInsightImpactGraph => settings::get_insight_impact_graph(st, typed(req)?),
        O::PutResourcePolicy => policies::put_resource_policy(st, part, typed(req)?).await,
        O::DeleteResourcePolicy => policies::delete_resource_policy(st, part, typed(req)?).await,
        O::ListResourcePolicies => policies::list_resource_policies(st, part).await,
        O::StartTraceRetrieval => retrieval::start_trace_retrieval(st, part, typed(req)?).await,
        O::ListRetrievedTraces => retrieval::list_retrieved_traces(st, part, typed(req)?).await,
        O::CancelTraceRetrieval => retrieval::cancel_trace_retrieval(st, part, typed(req)?).await,
        O::GetRetrievedTracesGraph => {
            retrieval::get_retrieved_traces_graph(st, part, typed(req)?).await
        }
        O::CreateSamplingRule => sampling::create_sampling_rule(st, part, typed(req)?).await,
        O::GetSamplingRules => sampling::get_sampling_rules(st, part).await,
        O::UpdateSamplingRule => sampling::update_sampling_rule(st, part, typed(req)?).await,
        O::DeleteSamplingRule => sampling::delete_sampling_rule(st, part, typed(req)?).await,
        O::GetSamplingTargets => sampling::get_sampling_targets(st, part, typed(req)?).await,
        O::GetSamplingStatisticSummaries => {
            sampling::get_sampling_statistic_summaries(st, part).await
        }
        O::CreateGroup => groups::create_group(st, part, typed(req)?).await,
        O::GetGroup => groups::get_group(st, part, typed(req)?).await,
        O::GetGroups => groups::get_groups(st, part).await,
        O::UpdateGroup => groups::update_group(st, part, typed(req)?).await,
        O::DeleteGroup => groups::delete_group(st, part, typed(req)?).await,
        O::GetServiceGraph => graph::get_service_graph(st, part, typed(req)?).await,
        O::GetTraceGraph => graph::get_trace_graph(st, part, typed(req)?).await,
        O::GetTimeSeriesServiceStatistics => {
            graph::get_time_series_service_statistics(st, part, typed(req)?).await
        }
        O::TagResource => tags::tag_resource(st, part, typed(req)?).await,
        O::UntagResource => tags::untag_resource(st, part, typed(req)?).await,
        O::ListTagsForResource => tags::list_tags_for_resource(st, part, typed(req)?).await,
    }
}

#[cfg(test)]
mod tests;
