//! Query benchmark over the memory store: 1,000,000 traces of 3 segments each in a one-hour
//! window across 50 services (issues 4 and 5): filter expressions on GetTraceSummaries' first
//! page, parsing, the service graph of the hour, and one edge's statistics over 24 hours.
//!
//! `cargo bench --bench queries` (set `TRACES=100000` for a quicker run). Before criterion's
//! own figures it prints p50/p99 latencies measured over many runs.

use criterion::{Criterion, criterion_group, criterion_main};

// The gateway's allocator, so the figures are the gateway's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use xray_gateway::model::segment::validate;
use xray_gateway::model::time::SystemClock;
use xray_gateway::query;
use xray_gateway::store::memory::{Limits, MemStore};
use xray_gateway::store::{IngestDoc, Partition, SummaryQuery, TimeRangeType, TraceStore};

fn part() -> Partition {
    Partition::default()
}

fn docs_of(i: u64, now: f64) -> [String; 3] {
    let start = now - 3600.0 + (i as f64 / TRACE_COUNT.with(|c| *c.borrow()) as f64) * 3590.0;
    let tid = format!(
        "1-{:08x}-{:024x}",
        start as u64,
        i.wrapping_mul(0x9e3779b97f4a7c15) as u128 ^ (i as u128) << 64
    );
    // Independent bits of a hash, so service, status and tenant are uncorrelated.
    let mut h = i.wrapping_mul(0x9e3779b97f4a7c15);
    h = (h ^ (h >> 31)).wrapping_mul(0xbf58476d1ce4e5b9);
    h ^= h >> 29;
    let (front, back) = (h % 50, (h >> 8) % 50);
    let status = if (h >> 16).is_multiple_of(20) {
        500
    } else {
        200
    };
    let tenant = (h >> 24) % 10;
    let (a, b, c, d) = (i * 4 + 1, i * 4 + 2, i * 4 + 3, i * 4 + 4);
    [
        format!(
            r#"{{"trace_id":"{tid}","id":"{a:016x}","name":"svc-{front}","start_time":{s},"end_time":{e},"fault":{f},"http":{{"request":{{"method":"GET","url":"https://svc-{front}.example.com/api/items/{i}"}},"response":{{"status":{status}}}}},"annotations":{{"tenant":"t{tenant}"}},"subsegments":[{{"id":"{b:016x}","name":"svc-{back}","namespace":"remote","start_time":{s1},"end_time":{e1}}}]}}"#,
            s = start,
            e = start + 0.3,
            f = status == 500,
            s1 = start + 0.05,
            e1 = start + 0.25
        ),
        format!(
            r#"{{"trace_id":"{tid}","id":"{c:016x}","parent_id":"{b:016x}","name":"svc-{back}","start_time":{s},"end_time":{e},"http":{{"response":{{"status":200}}}},"annotations":{{"tenant":"t{tenant}"}}}}"#,
            s = start + 0.06,
            e = start + 0.24
        ),
        format!(
            r#"{{"type":"subsegment","trace_id":"{tid}","parent_id":"{c:016x}","id":"{d:016x}","name":"DynamoDB","namespace":"aws","start_time":{s},"end_time":{e},"aws":{{"operation":"GetItem","table_name":"items"}}}}"#,
            s = start + 0.1,
            e = start + 0.2
        ),
    ]
}

thread_local! {
    static TRACE_COUNT: std::cell::RefCell<u64> = const { std::cell::RefCell::new(1_000_000) };
}

fn build(rt: &tokio::runtime::Runtime, traces: u64, now: f64) -> MemStore {
    let limits = Limits {
        max_traces: traces * 2,
        max_bytes: u64::MAX,
        ..Limits::default()
    };
    let store = MemStore::new(limits, Arc::new(SystemClock));
    let t = Instant::now();
    let mut batch: Vec<String> = Vec::with_capacity(51);
    for i in 0..traces {
        batch.extend(docs_of(i, now));
        if batch.len() >= 48 || i + 1 == traces {
            let docs: Vec<IngestDoc<'_>> = batch
                .iter()
                .map(|d| IngestDoc {
                    raw: d,
                    doc: validate(d).expect("valid"),
                })
                .collect();
            rt.block_on(store.put(&part(), &docs)).expect("stored");
            drop(docs);
            batch.clear();
        }
    }
    eprintln!(
        "built {} traces ({} documents) in {:.1} s",
        store.stats().traces,
        store.stats().documents,
        t.elapsed().as_secs_f64()
    );
    store
}

fn first_page(
    rt: &tokio::runtime::Runtime,
    store: &MemStore,
    filter: Option<&str>,
    now: f64,
) -> (usize, usize) {
    let filter = filter.map(|f| {
        Arc::new(query::compile(&query::parse(f).expect("parses")).expect("compiles"))
            as Arc<dyn xray_gateway::model::selection::TraceFilter>
    });
    let q = SummaryQuery {
        range: TimeRangeType::TraceId,
        start: ((now - 3600.0) * 1e6) as i64,
        end: ((now + 60.0) * 1e6) as i64,
        after: None,
        limit: 100,
        sample_rate: None,
        filter,
    };
    let page = rt
        .block_on(store.scan_summaries(&part(), &q))
        .expect("scans");
    // Render as GetTraceSummaries would, so the figure covers the whole read.
    (
        page.items.len(),
        page.items
            .iter()
            .map(|i| {
                let s = xray_gateway::model::render::summary(&i.summary);
                serde_json::to_string(&s).map_or(0, |t| t.len())
            })
            .sum::<usize>(),
    )
}

fn percentiles(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[(v.len() * 99) / 100])
}

const SELECTIVE: &str = r#"service("svc-17") AND http.status = 500 AND annotation.tenant = "t3""#;
const BROAD: &str = "duration > 0";
const EXPRESSIONS: &[&str] = &[
    SELECTIVE,
    BROAD,
    r#"http.url BEGINSWITH "http://api.example.com/" AND http.url CONTAINS "/v2/" AND !service("api.example.com")"#,
    r#"edge("api.example.com", "backend.example.com") { error } OR rootcause.fault.entity { last and name = "deserialize" }"#,
    r#"service(id(name: "checkout", type: "AWS::ECS::Container")) { fault AND responsetime > 2.5 } AND annotation.customer = "alice" AND user CONTAINS "a" AND (http.status >= 500 OR throttle) AND !partial"#,
];

fn bench(c: &mut Criterion) {
    let traces: u64 = std::env::var("TRACES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    TRACE_COUNT.with(|c| *c.borrow_mut() = traces);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let store = build(&rt, traces, now);

    for (label, f) in [
        ("selective", Some(SELECTIVE)),
        ("non-selective", Some(BROAD)),
        ("no filter", None),
    ] {
        let samples: Vec<f64> = (0..300)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(first_page(&rt, &store, f, now));
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        let (p50, p99) = percentiles(samples);
        let (n, _) = first_page(&rt, &store, f, now);
        eprintln!(
            "first page, {label} ({}): {n} summaries, p50 {p50:.2} ms, p99 {p99:.2} ms",
            f.unwrap_or("-")
        );
    }
    for e in EXPRESSIONS {
        let samples: Vec<f64> = (0..2000)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(query::parse(std::hint::black_box(e)).expect("parses"));
                t.elapsed().as_secs_f64() * 1e6
            })
            .collect();
        let (p50, p99) = percentiles(samples);
        eprintln!("parse {} chars: p50 {p50:.1} µs, p99 {p99:.1} µs", e.len());
    }

    let graph = |start: f64, end: f64| {
        let g = rt
            .block_on(store.service_graph(&part(), (start * 1e6) as i64, (end * 1e6) as i64))
            .expect("graph");
        xray_gateway::graph::render_services(&g)
    };
    let services = graph(now - 3600.0, now + 60.0);
    let samples: Vec<f64> = (0..200)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(graph(now - 3600.0, now + 60.0));
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    let (p50, p99) = percentiles(samples);
    eprintln!(
        "service graph of the hour ({} nodes, rendered): p50 {p50:.2} ms, p99 {p99:.2} ms",
        services.len()
    );
    let (from, to) = (
        xray_gateway::model::intern::service("svc-17", None, None),
        xray_gateway::model::intern::service("svc-3", None, None),
    );
    let series = || {
        let select = |g: &xray_gateway::graph::Graph| {
            g.edges.get(&(Some(from), to)).cloned().unwrap_or_default()
        };
        rt.block_on(store.graph_series(
            &part(),
            ((now - 86_400.0) * 1e6) as i64,
            (now * 1e6) as i64,
            &select,
        ))
        .expect("series")
    };
    let samples: Vec<f64> = (0..500)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(series());
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    let (p50, p99) = percentiles(samples);
    let calls: i64 = series().iter().map(|(_, s)| s.total).sum();
    eprintln!(
        "edge svc-17 -> svc-3 over 24 h at 60 s ({calls} calls): p50 {p50:.3} ms, p99 {p99:.3} ms"
    );

    c.bench_function("first page, selective filter", |b| {
        b.iter(|| first_page(&rt, &store, Some(SELECTIVE), now))
    });
    c.bench_function("first page, duration > 0", |b| {
        b.iter(|| first_page(&rt, &store, Some(BROAD), now))
    });
    c.bench_function("parse the longest expression", |b| {
        b.iter(|| query::parse(std::hint::black_box(EXPRESSIONS[4])))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = bench
}
criterion_main!(benches);
