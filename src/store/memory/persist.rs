//! What a checkpoint needs of the memory store: every trace with its documents as received,
//! and a way to put one back with the revision and size-limit flag it had. Traces leave and
//! come back as values (partition names, document texts), never as this process's handles.

use super::blocks::{Loc, Text, Unpacker};
use super::{MemStore, shard_of};
use crate::model::segment::validate;
use crate::model::{Micros, TraceId};
use crate::store::{IngestDoc, Partition};

/// One stored trace, for a checkpoint.
pub struct ExportedTrace<'a> {
    pub part: &'a Partition,
    pub trace_id: TraceId,
    pub received: Micros,
    pub revision: u32,
    pub limit_exceeded: bool,
    pub docs: &'a [&'a str],
}

/// A trace to put back as `export` gave it.
pub struct Restored<'a> {
    pub docs: Vec<&'a str>,
    pub received: Micros,
    pub revision: u32,
    pub limit_exceeded: bool,
}

impl MemStore {
    /// Hands every stored trace to `f`, a shard at a time: each shard's texts are taken under
    /// its lock and unpacked after it, so writers wait only for the copy.
    pub fn export<E>(
        &self,
        mut f: impl FnMut(ExportedTrace<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut parts: Vec<(u16, Partition)> = self
            .parts
            .read()
            .iter()
            .map(|(p, id)| (*id, p.clone()))
            .collect();
        parts.sort_by_key(|p| p.0);
        let mut unpacker = Unpacker::default();
        let (mut bytes, mut ends) = (Vec::new(), Vec::new());
        for shard in self.shards.iter() {
            type Taken = (Option<Loc>, u16, TraceId, Micros, u32, bool, Vec<Text>);
            let mut taken: Vec<Taken> = {
                let shard = shard.lock();
                shard
                    .traces
                    .iter()
                    .map(|(&(pid, tid), e)| {
                        let texts = e.docs.iter().map(|d| shard.blocks.text(d.text)).collect();
                        let first = e.docs.first().map(|d| d.text);
                        (
                            first,
                            pid,
                            tid,
                            e.received,
                            e.revision,
                            e.limit_exceeded,
                            texts,
                        )
                    })
                    .collect()
            };
            // In block order, so that each block is unpacked once, not once per trace in it.
            taken.sort_unstable_by_key(|t| t.0);
            for (_, pid, trace_id, received, revision, limit_exceeded, texts) in taken {
                let Some((_, part)) = parts.get(pid as usize) else {
                    continue;
                };
                bytes.clear();
                ends.clear();
                for t in &texts {
                    bytes.extend_from_slice(unpacker.bytes(t));
                    ends.push(bytes.len());
                }
                // Stored texts were valid UTF-8 when they arrived.
                let docs: Vec<&str> = ends
                    .iter()
                    .scan(0, |from, &to| {
                        let s = std::str::from_utf8(&bytes[*from..to]).unwrap_or_default();
                        *from = to;
                        Some(s)
                    })
                    .collect();
                f(ExportedTrace {
                    part,
                    trace_id,
                    received,
                    revision,
                    limit_exceeded,
                    docs: &docs,
                })?;
            }
        }
        Ok(())
    }

    /// Puts back traces that `export` gave, as they were, in one batch. Documents that no
    /// longer validate are skipped (and counted in the answer), so that one bad text cannot
    /// stop a start.
    pub fn restore(&self, part: &Partition, traces: &[Restored<'_>]) -> usize {
        let mut valid: Vec<IngestDoc<'_>> = Vec::with_capacity(traces.len());
        let mut owner: Vec<usize> = Vec::with_capacity(traces.len());
        let mut skipped = 0;
        for (t, trace) in traces.iter().enumerate() {
            for raw in &trace.docs {
                match validate(raw) {
                    Ok(doc) => {
                        valid.push(IngestDoc { raw, doc });
                        owner.push(t);
                    }
                    Err(_) => skipped += 1,
                }
            }
        }
        self.put_received(part, &valid, &|i| traces[owner[i]].received);
        let pid = self.partition_id(part);
        let mut last = usize::MAX;
        for (d, &t) in valid.iter().zip(&owner) {
            if t == last {
                continue;
            }
            last = t;
            let trace_id = d.doc.trace_id;
            if let Some(e) = self.shards[shard_of(&trace_id)]
                .lock()
                .traces
                .get_mut(&(pid, trace_id))
            {
                e.revision = traces[t].revision.max(1);
                e.limit_exceeded |= traces[t].limit_exceeded;
            }
        }
        skipped
    }

    /// Bytes of stored documents as received.
    pub fn raw_bytes(&self) -> u64 {
        self.raw.load(std::sync::atomic::Ordering::Relaxed)
    }
}
