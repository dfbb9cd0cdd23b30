//! Why GetTraceSummaries writes the generated API types with the serde derive: one page of 100
//! summaries built as `model::api` types by `model::render` and serialized, against the
//! hand-written Serialize impls it used before (`summary_json/hand_written.rs`). Both sides
//! produce the same JSON; the bench checks that before timing.
//!
//! `cargo bench --bench summary_json`

#[path = "summary_json/hand_written.rs"]
mod hand_written;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::Value;
use xray_gateway::model::api;
use xray_gateway::model::segment::validate;
use xray_gateway::model::summary::{self, TraceSummary};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const PAGE: usize = 100;

/// An SDK-shaped segment: http, annotations, a user, a DynamoDB call (that faulted, when
/// `faulted`: then the summary carries root causes).
fn document(i: u64, faulted: bool) -> String {
    let start = 1_700_000_000.0 + i as f64 * 0.013;
    let doc = format!(
        r#"{{"trace_id":"1-{t:08x}-{i:024x}","id":"{a:016x}","name":"checkout-{svc}","start_time":{start},"end_time":{end},"fault":true,"user":"user-{u}","http":{{"request":{{"method":"POST","url":"https://shop.example.com/orders/{i}","user_agent":"okhttp/4.{i}","client_ip":"10.0.{ip}.{ip2}"}},"response":{{"status":500}}}},"annotations":{{"request_id":"r-{i:x}","tier":"gold","attempt":{att},"cached":false}},"aws":{{"account_id":"123456789012"}},"subsegments":[{{"id":"{b:016x}","name":"DynamoDB","namespace":"aws","start_time":{start},"end_time":{end},"fault":true,"aws":{{"operation":"PutItem","table_name":"orders-{svc}","resource_names":["arn:aws:dynamodb:us-east-1:123456789012:table/orders-{svc}"]}},"cause":{{"exceptions":[{{"id":"{b:016x}","type":"ProvisionedThroughputExceededException","message":"Rate of requests exceeds the allowed throughput for order {i}"}}]}}}}]}}"#,
        t = start as u64,
        a = i * 2 + 1,
        b = i * 2 + 2,
        svc = i % 7,
        u = i * 31 % 1000,
        ip = i % 250,
        ip2 = i * 7 % 250,
        att = i % 3,
        end = start + 0.25,
    );
    if faulted {
        doc
    } else {
        doc.replace("\"fault\":true", "\"fault\":false")
            .replace("\"status\":500", "\"status\":200")
            .replace(",\"cause\"", ",\"no_cause\"")
    }
}

fn summaries(faulted: bool) -> Vec<TraceSummary> {
    (0..PAGE as u64)
        .map(|i| {
            let doc = document(i, faulted);
            let valid = validate(&doc).expect("valid document");
            summary::compute(&[&valid])
        })
        .collect()
}

/// The page as the gateway wrote it: each summary rendered, then framed as a page.
fn hand_written(page: &[TraceSummary]) -> String {
    let mut out = String::with_capacity(page.len() * 1200);
    out.push_str("{\"TraceSummaries\":[");
    for (n, s) in page.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        out.push_str(&hand_written::render(s));
    }
    out.push_str("]}");
    out
}

fn derived(page: &[TraceSummary]) -> String {
    let result = api::GetTraceSummariesResult {
        trace_summaries: Some(
            page.iter()
                .map(xray_gateway::model::render::summary)
                .collect(),
        ),
        ..Default::default()
    };
    serde_json::to_string(&result).expect("serializable")
}

fn bench(c: &mut Criterion) {
    for (name, faulted) in [("ok", false), ("faulted", true)] {
        let page = summaries(faulted);
        let (a, b) = (hand_written(&page), derived(&page));
        let (va, vb): (Value, Value) = (
            serde_json::from_str(&a).expect("hand-written JSON"),
            serde_json::from_str(&b).expect("derived JSON"),
        );
        assert_eq!(va, vb, "both writers must produce the same page");
        println!("{name}: page of {PAGE} summaries, {} bytes", a.len());
        let mut g = c.benchmark_group(format!("summary_page_json/{name}"));
        g.throughput(Throughput::Elements(PAGE as u64));
        g.bench_function("hand_written", |x| x.iter(|| hand_written(&page)));
        g.bench_function("serde_derive", |x| x.iter(|| derived(&page)));
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
