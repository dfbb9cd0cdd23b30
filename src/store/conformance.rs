//! One set of cases every store must pass, run against the memory store and against the
//! durable store; the durable one must also answer the same after it is reopened on its
//! directory, with or without a checkpoint in between.

use super::control::ControlStore;
use super::durable::{CheckpointPolicy, DurableStore};
use super::log::{Fsync, Log, Options, files::Disk};
use super::memory::{Limits, MemStore};
use super::*;
use crate::model::segment::{Rejection, validate};
use crate::model::summary::TraceSummary;
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
    assert!(
        !sums[0]
            .1
            .flags
            .contains(crate::model::summary::Flags::PARTIAL)
    );
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
        // Filters narrowed by the indexes (or not) find the same traces.
        for text in [
            r#"service("front")"#,
            r#"service("svc") OR service("elsewhere")"#,
            "duration > 1.5",
            "!ok OR partial",
        ] {
            let expr = crate::query::parse(text).unwrap();
            let filter = crate::query::compile(&expr).unwrap();
            let q = SummaryQuery {
                filter: Some(Arc::new(filter)),
                ..q.clone()
            };
            let found: Vec<String> = s
                .scan_summaries(&p, &q)
                .await
                .unwrap()
                .items
                .iter()
                .map(|i| i.trace_id.to_string())
                .collect();
            out.push(format!("{text}: {found:?}"));
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

/// The services, rows and edges of the summaries of `ids`.
async fn summary_shapes(s: &dyn TraceStore, p: &Partition, ids: &[TraceId]) -> Vec<String> {
    let shape =
        |s: &TraceSummary| format!("{:?} {:?} {:?}", s.services, s.rows.len(), s.edges.len());
    let found = s.summaries(p, ids).await.unwrap();
    found.iter().map(|(_, s)| shape(s)).collect()
}

/// A PostgreSQL store's database in a schema of its own, over `XRAY_TEST_PG_URL`, twice (two
/// gateways' pools); `None` (the test is skipped) when it is unset, except under CI, where a
/// missing server must fail.
async fn postgres(schema: &str) -> Option<[Arc<super::postgres::Db>; 2]> {
    let Ok(url) = std::env::var("XRAY_TEST_PG_URL") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "XRAY_TEST_PG_URL is unset under CI"
        );
        eprintln!("XRAY_TEST_PG_URL is unset: skipping the PostgreSQL case");
        return None;
    };
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
        ))
        .await
        .unwrap();
    let sep = if url.contains('?') { '&' } else { '?' };
    let opts =
        super::postgres::PgOptions::new(&format!("{url}{sep}options=-csearch_path%3D{schema}"));
    let open = || super::postgres::Db::open(&opts, std::time::Duration::from_secs(5));
    Some([
        Arc::new(open().await.unwrap()),
        Arc::new(open().await.unwrap()),
    ])
}

fn pg_store(db: &Arc<super::postgres::Db>) -> super::postgres::PgStore {
    super::postgres::PgStore::new(db.clone(), Arc::new(Fixed), i64::MAX, 500 * 1024)
}

#[tokio::test]
async fn the_postgres_store_passes_and_answers_as_the_memory_store_does() {
    let Some([db, _]) = postgres("conformance_cases").await else {
        return;
    };
    let mem = MemStore::new(Limits::default(), Arc::new(Fixed));
    cases(&mem).await;
    let want = answers(&mem).await;
    let pg = pg_store(&db);
    cases(&pg).await;
    same(&answers(&pg).await, &want);
    // A second gateway over the same database answers the same.
    same(&answers(&pg_store(&db)).await, &want);
}

#[tokio::test]
async fn two_gateways_writing_one_trace_at_once_make_one_trace_and_one_summary() {
    let Some([db, db2]) = postgres("conformance_concurrent").await else {
        return;
    };
    let (a, b) = (Arc::new(pg_store(&db)), Arc::new(pg_store(&db2)));
    let p = Partition::default();
    // Documents of traces 1..=8, each sent through both gateways in overlapping batches.
    let docs: Vec<String> = (1..=8u32)
        .flat_map(|t| {
            (0..12u64).map(move |i| {
                let parent = (i > 0).then_some(u64::from(t) * 100);
                doc(
                    t,
                    u64::from(t) * 100 + i,
                    &format!("s{}", i % 3),
                    parent,
                    Some(0.5),
                )
            })
        })
        .collect();
    let mut tasks = Vec::new();
    for (n, chunk) in docs.chunks(5).enumerate() {
        let s: Arc<dyn TraceStore> = if n % 2 == 0 { a.clone() } else { b.clone() };
        let chunk = chunk.to_vec();
        tasks.push(tokio::spawn(async move {
            put(s.as_ref(), &Partition::default(), &chunk).await
        }));
    }
    for t in tasks {
        assert!(t.await.unwrap().iter().all(Option::is_none));
    }
    let mem = MemStore::new(Limits::default(), Arc::new(Fixed));
    put(&mem, &p, &docs).await;
    let ids: Vec<TraceId> = (1..=8).map(id).collect();
    for s in [a.as_ref() as &dyn TraceStore, b.as_ref(), &mem] {
        let traces = s.get_traces(&p, &ids).await.unwrap();
        assert_eq!(traces.len(), 8);
        assert!(traces.iter().all(|t| t.docs.len() == 12));
    }
    assert_eq!(
        summary_shapes(b.as_ref(), &p, &ids).await,
        summary_shapes(&mem, &p, &ids).await
    );
    let graph = |g: crate::graph::Graph| {
        let mut e: Vec<String> = g
            .edges
            .iter()
            .map(|(k, v)| format!("{k:?} {}", v.total))
            .collect();
        e.sort();
        e
    };
    let (lo, hi) = (1_699_999_000_000_000, 1_700_001_000_000_000);
    assert_eq!(
        graph(a.service_graph(&p, lo, hi).await.unwrap()),
        graph(mem.service_graph(&p, lo, hi).await.unwrap())
    );
    // Housekeeping sums the appended contributions without changing the graph.
    assert_eq!(a.sweep().await.unwrap(), 0);
    assert_eq!(
        graph(b.service_graph(&p, lo, hi).await.unwrap()),
        graph(mem.service_graph(&p, lo, hi).await.unwrap())
    );
}

#[tokio::test]
async fn control_commands_through_one_gateway_are_read_through_another() {
    use crate::control::Command;
    let Some([db, db2]) = postgres("conformance_control").await else {
        return;
    };
    let one = ControlStore::postgres(super::postgres::PgControl::new(db));
    let two = ControlStore::postgres(super::postgres::PgControl::new(db2));
    let p = Partition::default();
    one.execute(
        &p,
        Command::PutPolicy {
            name: "p".into(),
            document: "{}".into(),
            expected_revision: None,
            at: 1.0,
        },
    )
    .await
    .unwrap();
    two.execute(&p, Command::CountTelemetryRecords { n: 3 })
        .await
        .unwrap();
    let seen = one
        .read(&p, |c| (c.policies.contains_key("p"), c.telemetry_records))
        .await
        .unwrap();
    assert_eq!(seen, (true, 3));
    // Partitions stay apart.
    assert_eq!(two.read(&other(), |c| c.policies.len()).await.unwrap(), 0);
}

/// A consumer's segment whose span link points at `target_span` of `target_trace`.
pub(super) fn linked(
    trace: u32,
    id: u64,
    start: f64,
    target_trace: u32,
    target_span: u64,
) -> String {
    format!(
        r#"{{"name":"consumer","id":"{id:016x}","trace_id":"{}","start_time":{start},"end_time":{end},"links":[{{"trace_id":"{}","id":"{target_span:016x}","attributes":{{"aws.xray.reserved.reference_type":"parent"}}}}]}}"#,
        tid(trace),
        tid(target_trace),
        end = start + 0.5
    )
}

pub(super) fn producer(trace: u32, id: u64, start: f64, sub: u64) -> String {
    format!(
        r#"{{"name":"producer","id":"{id:016x}","trace_id":"{}","start_time":{start},"end_time":{end},"subsegments":[{{"id":"{sub:016x}","name":"SQS","namespace":"aws","start_time":{start},"end_time":{end}}}]}}"#,
        tid(trace),
        end = start + 0.1
    )
}

/// The span-link edges of the partition's graph: (from, to, events).
pub(super) async fn link_edges(s: &dyn TraceStore, p: &Partition) -> Vec<(String, String, i64)> {
    let g = s.service_graph(p, 0, 10_000_000_000).await.unwrap();
    let name =
        |sid| crate::model::intern::text(crate::model::intern::service_key(sid).name).to_string();
    let mut out: Vec<_> = g
        .links
        .iter()
        .map(|((a, b), st)| (name(*a), name(*b), st.total))
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn span_links_resolve_across_gateways_in_either_arrival_order() {
    let Some([db, db2]) = postgres("conformance_links").await else {
        return;
    };
    let (a, b) = (pg_store(&db), pg_store(&db2));
    let p = Partition::default();
    // Producer through one gateway, then the consumer linking to it through the other.
    put(&a, &p, &[producer(1, 1, 100.0, 0x11)]).await;
    put(&b, &p, &[linked(2, 2, 103.0, 1, 0x11)]).await;
    assert_eq!(
        link_edges(&a, &p).await,
        vec![("producer".into(), "consumer".into(), 1)]
    );
    // Consumer first: the link waits for its target; housekeeping resolves it once it came.
    put(&a, &p, &[linked(4, 4, 203.0, 3, 0x33)]).await;
    put(&b, &p, &[producer(3, 3, 200.0, 0x33)]).await;
    assert_eq!(link_edges(&b, &p).await[0].2, 1);
    b.sweep().await.unwrap();
    assert_eq!(
        link_edges(&a, &p).await,
        vec![("producer".into(), "consumer".into(), 2)]
    );
    // A re-sent consumer does not count its link twice.
    put(&b, &p, &[linked(4, 4, 203.0, 3, 0x33)]).await;
    a.sweep().await.unwrap();
    assert_eq!(link_edges(&a, &p).await[0].2, 2);
}
