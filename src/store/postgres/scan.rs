//! GetTraceSummaries over PostgreSQL: the window's traces newest first by the range type's
//! time, narrowed in SQL by the filter's plan (its index terms against the GIN-indexed
//! `terms`), then evaluated here on the decoded summaries. The plan may over-approximate;
//! evaluation decides. A page stops at its size or after `SCAN_BUDGET` traces looked at, and
//! then, like X-Ray, says how far back it got.

use super::db::{Db, DbError};
use super::{decode_head, decode_summary, term_hash, trace_id};
use crate::model::Micros;
use crate::model::selection::Plan;
use crate::store::{Cursor, SummaryItem, SummaryPage, SummaryQuery, TimeRangeType};
use std::sync::Arc;
use tokio_postgres::types::ToSql;

/// Traces one page looks at, at most.
const SCAN_BUDGET: u64 = 20_000;

/// Rows fetched per round trip.
const CHUNK: i64 = 1_000;

/// The SQL condition a plan narrows to; `params` collects the term hashes it binds.
fn plan_sql(plan: &Plan, params: &mut Vec<i64>, first: usize) -> String {
    match plan {
        Plan::All => "TRUE".into(),
        Plan::Term(t) => {
            params.push(term_hash(t));
            format!("terms @> ARRAY[${}::int8]", first + params.len() - 1)
        }
        Plan::And(ps) | Plan::Or(ps) if ps.is_empty() => {
            if matches!(plan, Plan::And(_)) {
                "TRUE".into()
            } else {
                "FALSE".into()
            }
        }
        Plan::And(ps) => join(ps, " AND ", params, first),
        Plan::Or(ps) => join(ps, " OR ", params, first),
    }
}

fn join(ps: &[Plan], op: &str, params: &mut Vec<i64>, first: usize) -> String {
    let parts: Vec<String> = ps.iter().map(|p| plan_sql(p, params, first)).collect();
    format!("({})", parts.join(op))
}

pub async fn scan(db: &Db, pid: i32, q: &SummaryQuery) -> Result<SummaryPage, DbError> {
    let key = match q.range {
        TimeRangeType::TraceId => "start_us",
        _ => "last_us",
    };
    let plan = q.filter.as_ref().map_or(Plan::All, |f| f.plan());
    // $1 part, $2 window start, $3 window end, $4 cursor key, $5 cursor trace, $6 limit;
    // the plan's terms follow.
    let mut terms = Vec::new();
    let narrowed = plan_sql(&plan, &mut terms, 7);
    let upper = match q.range {
        TimeRangeType::Event => "start_us < $3",
        _ => "{key} < $3",
    }
    .replace("{key}", key);
    let sql = format!(
        "SELECT trace_id, {key}, revision, summary FROM xray_traces
         WHERE part = $1 AND {key} >= $2 AND {upper} AND ({key}, trace_id) < ($4, $5)
           AND {narrowed}
         ORDER BY {key} DESC, trace_id DESC LIMIT $6"
    );
    let client = db.client().await?;
    let stmt = client.prepare(&sql).await?;
    let threshold = q
        .sample_rate
        .map(|rate| (rate.clamp(0.0, 1.0) * u64::MAX as f64) as u64);
    let mut page = SummaryPage::default();
    let (mut at_key, mut at_id): (Micros, Vec<u8>) = match q.after {
        Some(c) => (c.key, c.trace_id.0.to_vec()),
        None => (Micros::MAX, vec![0xff; 16]),
    };
    loop {
        let mut params: Vec<&(dyn ToSql + Sync)> =
            vec![&pid, &q.start, &q.end, &at_key, &at_id, &CHUNK];
        params.extend(terms.iter().map(|t| t as &(dyn ToSql + Sync)));
        let rows = client.query(&stmt, &params).await?;
        let exhausted = (rows.len() as i64) < CHUNK;
        let mut stop = None;
        for r in &rows {
            let tid = trace_id(r.get(0));
            let k: Micros = r.get(1);
            if page.scanned >= SCAN_BUDGET {
                stop = Some(Cursor {
                    key: at_key,
                    trace_id: crate::model::TraceId(at_id.as_slice().try_into().unwrap_or([0; 16])),
                });
                break;
            }
            page.scanned += 1;
            at_key = k;
            at_id = tid.0.to_vec();
            if threshold.is_some_and(|t| tid.mix64() > t) {
                continue;
            }
            let bytes: &[u8] = r.get(3);
            if let Some(f) = &q.filter {
                // Most filters need only the summary's head, which is far cheaper to read.
                let passes = if f.needs_whole() {
                    decode_summary(bytes).is_some_and(|s| f.matches(&s))
                } else {
                    decode_head(bytes).is_some_and(|s| f.matches(&s))
                };
                if !passes {
                    continue;
                }
            }
            let Some(summary) = decode_summary(bytes) else {
                continue;
            };
            page.items.push(SummaryItem {
                trace_id: tid,
                key: k,
                revision: r.get::<_, i32>(2) as u32,
                summary: Arc::new(summary),
            });
            if page.items.len() >= q.limit {
                page.next = Some(Cursor {
                    key: k,
                    trace_id: tid,
                });
                return Ok(page);
            }
        }
        if let Some(c) = stop {
            page.next = Some(c);
            page.reached = Some(c.key);
            return Ok(page);
        }
        if exhausted {
            return Ok(page);
        }
    }
}
