//! The one way documents enter the store, whatever carried them (PutTraceSegments, OTLP, UDP):
//! each document is validated on its own, the valid ones are stored together, and every
//! refusal is reported per document without failing its neighbours.

use crate::metrics::{Intake, METRICS, reason};
use crate::model::segment::{Rejection, validate};
use crate::store::{IngestDoc, Partition, StoreError, TraceStore};

/// Validates and stores `docs`; returns the refusals, each with the index of its document.
pub async fn ingest<S: AsRef<str>>(
    store: &dyn TraceStore,
    part: &Partition,
    intake: Intake,
    docs: &[S],
) -> Result<Vec<(usize, Rejection)>, StoreError> {
    let checked = docs.iter().map(|d| {
        let raw = d.as_ref();
        validate(raw).map(|doc| IngestDoc { raw, doc })
    });
    ingest_checked(store, part, intake, checked).await
}

/// Stores documents already validated by their producer (see `validate_entity`), with the
/// producer's refusals in place; returns the refusals, each with its document's index.
pub async fn ingest_checked<'a>(
    store: &dyn TraceStore,
    part: &Partition,
    intake: Intake,
    checked: impl Iterator<Item = Result<IngestDoc<'a>, Rejection>>,
) -> Result<Vec<(usize, Rejection)>, StoreError> {
    let mut refused = Vec::new();
    let hint = checked.size_hint().0;
    let mut valid = Vec::with_capacity(hint);
    let mut positions = Vec::with_capacity(hint);
    for (i, c) in checked.enumerate() {
        match c {
            Ok(d) => {
                valid.push(d);
                positions.push(i);
            }
            Err(r) => refused.push((i, r)),
        }
    }
    let total = valid.len() + refused.len();
    if !valid.is_empty() {
        let results = match store.put(part, &valid).await {
            Ok(r) => r,
            Err(e) => {
                let unavailable = std::iter::repeat_n("unavailable", valid.len());
                METRICS.documents(intake, 0, reasons(&refused).chain(unavailable));
                return Err(e);
            }
        };
        refused.extend(
            positions
                .into_iter()
                .zip(results)
                .filter_map(|(i, r)| Some((i, r?))),
        );
        refused.sort_by_key(|(i, _)| *i);
    }
    METRICS.documents(intake, total - refused.len(), reasons(&refused));
    for (_, r) in &refused {
        crate::refusals::note(intake, reason(r.code, &r.message), &r.message);
    }
    Ok(refused)
}

fn reasons(refused: &[(usize, Rejection)]) -> impl Iterator<Item = &'static str> + '_ {
    refused.iter().map(|(_, r)| reason(r.code, &r.message))
}
