//! The X-Ray API through its router, in process: status codes, error bodies and headers as
//! botocore reads them, validation messages, `UnprocessedTraceSegments` and `NextToken`
//! binding. Client compatibility stays with the Python suite; these run with `cargo test`.

use super::*;
use crate::model::time::SystemClock;
use crate::store::memory::{Limits, MemStore};
use axum::http::Request;
use tower::ServiceExt;

pub(super) fn state(auth: crate::auth::Auth) -> ApiState {
    ApiState {
        store: Arc::new(MemStore::new(Limits::default(), Arc::new(SystemClock))),
        auth: Arc::new(auth),
        quota: Arc::new(crate::quota::SegmentQuota::unlimited()),
        control: Default::default(),
        clock: Arc::new(SystemClock),
        default_partition: Partition::default(),
        listeners: Vec::new(),
        health_extras: Vec::new(),
        on_scrape: Vec::new(),
    }
}

struct Answer {
    status: u16,
    error_type: Option<String>,
    request_id: bool,
    body: Value,
}

async fn call_with(app: &Router, method: &str, path: &str, body: &str) -> Answer {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap();
    let r = app.clone().oneshot(req).await.unwrap();
    let status = r.status().as_u16();
    let error_type = r
        .headers()
        .get("x-amzn-ErrorType")
        .map(|v| v.to_str().unwrap().to_owned());
    let request_id = r.headers().contains_key("x-amzn-RequestId");
    let bytes = axum::body::to_bytes(r.into_body(), usize::MAX)
        .await
        .unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        status,
        error_type,
        request_id,
        body,
    }
}

fn app() -> Router {
    router(Arc::new(state(crate::auth::Auth::open())))
}

fn segment(trace: &str, id: &str) -> String {
    let now = micros_to_secs(SystemClock.now_micros());
    json!({"trace_id": trace, "id": id, "name": "api", "start_time": now - 1.0, "end_time": now})
        .to_string()
}

/// An error as botocore reads it: the status, `x-amzn-ErrorType`, and the code and message in
/// the body under both spellings.
fn assert_error(a: &Answer, status: u16, code: &str) {
    assert_eq!(a.status, status, "{:?}", a.body);
    assert_eq!(a.error_type.as_deref(), Some(code));
    assert_eq!(a.body["__type"], code);
    assert_eq!(a.body["message"], a.body["Message"]);
    assert!(a.request_id, "every answer carries a request ID");
}

#[tokio::test]
async fn unknown_paths_and_wrong_methods_are_json_errors() {
    let app = app();
    let a = call_with(&app, "POST", "/NoSuchThing", "{}").await;
    assert_error(&a, 404, "UnknownOperationException");
    let a = call_with(&app, "GET", "/TraceSummaries", "").await;
    assert_error(&a, 404, "UnknownOperationException");
    assert!(
        a.body["message"]
            .as_str()
            .unwrap()
            .contains("POST /TraceSummaries")
    );
}

#[tokio::test]
async fn validation_lists_every_problem_in_aws_words() {
    let app = app();
    let a = call_with(&app, "POST", "/TraceSummaries", "{}").await;
    assert_error(&a, 400, "InvalidRequestException");
    let m = a.body["message"].as_str().unwrap();
    assert!(m.starts_with("2 validation errors detected"), "{m}");
    assert!(m.contains("'startTime'") && m.contains("'endTime'"), "{m}");
    let a = call_with(&app, "POST", "/TraceSummaries", "[1]").await;
    assert_error(&a, 400, "InvalidRequestException");
    let a = call_with(&app, "POST", "/TraceSummaries", "{not json").await;
    assert!(
        a.body["message"]
            .as_str()
            .unwrap()
            .contains("not valid JSON")
    );
    // An empty body is an empty request, as the SDKs send for operations without input.
    let a = call_with(&app, "POST", "/Groups", "").await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["Groups"][0]["GroupName"], "Default");
}

#[tokio::test]
async fn bad_documents_are_unprocessed_while_their_neighbours_are_stored() {
    let app = app();
    let good = segment("1-5759e988-bd862e3fe1be46a994272793", "1000000000000001");
    let no_trace = json!({"id": "2000000000000002", "name": "x", "start_time": 1.0}).to_string();
    let body = json!({"TraceSegmentDocuments": [good, no_trace, "not json"]}).to_string();
    let a = call_with(&app, "POST", "/TraceSegments", &body).await;
    assert_eq!(a.status, 200);
    let unprocessed = a.body["UnprocessedTraceSegments"].as_array().unwrap();
    assert_eq!(unprocessed.len(), 2);
    assert_eq!(unprocessed[0]["Id"], "2000000000000002");
    assert_eq!(unprocessed[0]["ErrorCode"], "InvalidTraceId");
    assert!(unprocessed[1].get("Id").is_none(), "{unprocessed:?}");
    let got = call_with(
        &app,
        "POST",
        "/Traces",
        r#"{"TraceIds": ["1-5759e988-bd862e3fe1be46a994272793"]}"#,
    )
    .await;
    assert_eq!(
        got.body["Traces"][0]["Segments"].as_array().unwrap().len(),
        1
    );
    let many = json!({"TraceSegmentDocuments": vec![segment("1-5759e988-bd862e3fe1be46a994272794", "3000000000000003"); 51]});
    let a = call_with(&app, "POST", "/TraceSegments", &many.to_string()).await;
    assert_error(&a, 400, "InvalidRequestException");
}

#[tokio::test]
async fn a_next_token_is_bound_to_the_query_it_came_from() {
    let app = app();
    let now = micros_to_secs(SystemClock.now_micros());
    let docs: Vec<String> = (0..7)
        .map(|i| {
            segment(
                &format!("1-{:08x}-{:024x}", now as u64, i + 1),
                &format!("{:016x}", i + 1),
            )
        })
        .collect();
    let body = json!({ "TraceIds": docs.iter().map(|d| serde_json::from_str::<Value>(d).unwrap()["trace_id"].clone()).collect::<Vec<_>>() });
    call_with(
        &app,
        "POST",
        "/TraceSegments",
        &json!({"TraceSegmentDocuments": docs}).to_string(),
    )
    .await;
    let first = call_with(&app, "POST", "/Traces", &body.to_string()).await;
    let token = first.body["NextToken"]
        .as_str()
        .expect("five traces a page")
        .to_owned();
    let mut other = body.clone();
    other["TraceIds"].as_array_mut().unwrap().pop();
    other["NextToken"] = token.clone().into();
    let a = call_with(&app, "POST", "/Traces", &other.to_string()).await;
    assert_error(&a, 400, "InvalidRequestException");
    let mut same = body.clone();
    same["NextToken"] = token.into();
    let a = call_with(&app, "POST", "/Traces", &same.to_string()).await;
    assert_eq!(a.body["Traces"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_declared_body_over_the_limit_is_refused_before_it_is_read() {
    let app = app();
    let req = Request::builder()
        .method("POST")
        .uri("/TraceSegments")
        .header("content-length", (MAX_BODY_BYTES + 1).to_string())
        .body(Body::empty())
        .unwrap();
    let r = app.oneshot(req).await.unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        r.headers()["x-amzn-ErrorType"],
        "RequestEntityTooLargeException"
    );
}

#[tokio::test]
async fn with_credentials_an_unsigned_request_is_refused_but_health_is_not() {
    let creds = crate::auth::Credentials::parse(
        "[a]\naws_access_key_id=AKIAA\naws_secret_access_key=s\naws_account_id=111111111111\n",
    )
    .unwrap();
    let app = router(Arc::new(state(crate::auth::Auth::verified(creds))));
    let a = call_with(&app, "POST", "/Groups", "").await;
    assert_error(&a, 403, "MissingAuthenticationTokenException");
    let req = Request::builder()
        .method("POST")
        .uri("/Groups")
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIAX/20261206/us-east-1/xray/aws4_request, SignedHeaders=host, Signature=00",
        )
        .body(Body::empty())
        .unwrap();
    let r = app.clone().oneshot(req).await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        r.headers()["x-amzn-ErrorType"],
        "UnrecognizedClientException"
    );
    let health = call_with(&app, "GET", "/health", "").await;
    assert_eq!(health.status, 200);
}
