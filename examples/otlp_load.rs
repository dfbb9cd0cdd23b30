//! OTLP load generator: 512-span ExportTraceServiceRequests of realistic spans over gRPC
//! (tonic, several connections and streams each) or OTLP/HTTP protobuf.
//!
//! ```text
//! cargo run --release --example otlp_load -- --proto grpc --target http://127.0.0.1:4317 --seconds 10
//! cargo run --release --example otlp_load -- --proto http --target http://127.0.0.1:4318 --seconds 10
//! cargo run --release --example otlp_load -- --proto grpc --rate 150 --seconds 10   # requests/s
//! ```
//!
//! Each request holds 128 traces of 4 spans: a SERVER span with HTTP attributes, an AWS SDK
//! DynamoDB CLIENT span, a PostgreSQL CLIENT span, and an INTERNAL span with an exception
//! event; ~10 attributes each. Requests are encoded once; each send patches fresh trace IDs
//! and timestamps into the encoded bytes, so the generator spends little of the shared CPU,
//! every request stores new traces, and span times advance with the clock as an SDK's do.
//! Reports acknowledged spans per second, Export latency p50/p99, and, with `--xray URL`, the
//! documents the gateway's store gained (its `/health`).

use bytes::{Buf, BufMut, Bytes};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

use xray_gateway::otlp_fixture::{MARKER, SPANS_PER_TRACE, TRACES_PER_REQUEST, template};

/// OTLP load for the gateway's receivers.
#[derive(clap::Parser)]
struct Args {
    /// `grpc`, or `http` (protobuf).
    #[arg(long, default_value = "grpc", value_parser = ["grpc", "http"])]
    proto: String,
    /// The receiver; by default the gateway's port for `proto`.
    #[arg(long, default_value = "")]
    target: String,
    /// The X-Ray API, to read the store's counters from `/health`.
    #[arg(long)]
    xray: Option<String>,
    #[arg(long, default_value_t = 2)]
    conns: usize,
    #[arg(long, default_value_t = 4)]
    streams: usize,
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Requests a second over all streams; 0 for as fast as they go.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
}

fn args() -> Args {
    let mut a = <Args as clap::Parser>::parse();
    if a.target.is_empty() {
        a.target = if a.proto == "grpc" {
            "http://127.0.0.1:4317".into()
        } else {
            "http://127.0.0.1:4318".into()
        };
    }
    a
}

/// An encoded request and where its trace IDs and timestamps sit in it.
struct Encoded {
    bytes: Vec<u8>,
    trace_id_offsets: Vec<usize>,
    /// The clock reading the template's times were made from.
    base_nanos: u64,
    time_offsets: Vec<usize>,
}

/// Where the template's span and event times sit in its encoding: fixed64 fields
/// (`start_time_unix_nano` 7, `end_time_unix_nano` 8, event `time_unix_nano` 1) whose values
/// are among the template's times.
fn time_offsets(req: &ExportTraceServiceRequest, bytes: &[u8]) -> Vec<usize> {
    let spans = req
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans);
    let mut times = std::collections::HashSet::new();
    let mut expected = 0;
    for s in spans {
        times.extend([s.start_time_unix_nano, s.end_time_unix_nano]);
        times.extend(s.events.iter().map(|e| e.time_unix_nano));
        expected += 2 + s.events.len();
    }
    const TAGS: [u8; 3] = [7 << 3 | 1, 8 << 3 | 1, 1 << 3 | 1];
    let mut offsets = Vec::new();
    let mut i = 0;
    while i + 9 <= bytes.len() {
        let value = u64::from_le_bytes(bytes[i + 1..i + 9].try_into().unwrap());
        if TAGS.contains(&bytes[i]) && times.contains(&value) {
            offsets.push(i + 1);
            i += 9;
        } else {
            i += 1;
        }
    }
    assert_eq!(
        offsets.len(),
        expected,
        "every span and event time is found"
    );
    offsets
}

fn encode(req: &ExportTraceServiceRequest, base_nanos: u64) -> Encoded {
    let bytes = req.encode_to_vec();
    let time_offsets = time_offsets(req, &bytes);
    let trace_id_offsets = bytes
        .windows(MARKER.len())
        .enumerate()
        .filter(|(_, w)| *w == MARKER)
        .map(|(i, _)| i)
        .collect::<Vec<_>>();
    assert_eq!(
        trace_id_offsets.len(),
        TRACES_PER_REQUEST * SPANS_PER_TRACE,
        "every span's trace ID is found"
    );
    Encoded {
        bytes,
        trace_id_offsets,
        base_nanos,
        time_offsets,
    }
}

/// A copy of the request with fresh trace IDs (this second's epoch and a unique rest) and
/// its times moved forward by the time since the template was made.
fn fresh(enc: &Encoded, seq: u64, salt: u64) -> Bytes {
    let mut b = enc.bytes.clone();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let epoch = now.as_secs() as u32;
    let shift = (now.as_nanos() as u64).saturating_sub(enc.base_nanos);
    for off in &enc.time_offsets {
        let t = u64::from_le_bytes(b[*off..*off + 8].try_into().unwrap());
        b[*off..*off + 8].copy_from_slice(&(t + shift).to_le_bytes());
    }
    for (n, off) in enc.trace_id_offsets.iter().enumerate() {
        let trace = (n / SPANS_PER_TRACE) as u64;
        b[*off..*off + 4].copy_from_slice(&epoch.to_be_bytes());
        b[*off + 4..*off + 12].copy_from_slice(&(seq ^ salt.rotate_left(17)).to_be_bytes());
        b[*off + 12..*off + 16].copy_from_slice(&(trace as u32 ^ salt as u32).to_be_bytes());
    }
    Bytes::from(b)
}

/// Sends already-encoded requests as they are.
#[derive(Clone, Default)]
struct RawCodec;

struct RawEncoder;
struct ResponseDecoder;

impl Encoder for RawEncoder {
    type Item = Bytes;
    type Error = tonic::Status;
    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for ResponseDecoder {
    type Item = ExportTraceServiceResponse;
    type Error = tonic::Status;
    fn decode(
        &mut self,
        src: &mut DecodeBuf<'_>,
    ) -> Result<Option<ExportTraceServiceResponse>, tonic::Status> {
        let bytes = src.copy_to_bytes(src.remaining());
        ExportTraceServiceResponse::decode(bytes)
            .map(Some)
            .map_err(|e| tonic::Status::internal(e.to_string()))
    }
}

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = ExportTraceServiceResponse;
    type Encoder = RawEncoder;
    type Decoder = ResponseDecoder;
    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }
    fn decoder(&mut self) -> ResponseDecoder {
        ResponseDecoder
    }
}

enum Sender {
    Grpc(tonic::client::Grpc<tonic::transport::Channel>),
    Http(Client<HttpConnector, Full<Bytes>>, String),
}

impl Sender {
    /// Sends one request; the spans the receiver refused.
    async fn send(&mut self, body: Bytes) -> Result<i64, String> {
        match self {
            Sender::Grpc(g) => {
                g.ready().await.map_err(|e| e.to_string())?;
                let path = tonic::codegen::http::uri::PathAndQuery::from_static(
                    "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                );
                let r = g
                    .unary(tonic::Request::new(body), path, RawCodec)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(r.into_inner()
                    .partial_success
                    .map_or(0, |p| p.rejected_spans))
            }
            Sender::Http(client, url) => {
                let req = hyper::Request::post(url.as_str())
                    .header("content-type", "application/x-protobuf")
                    .body(Full::new(body))
                    .map_err(|e| e.to_string())?;
                let resp = client.request(req).await.map_err(|e| e.to_string())?;
                let status = resp.status();
                let body = resp
                    .into_body()
                    .collect()
                    .await
                    .map_err(|e| e.to_string())?
                    .to_bytes();
                if !status.is_success() {
                    return Err(format!("HTTP {status}"));
                }
                let r = ExportTraceServiceResponse::decode(body).map_err(|e| e.to_string())?;
                Ok(r.partial_success.map_or(0, |p| p.rejected_spans))
            }
        }
    }
}

async fn store_documents(url: &str) -> Option<u64> {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let resp = client
        .get(format!("{url}/health").parse().ok()?)
        .await
        .ok()?;
    let body = resp.into_body().collect().await.ok()?.to_bytes();
    let v: serde_json::Value = serde_json::from_slice(&body).ok()?;
    v["store"]["documents"].as_u64()
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

async fn run(a: Args) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let enc = Arc::new(encode(&template(now), now));
    println!(
        "request: {} spans, {} bytes encoded",
        TRACES_PER_REQUEST * SPANS_PER_TRACE,
        enc.bytes.len()
    );
    let before = match &a.xray {
        Some(u) => store_documents(u).await,
        None => None,
    };
    let acked = Arc::new(AtomicU64::new(0));
    let rejected = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let seq = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(a.seconds);
    let workers = a.conns * a.streams;
    // With --rate, each worker sends on its own schedule so the total is the rate.
    let interval = (a.rate > 0.0).then(|| Duration::from_secs_f64(workers as f64 / a.rate));
    let mut tasks = Vec::new();
    let start = Instant::now();
    for c in 0..a.conns {
        let sender = if a.proto == "grpc" {
            let channel = tonic::transport::Endpoint::from_shared(a.target.clone())
                .expect("a URL")
                .connect()
                .await
                .expect("the receiver accepts connections");
            Sender::Grpc(tonic::client::Grpc::new(channel))
        } else {
            let client = Client::builder(TokioExecutor::new()).build_http();
            Sender::Http(client, format!("{}/v1/traces", a.target))
        };
        let sender = Arc::new(tokio::sync::Mutex::new(sender));
        for st in 0..a.streams {
            let (enc, acked, rejected, failed, seq) = (
                enc.clone(),
                acked.clone(),
                rejected.clone(),
                failed.clone(),
                seq.clone(),
            );
            // Each stream gets its own clone of the connection's client: tonic's Grpc and
            // hyper's Client multiplex clones over the connection.
            let mut sender = match &*sender.lock().await {
                Sender::Grpc(g) => Sender::Grpc(g.clone()),
                Sender::Http(h, u) => Sender::Http(h.clone(), u.clone()),
            };
            let worker = c * a.streams + st;
            let salt = ((c * 64 + st) as u64 + 1).wrapping_mul(0x9e3779b97f4a7c15) ^ now;
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                // Workers are spread over the interval so requests arrive evenly, not in bursts.
                let mut next = Instant::now()
                    + interval.map_or(Duration::ZERO, |iv| iv * worker as u32 / workers as u32);
                while Instant::now() < deadline {
                    if let Some(iv) = interval {
                        tokio::time::sleep_until(next.into()).await;
                        next += iv;
                    }
                    let body = fresh(&enc, seq.fetch_add(1, Relaxed), salt);
                    let t = Instant::now();
                    match sender.send(body).await {
                        Ok(r) => {
                            lat.push(t.elapsed().as_secs_f64() * 1e3);
                            acked.fetch_add((TRACES_PER_REQUEST * SPANS_PER_TRACE) as u64, Relaxed);
                            rejected.fetch_add(r as u64, Relaxed);
                        }
                        Err(e) => {
                            if failed.fetch_add(1, Relaxed) == 0 {
                                eprintln!("first failure: {e}");
                            }
                        }
                    }
                }
                lat
            }));
        }
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.unwrap());
    }
    let secs = start.elapsed().as_secs_f64();
    let spans = acked.load(Relaxed);
    println!(
        "{}: {} requests, {:.0} spans/s acknowledged, {} rejected, {} failed requests; Export p50 {:.2} ms, p99 {:.2} ms",
        a.proto,
        lat.len(),
        spans as f64 / secs,
        rejected.load(Relaxed),
        failed.load(Relaxed),
        percentile(&mut lat, 0.50),
        percentile(&mut lat, 0.99),
    );
    if let (Some(u), Some(b)) = (&a.xray, before)
        && let Some(after) = store_documents(u).await
    {
        println!(
            "store gained {} documents ({:.0}/s)",
            after - b,
            (after - b) as f64 / secs
        );
    }
}

fn main() {
    let a = args();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(run(a));
}
