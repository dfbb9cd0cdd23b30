use super::*;
use crate::model::segment::validate;
use crate::store::conformance::{linked, producer};
use crate::store::{SummaryQuery, TimeRangeType};
use std::sync::atomic::AtomicI64;

struct TestClock(AtomicI64);

impl Clock for TestClock {
    fn now_micros(&self) -> Micros {
        self.0.load(Relaxed)
    }
}

fn part() -> Partition {
    Partition::default()
}

fn tid(n: u32) -> String {
    format!("1-5f000000-{n:024x}")
}

fn seg(trace: u32, id: u64, start: f64, end: Option<f64>) -> String {
    let tail = match end {
        Some(e) => format!(r#""end_time":{e}"#),
        None => r#""in_progress":true"#.to_owned(),
    };
    format!(
        r#"{{"name":"svc","id":"{id:016x}","trace_id":"{}","start_time":{start},{tail}}}"#,
        tid(trace)
    )
}

fn store(limits: Limits) -> (MemStore, Arc<TestClock>) {
    let clock = Arc::new(TestClock(AtomicI64::new(1_000_000_000_000_000)));
    (MemStore::new(limits, clock.clone()), clock)
}

async fn put(s: &MemStore, docs: &[String]) -> Vec<Option<Rejection>> {
    let batch: Vec<IngestDoc<'_>> = docs
        .iter()
        .map(|d| IngestDoc {
            raw: d,
            doc: validate(d).unwrap(),
        })
        .collect();
    s.put(&part(), &batch).await.unwrap()
}

fn id(n: u32) -> TraceId {
    TraceId::parse(&tid(n)).unwrap()
}

fn query(range: TimeRangeType, start: f64, end: f64, limit: usize) -> SummaryQuery {
    SummaryQuery {
        range,
        start: (start * 1e6) as Micros,
        end: (end * 1e6) as Micros,
        after: None,
        limit,
        sample_rate: None,
        filter: None,
    }
}

#[tokio::test]
async fn stored_documents_read_back_exactly() {
    let (s, _) = store(Limits::default());
    let d = seg(1, 1, 100.0, Some(101.5));
    assert_eq!(put(&s, std::slice::from_ref(&d)).await, vec![None]);
    let t = s.get_traces(&part(), &[id(1)]).await.unwrap();
    assert_eq!(t[0].docs[0].json, d);
    assert_eq!(t[0].duration_secs(), 1.5);
    assert_eq!(s.stats().traces, 1);
}

#[tokio::test]
async fn complete_replaces_in_progress_and_never_the_reverse() {
    let (s, _) = store(Limits::default());
    put(&s, &[seg(1, 1, 100.0, None)]).await;
    put(&s, &[seg(1, 1, 100.0, Some(103.0))]).await;
    put(&s, &[seg(1, 1, 100.0, None)]).await;
    let t = &s.get_traces(&part(), &[id(1)]).await.unwrap()[0];
    assert_eq!(t.docs.len(), 1);
    assert!(t.docs[0].json.contains("end_time"));
    let page = s
        .scan_summaries(&part(), &query(TimeRangeType::TraceId, 0.0, 1000.0, 10))
        .await
        .unwrap();
    assert!(
        !page.items[0]
            .summary
            .has(crate::model::summary::Flags::PARTIAL)
    );
    assert_eq!(s.stats().documents, 1);
}

#[tokio::test]
async fn identical_resend_does_not_change_the_revision() {
    let (s, _) = store(Limits::default());
    let d = seg(1, 1, 100.0, Some(101.0));
    put(&s, std::slice::from_ref(&d)).await;
    put(&s, &[d.clone(), d]).await;
    let page = s
        .scan_summaries(&part(), &query(TimeRangeType::TraceId, 0.0, 1000.0, 10))
        .await
        .unwrap();
    assert_eq!(page.items[0].revision, 1);
}

#[tokio::test]
async fn an_earlier_segment_moves_the_trace_in_the_start_index() {
    let (s, _) = store(Limits::default());
    put(&s, &[seg(1, 1, 500.0, Some(501.0))]).await;
    put(&s, &[seg(1, 2, 50.0, Some(60.0))]).await;
    let early = s
        .scan_summaries(&part(), &query(TimeRangeType::TraceId, 0.0, 100.0, 10))
        .await
        .unwrap();
    assert_eq!(early.items.len(), 1);
    let late = s
        .scan_summaries(&part(), &query(TimeRangeType::TraceId, 400.0, 600.0, 10))
        .await
        .unwrap();
    assert!(late.items.is_empty());
}

#[tokio::test]
async fn paging_with_equal_times_neither_repeats_nor_skips() {
    let (s, _) = store(Limits::default());
    let docs: Vec<String> = (0..37)
        .map(|n| seg(n, n as u64 + 1, 100.0, Some(101.0)))
        .collect();
    put(&s, &docs).await;
    let mut q = query(TimeRangeType::TraceId, 0.0, 1000.0, 5);
    let mut seen = Vec::new();
    loop {
        let page = s.scan_summaries(&part(), &q).await.unwrap();
        seen.extend(page.items.iter().map(|i| i.trace_id));
        match page.next {
            Some(c) => q.after = Some(c),
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 37);
    assert_eq!(seen.len(), 37);
}

#[tokio::test]
async fn oldest_traces_are_evicted_first_past_max_traces() {
    let (s, _) = store(Limits {
        max_traces: 3,
        ..Limits::default()
    });
    for n in 0..5 {
        put(&s, &[seg(n, n as u64 + 1, 100.0 + n as f64, Some(200.0))]).await;
    }
    let kept: Vec<TraceId> = s
        .existing(&part(), &(0..5).map(id).collect::<Vec<_>>())
        .await
        .unwrap();
    assert_eq!(kept, vec![id(2), id(3), id(4)]);
    assert_eq!(s.stats().evicted_traces, 2);
}

#[tokio::test]
async fn eviction_takes_the_oldest_start_across_partitions_and_shards() {
    let (s, _) = store(Limits {
        max_traces: 4,
        ..Limits::default()
    });
    let other = Partition {
        account: "111111111111".into(),
        region: "eu-west-1".into(),
    };
    // Starts interleave between the partitions; the traces land in many shards.
    for n in 0..8u32 {
        let d = seg(n, n as u64 + 1, 100.0 + n as f64, Some(200.0));
        let batch = [IngestDoc {
            raw: &d,
            doc: validate(&d).unwrap(),
        }];
        let p = if n % 2 == 0 { part() } else { other.clone() };
        s.put(&p, &batch).await.unwrap();
    }
    let all: Vec<TraceId> = (0..8).map(id).collect();
    assert_eq!(s.existing(&part(), &all).await.unwrap(), vec![id(4), id(6)]);
    assert_eq!(s.existing(&other, &all).await.unwrap(), vec![id(5), id(7)]);
    assert_eq!(s.stats().evicted_traces, 4);
}

#[tokio::test]
async fn byte_bound_holds() {
    let (s, _) = store(Limits {
        max_bytes: 20_000,
        ..Limits::default()
    });
    for n in 0..100 {
        put(&s, &[seg(n, n as u64 + 1, 100.0 + n as f64, Some(300.0))]).await;
        assert!(s.stats().bytes <= 20_000);
    }
    assert!(s.existing(&part(), &[id(99)]).await.unwrap() == vec![id(99)]);
    assert!(s.existing(&part(), &[id(0)]).await.unwrap().is_empty());
}

#[tokio::test]
async fn eviction_across_every_block_leaves_the_blocks_dense() {
    let (s, _) = store(Limits {
        max_bytes: 8_000_000,
        ..Limits::default()
    });
    // Batches of 32 traces whose starts follow their place in the batch, the same in every
    // batch (as the load generator's do): eviction takes the first of every batch, then the
    // second..., a slice of every block. 256 hex digits of noise a document make blocks of
    // dead text cost real bytes.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for batch in 0..5_000u32 {
        let docs: Vec<String> = (0..32u32)
            .map(|j| {
                let n = batch * 32 + j;
                let noise: String = (0..16)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        format!("{x:016x}")
                    })
                    .collect();
                format!(
                    r#"{{"name":"svc","id":"{:016x}","trace_id":"{}","start_time":{},"end_time":300,"metadata":{{"default":{{"noise":"{noise}"}}}}}}"#,
                    n + 1,
                    tid(n),
                    100 + j
                )
            })
            .collect();
        put(&s, &docs).await;
    }
    let st = s.stats();
    assert!(st.evicted_traces > 0);
    assert!(st.bytes <= 8_000_000);
    // Dense blocks would fit some 11,000 of these traces; left with their dead text, about
    // 1,700 fit; blocks kept at least half live fit over 8,000.
    assert!(
        st.traces > 5_000,
        "capacity lost to dead text: {} traces kept, {} bytes of blocks and summaries",
        st.traces,
        st.packed_bytes
    );
}

#[tokio::test]
async fn summaries_outlive_the_versions_that_replaced_them_around_them() {
    let (s, _) = store(Limits::default());
    // One in-progress trace rewritten over and over beside traces written once: the summary
    // blocks of its shard fill with dead versions around a few live summaries.
    let hot = |v: u32| {
        format!(
            r#"{{"name":"svc","id":"{:016x}","trace_id":"{}","start_time":50,"in_progress":true,"annotations":{{"v":{v}}}}}"#,
            1u64 << 40,
            tid(1 << 30)
        )
    };
    let n = 3_000u32;
    for i in 0..n {
        let once = format!(
            r#"{{"name":"svc","id":"{:016x}","trace_id":"{}","start_time":{},"end_time":9000,"annotations":{{"k":{i}}}}}"#,
            i + 1,
            tid(i),
            100 + i
        );
        put(&s, &[once]).await;
        for v in 0..8 {
            put(&s, &[hot(i * 8 + v)]).await;
        }
    }
    for shard in s.shards.iter() {
        assert!(
            !shard.lock().summaries.wants_compaction(),
            "dead summary versions were left in place"
        );
    }
    // Every summary still reads back whole, moved or not.
    let found = all_pages(&s, "annotation.k >= 0").await;
    assert_eq!(found.len(), n as usize);
    let latest = s.summaries(&part(), &[id(1 << 30)]).await.unwrap();
    let v = &latest[0].1.annotations[0].values[0].0;
    assert_eq!(
        *v,
        crate::model::summary::Scalar::Number(f64::from(n * 8 - 1))
    );
}

#[tokio::test]
async fn retention_drops_traces_not_updated_within_it() {
    let (s, clock) = store(Limits {
        retention_micros: 10_000_000,
        ..Limits::default()
    });
    put(&s, &[seg(1, 1, 100.0, Some(101.0))]).await;
    clock.0.fetch_add(5_000_000, Relaxed);
    put(&s, &[seg(2, 2, 100.0, Some(101.0))]).await;
    clock.0.fetch_add(6_000_000, Relaxed);
    assert_eq!(s.sweep().await.unwrap(), 1);
    assert_eq!(
        s.existing(&part(), &[id(1), id(2)]).await.unwrap(),
        vec![id(2)]
    );
    assert_eq!(s.stats().traces, 1);
}

#[tokio::test]
async fn trace_size_limit_refuses_further_documents() {
    let (s, _) = store(Limits {
        max_trace_bytes: 300,
        ..Limits::default()
    });
    let r = put(
        &s,
        &[
            seg(1, 1, 100.0, Some(101.0)),
            seg(1, 2, 100.0, Some(101.0)),
            seg(1, 3, 100.0, Some(101.0)),
        ],
    )
    .await;
    assert!(r[0].is_none() && r[1].is_none());
    assert!(
        r[2].as_ref()
            .unwrap()
            .message
            .starts_with("Trace Size Exceeded")
    );
    assert!(s.get_traces(&part(), &[id(1)]).await.unwrap()[0].limit_exceeded);
}

#[tokio::test]
async fn partitions_do_not_see_each_other() {
    let (s, _) = store(Limits::default());
    put(&s, &[seg(1, 1, 100.0, Some(101.0))]).await;
    let other = Partition {
        account: "111122223333".into(),
        region: "us-east-1".into(),
    };
    assert!(s.get_traces(&other, &[id(1)]).await.unwrap().is_empty());
    assert!(
        s.scan_summaries(&other, &query(TimeRangeType::TraceId, 0.0, 1000.0, 10))
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn event_range_finds_traces_active_in_the_window() {
    let (s, _) = store(Limits::default());
    put(
        &s,
        &[seg(1, 1, 100.0, Some(500.0)), seg(2, 2, 600.0, Some(700.0))],
    )
    .await;
    let page = s
        .scan_summaries(&part(), &query(TimeRangeType::Event, 200.0, 300.0, 10))
        .await
        .unwrap();
    assert_eq!(
        page.items.iter().map(|i| i.trace_id).collect::<Vec<_>>(),
        vec![id(1)]
    );
    let page = s
        .scan_summaries(&part(), &query(TimeRangeType::Service, 200.0, 300.0, 10))
        .await
        .unwrap();
    assert!(page.items.is_empty());
}

fn rich_doc(n: u32) -> String {
    let svc = format!("svc-{}", n % 7);
    let status = [200, 404, 500, 429][(n % 4) as usize];
    let tenant = format!("t{}", n % 5);
    let fault = status == 500;
    format!(
        r#"{{"name":"{svc}","id":"{id:016x}","trace_id":"{tid}","start_time":{start},"end_time":{end},"fault":{fault},
        "http":{{"response":{{"status":{status}}}}},"annotations":{{"tenant":"{tenant}","n":{n},"code":"c{code}"}},
        "subsegments":[{{"id":"{sub:016x}","name":"db-{db}","namespace":"remote","start_time":{start},"end_time":{end}}}]}}"#,
        id = n as u64 + 1,
        sub = n as u64 + 1_000_000,
        tid = tid(n),
        start = 1000.0 + n as f64,
        end = 1000.5 + n as f64,
        db = n % 3,
        code = n % 97,
    )
}

async fn all_pages(s: &MemStore, filter: &str) -> Vec<TraceId> {
    let f = crate::query::compile(&crate::query::parse(filter).unwrap()).unwrap();
    let mut q = query(TimeRangeType::TraceId, 0.0, 1.0e7, 100);
    q.filter = Some(Arc::new(f));
    let mut out = Vec::new();
    for _ in 0..10_000 {
        let page = s.scan_summaries(&part(), &q).await.unwrap();
        out.extend(page.items.iter().map(|i| i.trace_id));
        match page.next {
            Some(c) => q.after = Some(c),
            None => return out,
        }
    }
    panic!("paging did not end");
}

#[tokio::test]
async fn filtered_scans_return_exactly_what_brute_force_finds_newest_first() {
    filtered_scans_match_brute_force(Limits::default()).await;
}

#[tokio::test]
async fn scans_that_stop_at_their_budget_resume_without_repeats_or_gaps() {
    // 20,000 traces over 16 shards with a budget of 16 a shard: most pages stop at the frontier.
    filtered_scans_match_brute_force(Limits {
        scan_budget_per_shard: 16,
        ..Limits::default()
    })
    .await;
}

async fn filtered_scans_match_brute_force(limits: Limits) {
    use crate::model::selection::TraceFilter;
    let (s, _) = store(limits);
    let n = 20_000u32;
    let docs: Vec<String> = (0..n).map(rich_doc).collect();
    for chunk in docs.chunks(50) {
        put(&s, chunk).await;
    }
    for filter in [
        "service(\"svc-3\") AND http.status = 500 AND annotation.tenant = \"t3\"",
        "annotation.n = 17",
        "duration > 0",
        "annotation.n > 19990",
        "annotation.n < 3",
        "service(\"svc-1\") OR fault",
        "edge(\"svc-2\", \"db-1\")",
        "!fault AND http.status = 429",
        "service(\"no-such-service\")",
        // Sparse matches spread through time that the index cannot narrow.
        "annotation.code BEGINSWITH \"c96\"",
    ] {
        let f = crate::query::compile(&crate::query::parse(filter).unwrap()).unwrap();
        let mut expected: Vec<u32> = (0..n)
            .filter(|&i| {
                let d = rich_doc(i);
                let v = validate(&d).unwrap();
                f.matches(&crate::model::summary::compute(&[&v]))
            })
            .collect();
        expected.reverse();
        let expected: Vec<TraceId> = expected.into_iter().map(id).collect();
        assert_eq!(all_pages(&s, filter).await, expected, "{filter}");
    }
}

async fn link_edges(s: &MemStore) -> Vec<(String, String, i64)> {
    crate::store::conformance::link_edges(s, &part()).await
}

#[tokio::test]
async fn span_links_resolve_in_either_arrival_order() {
    let (s, _) = store(Limits::default());
    // Producer first, then the consumer that links to its SQS subsegment.
    put(&s, &[producer(1, 1, 100.0, 0x11)]).await;
    put(&s, &[linked(2, 2, 103.0, 1, 0x11)]).await;
    assert_eq!(
        link_edges(&s).await,
        vec![("producer".into(), "consumer".into(), 1)]
    );
    // Consumer first: the link waits for its target, then resolves when it arrives.
    put(&s, &[linked(4, 4, 203.0, 3, 0x33)]).await;
    assert_eq!(link_edges(&s).await[0].2, 1);
    put(&s, &[producer(3, 3, 200.0, 0x33)]).await;
    assert_eq!(
        link_edges(&s).await,
        vec![("producer".into(), "consumer".into(), 2)]
    );
    let g = s.service_graph(&part(), 0, 10_000_000_000).await.unwrap();
    let ages = &g.links.values().next().unwrap().response.0;
    assert_eq!(
        ages.iter().map(|(_, n, _)| n).sum::<i64>(),
        2,
        "two events aged about 3 s"
    );
    // A re-sent consumer does not count its link twice.
    put(&s, &[linked(4, 4, 203.0, 3, 0x33)]).await;
    assert_eq!(link_edges(&s).await[0].2, 2);
}

#[tokio::test]
async fn resident_memory_beyond_the_accounting_comes_off_the_byte_budget() {
    let rss = Arc::new(AtomicU64::new(0));
    let reading = rss.clone();
    let resident = resident::Resident::new(
        Box::new(move || Some(reading.load(Relaxed))),
        std::time::Duration::ZERO,
    );
    let clock = Arc::new(TestClock(AtomicI64::new(1_000_000_000_000_000)));
    let limits = Limits {
        max_bytes: 1_000_000,
        ..Limits::default()
    };
    let s = MemStore::with_resident(limits, clock, Some(resident));
    let batch = |from: u32| -> Vec<String> {
        (from..from + 100)
            .map(|n| seg(n, n as u64 + 1, 100.0 + n as f64, Some(2000.0)))
            .collect()
    };
    // Resident memory as small as the accounting: the whole bound is the budget.
    for b in 0..10 {
        put(&s, &batch(b * 100)).await;
    }
    let accounted = s.stats().bytes;
    assert!(
        accounted < 1_000_000 && s.stats().evicted_traces == 0,
        "accounted {accounted}, evicted {}",
        s.stats().evicted_traces
    );
    // The process now holds 400 KB beyond what the store accounts (one more small trace
    // arrives before the reading): the store sheds what passes the 600 KB left.
    assert!(accounted > 600_000);
    rss.store(accounted + 400_000, Relaxed);
    put(&s, &[seg(1000, 1001, 1100.0, Some(2000.0))]).await;
    let held = s.stats().bytes;
    assert!(
        held <= 601_000,
        "accounted {held} bytes, budget about 600000"
    );
    assert!(s.stats().evicted_traces > 0);
    // However much lies beyond, half the bound stays for traces.
    rss.store(10_000_000, Relaxed);
    put(&s, &batch(1100)).await;
    let held = s.stats().bytes;
    assert!(
        (400_000..=500_000).contains(&held),
        "accounted {held} bytes, budget 500000"
    );
}
