//! Replaying a data directory on every core. One thread reads the log in order and routes each
//! document to the worker that owns its trace (by the same hash that picks its shard), so the
//! documents of one trace are applied in log order while different traces are applied at once.
//! Control-plane records are applied by the reader as they come.

use super::control::ControlStore;
use super::log::payload::{Control, Docs, Trace};
use super::log::record::Kind;
use super::memory::MemStore;
use super::{IngestDoc, Partition};
use crate::model::segment::validate;
use crate::model::{Micros, TraceId};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

/// Records queued for a worker at most (bounds replay's memory).
const QUEUE: usize = 256;

/// A record's documents that one worker owns.
struct Work {
    record: Arc<[u8]>,
    kind: Kind,
    /// Indices of the documents, within the record, that this worker applies.
    docs: Vec<u32>,
}

#[derive(Debug, Default)]
pub struct Counts {
    pub records: AtomicU64,
    /// Documents that no longer validate (skipped, so that one bad text cannot stop a start).
    pub skipped: AtomicU64,
}

/// Routes records to workers; call `apply` for each record in log order, then `finish`.
pub struct Replayer {
    control: Arc<ControlStore>,
    senders: Vec<SyncSender<Work>>,
    workers: Vec<std::thread::JoinHandle<()>>,
    counts: Arc<Counts>,
}

impl Replayer {
    pub fn new(mem: Arc<MemStore>, control: Arc<ControlStore>, counts: Arc<Counts>) -> Replayer {
        let n = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(1, 8);
        let mut senders = Vec::with_capacity(n);
        let mut workers = Vec::with_capacity(n);
        for i in 0..n {
            let (tx, rx) = sync_channel(QUEUE);
            let (mem, counts) = (mem.clone(), counts.clone());
            senders.push(tx);
            workers.push(
                std::thread::Builder::new()
                    .name(format!("replay-{i}"))
                    .spawn(move || work(&mem, rx, &counts))
                    .expect("a replay thread starts"),
            );
        }
        Replayer {
            control,
            senders,
            workers,
            counts,
        }
    }

    pub fn apply(&mut self, kind: Kind, payload: &[u8]) {
        self.counts.records.fetch_add(1, Relaxed);
        match kind {
            Kind::Control => match Control::decode(payload) {
                Ok(c) => {
                    if let Err(e) = self.control.restore(&c.part, c.state) {
                        tracing::warn!("replay skipped a control-plane record: {e}");
                    }
                }
                Err(e) => tracing::warn!("replay skipped a record: {e}"),
            },
            Kind::Docs | Kind::Trace => {
                let docs = match docs_of(kind, payload) {
                    Ok(d) => d,
                    Err(e) => return tracing::warn!("replay skipped a record: {e}"),
                };
                let n = self.senders.len();
                let mut routed: Vec<Vec<u32>> = vec![Vec::new(); n];
                for (i, doc) in docs.iter().enumerate() {
                    let w = trace_of(doc).map_or(0, |t| (t.mix64() % 64) as usize % n);
                    routed[w].push(i as u32);
                }
                let record: Arc<[u8]> = Arc::from(payload);
                for (w, docs) in routed.into_iter().enumerate() {
                    if !docs.is_empty() {
                        let work = Work {
                            record: record.clone(),
                            kind,
                            docs,
                        };
                        // A worker only stops once its sender is gone.
                        let _ = self.senders[w].send(work);
                    }
                }
            }
        }
    }

    /// Waits until every worker has applied what it was given.
    pub fn finish(self) {
        drop(self.senders);
        for w in self.workers {
            let _ = w.join();
        }
    }
}

fn docs_of(kind: Kind, payload: &[u8]) -> Result<Vec<&str>, super::log::payload::Malformed> {
    Ok(match kind {
        Kind::Trace => Trace::decode(payload)?.docs,
        _ => Docs::decode(payload)?.docs,
    })
}

/// A record decoded for a worker: the partition, and per trace its arrival time.
struct Decoded<'a> {
    part: Partition,
    received: Micros,
    /// For a checkpoint's trace record: its revision and size-limit flag.
    restored: Option<(u32, bool)>,
    docs: Vec<&'a str>,
}

fn decode(kind: Kind, payload: &[u8]) -> Option<Decoded<'_>> {
    match kind {
        Kind::Trace => Trace::decode(payload).ok().map(|t| Decoded {
            part: t.part,
            received: t.received,
            restored: Some((t.revision, t.limit_exceeded)),
            docs: t.docs,
        }),
        _ => Docs::decode(payload).ok().map(|d| Decoded {
            part: d.part,
            received: d.received,
            restored: None,
            docs: d.docs,
        }),
    }
}

fn work(mem: &MemStore, rx: Receiver<Work>, counts: &Counts) {
    for w in rx {
        let Some(d) = decode(w.kind, &w.record) else {
            continue;
        };
        let mine = w
            .docs
            .iter()
            .filter_map(|&i| d.docs.get(i as usize).copied());
        match d.restored {
            Some((revision, limit_exceeded)) => {
                let docs: Vec<&str> = mine.collect();
                let skipped = mem.restore(&d.part, &docs, d.received, revision, limit_exceeded);
                counts.skipped.fetch_add(skipped as u64, Relaxed);
            }
            None => {
                let mut skipped = 0;
                let valid: Vec<IngestDoc<'_>> = mine
                    .filter_map(|raw| match validate(raw) {
                        Ok(doc) => Some(IngestDoc { raw, doc }),
                        Err(_) => {
                            skipped += 1;
                            None
                        }
                    })
                    .collect();
                mem.put_at(&d.part, &valid, d.received);
                counts.skipped.fetch_add(skipped, Relaxed);
            }
        }
    }
}

/// The trace a document belongs to: its top-level `trace_id`, found by a scan that only tracks
/// nesting and strings (a full parse, which the worker does anyway, only where that fails).
fn trace_of(doc: &str) -> Option<TraceId> {
    top_level_trace_id(doc)
        .and_then(TraceId::parse)
        .or_else(|| validate(doc).ok().map(|d| d.trace_id))
}

fn top_level_trace_id(doc: &str) -> Option<&str> {
    let b = doc.as_bytes();
    let mut depth = 0u32;
    let mut expect_key = false;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'{' | b'[' => {
                depth += 1;
                expect_key = depth == 1 && b[i] == b'{';
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            b',' if depth == 1 => expect_key = true,
            b'"' => {
                let start = i + 1;
                i = start;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                if depth == 1 && expect_key {
                    expect_key = false;
                    if &b[start..i.min(b.len())] == b"trace_id" {
                        let rest = doc.get(i + 1..)?.trim_start().strip_prefix(':')?;
                        let value = rest.trim_start().strip_prefix('"')?;
                        let end = value.find(['"', '\\'])?;
                        return (value.as_bytes()[end] == b'"').then(|| &value[..end]);
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_top_level_trace_id_is_found_and_nested_ones_are_not() {
        let t = "1-5759e988-bd862e3fe1be46a994272793";
        assert_eq!(
            top_level_trace_id(&format!(r#"{{"trace_id":"{t}"}}"#)),
            Some(t)
        );
        let nested = format!(
            r#"{{"metadata":{{"trace_id":"x","a":["trace_id"]}}, "name":"trace_id" ,  "trace_id" : "{t}"}}"#
        );
        assert_eq!(top_level_trace_id(&nested), Some(t));
        assert_eq!(top_level_trace_id(r#"{"metadata":{"trace_id":"x"}}"#), None);
        assert_eq!(top_level_trace_id(r#"{"n":"a\"trace_id\"","x":1}"#), None);
        assert_eq!(top_level_trace_id(r#"{"trace_id":1}"#), None);
        assert_eq!(top_level_trace_id(r#"{"trace_id":"a\u0031"}"#), None);
        assert_eq!(top_level_trace_id("{\"trace_id\""), None);
        // An escaped id falls back to the full parse, which still finds the trace.
        let escaped = r#"{"trace_id":"\u0031-5759e988-bd862e3fe1be46a994272793","id":"0000000000000001","name":"a","start_time":1,"end_time":2}"#;
        assert_eq!(trace_of(escaped), TraceId::parse(t));
    }
}
