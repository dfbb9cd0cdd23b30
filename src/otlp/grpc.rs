//! OTLP over gRPC: tonic's `TraceService`, gzip accepted and answered in kind.

use super::ExportError;
use super::OtlpState;
use super::export::export;
use crate::error::ErrorKind;
use crate::metrics::Intake;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use std::sync::Arc;

pub struct Grpc(pub Arc<OtlpState>);

#[tonic::async_trait]
impl TraceService for Grpc {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let auth = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        let now = self.0.clock.now_micros() / 1_000_000;
        let part = self
            .0
            .auth
            .export(auth, None, &self.0.partition, now)
            .map_err(|e| tonic::Status::new(ErrorKind::Unauthenticated.grpc(), e.to_string()))?;
        export(&self.0, &part, Intake::OtlpGrpc, request.get_ref())
            .await
            .map(tonic::Response::new)
            .map_err(status)
    }
}

/// A refused export as gRPC answers it; a retryable one says when to retry (`RetryInfo`).
fn status(e: ExportError) -> tonic::Status {
    use tonic_types::{ErrorDetails, StatusExt};
    tonic::Status::with_error_details(
        e.kind().grpc(),
        e.message(),
        ErrorDetails::with_retry_info(Some(e.retry_after())),
    )
}

pub type GrpcService = TraceServiceServer<Grpc>;

/// The gRPC service, gzip accepted and answered in kind.
pub fn grpc_service(st: Arc<OtlpState>) -> GrpcService {
    let max = st.max_body_bytes;
    TraceServiceServer::new(Grpc(st))
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
        .send_compressed(tonic::codec::CompressionEncoding::Gzip)
        .max_decoding_message_size(max)
}
