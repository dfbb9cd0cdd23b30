//! Load generator for the X-Ray API of a running gateway.
//!
//! ```text
//! cargo run --release --example loadgen -- put   --url http://127.0.0.1:4566 --clients 4 --seconds 10
//! cargo run --release --example loadgen -- put --single --url http://127.0.0.1:4566 --clients 4
//! cargo run --release --example loadgen -- fill  --url http://127.0.0.1:4566 --traces 1000000
//! cargo run --release --example loadgen -- fill --realistic --url http://127.0.0.1:4566 --traces 300000
//! cargo run --release --example loadgen -- query --url http://127.0.0.1:4566 --seconds 10
//! cargo run --release --example loadgen -- udp --daemon 127.0.0.1:2000 --rate 25000 --seconds 10
//! cargo run --release --example loadgen -- targets --url http://127.0.0.1:4566 --seconds 10
//! ```
//!
//! `udp` sends ~1 KB segment datagrams at a steady rate (`--rate 0`: as fast as it can) and
//! reports what the gateway stored and what the kernel dropped on the socket (/proc/net/udp).
//! `targets` creates 25 sampling rules and has 100 clients report statistics for all of them
//! in turn, reporting GetSamplingTargets latency.
//!
//! `put` sends 50-document PutTraceSegments calls of realistic ~600-byte segments (three per
//! trace: a front end, a back end called by it, and an independent subsegment) over keep-alive
//! connections and reports segments stored per second; `put --single` makes every document a
//! trace of its own (the front end, with its nested call), as X-Ray SDKs send. `fill` stores N one-segment traces spread
//! over the last hour and reports resident memory per segment. `query` measures BatchGetTraces of
//! 5 traces, the first GetTraceSummaries page over the last hour (with `--filter`, filtered) and
//! GetServiceGraph of the last hour, reporting p50 and p99.
//!
//! Documents are made by patching fixed-width fields of a pre-escaped template, so the
//! generator spends little of the shared CPU.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

type Http = Client<HttpConnector, Full<Bytes>>;

/// Load for the gateway: `put`, `fill`, `query`, `udp` or `targets` (see the module doc).
#[derive(clap::Parser)]
struct Args {
    #[arg(value_parser = ["put", "fill", "query", "udp", "targets"])]
    mode: String,
    /// The X-Ray API.
    #[arg(long, default_value = "http://127.0.0.1:4566")]
    url: String,
    /// The daemon address, for `udp`.
    #[arg(long, default_value = "127.0.0.1:2000")]
    daemon: String,
    /// Segments a second, for `udp`.
    #[arg(long, default_value_t = 25_000)]
    rate: u64,
    #[arg(long, default_value_t = 4)]
    clients: usize,
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Traces, for `fill`.
    #[arg(long, default_value_t = 1_000_000)]
    traces: u64,
    /// `put`: every document its own trace, as the X-Ray SDKs send (one segment per request).
    #[arg(long)]
    single: bool,
    /// `fill` and `put`: documents with the entropy of real traffic (unique URLs, users and
    /// request IDs, random annotation values, a dozen metadata keys, an exception stack on
    /// one in ten, ~900 bytes), one per trace, instead of a few repeated templates.
    #[arg(long)]
    realistic: bool,
    /// `query`: the filter expression of the GetTraceSummaries measured.
    #[arg(long)]
    filter: Option<String>,
    /// An Authorization header for every request, for emulators that route by a SigV4
    /// credential scope (`AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/xray/aws4_request,
    /// SignedHeaders=host, Signature=0`); the gateway needs none.
    #[arg(long)]
    authorization: Option<String>,
}

/// `Args::authorization`, for every request.
static AUTHORIZATION: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Text written as the inside of a JSON string. Generated documents hold no character JSON
/// escapes but the quote, so escaping as they are written spares building each document
/// and escaping it again, which was most of the generator's own CPU.
struct JsonString<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for JsonString<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.reserve(s.len() + 16);
        for &b in s.as_bytes() {
            if b == b'"' {
                self.0.push(b'\\');
            }
            self.0.push(b);
        }
        Ok(())
    }
}

fn put_hex(dst: &mut [u8], mut v: u64) {
    for b in dst.iter_mut().rev() {
        *b = HEX[(v & 15) as usize];
        v >>= 4;
    }
}

fn put_time(dst: &mut [u8], micros: u64) {
    // "SSSSSSSSSS.uuuuuu": 17 bytes.
    let s = format!("{:010}.{:06}", micros / 1_000_000, micros % 1_000_000);
    dst.copy_from_slice(s.as_bytes());
}

/// A document template with fixed-width placeholders and their offsets.
struct Template {
    text: Vec<u8>,
    trace: Vec<usize>,
    ids: Vec<(usize, usize)>, // (offset, which of the trace's four ids)
    start: Vec<usize>,
    end: Vec<usize>,
}

const T_TRACE: &str = "TTTTTTTTTTTTTTTTTTTTTTTT";
const T_ID: [&str; 4] = [
    "AAAAAAAAAAAAAAAA",
    "BBBBBBBBBBBBBBBB",
    "CCCCCCCCCCCCCCCC",
    "DDDDDDDDDDDDDDDD",
];
const T_START: &str = "SSSSSSSSSSSSSSSSS";
const T_END: &str = "EEEEEEEEEEEEEEEEE";

impl Template {
    fn new(doc: &str) -> Template {
        // Escaped for embedding in the request's JSON string.
        let text = doc.replace('"', "\\\"");
        let find_all =
            |pat: &str| -> Vec<usize> { text.match_indices(pat).map(|(i, _)| i).collect() };
        let mut ids = Vec::new();
        for (k, p) in T_ID.iter().enumerate() {
            ids.extend(find_all(p).into_iter().map(|o| (o, k)));
        }
        Template {
            trace: find_all(T_TRACE),
            ids,
            start: find_all(T_START),
            end: find_all(T_END),
            text: text.into_bytes(),
        }
    }

    fn render(
        &self,
        out: &mut Vec<u8>,
        trace: (u32, u64, u32),
        ids: [u64; 4],
        start: u64,
        end: u64,
    ) {
        let at = out.len();
        out.extend_from_slice(&self.text);
        let buf = &mut out[at..];
        for &o in &self.trace {
            put_hex(&mut buf[o..o + 8], trace.1 >> 32);
            put_hex(&mut buf[o + 8..o + 16], trace.1 & 0xffff_ffff);
            put_hex(&mut buf[o + 16..o + 24], trace.2 as u64);
        }
        for &(o, k) in &self.ids {
            put_hex(&mut buf[o..o + 16], ids[k]);
        }
        for &o in &self.start {
            put_time(&mut buf[o..o + 17], start);
        }
        for &o in &self.end {
            put_time(&mut buf[o..o + 17], end);
        }
        // trace epoch: "1-EEEEEEEE-" precedes each trace placeholder
        for &o in &self.trace {
            put_hex(&mut buf[o - 9..o - 1], trace.0 as u64);
        }
    }
}

fn templates() -> Vec<Template> {
    let front = format!(
        r#"{{"trace_id":"1-00000000-{T_TRACE}","id":"{a}","name":"checkout-frontend","start_time":{T_START},"end_time":{T_END},"origin":"AWS::EC2::Instance","http":{{"request":{{"method":"POST","url":"https://shop.example.com/api/checkout/cart","user_agent":"Mozilla/5.0 (X11; Linux x86_64)","client_ip":"10.0.12.34"}},"response":{{"status":200,"content_length":1534}}}},"aws":{{"ec2":{{"instance_id":"i-0abc12345def67890","availability_zone":"us-east-1a"}},"xray":{{"sdk":"X-Ray for Go","sdk_version":"1.8.4"}}}},"annotations":{{"customer_tier":"gold","region":"us-east-1"}},"subsegments":[{{"id":"{b}","name":"checkout-backend","namespace":"remote","start_time":{T_START},"end_time":{T_END},"http":{{"request":{{"method":"GET","url":"http://backend.internal/cart"}},"response":{{"status":200}}}}}}]}}"#,
        a = T_ID[0],
        b = T_ID[1]
    );
    let back = format!(
        r#"{{"trace_id":"1-00000000-{T_TRACE}","id":"{c}","parent_id":"{b}","name":"checkout-backend","start_time":{T_START},"end_time":{T_END},"origin":"AWS::ECS::Container","http":{{"request":{{"method":"GET","url":"http://backend.internal/cart","client_ip":"10.0.12.35"}},"response":{{"status":200,"content_length":812}}}},"aws":{{"ecs":{{"container":"backend-7f9c","availability_zone":"us-east-1b"}},"xray":{{"sdk":"X-Ray for Java","sdk_version":"2.18.1"}}}},"annotations":{{"cart_items":3,"customer_tier":"gold"}},"metadata":{{"default":{{"cart_id":"c-55512","items":["sku-1","sku-2","sku-3"]}}}}}}"#,
        b = T_ID[1],
        c = T_ID[2]
    );
    let sub = format!(
        r#"{{"type":"subsegment","trace_id":"1-00000000-{T_TRACE}","parent_id":"{c}","id":"{d}","name":"DynamoDB","namespace":"aws","start_time":{T_START},"end_time":{T_END},"aws":{{"operation":"GetItem","region":"us-east-1","request_id":"V9KQ4DR1P3U2A7H8M5N6B0C1D2E3F4G5","table_name":"carts","retries":0,"resource_names":["carts"]}},"http":{{"response":{{"status":200,"content_length":412}}}},"metadata":{{"default":{{"consistent_read":true,"projection":"id, items, total, updated_at"}}}}}}"#,
        c = T_ID[2],
        d = T_ID[3]
    );
    vec![
        Template::new(&front),
        Template::new(&back),
        Template::new(&sub),
    ]
}

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

struct Gen {
    templates: Vec<Template>,
    seq: u64,
    salt: u64,
}

impl Gen {
    fn new(salt: u64) -> Gen {
        Gen {
            templates: templates(),
            seq: 0,
            salt,
        }
    }

    fn mix(&self, n: u64) -> u64 {
        let mut z = n.wrapping_add(self.salt).wrapping_mul(0x9e3779b97f4a7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z ^ (z >> 31)
    }

    /// A PutTraceSegments body of `docs` realistic documents, each its own trace (see
    /// `Args::realistic`).
    fn realistic_body(&mut self, docs: usize, start_micros: impl Fn(u64) -> u64) -> Bytes {
        const SERVICES: [&str; 6] = ["cart", "checkout", "catalog", "search", "users", "orders"];
        const REGIONS: [&str; 8] = [
            "us-east-1",
            "us-west-2",
            "eu-west-1",
            "eu-central-1",
            "ap-south-1",
            "ap-northeast-1",
            "sa-east-1",
            "ca-central-1",
        ];
        let mut out = Vec::with_capacity(docs * 1100);
        out.extend_from_slice(b"{\"TraceSegmentDocuments\":[");
        let (mut meta, mut cause) = (String::new(), String::new());
        for i in 0..docs {
            self.seq += 1;
            let n = self.seq;
            let r = |k: u64| self.mix(n * 16 + k);
            let start = start_micros(n);
            let end = start + 5_000 + r(1) % 400_000;
            let (s, e) = (start as f64 / 1e6, end as f64 / 1e6);
            let fault = r(2) % 10 == 0;
            let status = if fault {
                500
            } else {
                [200, 200, 200, 201, 404][(r(3) % 5) as usize]
            };
            meta.clear();
            for k in 0..12 {
                if k > 0 {
                    meta.push(',');
                }
                let _ = write!(
                    meta,
                    "\"k{k}\":\"{:x}\"",
                    r(10 + k) >> (40 + r(30 + k) % 16)
                );
            }
            cause.clear();
            if fault {
                let _ = write!(
                    cause,
                    r#","fault":true,"cause":{{"exceptions":[{{"id":"{:016x}","type":"ProvisionedThroughputExceededException","message":"Rate exceeded for {:x}","stack":[{{"path":"app/db.py","line":{},"label":"get_item"}},{{"path":"app/cart.py","line":{},"label":"load_cart"}},{{"path":"app/handlers.py","line":{},"label":"handle"}}]}}]}}"#,
                    r(4),
                    r(5),
                    r(6) % 900,
                    r(7) % 900,
                    r(8) % 900
                );
            }
            if i > 0 {
                out.push(b',');
            }
            out.push(b'"');
            let _ = write!(
                JsonString(&mut out),
                r#"{{"trace_id":"1-{:08x}-{:024x}","id":"{:016x}","name":"{}","start_time":{s:.6},"end_time":{e:.6},"origin":"AWS::EC2::Instance","http":{{"request":{{"method":"{}","url":"https://shop.example.com/api/items/{}/reviews?page={}&s={:x}","user_agent":"Mozilla/5.0 (X11; Linux x86_64) Chrome/{}.0.{}","client_ip":"10.{}.{}.{}"}},"response":{{"status":{status},"content_length":{}}}}},"user":"user-{}","annotations":{{"request_id":"{:016x}{:016x}","region":"{}","tenant":"t-{}","cart_value":{}.{:02}}},"metadata":{{"default":{{{meta}}}}},"subsegments":[{{"id":"{:016x}","name":"DynamoDB","namespace":"aws","start_time":{s:.6},"end_time":{e:.6},"aws":{{"operation":"GetItem","table_name":"carts","request_id":"{:016X}{:016X}"}}{cause}}}]}}"#,
                start / 1_000_000,
                (r(11) as u128) << 32 | (r(12) & 0xffff_ffff) as u128,
                r(13) | 1,
                SERVICES[(r(14) % 6) as usize],
                if r(15) % 3 == 0 { "POST" } else { "GET" },
                r(16) % 10_000_000,
                r(17) % 40,
                r(18) >> 32,
                90 + r(19) % 40,
                r(20) % 6000,
                r(21) % 256,
                r(22) % 256,
                r(23) % 256,
                r(24) % 100_000,
                r(25) % 1_000_000,
                r(26),
                r(27),
                REGIONS[(r(28) % 8) as usize],
                r(29) % 10_000,
                r(31) % 500,
                r(32) % 100,
                r(33) | 1,
                r(34),
                r(35),
            );
            out.push(b'"');
        }
        out.extend_from_slice(b"]}");
        Bytes::from(out)
    }

    /// A 50-document PutTraceSegments body; `one_per_trace` uses only the front-end document.
    fn body(
        &mut self,
        docs: usize,
        one_per_trace: bool,
        start_micros: impl Fn(u64) -> u64,
    ) -> Bytes {
        let mut out = Vec::with_capacity(docs * 720);
        out.extend_from_slice(b"{\"TraceSegmentDocuments\":[");
        let per_trace = if one_per_trace { 1 } else { 3 };
        let mut i = 0;
        while i < docs {
            self.seq += 1;
            let n = self.seq;
            let start = start_micros(n);
            let trace = (
                (start / 1_000_000) as u32,
                self.mix(n),
                (self.mix(n ^ 0xabc) & 0xffff_ffff) as u32,
            );
            let ids = [1, 2, 3, 4].map(|k| self.mix(n * 4 + k) | 1);
            for t in self.templates.iter().take(per_trace) {
                if i == docs {
                    break;
                }
                if i > 0 {
                    out.push(b',');
                }
                out.push(b'"');
                t.render(&mut out, trace, ids, start, start + 120_000);
                out.push(b'"');
                i += 1;
            }
        }
        out.extend_from_slice(b"]}");
        Bytes::from(out)
    }
}

async fn post(client: &Http, url: &str, path: &str, body: Bytes) -> (u16, Bytes) {
    let mut req =
        hyper::Request::post(format!("{url}{path}")).header("content-type", "application/json");
    if let Some(a) = AUTHORIZATION.get().and_then(Option::as_deref) {
        req = req.header("authorization", a);
    }
    let req = req.body(Full::new(body)).expect("request");
    let resp = client.request(req).await.expect("gateway reachable");
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    (status, body)
}

async fn health(client: &Http, url: &str) -> serde_json::Value {
    let req = hyper::Request::get(format!("{url}/health"))
        .body(Full::new(Bytes::new()))
        .expect("request");
    let resp = client.request(req).await.expect("gateway reachable");
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    // Another service (an emulator measured for comparison) may have no such page.
    serde_json::from_slice(&body).unwrap_or_default()
}

fn client() -> Http {
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(64)
        .build_http()
}

async fn put_load(a: &Args) {
    let http = client();
    let before = health(&http, &a.url).await["store"]["documents"]
        .as_u64()
        .unwrap_or(0);
    let stored = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(a.seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..a.clients {
        let (http, url, stored, single) = (http.clone(), a.url.clone(), stored.clone(), a.single);
        let realistic = a.realistic;
        tasks.push(tokio::spawn(async move {
            let mut g = Gen::new(c as u64 * 0x1000_0000_0000 + now_micros());
            let base = now_micros() - 60_000_000;
            while Instant::now() < deadline {
                let body = if realistic {
                    g.realistic_body(50, |n| base + n * 37)
                } else {
                    g.body(50, single, |n| base + n * 37)
                };
                let (status, resp) = post(&http, &url, "/TraceSegments", body).await;
                assert_eq!(status, 200, "{}", String::from_utf8_lossy(&resp));
                let v: serde_json::Value = serde_json::from_slice(&resp).expect("JSON");
                let refused = v["UnprocessedTraceSegments"]
                    .as_array()
                    .map_or(0, |a| a.len());
                assert_eq!(refused, 0, "{v}");
                stored.fetch_add(50, Relaxed);
            }
        }));
    }
    for t in tasks {
        t.await.expect("client task");
    }
    let secs = started.elapsed().as_secs_f64();
    let n = stored.load(Relaxed);
    let after = health(&http, &a.url).await["store"]["documents"]
        .as_u64()
        .unwrap_or(0);
    println!(
        "put: {n} segments acknowledged in {secs:.1} s by {} clients = {:.0} segments/s; store grew by {} documents",
        a.clients,
        n as f64 / secs,
        after - before
    );
}

async fn fill(a: &Args) {
    let http = client();
    let h0 = health(&http, &a.url).await;
    let rss0 = h0["rss_bytes"].as_u64().unwrap_or(0);
    let docs0 = h0["store"]["documents"].as_u64().unwrap_or(0);
    let bytes0 = h0["store"]["bytes"].as_u64().unwrap_or(0);
    let per_client = a.traces / a.clients as u64;
    let hour = 3_600_000_000u64;
    let start = now_micros() - hour;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..a.clients as u64 {
        let (http, url, realistic) = (http.clone(), a.url.clone(), a.realistic);
        tasks.push(tokio::spawn(async move {
            let mut g = Gen::new(c * 0x1000_0000_0000 + 7);
            let mut sent = 0;
            while sent < per_client {
                let n = (per_client - sent).min(50) as usize;
                // Spread starts evenly over the hour, interleaving the clients.
                let at = |k: u64| {
                    start
                        + ((k - 1) * a_clients_u64() + c)
                            * (hour / (per_client * a_clients_u64())).max(1)
                };
                let body = if realistic {
                    g.realistic_body(n, at)
                } else {
                    g.body(n, true, at)
                };
                let (status, _) = post(&http, &url, "/TraceSegments", body).await;
                assert_eq!(status, 200);
                sent += n as u64;
            }
        }));
    }
    for t in tasks {
        t.await.expect("client task");
    }
    let h = health(&http, &a.url).await;
    let docs = h["store"]["documents"].as_u64().unwrap_or(0) - docs0;
    let accounted = h["store"]["bytes"].as_u64().unwrap_or(0) - bytes0;
    let rss = h["rss_bytes"].as_u64().unwrap_or(0);
    let sample = if a.realistic {
        Gen::new(1).realistic_body(50, |_| now_micros())
    } else {
        Gen::new(1).body(50, true, |_| now_micros())
    };
    let parsed: serde_json::Value = serde_json::from_slice(&sample).expect("own body");
    let avg_doc = parsed["TraceSegmentDocuments"].as_array().map_or(0, |d| {
        d.iter()
            .filter_map(|x| x.as_str())
            .map(str::len)
            .sum::<usize>()
    }) as f64
        / 50.0;
    println!(
        "fill: {docs} one-segment traces of ~{avg_doc:.0}-byte documents in {:.1} s; resident {:.0} MiB, {:.0} bytes per stored segment (growth {:.0}, accounted {:.0})",
        started.elapsed().as_secs_f64(),
        rss as f64 / 1048576.0,
        rss as f64 / docs.max(1) as f64,
        (rss - rss0.min(rss)) as f64 / docs.max(1) as f64,
        accounted as f64 / docs.max(1) as f64,
    );
}

static CLIENTS: AtomicU64 = AtomicU64::new(1);
fn a_clients_u64() -> u64 {
    CLIENTS.load(Relaxed)
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

async fn query(a: &Args) {
    let http = client();
    let now = now_micros() as f64 / 1e6;
    // Trace IDs to fetch: the newest summaries of the last hour, gathered over a few pages.
    let mut ids: Vec<String> = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..5 {
        let mut req = serde_json::json!({"StartTime": now - 3600.0, "EndTime": now + 60.0});
        if let Some(t) = &token {
            req["NextToken"] = t.clone().into();
        }
        let (_, body) = post(
            &http,
            &a.url,
            "/TraceSummaries",
            Bytes::from(req.to_string()),
        )
        .await;
        let v: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        ids.extend(
            v["TraceSummaries"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s["Id"].as_str().map(str::to_owned)),
        );
        token = v["NextToken"].as_str().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    assert!(ids.len() >= 5, "fill the gateway first");
    let deadline = Instant::now() + Duration::from_secs(a.seconds);
    let (mut batch, mut summ, mut graph) = (Vec::new(), Vec::new(), Vec::new());
    let mut i = 0;
    while Instant::now() < deadline {
        let pick: Vec<&String> = (0..5).map(|k| &ids[(i * 5 + k) % ids.len()]).collect();
        let body = serde_json::json!({ "TraceIds": pick }).to_string();
        let t = Instant::now();
        let (status, resp) = post(&http, &a.url, "/Traces", Bytes::from(body)).await;
        batch.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(status, 200);
        let v: serde_json::Value = serde_json::from_slice(&resp).expect("JSON");
        assert_eq!(v["Traces"].as_array().map_or(0, |t| t.len()), 5);
        let mut req = serde_json::json!({"StartTime": now - 3600.0, "EndTime": now + 60.0});
        if let Some(f) = &a.filter {
            req["FilterExpression"] = f.clone().into();
        }
        let t = Instant::now();
        let (status, resp) = post(
            &http,
            &a.url,
            "/TraceSummaries",
            Bytes::from(req.to_string()),
        )
        .await;
        summ.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&resp));
        let window = serde_json::json!({"StartTime": now - 3600.0, "EndTime": now}).to_string();
        let t = Instant::now();
        let (status, _) = post(&http, &a.url, "/ServiceGraph", Bytes::from(window)).await;
        graph.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(status, 200);
        i += 1;
    }
    let stored = health(&http, &a.url).await["store"].clone();
    println!(
        "query over {stored}: BatchGetTraces(5) p50 {:.2} ms p99 {:.2} ms; GetTraceSummaries first page (1 h, filter {:?}) p50 {:.2} ms p99 {:.2} ms; GetServiceGraph (1 h) p50 {:.2} ms p99 {:.2} ms; {} rounds",
        percentile(&mut batch, 0.5),
        percentile(&mut batch, 0.99),
        a.filter.as_deref().unwrap_or(""),
        percentile(&mut summ, 0.5),
        percentile(&mut summ, 0.99),
        percentile(&mut graph, 0.5),
        percentile(&mut graph, 0.99),
        i
    );
}

/// Drops the kernel counted on the UDP socket bound to `port` (the last column of /proc/net/udp).
fn socket_drops(port: u16) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/net/udp").ok()?;
    let want = format!(":{port:04X}");
    text.lines()
        .skip(1)
        .find(|l| {
            l.split_whitespace()
                .nth(1)
                .is_some_and(|local| local.ends_with(&want))
        })?
        .split_whitespace()
        .last()?
        .parse()
        .ok()
}

async fn udp(a: &Args) {
    let http = client();
    let port: u16 = a
        .daemon
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("--daemon HOST:PORT");
    let before = health(&http, &a.url).await["daemon_udp"]["documents_stored"]
        .as_u64()
        .unwrap_or(0);
    let drops_before = socket_drops(port).unwrap_or(0);
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let mut g = Gen::new(now_micros());
    let mut datagrams: Vec<Vec<u8>> = Vec::new();
    let (mut sent, mut size) = (0u64, 0usize);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(a.seconds);
    while Instant::now() < deadline {
        if datagrams.is_empty() {
            // Fifty fresh documents at a time, unescaped, each behind the daemon header.
            let body = g.body(50, true, |n| now_micros() - 1_000_000 + n % 1000);
            let v: serde_json::Value = serde_json::from_slice(&body).expect("own body");
            datagrams = v["TraceSegmentDocuments"]
                .as_array()
                .expect("list")
                .iter()
                .map(|d| {
                    let mut m = br#"{"format": "json", "version": 1}"#.to_vec();
                    m.push(b'\n');
                    m.extend_from_slice(d.as_str().expect("string").as_bytes());
                    m
                })
                .collect();
        }
        let d = datagrams.pop().expect("refilled");
        size = d.len();
        let _ = socket.send_to(&d, &a.daemon);
        sent += 1;
        if a.rate > 0 {
            // Pace: never get ahead of rate × elapsed.
            let due = Duration::from_secs_f64(sent as f64 / a.rate as f64);
            let ahead = due.saturating_sub(started.elapsed());
            if ahead > Duration::from_micros(200) {
                std::thread::sleep(ahead);
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stored = health(&http, &a.url).await["daemon_udp"]["documents_stored"]
        .as_u64()
        .unwrap_or(0)
        - before;
    let drops = socket_drops(port).unwrap_or(0) - drops_before;
    println!(
        "udp: sent {sent} datagrams of {size} bytes in {secs:.1} s = {:.0}/s; stored {stored} ({:.0}/s); lost {}; kernel socket drops {drops}",
        sent as f64 / secs,
        stored as f64 / secs,
        sent - stored.min(sent)
    );
}

async fn targets(a: &Args) {
    let http = client();
    for r in 0..25 {
        let rule = serde_json::json!({"SamplingRule": {"RuleName": format!("load-{r}"), "Priority": r + 1, "FixedRate": 0.1, "ReservoirSize": 10,
            "ServiceName": format!("svc-{r}"), "ServiceType": "*", "Host": "*", "HTTPMethod": "*", "URLPath": "*", "ResourceARN": "*", "Version": 1}});
        let (status, body) = post(
            &http,
            &a.url,
            "/CreateSamplingRule",
            Bytes::from(rule.to_string()),
        )
        .await;
        assert!(
            status == 200 || String::from_utf8_lossy(&body).contains("already exists"),
            "{}",
            String::from_utf8_lossy(&body)
        );
    }
    let deadline = Instant::now() + Duration::from_secs(a.seconds);
    let mut lat = Vec::new();
    let mut rounds = 0u64;
    while Instant::now() < deadline {
        for c in 0..100u64 {
            let now = now_micros() as f64 / 1e6;
            let docs: Vec<serde_json::Value> = (0..25)
                .map(|r| serde_json::json!({"RuleName": format!("load-{r}"), "ClientID": format!("{c:024x}"), "Timestamp": now, "RequestCount": 100, "SampledCount": 10, "BorrowCount": 1}))
                .collect();
            let body = serde_json::json!({ "SamplingStatisticsDocuments": docs }).to_string();
            let t = Instant::now();
            let (status, resp) = post(&http, &a.url, "/SamplingTargets", Bytes::from(body)).await;
            lat.push(t.elapsed().as_secs_f64() * 1e3);
            assert_eq!(status, 200, "{}", String::from_utf8_lossy(&resp));
        }
        rounds += 1;
    }
    let n = lat.len();
    println!(
        "targets: {n} GetSamplingTargets calls (25 rules reported by each of 100 clients, {rounds} rounds): p50 {:.3} ms, p99 {:.3} ms",
        percentile(&mut lat, 0.5),
        percentile(&mut lat, 0.99)
    );
}

fn main() {
    let a = <Args as clap::Parser>::parse();
    let _ = AUTHORIZATION.set(a.authorization.clone());
    CLIENTS.store(a.clients as u64, Relaxed);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        match a.mode.as_str() {
            "put" => put_load(&a).await,
            "fill" => fill(&a).await,
            "query" => query(&a).await,
            "udp" => udp(&a).await,
            "targets" => targets(&a).await,
            other => unreachable!("clap admits only the modes listed, not {other}"),
        }
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn generated_documents_are_valid_json() {
        let body = super::Gen::new(1).body(6, false, |n| 1_700_000_000_000_000 + n);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        for d in v["TraceSegmentDocuments"].as_array().unwrap() {
            let s = d.as_str().unwrap();
            serde_json::from_str::<serde_json::Value>(s).unwrap_or_else(|e| panic!("{e}: {s}"));
        }
    }
}
