//! PutTraceSegments of single-segment traces as an X-Ray SDK sends them (50 documents a call,
//! each a new trace with its DynamoDB call nested), through the X-Ray API's router into a
//! memory store already holding traces: everything a call costs but the socket. Stage by
//! stage too: reading the request body (and, for comparison, reading it with serde_json alone),
//! validating the documents, and summarising each (a new trace's summary, encoded).
//!
//! `cargo bench --bench put_single`

use axum::body::Body;
use axum::http::Request;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::sync::Arc;
use tower::ServiceExt;
use xray_gateway::model::segment::validate;
use xray_gateway::model::summary::compute;
use xray_gateway::model::time::{Clock, SystemClock};
use xray_gateway::store::memory::{Limits, MemStore};
use xray_gateway::xray_api::put_body;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const DOCS: usize = 50;
/// Traces stored before timing, so that the store's maps are past their first sizes.
const PREFILL_CALLS: u64 = 4000;

fn mix(n: u64) -> u64 {
    let mut z = n.wrapping_mul(0x9e3779b97f4a7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
    z ^ (z >> 31)
}

/// Document `n`: unique trace and segment IDs, an http block, annotations, a user, a nested
/// DynamoDB subsegment (~800 bytes). Requests start 10 µs apart, as under load, and last
/// from 1 to 250 ms.
fn document(n: u64, now: f64) -> String {
    let r = mix(n);
    let start = now - 60.0 + n as f64 * 1e-5;
    let took = (1 + r % 250) as f64 * 1e-3;
    format!(
        r#"{{"trace_id":"1-{epoch:08x}-{t1:016x}{t2:08x}","id":"{id:016x}","name":"checkout","start_time":{start:.6},"end_time":{end:.6},"origin":"AWS::EC2::Instance","user":"user-{user}","http":{{"request":{{"method":"POST","url":"https://shop.example.com/api/cart/{item}","user_agent":"Mozilla/5.0 (X11; Linux x86_64)","client_ip":"10.0.{a}.{b}"}},"response":{{"status":200,"content_length":{len}}}}},"aws":{{"ec2":{{"instance_id":"i-0abc12345def67890","availability_zone":"us-east-1a"}},"xray":{{"sdk":"X-Ray for Python","sdk_version":"2.14.0"}}}},"annotations":{{"customer_tier":"gold","request_id":"{rid:016x}","cart_items":{items}}},"subsegments":[{{"id":"{sub:016x}","name":"DynamoDB","namespace":"aws","start_time":{start:.6},"end_time":{sub_end:.6},"aws":{{"operation":"GetItem","region":"us-east-1","request_id":"{aws_rid:016X}","table_name":"carts","retries":0}},"http":{{"response":{{"status":200,"content_length":{len2}}}}}}}]}}"#,
        epoch = now as u64,
        t1 = mix(n ^ 0x5555),
        t2 = r as u32,
        id = mix(n ^ 0x7777) | 1,
        sub = mix(n ^ 0x9999) | 1,
        end = start + took,
        sub_end = start + took / 2.0,
        user = r % 100_000,
        item = mix(n ^ 3) % 1_000_000,
        a = r % 256,
        b = (r >> 8) % 256,
        len = (r >> 16) % 10_000,
        rid = mix(n ^ 0x1111),
        items = (r >> 24) % 20,
        aws_rid = mix(n ^ 0x2222),
        len2 = (r >> 32) % 2_000,
    )
}

fn documents(call: u64, now: f64) -> Vec<String> {
    (0..DOCS as u64)
        .map(|i| document(call * DOCS as u64 + i, now))
        .collect()
}

fn body(docs: &[String]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "TraceSegmentDocuments": docs })).unwrap()
}

#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct Documents {
    #[serde(rename = "TraceSegmentDocuments")]
    docs: Vec<String>,
}

fn app() -> axum::Router {
    let limits = Limits {
        max_traces: u64::MAX,
        max_bytes: u64::MAX,
        ..Limits::default()
    };
    let state = xray_gateway::xray_api::ApiState {
        store: Arc::new(MemStore::new(limits, Arc::new(SystemClock))),
        auth: Arc::new(xray_gateway::auth::Auth::open()),
        quota: Arc::new(xray_gateway::quota::SegmentQuota::unlimited()),
        control: Default::default(),
        clock: Arc::new(SystemClock),
        default_partition: Default::default(),
        listeners: Vec::new(),
        health_extras: Vec::new(),
        on_scrape: Vec::new(),
    };
    xray_gateway::xray_api::router(Arc::new(state))
}

async fn put(app: &axum::Router, body: Vec<u8>) {
    let req = Request::post("/TraceSegments")
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let answer = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    assert_eq!(&answer[..], br#"{"UnprocessedTraceSegments":[]}"#);
}

fn single_segment_traces(c: &mut Criterion) {
    let now = SystemClock.now_micros() as f64 / 1e6;
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let docs = documents(0, now);
    let raw = body(&docs);
    let mut g = c.benchmark_group("put_50_single_segment_traces");
    g.throughput(Throughput::Elements(DOCS as u64));
    g.bench_function("read_body", |b| {
        b.iter(|| put_body::documents(&raw).unwrap())
    });
    // What reading the body cost before `put_body`: serde_json's own string reader.
    g.bench_function("read_body_serde_json", |b| {
        b.iter(|| serde_json::from_slice::<Documents>(&raw).unwrap())
    });
    g.bench_function("validate", |b| {
        b.iter(|| docs.iter().filter(|d| validate(d).is_ok()).count())
    });
    let valid: Vec<_> = docs.iter().map(|d| validate(d).unwrap()).collect();
    g.bench_function("summarize", |b| {
        b.iter(|| {
            valid
                .iter()
                .map(|d| compute(&[d]).encode().len())
                .sum::<usize>()
        })
    });
    let app = app();
    let mut call = 1;
    rt.block_on(async {
        for _ in 0..PREFILL_CALLS {
            put(&app, body(&documents(call, now))).await;
            call += 1;
        }
    });
    g.bench_function("whole_call", |b| {
        b.iter_batched(
            || {
                call += 1;
                body(&documents(call, now))
            },
            |body| rt.block_on(put(&app, body)),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, single_segment_traces);
criterion_main!(benches);
