//! OTLP requests for tests, benchmarks and load generators, so all of them build spans one way.
//!
//! [`template`] is the realistic 512-span request of the OTLP load generator and the ingest
//! benchmark: 128 traces of 4 spans (an HTTP SERVER span, an AWS SDK DynamoDB CLIENT span, a
//! PostgreSQL CLIENT span, an INTERNAL span with an exception event), ~10 attributes each.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value as V};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, SpanKind};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};

pub const TRACES_PER_REQUEST: usize = 128;
pub const SPANS_PER_TRACE: usize = 4;

/// An attribute.
pub fn kv(k: &str, v: V) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

/// A string attribute.
pub fn s(k: &str, v: &str) -> KeyValue {
    kv(k, V::StringValue(v.into()))
}

/// An integer attribute.
pub fn i(k: &str, v: i64) -> KeyValue {
    kv(k, V::IntValue(v))
}

/// A request of these spans under one resource and scope.
pub fn request(spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// Trace IDs in the template are this marker followed by the trace's index, so their offsets
/// in the encoded bytes can be found.
pub const MARKER: [u8; 12] = *b"XRAYLOADGEN!";

pub fn template(now_nanos: u64) -> ExportTraceServiceRequest {
    let mut spans = Vec::with_capacity(TRACES_PER_REQUEST * SPANS_PER_TRACE);
    for t in 0..TRACES_PER_REQUEST {
        let mut trace_id = MARKER.to_vec();
        trace_id.extend_from_slice(&(t as u32).to_be_bytes());
        let sid = |n: u64| ((t as u64) << 8 | n).to_be_bytes().to_vec();
        let start = now_nanos + t as u64 * 1_000;
        let span = |n: u64, parent: Option<u64>, name: &str, kind: SpanKind, attributes| Span {
            trace_id: trace_id.clone(),
            span_id: sid(n),
            parent_span_id: parent.map(sid).unwrap_or_default(),
            name: name.into(),
            kind: kind as i32,
            start_time_unix_nano: start + n * 1_000_000,
            end_time_unix_nano: start + 40_000_000 - n * 5_000_000,
            attributes,
            ..Default::default()
        };
        spans.push(span(
            1,
            None,
            "GET /api/orders/{id}",
            SpanKind::Server,
            vec![
                s("http.request.method", "GET"),
                s("url.scheme", "https"),
                s("server.address", "shop.example.com"),
                s("url.path", "/api/orders/1234"),
                s("http.route", "/api/orders/{id}"),
                i(
                    "http.response.status_code",
                    if t % 10 == 0 { 500 } else { 200 },
                ),
                s("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64)"),
                s("client.address", "203.0.113.17"),
                s("enduser.id", "customer-42"),
                s("tenant", "acme"),
            ],
        ));
        spans.push(span(
            2,
            Some(1),
            "DynamoDB.GetItem",
            SpanKind::Client,
            vec![
                s("rpc.system", "aws-api"),
                s("rpc.service", "DynamoDB"),
                s("rpc.method", "GetItem"),
                s("aws.region", "us-east-1"),
                s(
                    "aws.request_id",
                    "Q8OKH9H5LGRIV6BLUF6CS4N3N3VV4KQNSO5AEMVJF66Q9ASUAAJG",
                ),
                kv(
                    "aws.dynamodb.table_names",
                    V::ArrayValue(opentelemetry_proto::tonic::common::v1::ArrayValue {
                        values: vec![AnyValue {
                            value: Some(V::StringValue("orders".into())),
                        }],
                    }),
                ),
                i("http.response.status_code", 200),
                s("db.system", "dynamodb"),
                s("net.peer.name", "dynamodb.us-east-1.amazonaws.com"),
                i("net.peer.port", 443),
            ],
        ));
        spans.push(span(
            3,
            Some(1),
            "SELECT orders",
            SpanKind::Client,
            vec![
                s("db.system", "postgresql"),
                s("db.name", "shop"),
                s("db.user", "app"),
                s("db.statement", "SELECT * FROM orders WHERE id = $1"),
                s("db.connection_string", "postgresql://db.internal:5432"),
                s("net.peer.name", "db.internal"),
                i("net.peer.port", 5432),
                i("db.rows", 1),
                s("peer.service", "orders-db"),
                s("component", "pg"),
            ],
        ));
        let mut internal = span(
            4,
            Some(1),
            "render order",
            SpanKind::Internal,
            vec![
                s("template", "order.html"),
                i("items", 3),
                kv("cache.hit", V::BoolValue(t % 2 == 0)),
                kv("render.ms", V::DoubleValue(1.25)),
                s("locale", "en-US"),
                s("currency", "USD"),
                s("feature.flag", "new-checkout"),
                s("build", "2026.11.1"),
                s("thread.name", "worker-3"),
                i("thread.id", 17),
            ],
        );
        internal.events.push(Event {
            time_unix_nano: start + 20_000_000,
            name: "exception".into(),
            attributes: vec![
                s("exception.type", "TemplateError"),
                s("exception.message", "missing partial 'footer'"),
                s(
                    "exception.stacktrace",
                    "TemplateError: missing partial 'footer'\n    at render (/app/views.js:10:15)\n    at handler (/app/server.js:42:7)\n",
                ),
            ],
            ..Default::default()
        });
        internal.events.push(Event {
            time_unix_nano: start + 21_000_000,
            name: "cache.lookup".into(),
            attributes: vec![s("key", "order:1234")],
            ..Default::default()
        });
        internal.status = Some(Status {
            code: 2,
            message: "render failed".into(),
        });
        spans.push(internal);
    }
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    s("service.name", "shop-frontend"),
                    s("service.version", "1.8.2"),
                    s("telemetry.sdk.name", "opentelemetry"),
                    s("telemetry.sdk.language", "nodejs"),
                    s("telemetry.sdk.version", "2.2.0"),
                    s("cloud.provider", "aws"),
                    s("cloud.platform", "aws_ecs"),
                    s("aws.ecs.launchtype", "fargate"),
                    s("host.name", "ip-10-0-1-17"),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}
