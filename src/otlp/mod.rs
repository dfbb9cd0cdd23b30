//! OTLP trace ingest: a tonic `TraceService` (gRPC) and `POST /v1/traces` (protobuf or JSON,
//! gzip or not), both converting spans to segment documents and storing them through the same
//! ingest as PutTraceSegments. One bad span is rejected on its own and counted in
//! `partial_success`; an undecodable body is `INVALID_ARGUMENT` / 400 with a `google.rpc.Status`.

use crate::convert::Options;
use crate::model::time::Clock;
use crate::store::{Partition, TraceStore};
use std::sync::Arc;

mod export;
mod grpc;
mod http;

pub use export::export;
pub use grpc::{Grpc, GrpcService, grpc_service};
pub use http::http_router;

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

impl ExportError {
    pub fn kind(&self) -> crate::error::ErrorKind {
        match self {
            ExportError::Unavailable(_) => crate::error::ErrorKind::Unavailable,
            ExportError::Throttled(..) => crate::error::ErrorKind::Throttled,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            ExportError::Unavailable(m) | ExportError::Throttled(m, _) => m,
        }
    }

    /// When a retry could pass, for retryable refusals.
    pub fn retry_after(&self) -> std::time::Duration {
        match self {
            ExportError::Unavailable(_) => std::time::Duration::from_secs(1),
            ExportError::Throttled(_, after) => *after,
        }
    }
}

#[cfg(test)]
mod tests;
