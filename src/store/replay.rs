//! Replaying a data directory on every core. One thread reads the log in order and routes each
//! document to the worker that owns its trace (by the same hash that picks its shard), so the
//! documents of one trace are applied in log order while different traces are applied at once.
//! Control-plane records are applied by the reader as they come.

use super::IngestDoc;
use super::control::ControlStore;
use super::log::payload::{Control, Docs, Trace};
use super::log::record::Kind;
use super::memory::MemStore;
use super::memory::persist::Restored;
use crate::model::TraceId;
use crate::model::segment::validate;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};

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
            Kind::Control | Kind::ControlState => match Control::decode(payload) {
                Ok(c) => {
                    let r = if kind == Kind::Control {
                        self.control.replay(&c.part, c.state)
                    } else {
                        self.control.restore(&c.part, c.state)
                    };
                    if let Err(e) = r {
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

/// Checkpoint traces put back together at most. Each trace is in a checkpoint once, so they
/// need no order among themselves; a checkpoint's records all come before the wal's.
const RESTORE_BATCH: usize = 512;

fn work(mem: &MemStore, rx: Receiver<Work>, counts: &Counts) {
    let mut pending: Vec<Work> = Vec::new();
    loop {
        let w = match rx.try_recv() {
            Ok(w) => w,
            Err(TryRecvError::Empty) => {
                restore(mem, &mut pending, counts);
                match rx.recv() {
                    Ok(w) => w,
                    Err(_) => break,
                }
            }
            Err(TryRecvError::Disconnected) => break,
        };
        if w.kind == Kind::Trace {
            pending.push(w);
            if pending.len() >= RESTORE_BATCH {
                restore(mem, &mut pending, counts);
            }
            continue;
        }
        restore(mem, &mut pending, counts);
        apply_docs(mem, &w, counts);
    }
    restore(mem, &mut pending, counts);
}

/// Puts back the checkpoint traces gathered, a partition's run at a time.
fn restore(mem: &MemStore, pending: &mut Vec<Work>, counts: &Counts) {
    let traces: Vec<Trace<'_>> = pending
        .iter()
        .filter_map(|w| {
            let mut t = Trace::decode(&w.record).ok()?;
            // Only the documents routed here (all of them, but for any that are not valid).
            t.docs = w
                .docs
                .iter()
                .filter_map(|&i| t.docs.get(i as usize).copied())
                .collect();
            Some(t)
        })
        .collect();
    let mut at = 0;
    while at < traces.len() {
        let part = &traces[at].part;
        let run: Vec<Restored<'_>> = traces[at..]
            .iter()
            .take_while(|t| &t.part == part)
            .map(|t| Restored {
                docs: t.docs.clone(),
                received: t.received,
                revision: t.revision,
                limit_exceeded: t.limit_exceeded,
            })
            .collect();
        let skipped = mem.restore(part, &run);
        counts.skipped.fetch_add(skipped as u64, Relaxed);
        at += run.len();
    }
    pending.clear();
}

fn apply_docs(mem: &MemStore, w: &Work, counts: &Counts) {
    let Ok(d) = Docs::decode(&w.record) else {
        return;
    };
    let mut skipped = 0;
    let valid: Vec<IngestDoc<'_>> = w
        .docs
        .iter()
        .filter_map(|&i| d.docs.get(i as usize).copied())
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
