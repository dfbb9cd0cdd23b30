//! OTLP over HTTP: `POST /v1/traces`, protobuf or JSON, gzip or not, with errors as a
//! `google.rpc.Status` in the request's own encoding.

use super::ExportError;
use super::OtlpState;
use super::export::export;
use crate::error::ErrorKind;
use crate::metrics::Intake;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use std::io::Read;
use std::sync::Arc;

/// `google.rpc.Status`, the body of OTLP/HTTP errors.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

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

/// An error answer: the kind's HTTP status, and a `google.rpc.Status` with its gRPC code.
fn error(enc: Encoding, kind: ErrorKind, message: String) -> Response {
    let code = kind.grpc() as i32;
    let s = RpcStatus {
        code,
        message: message.clone(),
    };
    let status =
        StatusCode::from_u16(kind.otlp_http()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    reply(
        enc,
        status,
        s.encode_to_vec(),
        serde_json::json!({"code": code, "message": message}).to_string(),
    )
}

/// A refused export, with when to retry it (exporters honour `Retry-After`).
fn refused(enc: Encoding, e: ExportError) -> Response {
    let secs = e.retry_after().as_secs_f64().ceil().max(1.0) as u64;
    let mut r = error(enc, e.kind(), e.message().to_owned());
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
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
            ErrorKind::UnsupportedMediaType,
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
            return error(enc, ErrorKind::Unauthenticated, e.to_string());
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
                ErrorKind::InvalidRequest,
                format!("The gzip body could not be read: {e}."),
            );
        }
        if out.len() > st.max_body_bytes {
            return error(
                enc,
                ErrorKind::TooLarge,
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
                ErrorKind::InvalidRequest,
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
        Err(e) => refused(enc, e),
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
