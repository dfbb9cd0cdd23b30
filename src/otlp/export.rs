//! An export's way into the store: the quota, a turn among concurrent exports, conversion
//! chunk by chunk, and the count of spans refused.

use super::{ExportError, INGEST_CHUNK, OtlpState};
use crate::convert::{Converted, ResourceInfo, convert_span};
use crate::ingest::ingest_checked;
use crate::metrics::{Intake, METRICS, SpanLabels};
use crate::model::segment::validate_entity;
use crate::store::{IngestDoc, Partition};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};

/// Converts and stores a request's spans; counts the ones refused. A store that does not
/// answer within `store_timeout` makes the export UNAVAILABLE; documents already stored stay
/// (ingest is idempotent, so the exporter's retry is harmless).
pub async fn export(
    st: &OtlpState,
    part: &Partition,
    transport: Intake,
    req: &ExportTraceServiceRequest,
) -> Result<ExportTraceServiceResponse, ExportError> {
    let spans: usize = req
        .resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .map(|ss| ss.spans.len())
        .sum();
    let result = match st.quota.take(part, spans) {
        Ok(()) => export_in_turn(st, part, transport, req).await,
        Err(t) => {
            METRICS
                .throttled
                .get_or_create(&crate::metrics::OperationLabel {
                    operation: transport.label(),
                })
                .inc();
            Err(ExportError::Throttled(st.quota.message(t), t.retry_after))
        }
    };
    let rejected = match &result {
        Ok(r) => r
            .partial_success
            .as_ref()
            .map_or(0, |p| p.rejected_spans as usize),
        Err(_) => spans,
    };
    let count = |outcome, n: usize| {
        if n > 0 {
            METRICS
                .otlp_spans
                .get_or_create(&SpanLabels {
                    transport: transport.label(),
                    outcome,
                })
                .inc_by(n as u64);
        }
    };
    count("accepted", spans.saturating_sub(rejected));
    count("refused", rejected);
    result
}

async fn export_in_turn(
    st: &OtlpState,
    part: &Partition,
    transport: Intake,
    req: &ExportTraceServiceRequest,
) -> Result<ExportTraceServiceResponse, ExportError> {
    let deadline = tokio::time::Instant::now() + st.store_timeout;
    let busy = || {
        ExportError::Unavailable(format!(
            "The trace store did not answer within {} ms; retry later.",
            st.store_timeout.as_millis()
        ))
    };
    let _turn = tokio::time::timeout_at(deadline, st.turns.acquire())
        .await
        .map_err(|_| busy())?
        .map_err(|_| busy())?;
    tokio::time::timeout_at(deadline, export_now(st, part, transport, req))
        .await
        .map_err(|_| busy())?
}

async fn export_now(
    st: &OtlpState,
    part: &Partition,
    transport: Intake,
    req: &ExportTraceServiceRequest,
) -> Result<ExportTraceServiceResponse, ExportError> {
    let now_secs = st.clock.now_micros() / 1_000_000;
    let resources: Vec<ResourceInfo<'_>> = req
        .resource_spans
        .iter()
        .map(|rs| ResourceInfo::new(rs.resource.as_ref(), &st.options))
        .collect();
    let mut refusals = Refusals::default();
    let mut docs = Vec::with_capacity(INGEST_CHUNK + 1);
    // The span each document came from: a local-root span makes two documents, and a span
    // counts once as rejected however many of its documents were refused.
    let mut origins = Vec::with_capacity(INGEST_CHUNK + 1);
    let mut span_index = 0usize;
    for (rs, res) in req.resource_spans.iter().zip(&resources) {
        for span in rs.scope_spans.iter().flat_map(|ss| &ss.spans) {
            match convert_span(span, res, &st.options, now_secs, &mut docs) {
                Ok(()) => origins.resize(docs.len(), span_index),
                Err(e) => refusals.span(span_index, e.0),
            }
            span_index += 1;
            // A span's documents always go to the store together.
            if docs.len() >= INGEST_CHUNK {
                store_chunk(st, part, transport, &docs, &origins, &mut refusals).await?;
                docs.clear();
                origins.clear();
            }
        }
    }
    if !docs.is_empty() {
        store_chunk(st, part, transport, &docs, &origins, &mut refusals).await?;
    }
    let Refusals {
        rejected,
        first_error,
        ..
    } = refusals;
    let partial_success = (rejected > 0).then(|| ExportTracePartialSuccess {
        rejected_spans: rejected,
        error_message: format!(
            "{rejected} span(s) rejected; the first: {}",
            first_error.unwrap_or_default()
        ),
    });
    Ok(ExportTraceServiceResponse { partial_success })
}

/// The spans refused so far, each counted once, and the first reason.
#[derive(Default)]
struct Refusals {
    rejected: i64,
    first_error: Option<String>,
    last_span: Option<usize>,
}

impl Refusals {
    fn span(&mut self, span: usize, why: String) {
        if self.last_span != Some(span) {
            self.rejected += 1;
            self.last_span = Some(span);
        }
        self.first_error.get_or_insert(why);
    }
}

/// Validates and stores converted documents; `origins` gives each one's span.
async fn store_chunk(
    st: &OtlpState,
    part: &Partition,
    transport: Intake,
    docs: &[Converted<'_>],
    origins: &[usize],
    refusals: &mut Refusals,
) -> Result<(), ExportError> {
    let checked = docs.iter().map(|c| {
        validate_entity(c.json.len(), c.entity()).map(|doc| IngestDoc { raw: &c.json, doc })
    });
    let refused = ingest_checked(st.store.as_ref(), part, transport, checked)
        .await
        .map_err(|e| ExportError::Unavailable(e.to_string()))?;
    for (i, r) in refused {
        refusals.span(origins[i], r.message);
    }
    Ok(())
}
