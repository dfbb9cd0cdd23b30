//! One set of cases every store must pass, run against the memory store and against the
//! durable store; the durable one must also answer the same after it is reopened on its
//! directory, with or without a checkpoint in between.

use super::control::ControlStore;
use super::durable::{CheckpointPolicy, DurableStore};
use super::log::{Fsync, Log, Options, files::Disk};
use super::memory::{Limits, MemStore};
use super::*;
use crate::model::segment::{Rejection, validate};
use crate::model::time::Clock;
use std::path::Path;

struct Fixed;

impl Clock for Fixed {
    fn now_micros(&self) -> Micros {
        1_700_000_100_000_000
    }
}

fn tid(n: u32) -> String {
    format!("1-6553f100-{n:024x}")
}

fn doc(trace: u32, id: u64, name: &str, parent: Option<u64>, end: Option<f64>) -> String {
    let mut d = serde_json::json!({
        "trace_id": tid(trace), "id": format!("{id:016x}"), "name": name,
        "start_time": 1_700_000_000.0 + f64::from(trace),
    });
    match end {
        Some(e) => d["end_time"] = (1_700_000_000.0 + f64::from(trace) + e).into(),
        None => d["in_progress"] = true.into(),
    }
    if let Some(p) = parent {
        d["parent_id"] = format!("{p:016x}").into();
        d["type"] = "subsegment".into();
    }
    d.to_string()
}

async fn put(s: &dyn TraceStore, part: &Partition, docs: &[String]) -> Vec<Option<Rejection>> {
    let batch: Vec<IngestDoc<'_>> = docs
        .iter()
        .map(|raw| IngestDoc {
            raw,
            doc: validate(raw).unwrap(),
        })
        .collect();
    s.put(part, &batch).await.unwrap()
}

fn id(n: u32) -> TraceId {
    TraceId::parse(&tid(n)).unwrap()
}

fn other() -> Partition {
    Partition {
        account: "111111111111".into(),
        region: "eu-west-1".into(),
    }
}

/// Puts the cases' documents, checking each store's answers as it goes.
async fn cases(s: &dyn TraceStore) {
    let p = Partition::default();
    // Documents read back exactly; a subsegment sent on its own joins its trace.
    let r = put(
        s,
        &p,
        &[
            doc(1, 1, "front", None, Some(1.0)),
            doc(1, 2, "back", Some(1), Some(0.5)),
        ],
    )
    .await;
    assert!(r.iter().all(Option::is_none));
    let t = s.get_traces(&p, &[id(1)]).await.unwrap();
    assert_eq!(t[0].docs.len(), 2);
    assert!(
        t[0].docs
            .iter()
            .any(|d| d.json == doc(1, 2, "back", Some(1), Some(0.5)))
    );
    // Complete replaces in progress, never the reverse; an identical re-send changes nothing.
    put(s, &p, &[doc(2, 3, "svc", None, None)]).await;
    put(s, &p, &[doc(2, 3, "svc", None, Some(2.0))]).await;
    put(s, &p, &[doc(2, 3, "svc", None, None)]).await;
    put(s, &p, &[doc(2, 3, "svc", None, Some(2.0))]).await;
    let t = s.get_traces(&p, &[id(2)]).await.unwrap();
    assert_eq!(t[0].docs[0].json, doc(2, 3, "svc", None, Some(2.0)));
    let sums = s.summaries(&p, &[id(2)]).await.unwrap();
    assert_eq!(sums[0].1.flags & crate::model::summary::flag::PARTIAL, 0);
    // Partitions do not see each other.
    put(s, &other(), &[doc(3, 4, "elsewhere", None, Some(1.0))]).await;
    assert!(s.existing(&p, &[id(3)]).await.unwrap().is_empty());
    assert_eq!(s.existing(&other(), &[id(3)]).await.unwrap(), vec![id(3)]);
    // A trace past the size limit refuses more documents, with AWS's message.
    let big = |n: u64| {
        let mut d: serde_json::Value =
            serde_json::from_str(&doc(4, n, "big", None, Some(1.0))).unwrap();
        d["metadata"] = serde_json::json!({"default": {"pad": "x".repeat(60_000)}});
        d.to_string()
    };
    let bigs: Vec<String> = (10..20).map(big).collect();
    let r = put(s, &p, &bigs).await;
    let refused = r.iter().flatten().collect::<Vec<_>>();
    assert!(!refused.is_empty());
    assert!(refused[0].message.starts_with("Trace Size Exceeded"));
}

/// What the store answers about the cases' traces, for comparing two stores.
async fn answers(s: &dyn TraceStore) -> Vec<String> {
    let mut out = Vec::new();
    for p in [Partition::default(), other()] {
        let ids: Vec<TraceId> = (1..=4).map(id).collect();
        for t in s.get_traces(&p, &ids).await.unwrap() {
            let mut docs: Vec<String> = t.docs.iter().map(|d| d.json.clone()).collect();
            docs.sort();
            out.push(format!(
                "{} {} {} {} {docs:?}",
                t.trace_id, t.start, t.last, t.limit_exceeded
            ));
        }
        let q = SummaryQuery {
            range: TimeRangeType::TraceId,
            start: 1_699_999_000_000_000,
            end: 1_700_001_000_000_000,
            after: None,
            limit: 100,
            sample_rate: None,
            filter: None,
        };
        for item in s.scan_summaries(&p, &q).await.unwrap().items {
            out.push(format!(
                "{} {} {:?}",
                item.trace_id, item.revision, item.summary
            ));
        }
        let g = s
            .service_graph(&p, 1_699_999_000_000_000, 1_700_001_000_000_000)
            .await
            .unwrap();
        let mut nodes: Vec<String> = g
            .nodes
            .iter()
            .map(|(k, v)| format!("{k:?} {v:?}"))
            .collect();
        let mut edges: Vec<String> = g
            .edges
            .iter()
            .map(|(k, v)| format!("{k:?} {v:?}"))
            .collect();
        nodes.sort();
        edges.sort();
        out.push(format!("{nodes:?} {edges:?}"));
    }
    out
}

/// Compares answers line by line, showing only the start of the lines that differ.
fn same(got: &[String], want: &[String]) {
    let cut = |s: &String| s.chars().take(300).collect::<String>();
    assert_eq!(got.len(), want.len(), "answer counts differ");
    for (g, w) in got.iter().zip(want) {
        assert!(g == w, "differs:\n got  {}\n want {}", cut(g), cut(w));
    }
}

fn open(dir: &Path) -> Arc<DurableStore> {
    let opts = Options {
        dir: dir.to_owned(),
        fsync: Fsync::Never,
        segment_bytes: 64 << 20,
        repair: false,
    };
    let (log, replay) = Log::open(&opts, Arc::new(Disk)).unwrap();
    let log = Arc::new(log);
    let mem = Arc::new(MemStore::new(Limits::default(), Arc::new(Fixed)));
    let control = Arc::new(ControlStore::logged(log.clone()));
    let d = Arc::new(DurableStore::new(
        mem,
        log,
        control,
        Arc::new(Fixed),
        CheckpointPolicy::default(),
    ));
    d.recover(replay).unwrap();
    d
}

#[tokio::test]
async fn the_memory_store_passes() {
    let s = MemStore::new(Limits::default(), Arc::new(Fixed));
    cases(&s).await;
}

#[tokio::test]
async fn the_durable_store_passes_and_answers_the_same_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let mem = MemStore::new(Limits::default(), Arc::new(Fixed));
    cases(&mem).await;
    let want = answers(&mem).await;
    let d = open(dir.path());
    cases(d.as_ref()).await;
    same(&answers(d.as_ref()).await, &want);
    drop(d);
    let d = open(dir.path());
    same(&answers(d.as_ref()).await, &want);
}

#[tokio::test]
async fn a_checkpoint_keeps_the_answers_and_drops_the_files_it_covers() {
    let dir = tempfile::tempdir().unwrap();
    let d = open(dir.path());
    cases(d.as_ref()).await;
    let want = answers(d.as_ref()).await;
    d.checkpoint().await.unwrap();
    // After the checkpoint, more changes land in the wal behind it (in a partition of their
    // own, so that the other answers stay comparable).
    let p = Partition {
        account: "222222222222".into(),
        region: "us-east-1".into(),
    };
    put(d.as_ref(), &p, &[doc(5, 9, "late", None, Some(1.0))]).await;
    drop(d);
    let wal: Vec<String> = std::fs::read_dir(dir.path().join("wal"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        wal,
        vec![format!("{:020}.wal", 2)],
        "the file before the checkpoint is gone"
    );
    let d = open(dir.path());
    same(&answers(d.as_ref()).await, &want);
    assert_eq!(d.existing(&p, &[id(5)]).await.unwrap(), vec![id(5)]);
    // Revisions survive a checkpoint as they were.
    let rev = |a: &[String]| {
        a.iter()
            .filter(|l| l.starts_with(&tid(2)))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(rev(&answers(d.as_ref()).await), rev(&want));
}

#[tokio::test]
async fn control_commands_survive_reopening_across_a_checkpoint_and_apply_once() {
    use crate::control::{Applied, Command};
    let dir = tempfile::tempdir().unwrap();
    let p = Partition::default();
    let put_policy = || Command::PutPolicy {
        name: "p".into(),
        document: "{}".into(),
        expected_revision: None,
        at: 1.0,
    };
    let d = open(dir.path());
    d.control().execute(&p, put_policy()).await.unwrap();
    d.control()
        .execute(&p, Command::CountTelemetryRecords { n: 3 })
        .await
        .unwrap();
    d.checkpoint().await.unwrap();
    // After the checkpoint: commands in the wal behind it, applied once more on top.
    match d.control().execute(&p, put_policy()).await.unwrap() {
        Applied::Policy(_, pol) => assert_eq!(pol.revision, 2),
        other => panic!("{other:?}"),
    }
    d.control()
        .execute(&p, Command::CountTelemetryRecords { n: 4 })
        .await
        .unwrap();
    drop(d);
    let d = open(dir.path());
    let (revision, records) = d
        .control()
        .with(&p, |c| (c.policies["p"].revision, c.telemetry_records));
    assert_eq!((revision, records), (2, 7));
}
