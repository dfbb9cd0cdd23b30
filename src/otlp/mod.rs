//! OTLP trace ingest: a tonic `TraceService` (gRPC) and `POST /v1/traces` (protobuf or JSON,
//! gzip or not), both converting spans to segment documents and storing them through the same
//! ingest as PutTraceSegments. One bad span is rejected on its own and counted in
//! `partial_success`; an undecodable body is `INVALID_ARGUMENT` / 400 with a `google.rpc.Status`.

use crate::convert::{Converted, Options, ResourceInfo, convert_span};
use crate::ingest::ingest_checked;
use crate::metrics::{Intake, METRICS, SpanLabels};
use crate::model::segment::validate_entity;
use crate::model::time::Clock;
use crate::store::{IngestDoc, Partition, TraceStore};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use std::io::Read;
use std::sync::Arc;

pub struct OtlpState {
    pub store: Arc<dyn TraceStore>,
    /// Who may export, and in which account their spans land.
    pub auth: Arc<crate::auth::Auth>,
    /// The segments-per-second quota an export takes its spans from.
    pub quota: Arc<crate::quota::SegmentQuota>,
    /// Where unsigned exports land. An export signed with SigV4 (as for X-Ray's own OTLP
    /// endpoint) lands in the account and region of its credential scope.
    pub partition: Partition,
    pub options: Options,
    /// Strict trace-ID mode compares trace IDs' time with this clock.
    pub clock: Arc<dyn Clock>,
    /// How long an export waits for a turn and then for the store before it is UNAVAILABLE.
    pub store_timeout: std::time::Duration,
    /// Exports converting and storing at once; the rest wait (bounded by `store_timeout`), so
    /// an overloaded or stuck store turns into retryable refusals, not unbounded memory.
    pub turns: tokio::sync::Semaphore,
    /// Largest request body, before and after gunzip.
    pub max_body_bytes: usize,
}

impl OtlpState {
    /// Exports into `store` for unsigned requests' `partition`, with the gateway's defaults:
    /// four turns per core, a 5 s store timeout, 16 MiB bodies.
    pub fn new(
        store: Arc<dyn TraceStore>,
        partition: Partition,
        options: Options,
        clock: Arc<dyn Clock>,
    ) -> OtlpState {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        OtlpState {
            store,
            auth: Arc::new(crate::auth::Auth::open()),
            quota: Arc::new(crate::quota::SegmentQuota::unlimited()),
            partition,
            options,
            clock,
            store_timeout: std::time::Duration::from_secs(5),
            // A few exports per core: every core stays busy while others wait on I/O.
            turns: tokio::sync::Semaphore::new(4 * cores),
            max_body_bytes: 16 << 20,
        }
    }
}

/// Documents converted and stored at a time (a span's documents stay together): enough to
/// amortise the store's locking, few enough that the documents and their validated views (a
/// few KB a span) are freed and their memory reused chunk after chunk, instead of a whole
/// request's worth being allocated and given back at once.
const INGEST_CHUNK: usize = 128;

pub enum ExportError {
    Unavailable(String),
    /// Over the quota; a retry after the duration could pass.
    Throttled(String, std::time::Duration),
}

/// Converts and stores a request's spans; counts the ones refused. A store that does not
/// answer within `store_timeout` makes the export UNAVAILABLE; documents already stored stay
/// (ingest is idempotent, so the exporter's retry is harmless).
pub async fn export(
    st: &OtlpState,
    part: &Partition,
    transport: Intake,
    req: &ExportTraceServiceRequest,
) -> Result<ExportTraceServiceResponse, ExportError> {
    let spans: usize = req
        .resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .map(|ss| ss.spans.len())
        .sum();
    let result = match st.quota.take(part, spans) {
        Ok(()) => export_in_turn(st, part, transport, req).await,
        Err(t) => {
            METRICS
                .throttled
                .get_or_create(&crate::metrics::OperationLabel {
                    operation: transport.label(),
                })
                .inc();
            Err(ExportError::Throttled(st.quota.message(t), t.retry_after))
        }
    };
    let rejected = match &result {
        Ok(r) => r
            .partial_success
            .as_ref()
            .map_or(0, |p| p.rejected_spans as usize),
        Err(_) => spans,
    };
    let count = |outcome, n: usize| {
        if n > 0 {
            METRICS
                .otlp_spans
                .get_or_create(&SpanLabels {
                    transport: transport.label(),
                    outcome,
                })
                .inc_by(n as u64);
        }
    };
    count("accepted", spans.saturating_sub(rejected));
    count("refused", rejected);
    result
}

async fn export_in_turn(
    st: &OtlpState,
    part: &Partition,
    transport: Intake,
    req: &ExportTraceServiceRequest,
) -> Result<ExportTraceServiceResponse, ExportError> {
    let deadline = tokio::time::Instant::now() + st.store_timeout;
    let busy = || {
        ExportError::Unavailable(format!(
            "The trace store did not answer within {} ms; retry later.",
            st.store_timeout.as_millis()
        ))
    };
    let _turn = tokio::time::timeout_at(deadline, st.turns.acquire())
        .await
        .map_err(|_| busy())?
        .map_err(|_| busy())?;
    tokio::time::timeout_at(deadline, export_now(st, part, transport, req))
        .await
        .map_err(|_| busy())?
}

async fn export_now(
    st: &OtlpState,
    part: &Partition,
    transport: Intake,
    req: &ExportTraceServiceRequest,
) -> Result<ExportTraceServiceResponse, ExportError> {
    let now_secs = st.clock.now_micros() / 1_000_000;
    let resources: Vec<ResourceInfo<'_>> = req
        .resource_spans
        .iter()
        .map(|rs| ResourceInfo::new(rs.resource.as_ref(), &st.options))
        .collect();
    let mut refusals = Refusals::default();
    let mut docs = Vec::with_capacity(INGEST_CHUNK + 1);
    // The span each document came from: a local-root span makes two documents, and a span
    // counts once as rejected however many of its documents were refused.
    let mut origins = Vec::with_capacity(INGEST_CHUNK + 1);
    let mut span_index = 0usize;
    for (rs, res) in req.resource_spans.iter().zip(&resources) {
        for span in rs.scope_spans.iter().flat_map(|ss| &ss.spans) {
            match convert_span(span, res, &st.options, now_secs, &mut docs) {
                Ok(()) => origins.resize(docs.len(), span_index),
                Err(e) => refusals.span(span_index, e),
            }
            span_index += 1;
            // A span's documents always go to the store together.
            if docs.len() >= INGEST_CHUNK {
                store_chunk(st, part, transport, &docs, &origins, &mut refusals).await?;
                docs.clear();
                origins.clear();
            }
        }
    }
    if !docs.is_empty() {
        store_chunk(st, part, transport, &docs, &origins, &mut refusals).await?;
    }
    let Refusals {
        rejected,
        first_error,
        ..
    } = refusals;
    let partial_success = (rejected > 0).then(|| ExportTracePartialSuccess {
        rejected_spans: rejected,
        error_message: format!(
            "{rejected} span(s) rejected; the first: {}",
            first_error.unwrap_or_default()
        ),
    });
    Ok(ExportTraceServiceResponse { partial_success })
}

/// The spans refused so far, each counted once, and the first reason.
#[derive(Default)]
struct Refusals {
    rejected: i64,
    first_error: Option<String>,
    last_span: Option<usize>,
}

impl Refusals {
    fn span(&mut self, span: usize, why: String) {
        if self.last_span != Some(span) {
            self.rejected += 1;
            self.last_span = Some(span);
        }
        self.first_error.get_or_insert(why);
    }
}

/// Validates and stores converted documents; `origins` gives each one's span.
async fn store_chunk(
    st: &OtlpState,
    part: &Partition,
    transport: Intake,
    docs: &[Converted<'_>],
    origins: &[usize],
    refusals: &mut Refusals,
) -> Result<(), ExportError> {
    let checked = docs.iter().map(|c| {
        validate_entity(c.json.len(), c.entity()).map(|doc| IngestDoc { raw: &c.json, doc })
    });
    let refused = ingest_checked(st.store.as_ref(), part, transport, checked)
        .await
        .map_err(|e| ExportError::Unavailable(e.to_string()))?;
    for (i, r) in refused {
        refusals.span(origins[i], r.message);
    }
    Ok(())
}

pub struct Grpc(pub Arc<OtlpState>);

#[tonic::async_trait]
impl TraceService for Grpc {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let auth = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        let now = self.0.clock.now_micros() / 1_000_000;
        let part = self
            .0
            .auth
            .export(auth, None, &self.0.partition, now)
            .map_err(|e| tonic::Status::unauthenticated(e.to_string()))?;
        match export(&self.0, &part, Intake::OtlpGrpc, request.get_ref()).await {
            Ok(r) => Ok(tonic::Response::new(r)),
            Err(ExportError::Unavailable(m)) => Err(tonic::Status::unavailable(m)),
            Err(ExportError::Throttled(m, retry)) => {
                use tonic_types::{ErrorDetails, StatusExt};
                Err(tonic::Status::with_error_details(
                    tonic::Code::ResourceExhausted,
                    m,
                    ErrorDetails::with_retry_info(Some(retry)),
                ))
            }
        }
    }
}

pub type GrpcService = TraceServiceServer<Grpc>;

/// The gRPC service, gzip accepted and answered in kind.
pub fn grpc_service(st: Arc<OtlpState>) -> GrpcService {
    let max = st.max_body_bytes;
    TraceServiceServer::new(Grpc(st))
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
        .send_compressed(tonic::codec::CompressionEncoding::Gzip)
        .max_decoding_message_size(max)
}

/// `google.rpc.Status`, the body of OTLP/HTTP errors.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// gRPC status codes used in bodies.
const INVALID_ARGUMENT: i32 = 3;
const UNAUTHENTICATED: i32 = 16;
const RESOURCE_EXHAUSTED: i32 = 8;
const UNAVAILABLE: i32 = 14;

#[derive(Clone, Copy, PartialEq)]
enum Encoding {
    Protobuf,
    Json,
}

fn reply(enc: Encoding, status: StatusCode, proto: Vec<u8>, json: String) -> Response {
    let (body, ctype) = match enc {
        Encoding::Protobuf => (proto, "application/x-protobuf"),
        Encoding::Json => (json.into_bytes(), "application/json"),
    };
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    r
}

fn error(enc: Encoding, status: StatusCode, code: i32, message: String) -> Response {
    let s = RpcStatus {
        code,
        message: message.clone(),
    };
    let mut r = reply(
        enc,
        status,
        s.encode_to_vec(),
        serde_json::json!({"code": code, "message": message}).to_string(),
    );
    if status == StatusCode::SERVICE_UNAVAILABLE {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    r
}

async fn http_export(
    State(st): State<Arc<OtlpState>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let enc = if ctype.starts_with("application/json") {
        Encoding::Json
    } else {
        Encoding::Protobuf
    };
    if !ctype.is_empty()
        && !ctype.starts_with("application/json")
        && !ctype.starts_with("application/x-protobuf")
    {
        return error(
            enc,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            INVALID_ARGUMENT,
            format!(
                "Content-Type {ctype} is not OTLP; send application/x-protobuf or application/json."
            ),
        );
    }
    // Who is exporting is settled before the body is unpacked; a signature covers it as sent.
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let signed = crate::auth::sigv4::Request {
        method: "POST",
        path: uri.path(),
        query: uri.query().unwrap_or(""),
        headers: &headers,
        body: &body,
    };
    let now = st.clock.now_micros() / 1_000_000;
    let part = match st.auth.export(auth, Some(&signed), &st.partition, now) {
        Ok(p) => p,
        Err(e) => {
            return error(
                enc,
                StatusCode::UNAUTHORIZED,
                UNAUTHENTICATED,
                e.to_string(),
            );
        }
    };
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    let raw: Vec<u8> = if gzip {
        let mut out = Vec::new();
        let limit = st.max_body_bytes as u64 + 1;
        if let Err(e) = flate2::read::GzDecoder::new(&body[..])
            .take(limit)
            .read_to_end(&mut out)
        {
            return error(
                enc,
                StatusCode::BAD_REQUEST,
                INVALID_ARGUMENT,
                format!("The gzip body could not be read: {e}."),
            );
        }
        if out.len() > st.max_body_bytes {
            return error(
                enc,
                StatusCode::PAYLOAD_TOO_LARGE,
                INVALID_ARGUMENT,
                format!(
                    "The body is larger than {} bytes once decompressed.",
                    st.max_body_bytes
                ),
            );
        }
        out
    } else {
        body.to_vec()
    };
    let req = match enc {
        Encoding::Protobuf => {
            ExportTraceServiceRequest::decode(&raw[..]).map_err(|e| e.to_string())
        }
        Encoding::Json => {
            serde_json::from_slice::<ExportTraceServiceRequest>(&raw).map_err(|e| e.to_string())
        }
    };
    let req = match req {
        Ok(r) => r,
        Err(e) => {
            return error(
                enc,
                StatusCode::BAD_REQUEST,
                INVALID_ARGUMENT,
                format!("The body is not an OTLP ExportTraceServiceRequest: {e}."),
            );
        }
    };
    match export(&st, &part, Intake::OtlpHttp, &req).await {
        Ok(r) => {
            // A full success is `{}`: OTLP/JSON leaves unset fields out rather than null.
            let json = match &r.partial_success {
                Some(p) => serde_json::json!({"partialSuccess": {
                    "rejectedSpans": p.rejected_spans.to_string(),
                    "errorMessage": p.error_message,
                }})
                .to_string(),
                None => "{}".into(),
            };
            reply(enc, StatusCode::OK, r.encode_to_vec(), json)
        }
        Err(ExportError::Unavailable(m)) => {
            error(enc, StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE, m)
        }
        Err(ExportError::Throttled(m, retry)) => {
            let mut r = error(enc, StatusCode::TOO_MANY_REQUESTS, RESOURCE_EXHAUSTED, m);
            let secs = retry.as_secs_f64().ceil().max(1.0) as u64;
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            r
        }
    }
}

/// `POST /v1/traces`, for the OTLP/HTTP listener and the X-Ray listener alike.
pub fn http_router(st: Arc<OtlpState>) -> Router {
    let max = st.max_body_bytes;
    Router::new()
        .route("/v1/traces", post(http_export))
        .layer(DefaultBodyLimit::max(max))
        .with_state(st)
}

#[cfg(test)]
mod tests;
