//! Decode-and-discard OTLP receiver: the ceiling the gateway's OTLP ingest is measured
//! against. It decodes each request exactly as the gateway does (tonic/prost for gRPC, axum and
//! prost for HTTP protobuf), counts the spans and drops them.
//!
//! ```text
//! cargo run --release --example otlp_sink -- 127.0.0.1:14317 127.0.0.1:14318
//! cargo run --release --example otlp_load -- --proto grpc --target http://127.0.0.1:14317
//! ```
//!
//! Prints spans per second every second while requests arrive.

use axum::Router;
use axum::body::Bytes;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

fn count(req: &ExportTraceServiceRequest) -> u64 {
    req.resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len() as u64)
        .sum()
}

struct Sink(Arc<AtomicU64>);

#[tonic::async_trait]
impl TraceService for Sink {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.0.fetch_add(count(request.get_ref()), Relaxed);
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let grpc: std::net::SocketAddr = args
        .next()
        .unwrap_or("127.0.0.1:14317".into())
        .parse()
        .expect("gRPC address");
    let http = args.next().unwrap_or("127.0.0.1:14318".into());
    let spans = Arc::new(AtomicU64::new(0));
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(async move {
            let counter = spans.clone();
            tokio::spawn(async move {
                let mut last = 0;
                loop {
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    let now = counter.load(Relaxed);
                    if now != last {
                        println!("{} spans/s", now - last);
                    }
                    last = now;
                }
            });
            let http_spans = spans.clone();
            let app = Router::new().route(
                "/v1/traces",
                post(move |body: Bytes| {
                    let spans = http_spans.clone();
                    async move {
                        match ExportTraceServiceRequest::decode(body) {
                            Ok(r) => {
                                spans.fetch_add(count(&r), Relaxed);
                                (
                                    [("content-type", "application/x-protobuf")],
                                    ExportTraceServiceResponse::default().encode_to_vec(),
                                )
                            }
                            Err(_) => ([("content-type", "text/plain")], b"bad".to_vec()),
                        }
                    }
                }),
            );
            let app = app.layer(axum::extract::DefaultBodyLimit::max(64 << 20));
            let listener = tokio::net::TcpListener::bind(&http)
                .await
                .expect("bind HTTP");
            tokio::spawn(async move { axum::serve(listener, app).await });
            println!("sink: gRPC {grpc}, HTTP {http}");
            // The gateway's own transport settings, so only the work after decoding differs.
            tonic::transport::Server::builder()
                .initial_connection_window_size(8 << 20)
                .initial_stream_window_size(4 << 20)
                .add_service(
                    TraceServiceServer::new(Sink(spans)).max_decoding_message_size(64 << 20),
                )
                .serve(grpc)
                .await
                .expect("gRPC server");
        });
}
