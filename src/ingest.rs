//! The one way documents enter the store, whatever carried them (PutTraceSegments, OTLP, UDP):
//! each document is validated on its own, the valid ones are stored together, and every
//! refusal is reported per document without failing its neighbours.

use crate::model::segment::{Rejection, validate};
use crate::store::{IngestDoc, Partition, StoreError, TraceStore};

/// Validates and stores `docs`; returns the refusals, each with the index of its document.
pub async fn ingest<S: AsRef<str>>(
    store: &dyn TraceStore,
    part: &Partition,
    docs: &[S],
) -> Result<Vec<(usize, Rejection)>, StoreError> {
    let mut refused = Vec::new();
    let mut valid = Vec::with_capacity(docs.len());
    let mut positions = Vec::with_capacity(docs.len());
    for (i, d) in docs.iter().enumerate() {
        let raw = d.as_ref();
        match validate(raw) {
            Ok(doc) => {
                valid.push(IngestDoc { raw, doc });
                positions.push(i);
            }
            Err(r) => refused.push((i, r)),
        }
    }
    if !valid.is_empty() {
        let results = store.put(part, &valid).await?;
        refused.extend(
            positions
                .into_iter()
                .zip(results)
                .filter_map(|(i, r)| Some((i, r?))),
        );
        refused.sort_by_key(|(i, _)| *i);
    }
    Ok(refused)
}
