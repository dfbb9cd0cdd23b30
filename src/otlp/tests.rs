use super::*;
use crate::metrics::Intake;
use crate::model::ids::TraceId;
use crate::model::segment::Rejection;
use crate::model::summary::TraceSummary;
use crate::model::time::{Micros, SystemClock};
use crate::store::IngestDoc;
use crate::store::{StoreError, StoreStats, StoredTrace, SummaryPage, SummaryQuery};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::Span;

/// A store whose writes never finish, as a store stuck on a lock or a dead database would.
struct Stuck;

#[async_trait::async_trait]
impl TraceStore for Stuck {
    async fn put(
        &self,
        _: &Partition,
        _: &[IngestDoc<'_>],
    ) -> Result<Vec<Option<Rejection>>, StoreError> {
        std::future::pending().await
    }
    async fn existing(&self, _: &Partition, _: &[TraceId]) -> Result<Vec<TraceId>, StoreError> {
        unreachable!("export only writes")
    }
    async fn get_traces(
        &self,
        _: &Partition,
        _: &[TraceId],
    ) -> Result<Vec<StoredTrace>, StoreError> {
        unreachable!("export only writes")
    }
    async fn scan_summaries(
        &self,
        _: &Partition,
        _: &SummaryQuery,
    ) -> Result<SummaryPage, StoreError> {
        unreachable!("export only writes")
    }
    async fn graph_minutes(
        &self,
        _: &Partition,
        _: Micros,
        _: Micros,
        _: &mut (dyn for<'g> FnMut(i64, &'g crate::graph::Graph) + Send),
    ) -> Result<(), StoreError> {
        unreachable!("export only writes")
    }
    async fn summaries(
        &self,
        _: &Partition,
        _: &[TraceId],
    ) -> Result<Vec<(TraceId, Arc<TraceSummary>)>, StoreError> {
        unreachable!("export only writes")
    }
    async fn sweep(&self) -> Result<u64, StoreError> {
        Ok(0)
    }
    fn stats(&self) -> StoreStats {
        StoreStats::default()
    }
}

fn state(store: Arc<dyn TraceStore>, permits: usize) -> OtlpState {
    OtlpState {
        store_timeout: std::time::Duration::from_millis(50),
        turns: tokio::sync::Semaphore::new(permits),
        ..OtlpState::new(
            store,
            Partition::default(),
            Options::default(),
            Arc::new(SystemClock),
        )
    }
}

fn one_span() -> ExportTraceServiceRequest {
    crate::otlp_fixture::request(vec![Span {
        trace_id: vec![0x65, 0x53, 0xf1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
        span_id: vec![1; 8],
        name: "GET /".into(),
        kind: 2,
        start_time_unix_nano: 1_700_000_000_000_000_000,
        end_time_unix_nano: 1_700_000_000_100_000_000,
        ..Default::default()
    }])
}

#[tokio::test]
async fn a_stuck_store_makes_exports_unavailable_not_hung() {
    let st = state(Arc::new(Stuck), 4);
    let t = std::time::Instant::now();
    match export(&st, &st.partition.clone(), Intake::OtlpHttp, &one_span()).await {
        Err(ExportError::Unavailable(m)) => assert!(m.contains("did not answer"), "{m}"),
        Err(ExportError::Throttled(..)) => panic!("there is no quota"),
        Ok(_) => panic!("a stuck store cannot have stored the span"),
    }
    assert!(t.elapsed() < std::time::Duration::from_secs(2));
}

#[tokio::test]
async fn exports_waiting_for_a_turn_past_the_timeout_are_unavailable() {
    let store = Arc::new(crate::store::memory::MemStore::new(
        Default::default(),
        Arc::new(SystemClock),
    ));
    let st = state(store, 1);
    let held = st.turns.acquire().await.unwrap();
    assert!(matches!(
        export(&st, &st.partition.clone(), Intake::OtlpHttp, &one_span()).await,
        Err(ExportError::Unavailable(_))
    ));
    drop(held);
    let ok = export(&st, &st.partition.clone(), Intake::OtlpHttp, &one_span())
        .await
        .ok()
        .expect("a free turn stores");
    assert!(ok.partial_success.is_none());
}

#[tokio::test]
async fn an_export_over_the_quota_stores_nothing_and_says_when_to_retry() {
    let store = Arc::new(crate::store::memory::MemStore::new(
        Default::default(),
        Arc::new(SystemClock),
    ));
    let st = OtlpState {
        quota: Arc::new(crate::quota::SegmentQuota::per_second(
            std::num::NonZeroU32::new(1).unwrap(),
        )),
        ..state(store.clone(), 4)
    };
    let part = st.partition.clone();
    assert!(
        export(&st, &part, Intake::OtlpGrpc, &one_span())
            .await
            .is_ok()
    );
    match export(&st, &part, Intake::OtlpGrpc, &one_span()).await {
        Err(ExportError::Throttled(m, retry)) => {
            assert!(m.contains("1 segment documents a second"), "{m}");
            assert!(retry > std::time::Duration::ZERO);
        }
        _ => panic!("the second span in a second is over the quota"),
    }
    assert_eq!(store.stats().documents, 1);
}
