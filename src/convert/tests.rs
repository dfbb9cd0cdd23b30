use super::*;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, KeyValue, any_value::Value as V,
};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{Status, span::Event};
use serde_json::{Value, json};

/// A "now" near the test spans' times, for strict trace IDs.
const NOW: i64 = 1_700_000_000;

use crate::otlp_fixture::{i, kv, s};

fn span(kind: SpanKind, parent: bool, attrs: Vec<KeyValue>) -> Span {
    Span {
        trace_id: vec![
            0x5f, 0x00, 0x00, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
        ],
        span_id: vec![0, 0, 0, 0, 0, 0, 0, 7],
        parent_span_id: if parent {
            vec![0, 0, 0, 0, 0, 0, 0, 9]
        } else {
            vec![]
        },
        name: "GET /items/{id}".into(),
        kind: kind as i32,
        start_time_unix_nano: 1_700_000_000_000_000_000,
        end_time_unix_nano: 1_700_000_000_250_000_000,
        attributes: attrs,
        ..Default::default()
    }
}

fn resource(attrs: Vec<KeyValue>) -> Resource {
    Resource {
        attributes: attrs,
        ..Default::default()
    }
}

fn doc(sp: &Span, res: &Resource, opts: &Options) -> Value {
    let docs = span_to_documents(sp, Some(res), opts, NOW).unwrap();
    assert_eq!(docs.len(), 1);
    serde_json::from_str(&docs[0]).unwrap()
}

fn plain(sp: &Span) -> Value {
    doc(
        sp,
        &resource(vec![s("service.name", "svc")]),
        &Options::default(),
    )
}

#[test]
fn segments_subsegments_ids_and_times() {
    let d = plain(&span(SpanKind::Server, true, vec![]));
    assert!(
        d.get("type").is_none(),
        "SERVER spans are segments even with a parent"
    );
    assert_eq!(
        (
            d["trace_id"].as_str(),
            d["id"].as_str(),
            d["parent_id"].as_str()
        ),
        (
            Some("1-5f000001-0102030405060708090a0b0c"),
            Some("0000000000000007"),
            Some("0000000000000009")
        )
    );
    // u64 → f64 first, then one division, as the exporter does (so not exactly .25).
    assert_eq!(
        (d["start_time"].as_f64(), d["end_time"].as_f64()),
        (
            Some(1_700_000_000.0),
            Some(1_700_000_000_250_000_000u64 as f64 / 1e9)
        )
    );
    let c = plain(&span(SpanKind::Internal, true, vec![]));
    assert_eq!(c["type"], "subsegment");
    let root_client = plain(&span(SpanKind::Client, false, vec![]));
    assert!(root_client.get("type").is_none() && root_client["namespace"] == "remote");
}

#[test]
fn bad_ids_and_backwards_spans_are_refused() {
    let mut sp = span(SpanKind::Server, false, vec![]);
    sp.trace_id = vec![0; 16];
    assert!(
        span_to_documents(&sp, None, &Options::default(), NOW)
            .unwrap_err()
            .contains("trace ID")
    );
    let mut sp = span(SpanKind::Server, false, vec![]);
    sp.span_id = vec![1, 2];
    assert!(span_to_documents(&sp, None, &Options::default(), NOW).is_err());
    let mut sp = span(SpanKind::Server, false, vec![]);
    sp.end_time_unix_nano = 1;
    assert!(
        span_to_documents(&sp, None, &Options::default(), NOW)
            .unwrap_err()
            .contains("ends before")
    );
}

#[test]
fn names_follow_the_exporter_order() {
    let name = |kind, attrs| {
        plain(&span(kind, true, attrs))["name"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(name(SpanKind::Server, vec![]), "svc");
    assert_eq!(
        name(SpanKind::Server, vec![s("aws.local.service", "local")]),
        "local"
    );
    assert_eq!(
        name(
            SpanKind::Client,
            vec![
                s("rpc.system", "aws-api"),
                s("aws.remote.service", "AWS.SDK.S3")
            ]
        ),
        "S3"
    );
    assert_eq!(
        name(
            SpanKind::Client,
            vec![s("aws.remote.service", "AWS::DynamoDB")]
        ),
        "AWS::DynamoDB",
        "only AWS SDK spans lose the prefix"
    );
    assert_eq!(
        name(
            SpanKind::Client,
            vec![
                s("rpc.system", "aws-api"),
                s("aws.remote.service", "AWS::DynamoDB")
            ]
        ),
        "DynamoDB"
    );
    assert_eq!(
        name(
            SpanKind::Client,
            vec![s("peer.service", "billing"), s("rpc.service", "x")]
        ),
        "billing"
    );
    assert_eq!(
        name(
            SpanKind::Client,
            vec![
                s("db.name", "customers"),
                s(
                    "db.connection_string",
                    "jdbc:mysql://db.dev.example.com:3306"
                )
            ]
        ),
        "customers@db.dev.example.com"
    );
    assert_eq!(
        name(SpanKind::Internal, vec![]),
        "GET /items/id",
        "sanitised span name: braces go, slashes stay"
    );
    let aws = plain(&span(SpanKind::Client, true, vec![s("aws.service", "SQS")]));
    assert_eq!(
        (aws["name"].as_str(), aws["namespace"].as_str()),
        (Some("SQS"), Some("aws"))
    );
}

#[test]
fn origin_from_the_resource_platform() {
    let origin = |attrs: Vec<KeyValue>| {
        doc(
            &span(SpanKind::Server, false, vec![]),
            &resource(attrs),
            &Options::default(),
        )["origin"]
            .clone()
    };
    assert_eq!(
        origin(vec![
            s("cloud.provider", "aws"),
            s("cloud.platform", "aws_ec2")
        ]),
        "AWS::EC2::Instance"
    );
    assert_eq!(
        origin(vec![
            s("cloud.platform", "aws_ecs"),
            s("aws.ecs.launchtype", "fargate")
        ]),
        "AWS::ECS::Fargate"
    );
    assert_eq!(
        origin(vec![s("cloud.platform", "aws_eks")]),
        "AWS::EKS::Container"
    );
    assert_eq!(origin(vec![s("cloud.platform", "aws_lambda")]), Value::Null);
    assert_eq!(
        origin(vec![
            s("cloud.provider", "gcp"),
            s("cloud.platform", "aws_ec2")
        ]),
        Value::Null
    );
}

#[test]
fn fault_error_and_throttle_from_status_codes() {
    let flags = |attrs, error_status: bool| {
        let mut sp = span(SpanKind::Server, false, attrs);
        if error_status {
            sp.status = Some(Status {
                code: StatusCode::Error as i32,
                message: "boom".into(),
            });
        }
        let d = plain(&sp);
        (
            d["error"].as_bool().unwrap(),
            d["fault"].as_bool().unwrap(),
            d["throttle"].as_bool().unwrap(),
        )
    };
    assert_eq!(
        flags(vec![i("http.status_code", 404)], true),
        (true, false, false),
        "an ERROR status with 4xx is an error"
    );
    assert_eq!(
        flags(vec![i("http.response.status_code", 429)], false),
        (true, false, true)
    );
    assert_eq!(
        flags(vec![i("http.status_code", 503)], false),
        (false, true, false)
    );
    assert_eq!(flags(vec![], true), (false, true, false));
    assert_eq!(flags(vec![], false), (false, false, false));
}

#[test]
fn exceptions_become_the_cause() {
    let mut sp = span(SpanKind::Server, false, vec![]);
    sp.events = vec![Event {
        name: "exception".into(),
        attributes: vec![
            s("exception.type", "KeyError"),
            s("exception.message", "'x'"),
        ],
        ..Default::default()
    }];
    let d = plain(&sp);
    let ex = &d["cause"]["exceptions"][0];
    assert_eq!(
        (ex["type"].as_str(), ex["message"].as_str()),
        (Some("KeyError"), Some("'x'"))
    );
    assert_eq!(ex["id"].as_str().map(str::len), Some(16));
}

#[test]
fn http_block_from_new_conventions_builds_server_urls() {
    let d = plain(&span(
        SpanKind::Server,
        false,
        vec![
            s("http.request.method", "GET"),
            s("url.scheme", "https"),
            s("server.address", "shop.example.com"),
            i("server.port", 8443),
            s("url.path", "/cart"),
            s("url.query", "a=1"),
            s("client.address", "10.1.2.3"),
        ],
    ));
    let h = &d["http"];
    assert_eq!(
        h["request"]["url"],
        "https://shop.example.com:8443/cart?a=1"
    );
    assert_eq!(h["request"]["client_ip"], "10.1.2.3");
    assert_eq!(h["request"]["x_forwarded_for"], true);
    assert_eq!(h["response"]["content_length"], 0);
    assert!(
        d["metadata"]["default"].get("server.address").is_none(),
        "http attributes are consumed"
    );
}

#[test]
fn annotations_metadata_and_user() {
    let opts = Options {
        indexed_attributes: vec![
            "tenant".into(),
            "otel.resource.deployment.environment".into(),
        ],
        ..Default::default()
    };
    let list = V::ArrayValue(ArrayValue {
        values: vec![AnyValue {
            value: Some(V::StringValue("order@id".into())),
        }],
    });
    let sp = span(
        SpanKind::Server,
        false,
        vec![
            s("tenant", "t3"),
            s("order@id", "42"),
            kv("aws.xray.annotations", list),
            s("enduser.id", "alice"),
            s("aws.xray.metadata.shop", r#"{"cart":3}"#),
            i("retries", 2),
        ],
    );
    let d = doc(
        &sp,
        &resource(vec![
            s("service.name", "svc"),
            s("deployment.environment", "prod"),
        ]),
        &opts,
    );
    assert_eq!(
        d["annotations"],
        serde_json::json!({"tenant": "t3", "order_id": "42", "otel.resource.deployment.environment": "prod"})
    );
    assert_eq!(d["user"], "alice");
    assert_eq!(d["metadata"]["shop"], serde_json::json!({"cart": 3}));
    assert_eq!(d["metadata"]["default"]["retries"], 2);
    assert_eq!(
        d["metadata"]["default"]["otel.resource.service.name"],
        "svc"
    );
    let all = doc(
        &span(SpanKind::Client, true, vec![i("retries", 2)]),
        &resource(vec![]),
        &Options {
            index_all_attributes: true,
            ..Default::default()
        },
    );
    assert_eq!(all["annotations"]["retries"], 2);
    assert!(
        all.get("metadata").is_none(),
        "subsegments carry no resource metadata"
    );
}

#[test]
fn sql_block_from_db_attributes() {
    let d = plain(&span(
        SpanKind::Client,
        true,
        vec![
            s("db.system", "postgresql"),
            s("db.statement", "SELECT 1"),
            s("db.user", "app"),
        ],
    ));
    assert_eq!(
        d["sql"],
        json!({"connection_string": "localhost/", "url": "GET /items/{id}",
            "database_type": "postgresql", "sanitized_query": "SELECT 1", "user": "app"})
    );
    let mongo = plain(&span(
        SpanKind::Client,
        true,
        vec![s("db.system", "mongodb"), s("db.statement", "find")],
    ));
    assert!(mongo.get("sql").is_none());
    assert_eq!(mongo["metadata"]["default"]["db.statement"], "find");
}

#[test]
fn aws_block_from_span_and_resource() {
    let tables = |names: &[&str]| {
        kv(
            "aws.dynamodb.table_names",
            V::ArrayValue(ArrayValue {
                values: names
                    .iter()
                    .map(|n| AnyValue {
                        value: Some(V::StringValue((*n).into())),
                    })
                    .collect(),
            }),
        )
    };
    let res = resource(vec![
        s("cloud.provider", "aws"),
        s("cloud.platform", "aws_ec2"),
        s("host.id", "i-0abc"),
        s("cloud.account.id", "123456789012"),
        s("telemetry.sdk.name", "opentelemetry"),
        s("telemetry.sdk.language", "python"),
        s("telemetry.sdk.version", "1.45.2"),
        s("service.version", "2.1"),
    ]);
    let sp = span(
        SpanKind::Client,
        true,
        vec![
            s("rpc.system", "aws-api"),
            s("rpc.service", "DynamoDB"),
            s("rpc.method", "PutItem"),
            tables(&["carts"]),
            s("aws.request_id", "R1"),
        ],
    );
    let d = doc(&sp, &res, &Options::default());
    let aws = &d["aws"];
    assert_eq!(
        (
            aws["operation"].as_str(),
            aws["table_name"].as_str(),
            aws["request_id"].as_str(),
            aws["account_id"].as_str()
        ),
        (
            Some("PutItem"),
            Some("carts"),
            Some("R1"),
            Some("123456789012")
        )
    );
    assert_eq!(
        aws["ec2"],
        serde_json::json!({"instance_id": "i-0abc", "availability_zone": null, "instance_size": null, "ami_id": null})
    );
    assert_eq!(
        aws["xray"],
        serde_json::json!({"sdk": "opentelemetry for python", "sdk_version": "1.45.2", "auto_instrumentation": false})
    );
    assert_eq!(d["service"], serde_json::json!({"version": "2.1"}));
    assert!(
        d.get("metadata").is_none() || d["metadata"]["default"].get("rpc.method").is_none(),
        "consumed attributes stay out of metadata"
    );
    let many = doc(
        &span(SpanKind::Client, true, vec![tables(&["a", "b"])]),
        &res,
        &Options::default(),
    );
    assert_eq!(
        (many["aws"].get("table_name"), &many["aws"]["table_names"]),
        (None, &serde_json::json!(["a", "b"]))
    );
    let gcp = doc(
        &span(SpanKind::Client, true, vec![s("aws.region", "x")]),
        &resource(vec![s("cloud.provider", "gcp")]),
        &Options::default(),
    );
    assert!(gcp.get("aws").is_none());
    assert!(
        gcp.get("metadata").is_none(),
        "aws attributes are consumed even without the block"
    );
}

#[test]
fn a_nan_attribute_refuses_the_span_as_the_exporter_does() {
    let sp = span(
        SpanKind::Server,
        false,
        vec![kv("ratio", V::DoubleValue(f64::NAN))],
    );
    let err = span_to_documents(&sp, None, &Options::default(), NOW).unwrap_err();
    assert!(err.contains("NaN"), "{err}");
    let mut nested = span(SpanKind::Server, false, vec![]);
    nested
        .links
        .push(opentelemetry_proto::tonic::trace::v1::span::Link {
            trace_id: nested.trace_id.clone(),
            span_id: vec![1; 8],
            attributes: vec![kv("w", V::DoubleValue(f64::INFINITY))],
            ..Default::default()
        });
    assert!(span_to_documents(&nested, None, &Options::default(), NOW).is_err());
}

#[test]
fn the_writer_escapes_and_prints_numbers_as_serde_does() {
    use opentelemetry_proto::tonic::common::v1::KeyValueList;
    let awkward = "q\"b\\s/ctl\u{1}\u{8}\t\n\u{c}\r\u{1f}\u{7f} é ✓ 🚀 <&> \u{2028}";
    let list = V::KvlistValue(KeyValueList {
        values: vec![s("z", awkward), i("a", -7), s("a", "last wins")],
    });
    let array = V::ArrayValue(ArrayValue {
        values: vec![
            AnyValue {
                value: Some(V::DoubleValue(1e21)),
            },
            AnyValue {
                value: Some(V::DoubleValue(-0.000001)),
            },
            AnyValue { value: None },
            AnyValue {
                value: Some(V::BytesValue(vec![0, 255, 3])),
            },
        ],
    });
    let mut sp = span(
        SpanKind::Server,
        false,
        vec![
            s(awkward, awkward),
            kv("list", list),
            kv("array", array),
            kv("d", V::DoubleValue(0.1 + 0.2)),
            i("big", i64::MIN),
            kv("yes", V::BoolValue(true)),
            s(
                "aws.xray.metadata.custom",
                r#"{"k":[1,2.5,"x\u0001"],"n":null}"#,
            ),
            s("http.request.method", "GET"),
            s("url.full", "https://h/p?q=\"x\""),
        ],
    );
    sp.name = awkward.into();
    sp.start_time_unix_nano = 1_700_000_000_123_456_789;
    let opts = Options {
        indexed_attributes: vec!["d".into(), "big".into(), awkward.into()],
        ..Options::default()
    };
    let res = ResourceInfo::new(None, &opts);
    let mut out = Vec::new();
    convert_span(&sp, &res, &opts, NOW, &mut out).unwrap();
    for d in &out {
        assert_eq!(Ok(&d.json), d.reference_json().as_ref());
    }
    assert!(
        out[0].json.contains(r#"\u0001\b\t\n\f\r\u001f"#),
        "{}",
        out[0].json
    );
}

#[test]
fn sorted_maps_keep_the_last_value_of_a_key() {
    let m = doc::Sorted::new(vec![("b", 1), ("a", 2), ("b", 3), ("c", 4), ("a", 5)]);
    assert_eq!(
        m.iter().map(|(k, v)| (*k, *v)).collect::<Vec<_>>(),
        vec![("a", 5), ("b", 3), ("c", 4)]
    );
}
