//! OTel span → X-Ray segment document, as the ADOT collector's `awsxray` exporter writes it
//! (`spec/otel-to-xray.md`). Pure: OTLP data in, a JSON document out.
//!
//! Covered so far: segment vs subsegment (§2.1), IDs (§3), timestamps (§4), name (§5),
//! namespace (§6), origin (§7), fault/error/throttle (§8), `cause` from exception events
//! without stack parsing (§9), the http block with old and new conventions (§10), the aws
//! block but for `cloudwatch_logs` (§11), the service block (§12), sql (§13), user,
//! annotations and metadata with the exporter's options (§14), links (§15). Not yet: the
//! local-root split (§2.2–2.3), stack-trace parsing (§9.1).

mod attrs;
mod aws;
mod http;

use attrs::{Attrs, value_json};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use serde_json::{Map, Value, json};

/// The exporter's options that change documents.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Attributes (span or `otel.resource.*`) that become annotations.
    pub indexed_attributes: Vec<String>,
    /// Every primitive attribute becomes an annotation.
    pub index_all_attributes: bool,
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

/// `1-` + 8 hex digits + `-` + 24 hex digits of the 16-byte OTel trace ID.
pub fn xray_trace_id(id: &[u8]) -> Result<String, String> {
    if id.len() != 16 || id.iter().all(|b| *b == 0) {
        return Err(format!(
            "trace ID must be 16 bytes, not all zero; got {} bytes",
            id.len()
        ));
    }
    Ok(format!("1-{}-{}", hex(&id[..4]), hex(&id[4..])))
}

fn span_id(id: &[u8], what: &str) -> Result<String, String> {
    if id.len() != 8 || id.iter().all(|b| *b == 0) {
        return Err(format!(
            "{what} must be 8 bytes, not all zero; got {} bytes",
            id.len()
        ));
    }
    Ok(hex(id))
}

fn random_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0x5eed);
    let mut z = SEQ.fetch_add(0x9e3779b97f4a7c15, Ordering::Relaxed);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
    format!("{:016x}", z ^ (z >> 31))
}

/// Keeps space, ASCII digits, letters and `_ . : / % & # = + - @`; at most 200 bytes.
fn sanitise_name(name: &str) -> String {
    let mut s: String = name
        .chars()
        .filter(|c| {
            *c == ' ' || c.is_ascii_digit() || c.is_alphabetic() || "_.:/%&#=+-@".contains(*c)
        })
        .collect();
    if s.len() > 200 {
        let mut cut = 200;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    if s.is_empty() { "span".into() } else { s }
}

fn annotation_key(key: &str) -> String {
    key.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn origin(resource: &Attrs<'_>) -> Option<&'static str> {
    if resource.is_empty() || resource.str("cloud.provider").is_some_and(|p| p != "aws") {
        return None;
    }
    Some(match resource.str("cloud.platform")? {
        "aws_app_runner" => "AWS::AppRunner::Service",
        "aws_eks" => "AWS::EKS::Container",
        "aws_elastic_beanstalk" => "AWS::ElasticBeanstalk::Environment",
        "aws_ecs" => match resource.str("aws.ecs.launchtype") {
            Some("ec2") => "AWS::ECS::EC2",
            Some("fargate") => "AWS::ECS::Fargate",
            _ => "AWS::ECS::Container",
        },
        "aws_ec2" => "AWS::EC2::Instance",
        _ => return None,
    })
}

/// The document's name (§5) and whether it came from `aws.service`.
fn name(span: &Span, kind: SpanKind, a: &Attrs<'_>, resource: &Attrs<'_>) -> (String, bool) {
    let client_like = matches!(
        kind,
        SpanKind::Client | SpanKind::Producer | SpanKind::Consumer
    );
    if kind == SpanKind::Server {
        if let Some(n) = a.str("aws.local.service") {
            return (n.into(), false);
        }
    }
    if client_like {
        if let Some(n) = a.str("aws.remote.service") {
            let n = if a.str("rpc.system") == Some("aws-api") {
                n.strip_prefix("AWS.SDK.").unwrap_or(n)
            } else {
                n.strip_prefix("AWS::").unwrap_or(n)
            };
            return (n.into(), false);
        }
    }
    if let Some(n) = a.str("peer.service") {
        return (n.into(), false);
    }
    if let Some(n) = a.str("aws.service") {
        return (n.into(), true);
    }
    if let Some(db) = a.str("db.name") {
        let host = a.str("db.connection_string").and_then(|c| {
            let c = c.strip_prefix("jdbc:").unwrap_or(c);
            let rest = c.split_once("//")?.1;
            let host = rest
                .split(['/', '?', '#'])
                .next()?
                .rsplit('@')
                .next()?
                .split(':')
                .next()?;
            (!host.is_empty()).then(|| host.to_owned())
        });
        return (
            host.map_or_else(|| db.to_owned(), |h| format!("{db}@{h}")),
            false,
        );
    }
    if kind == SpanKind::Server {
        if let Some(n) = resource.str("service.name") {
            return (n.into(), false);
        }
    }
    for k in ["rpc.service", "http.host", "net.peer.name"] {
        if let Some(n) = a.str(k) {
            return (n.into(), false);
        }
    }
    (sanitise_name(&span.name), false)
}

fn cause(span: &Span, is_error: bool) -> Option<Value> {
    let mut exceptions = Vec::new();
    for e in span.events.iter().filter(|e| e.name == "exception") {
        let ea = Attrs::new(&e.attributes);
        let mut x = Map::new();
        x.insert("id".into(), random_id().into());
        if let Some(t) = ea.str("exception.type") {
            x.insert("type".into(), t.into());
        }
        if let Some(m) = ea.str("exception.message") {
            x.insert("message".into(), m.into());
        }
        exceptions.push(Value::Object(x));
    }
    if exceptions.is_empty() && is_error {
        if let Some(m) = span
            .status
            .as_ref()
            .map(|s| s.message.as_str())
            .filter(|m| !m.is_empty())
        {
            exceptions.push(json!({"id": random_id(), "message": m}));
        }
    }
    (!exceptions.is_empty()).then(|| json!({"exceptions": exceptions}))
}

/// Converts one span with its resource into one segment document (a JSON text).
pub fn span_to_document(
    span: &Span,
    resource: Option<&Resource>,
    opts: &Options,
) -> Result<String, String> {
    let trace_id = xray_trace_id(&span.trace_id)?;
    let id = span_id(&span.span_id, "span ID")?;
    let parent = if span.parent_span_id.is_empty() {
        None
    } else {
        Some(span_id(&span.parent_span_id, "parent span ID")?)
    };
    if span.end_time_unix_nano != 0 && span.end_time_unix_nano < span.start_time_unix_nano {
        return Err("span ends before it starts".into());
    }
    let kind = SpanKind::try_from(span.kind).unwrap_or(SpanKind::Unspecified);
    let empty: &[KeyValue] = &[];
    let res_attrs = Attrs::new(resource.map_or(empty, |r| &r.attributes));
    let mut a = Attrs::new(&span.attributes);
    let is_subsegment = kind != SpanKind::Server && parent.is_some();

    let (name, from_aws_service) = name(span, kind, &a, &res_attrs);
    let mut doc = Map::new();
    doc.insert("name".into(), name.into());
    doc.insert("id".into(), id.into());
    doc.insert(
        "start_time".into(),
        (span.start_time_unix_nano as f64 / 1e9).into(),
    );
    doc.insert("trace_id".into(), trace_id.into());
    doc.insert(
        "end_time".into(),
        (span.end_time_unix_nano as f64 / 1e9).into(),
    );
    if let Some(p) = parent {
        doc.insert("parent_id".into(), p.into());
    }
    if is_subsegment {
        doc.insert("type".into(), "subsegment".into());
    }
    let namespace = if a.str("rpc.system") == Some("aws-api") || from_aws_service {
        Some("aws")
    } else if kind == SpanKind::Client
        || (is_subsegment
            && matches!(kind, SpanKind::Producer | SpanKind::Consumer)
            && a.str("aws.remote.service").is_some())
    {
        Some("remote")
    } else {
        None
    };
    if let Some(ns) = namespace {
        doc.insert("namespace".into(), ns.into());
    }
    if let Some(o) = origin(&res_attrs) {
        doc.insert("origin".into(), o.into());
    }

    // fault / error / throttle (§8)
    let code = a
        .int("http.status_code")
        .or_else(|| a.int("http.response.status_code"));
    let status_error = span
        .status
        .as_ref()
        .is_some_and(|s| s.code == StatusCode::Error as i32);
    let (error, fault, throttle) = match code {
        Some(c @ 400..=499) => (true, false, c == 429),
        Some(500..=599) => (false, true, false),
        _ => (false, status_error, false),
    };
    doc.insert("error".into(), error.into());
    doc.insert("throttle".into(), throttle.into());
    doc.insert("fault".into(), fault.into());
    if let Some(c) = cause(span, error || fault) {
        doc.insert("cause".into(), c);
    }
    if let Some(h) = http::block(span, kind, &mut a) {
        doc.insert("http".into(), h);
    }
    if let Some(aws) = aws::block(&mut a, &res_attrs) {
        doc.insert("aws".into(), aws);
    }
    if let Some(service) = aws::service(&res_attrs) {
        doc.insert("service".into(), service);
    }
    if let Some(system) = a.str("db.system").map(str::to_owned) {
        let mut sql = Map::new();
        sql.insert("database_type".into(), system.into());
        for (from, to) in [
            ("db.connection_string", "url"),
            ("db.statement", "sanitized_query"),
            ("db.user", "user"),
        ] {
            if let Some(v) = a.take_str(from) {
                sql.insert(to.into(), v.into());
            }
        }
        a.remove("db.system");
        doc.insert("sql".into(), Value::Object(sql));
    }
    if let Some(user) = a.take_str("enduser.id") {
        doc.insert("user".into(), user.into());
    }

    // annotations and metadata (§14)
    let mut indexed: Vec<String> = if opts.index_all_attributes {
        Vec::new()
    } else {
        opts.indexed_attributes.clone()
    };
    if let Some(list) = a.take("aws.xray.annotations") {
        if let Some(any_value::Value::ArrayValue(arr)) = &list.value {
            indexed.extend(arr.values.iter().filter_map(|v| match &v.value {
                Some(any_value::Value::StringValue(s)) => Some(s.clone()),
                _ => None,
            }));
        }
    }
    let mut annotations = Map::new();
    let mut metadata: Map<String, Value> = Map::new();
    let mut default_ns = Map::new();
    let primitive = |v: &AnyValue| {
        matches!(
            v.value,
            Some(
                any_value::Value::StringValue(_)
                    | any_value::Value::IntValue(_)
                    | any_value::Value::DoubleValue(_)
                    | any_value::Value::BoolValue(_)
            )
        )
    };
    if !is_subsegment {
        for kv in res_attrs.iter() {
            let key = format!("otel.resource.{}", kv.key);
            let Some(v) = kv.value.as_ref() else { continue };
            if primitive(v) && (opts.index_all_attributes || indexed.contains(&key)) {
                annotations.insert(annotation_key(&key), value_json(v));
            } else if let Some(j) = attrs::json_of(v) {
                default_ns.insert(key, j);
            }
        }
    }
    for kv in a.iter() {
        let Some(v) = kv.value.as_ref() else { continue };
        if opts.index_all_attributes || indexed.contains(&kv.key) {
            if primitive(v) {
                annotations.insert(annotation_key(&kv.key), value_json(v));
            }
            continue;
        }
        if let (Some(suffix), Some(any_value::Value::StringValue(s))) =
            (kv.key.strip_prefix("aws.xray.metadata."), &v.value)
        {
            match serde_json::from_str::<Value>(s) {
                Ok(Value::Object(o)) if suffix.eq_ignore_ascii_case("default") => {
                    default_ns.extend(o)
                }
                Ok(o @ Value::Object(_)) => {
                    metadata.insert(suffix.to_owned(), o);
                }
                _ => {
                    default_ns.insert(kv.key.clone(), s.clone().into());
                }
            }
            continue;
        }
        if let Some(j) = attrs::json_of(v) {
            default_ns.insert(kv.key.clone(), j);
        }
    }
    if !default_ns.is_empty() {
        metadata.insert("default".into(), Value::Object(default_ns));
    }
    if !annotations.is_empty() {
        doc.insert("annotations".into(), Value::Object(annotations));
    }
    if !metadata.is_empty() {
        doc.insert("metadata".into(), Value::Object(metadata));
    }
    if !span.links.is_empty() {
        let links: Vec<Value> = span
            .links
            .iter()
            .filter_map(|l| Some(json!({"trace_id": xray_trace_id(&l.trace_id).ok()?, "id": span_id(&l.span_id, "link span ID").ok()?})))
            .collect();
        if !links.is_empty() {
            doc.insert("links".into(), links.into());
        }
    }
    Ok(Value::Object(doc).to_string())
}

#[cfg(test)]
mod tests;
