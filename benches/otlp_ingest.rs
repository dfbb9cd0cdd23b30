//! OTLP ingest, stage by stage, for one realistic 512-span request (the load generator's):
//! protobuf decode, conversion to segment documents, document validation, and the whole
//! export (decode excluded) into a memory store.
//!
//! `cargo bench --bench otlp_ingest`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use xray_gateway::convert::{Options, ResourceInfo, convert_span};
use xray_gateway::metrics::Intake;
use xray_gateway::model::time::{Clock, SystemClock};
use xray_gateway::otlp::{OtlpState, export};
use xray_gateway::otlp_fixture;
use xray_gateway::store::memory::{Limits, MemStore};
use xray_gateway::store::{Partition, TraceStore};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SPANS: u64 = (otlp_fixture::TRACES_PER_REQUEST * otlp_fixture::SPANS_PER_TRACE) as u64;

/// Requests stored before each timed sample of `export_to_store` (128 traces each).
const PREFILL_REQUESTS: u64 = 200;

fn request() -> ExportTraceServiceRequest {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    otlp_fixture::template(now)
}

/// A copy whose trace IDs are new, so the store keeps growing as it does under load.
fn renumber(req: &mut ExportTraceServiceRequest, n: u64) {
    for rs in &mut req.resource_spans {
        for ss in &mut rs.scope_spans {
            for s in &mut ss.spans {
                s.trace_id[4..12].copy_from_slice(&n.to_be_bytes());
            }
        }
    }
}

fn stages(c: &mut Criterion) {
    let req = request();
    let bytes = req.encode_to_vec();
    let opts = Options::default();
    let now = SystemClock.now_micros() / 1_000_000;
    let mut g = c.benchmark_group("otlp_512_spans");
    g.throughput(Throughput::Elements(SPANS));
    g.bench_function("decode", |b| {
        b.iter(|| ExportTraceServiceRequest::decode(&bytes[..]).unwrap())
    });
    g.bench_function("convert", |b| {
        b.iter(|| {
            let mut total = 0;
            for rs in &req.resource_spans {
                let mut out = Vec::with_capacity(SPANS as usize);
                let res = ResourceInfo::new(rs.resource.as_ref(), &opts);
                for ss in &rs.scope_spans {
                    for s in &ss.spans {
                        convert_span(s, &res, &opts, now, &mut out).unwrap();
                    }
                }
                total += out.len();
                out.clear();
            }
            total
        })
    });
    let mut docs = Vec::new();
    let res = ResourceInfo::new(req.resource_spans[0].resource.as_ref(), &opts);
    for s in &req.resource_spans[0].scope_spans[0].spans {
        convert_span(s, &res, &opts, now, &mut docs).unwrap();
    }
    g.bench_function("validate_by_parsing", |b| {
        b.iter(|| {
            docs.iter()
                .map(|d| xray_gateway::model::segment::validate(&d.json).is_ok() as usize)
                .sum::<usize>()
        })
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Each sample starts from a fresh store holding the same number of traces, so that a
    // faster run (more iterations) does not measure a bigger store.
    let fresh_state = || {
        let store: Arc<dyn TraceStore> = Arc::new(MemStore::new(
            Limits {
                max_traces: u64::MAX,
                max_bytes: u64::MAX,
                ..Limits::default()
            },
            Arc::new(SystemClock),
        ));
        OtlpState::new(
            store,
            Partition::default(),
            Options::default(),
            Arc::new(SystemClock),
        )
    };
    let mut fresh = req.clone();
    g.bench_function("export_to_store", |b| {
        b.iter_custom(|iters| {
            let st = fresh_state();
            let mut n = 0u64;
            let mut send = |n: u64| {
                renumber(&mut fresh, n);
                rt.block_on(export(&st, &st.partition, Intake::OtlpHttp, &fresh))
                    .ok()
                    .unwrap();
            };
            for _ in 0..PREFILL_REQUESTS {
                n += 1;
                send(n);
            }
            let start = std::time::Instant::now();
            for _ in 0..iters {
                n += 1;
                send(n);
            }
            start.elapsed()
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = stages
}
criterion_main!(benches);
