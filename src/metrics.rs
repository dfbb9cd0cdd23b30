//! Prometheus metrics, served at `GET /metrics` on the X-Ray listener. One process-wide set,
//! counted where things happen; values that the store and the log already keep are read at
//! scrape time. Labels take values from small closed sets (intakes, outcomes, refusal codes,
//! operation names), never trace IDs or service names.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::LazyLock;
use std::sync::atomic::AtomicU64;

/// Where documents came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Intake {
    PutTraceSegments,
    OtlpGrpc,
    OtlpHttp,
    Udp,
}

impl Intake {
    pub fn label(self) -> &'static str {
        match self {
            Intake::PutTraceSegments => "put_trace_segments",
            Intake::OtlpGrpc => "otlp_grpc",
            Intake::OtlpHttp => "otlp_http",
            Intake::Udp => "udp",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DocLabels {
    pub intake: &'static str,
    pub outcome: &'static str,
    /// Why a document was refused (`none` when stored): a closed set, see [`reason`].
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SpanLabels {
    pub transport: &'static str,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ApiLabels {
    pub operation: &'static str,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabel {
    pub operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CauseLabel {
    pub cause: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabel {
    pub state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

/// From 100 µs to about 13 s, doubling.
fn latency_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 18))
}

pub struct Metrics {
    registry: Registry,
    pub documents: Family<DocLabels, Counter>,
    pub otlp_spans: Family<SpanLabels, Counter>,
    pub api_requests: Family<ApiLabels, Counter>,
    pub api_latency: Family<OperationLabel, Histogram, fn() -> Histogram>,
    pub stored_traces: Gauge,
    pub stored_documents: Gauge,
    pub stored_bytes: Gauge,
    pub evicted: Family<CauseLabel, Counter>,
    pub fsync_latency: Histogram,
    pub wal_bytes: Gauge,
    pub log_write_errors: Counter,
    pub recovering: Gauge,
    pub replayed_bytes: Gauge,
    pub replay_total_bytes: Gauge,
    pub sampling_clients: Gauge,
    pub throttled: Family<OperationLabel, Counter>,
    pub postgres_pool: Family<StateLabel, Gauge>,
    /// Limit evictions the store has reported so far, to turn its running total into
    /// counter increments.
    evicted_seen: AtomicU64,
}

impl Metrics {
    fn new() -> Metrics {
        let mut r = Registry::with_prefix("xray_gateway");
        let m = Metrics {
            documents: Family::default(),
            otlp_spans: Family::default(),
            api_requests: Family::default(),
            api_latency: Family::new_with_constructor(latency_buckets),
            stored_traces: Gauge::default(),
            stored_documents: Gauge::default(),
            stored_bytes: Gauge::default(),
            evicted: Family::default(),
            fsync_latency: latency_buckets(),
            wal_bytes: Gauge::default(),
            log_write_errors: Counter::default(),
            recovering: Gauge::default(),
            replayed_bytes: Gauge::default(),
            replay_total_bytes: Gauge::default(),
            sampling_clients: Gauge::default(),
            throttled: Family::default(),
            postgres_pool: Family::default(),
            evicted_seen: AtomicU64::new(0),
            registry: Registry::default(),
        };
        r.register(
            "documents_received",
            "Segment documents received, by intake and outcome (stored or refused, and why)",
            m.documents.clone(),
        );
        r.register(
            "otlp_spans",
            "OTLP spans received, by transport, accepted or refused",
            m.otlp_spans.clone(),
        );
        r.register(
            "api_requests",
            "X-Ray API requests, by operation and HTTP status",
            m.api_requests.clone(),
        );
        r.register(
            "api_request_duration_seconds",
            "Time to answer X-Ray API requests, by operation",
            m.api_latency.clone(),
        );
        r.register("stored_traces", "Traces held", m.stored_traces.clone());
        r.register(
            "stored_documents",
            "Segment documents held",
            m.stored_documents.clone(),
        );
        r.register(
            "stored_bytes",
            "Bytes the store accounts for (packed documents and summaries with their overhead)",
            m.stored_bytes.clone(),
        );
        r.register(
            "evicted_traces",
            "Traces dropped, by cause: limit (memory, trace count or disk bounds) or retention",
            m.evicted.clone(),
        );
        r.register(
            "log_fsync_duration_seconds",
            "Time each fsync of the write-ahead log took",
            m.fsync_latency.clone(),
        );
        r.register(
            "log_wal_bytes",
            "Bytes of write-ahead log since the last checkpoint",
            m.wal_bytes.clone(),
        );
        r.register(
            "log_write_errors",
            "Writes or syncs of the write-ahead log that failed",
            m.log_write_errors.clone(),
        );
        r.register(
            "recovering",
            "1 while the data directory is being replayed",
            m.recovering.clone(),
        );
        r.register(
            "replayed_bytes",
            "Bytes of the data directory replayed so far",
            m.replayed_bytes.clone(),
        );
        r.register(
            "replay_total_bytes",
            "Bytes of the data directory to replay",
            m.replay_total_bytes.clone(),
        );
        r.register(
            "sampling_clients",
            "Sampling clients (GetSamplingTargets ClientIDs) currently sharing reservoirs",
            m.sampling_clients.clone(),
        );
        r.register(
            "postgres_pool_connections",
            "PostgreSQL connections by state (open, idle, max) and requests waiting for one (waiting)",
            m.postgres_pool.clone(),
        );
        r.register(
            "throttled_requests",
            "Requests refused by the segments-per-second quota, by operation",
            m.throttled.clone(),
        );
        let build: Family<BuildLabels, Gauge> = Family::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        r.register("build_info", "The gateway's version", build);
        Metrics { registry: r, ..m }
    }

    /// Counts documents of one intake: `stored` of them stored, and each refusal by its code.
    pub fn documents(
        &self,
        intake: Intake,
        stored: usize,
        refused: impl Iterator<Item = &'static str>,
    ) {
        if stored > 0 {
            self.documents
                .get_or_create(&DocLabels {
                    intake: intake.label(),
                    outcome: "stored",
                    reason: "none",
                })
                .inc_by(stored as u64);
        }
        for reason in refused {
            self.documents
                .get_or_create(&DocLabels {
                    intake: intake.label(),
                    outcome: "refused",
                    reason,
                })
                .inc();
        }
    }

    /// Takes the store's running total of limit evictions.
    pub fn evicted_by_limits(&self, total: u64) {
        let seen = self
            .evicted_seen
            .fetch_max(total, std::sync::atomic::Ordering::Relaxed);
        if total > seen {
            self.evicted
                .get_or_create(&CauseLabel { cause: "limit" })
                .inc_by(total - seen);
        }
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// The reason label of a refusal: its code when it is one of X-Ray's, else `other`.
pub fn reason(code: &str, message: &str) -> &'static str {
    if message.starts_with("Trace Size Exceeded") {
        return "trace_size_exceeded";
    }
    match code {
        "InvalidSegment" => "invalid_segment",
        "InvalidTraceId" => "invalid_trace_id",
        "Throttled" => "throttled",
        _ => "other",
    }
}

pub static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);
