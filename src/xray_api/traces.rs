//! PutTraceSegments, BatchGetTraces and GetTraceSummaries.

use super::ApiState;
use super::error::ApiError;
use super::token;
use super::types::{
    BatchGetTracesRequest, BatchGetTracesResult, GetTraceSummariesRequest, GetTraceSummariesResult,
    PutTraceSegmentsResult, Segment, Trace, UnprocessedTraceSegment,
};
use crate::convert::{Options, transit};
use crate::ingest::ingest;
use crate::model::processed::{StoredDoc, process};
use crate::model::segment::INVALID_SEGMENT;
use crate::model::selection::TraceFilter;
use crate::model::time::{micros_to_secs, secs_to_micros};
use crate::model::{Micros, TraceId};
use crate::query;
use crate::store::{Cursor, Partition, SummaryQuery, TimeRangeType};
use std::borrow::Cow;
use std::sync::Arc;

/// The real service refuses more documents than this in one call.
pub const MAX_DOCUMENTS_PER_PUT: usize = 50;
/// Traces per BatchGetTraces page.
pub const TRACES_PER_PAGE: usize = 5;
/// Summaries per GetTraceSummaries page.
pub const SUMMARIES_PER_PAGE: usize = 100;
/// Sampling rate used when `Sampling` is true and no strategy is given.
pub const DEFAULT_SAMPLING_RATE: f64 = 0.5;

pub async fn put_trace_segments(
    st: &ApiState,
    part: &Partition,
    body: &[u8],
) -> Result<String, ApiError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    let docs = super::put_body::documents(body).map_err(|e| {
        ApiError::invalid(format!(
            "Request body is not a PutTraceSegments request: {e}"
        ))
    })?;
    let Some(docs) = docs else {
        return Err(ApiError::invalid(
            "1 validation error detected: Value null at 'traceSegmentDocuments' failed to satisfy constraint: Member must not be null",
        ));
    };
    if docs.len() > MAX_DOCUMENTS_PER_PUT {
        return Err(ApiError::invalid(format!(
            "Exceeding maximum segment count: {MAX_DOCUMENTS_PER_PUT} (this request has {}).",
            docs.len()
        )));
    }
    if let Err(t) = st.quota.take(part, docs.len()) {
        let m = &crate::metrics::METRICS;
        let throttled = std::iter::repeat_n("throttled", docs.len());
        m.documents(crate::metrics::Intake::PutTraceSegments, 0, throttled);
        m.throttled
            .get_or_create(&crate::metrics::OperationLabel {
                operation: "PutTraceSegments",
            })
            .inc();
        return Err(ApiError::new(
            crate::error::ErrorKind::Throttled,
            st.quota.message(t),
        ));
    }
    // Spans the CloudWatch agent sends in OTLP form are converted here, as X-Ray does.
    let now_secs = st.clock.now_micros() / 1_000_000;
    let mut unprocessed: Vec<UnprocessedTraceSegment> = Vec::new();
    let mut expanded: Vec<Cow<'_, str>> = Vec::with_capacity(docs.len());
    for d in docs.iter() {
        if !d.trim_start().starts_with(transit::PREFIX) {
            expanded.push(Cow::Borrowed(d));
            continue;
        }
        match transit::documents(d, &Options::default(), now_secs) {
            Ok((converted, refused)) => {
                expanded.extend(converted.into_iter().map(Cow::Owned));
                unprocessed.extend(refused.into_iter().map(|r| UnprocessedTraceSegment {
                    id: Some(r.span_id),
                    error_code: Some(INVALID_SEGMENT.to_owned()),
                    message: Some(r.message),
                }));
            }
            Err(message) => unprocessed.push(UnprocessedTraceSegment {
                id: None,
                error_code: Some(INVALID_SEGMENT.to_owned()),
                message: Some(message),
            }),
        }
    }
    let refused = ingest(
        st.store.as_ref(),
        part,
        crate::metrics::Intake::PutTraceSegments,
        &expanded,
    )
    .await?;
    unprocessed.extend(refused.into_iter().map(|(_, r)| UnprocessedTraceSegment {
        id: r.id,
        error_code: Some(r.code.to_string()),
        message: Some(r.message),
    }));
    super::answer(&PutTraceSegmentsResult {
        unprocessed_trace_segments: Some(unprocessed),
    })
}

pub async fn batch_get_traces(
    st: &ApiState,
    part: &Partition,
    req: BatchGetTracesRequest,
) -> Result<String, ApiError> {
    let mut requested: Vec<&str> = Vec::new();
    for id in req.trace_ids.iter().map(String::as_str) {
        if !requested.contains(&id) {
            requested.push(id);
        }
    }
    let mut unprocessed: Vec<&str> = Vec::new();
    let mut ids: Vec<TraceId> = Vec::new();
    for raw in &requested {
        match TraceId::parse(raw) {
            Some(t) => ids.push(t),
            None => unprocessed.push(raw),
        }
    }
    let found = st.store.existing(part, &ids).await?;
    for (raw, t) in requested
        .iter()
        .filter_map(|r| Some((r, TraceId::parse(r)?)))
    {
        if !found.contains(&t) {
            unprocessed.push(raw);
        }
    }
    let fp = token::fingerprint(&requested);
    let offset = match req.next_token.as_deref() {
        None | Some("") => 0,
        Some(t) => token::decode(t, "bt", fp)
            .map_err(ApiError::invalid)?
            .first()
            .and_then(|s| s.parse::<usize>().ok())
            .ok_or_else(|| ApiError::invalid("NextToken is not a token this service issued."))?,
    };
    let page: Vec<TraceId> = found
        .iter()
        .skip(offset)
        .take(TRACES_PER_PAGE)
        .copied()
        .collect();
    let traces = st.store.get_traces(part, &page).await?;
    let traces = traces
        .into_iter()
        .map(|t| Trace {
            id: Some(t.trace_id.to_string()),
            duration: Some(t.duration_secs()),
            limit_exceeded: Some(t.limit_exceeded),
            segments: Some(
                processed(&t)
                    .into_iter()
                    .map(|p| Segment {
                        id: Some(p.id),
                        document: Some(p.document),
                    })
                    .collect(),
            ),
        })
        .collect();
    let next = offset + TRACES_PER_PAGE;
    super::answer(&BatchGetTracesResult {
        traces: Some(traces),
        unprocessed_trace_ids: Some(unprocessed.into_iter().map(str::to_owned).collect()),
        next_token: (next < found.len()).then(|| token::encode("bt", fp, &[next.to_string()])),
    })
}

/// A request's time member in microseconds.
pub fn time_member(secs: f64, name: &str) -> Result<Micros, ApiError> {
    secs_to_micros(secs)
        .ok_or_else(|| ApiError::invalid(format!("{name} must be a timestamp in epoch seconds.")))
}

pub async fn get_trace_summaries(
    st: &ApiState,
    part: &Partition,
    req: GetTraceSummariesRequest,
) -> Result<String, ApiError> {
    let start = time_member(req.start_time, "StartTime")?;
    let end = time_member(req.end_time, "EndTime")?;
    if end < start {
        return Err(ApiError::invalid("EndTime must not be before StartTime."));
    }
    let range = match req.time_range_type.as_deref() {
        None | Some("TraceId") => TimeRangeType::TraceId,
        Some("Event") => TimeRangeType::Event,
        Some("Service") => TimeRangeType::Service,
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "Unknown TimeRangeType '{other}'."
            )));
        }
    };
    let filter = req.filter_expression.as_deref().unwrap_or("");
    let compiled = compile_filter(st, part, filter).await?;
    // A strategy alone turns sampling on.
    let sampling_on = req.sampling.unwrap_or(req.sampling_strategy.is_some());
    let strategy = req.sampling_strategy.unwrap_or_default();
    let (mut scan_start, mut sample_rate) = (start, None);
    if sampling_on {
        let value = strategy.value;
        match strategy.name.as_deref() {
            Some("PartialScan") => {
                // Scan only the most recent fraction of the window.
                let frac = value.unwrap_or(DEFAULT_SAMPLING_RATE).clamp(0.0, 1.0);
                scan_start = end - ((end - start) as f64 * frac) as Micros;
            }
            Some("FixedRate") | None => {
                sample_rate = Some(value.unwrap_or(DEFAULT_SAMPLING_RATE).clamp(0.0, 1.0))
            }
            Some(other) => {
                return Err(ApiError::invalid(format!(
                    "Unknown sampling strategy '{other}'."
                )));
            }
        }
    }
    let fp = token::fingerprint(&(
        start,
        end,
        format!("{range:?}"),
        filter,
        scan_start,
        sample_rate.map(f64::to_bits),
    ));
    let after = match req.next_token.as_deref() {
        None | Some("") => None,
        Some(t) => {
            let f = token::decode(t, "ts", fp).map_err(ApiError::invalid)?;
            let bad = || ApiError::invalid("NextToken is not a token this service issued.");
            let key = f
                .first()
                .and_then(|k| k.parse::<Micros>().ok())
                .ok_or_else(bad)?;
            let trace_id = f.get(1).and_then(|t| TraceId::parse(t)).ok_or_else(bad)?;
            Some(Cursor { key, trace_id })
        }
    };
    let q = SummaryQuery {
        range,
        start: scan_start,
        end,
        after,
        limit: SUMMARIES_PER_PAGE,
        sample_rate,
        filter: compiled,
    };
    let page = st.store.scan_summaries(part, &q).await?;
    // Summaries are rendered from what ingest computed; the query adds Id, Revision and
    // MatchedEventTime.
    let summaries = page
        .items
        .iter()
        .map(|item| {
            let mut s = crate::model::render::summary(&item.summary);
            s.id = Some(item.trace_id.to_string());
            s.revision = Some(item.revision as i64);
            if range == TimeRangeType::Event {
                s.matched_event_time = Some(micros_to_secs(item.key.min(end)));
            }
            s
        })
        .collect();
    let approximate = match (page.reached, page.next) {
        (Some(t), _) => micros_to_secs(t),
        (None, Some(c)) => micros_to_secs(c.key),
        (None, None) => micros_to_secs(start),
    };
    super::answer(&GetTraceSummariesResult {
        trace_summaries: Some(summaries),
        approximate_time: Some(approximate),
        traces_processed_count: Some(page.scanned as i64),
        next_token: page
            .next
            .map(|c| token::encode("ts", fp, &[c.key.to_string(), c.trace_id.to_string()])),
    })
}

/// Parses, checks and compiles a filter expression; an empty one means "every trace".
pub async fn compile_filter(
    st: &ApiState,
    part: &Partition,
    text: &str,
) -> Result<Option<Arc<dyn TraceFilter>>, ApiError> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    let expr = query::parse(text).map_err(query::FilterError::from)?;
    let known = st.control.read(part, |c| c.groups.clone()).await?;
    let groups = |by, name: &str| ApiState::group_filter(&known, part, by, name);
    let expr = query::resolve_groups(expr, &groups)?;
    let filter = query::compile(&expr)?;
    Ok(Some(Arc::new(filter)))
}

/// A stored trace's processed documents (see `model::processed`).
pub fn processed(t: &crate::store::StoredTrace) -> Vec<crate::model::processed::ProcessedSegment> {
    let docs: Vec<StoredDoc<'_>> = t
        .docs
        .iter()
        .map(|d| StoredDoc {
            is_segment: d.is_segment,
            parent_id: d.parent_id,
            json: &d.json,
        })
        .collect();
    process(t.trace_id, &docs)
}
