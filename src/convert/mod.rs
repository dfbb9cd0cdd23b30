//! OTel span → X-Ray segment documents, as the ADOT collector's `awsxray` exporter writes them
//! (`spec/otel-to-xray.md`, newest upstream with default feature gates). Pure: OTLP data in,
//! JSON documents out.
//!
//! A resource is read once ([`ResourceInfo`]); each of its spans then becomes one document, or
//! two for a local-root dependency span (§2.3). The rule families live in their own files:
//! `naming` (§5–7), `http` (§10), `aws` (§11), `cause` and `stack` (§8–9), `meta` (§14),
//! `doc` (the document and its JSON, §18), `entity` (the view ingest validates), `transit`
//! (spans inside PutTraceSegments); segment vs subsegment, IDs, sql and links are here.

mod attrs;
mod aws;
mod cause;
mod doc;
mod entity;
mod http;
mod meta;
mod naming;
mod stack;
pub mod transit;
mod write;

use crate::model::ids::{SegmentId, TraceId, hex};
use attrs::Attrs;
use doc::{Document, Link, Meta, Service, SpanIdText, Sql, TraceIdText};
use naming::{client_like, name, origin, remote_service_name};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use std::borrow::Cow;

/// The exporter's options that change documents.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Attributes (span or `otel.resource.*`) that become annotations.
    pub indexed_attributes: Vec<String>,
    /// Every primitive attribute becomes an annotation.
    pub index_all_attributes: bool,
    /// Log groups for `aws.cloudwatch_logs` when the resource names none.
    pub aws_log_groups: Vec<String>,
    /// Write `.` in annotation keys as `_`, as exporters before the `allowDot` gate did.
    pub annotation_dots_as_underscores: bool,
    /// Refuse trace IDs whose time part is over 28 days old or over 5 minutes ahead, as the
    /// exporter did before it skipped that check by default.
    pub strict_trace_ids: bool,
}

/// What a resource contributes to each of its spans' documents, computed once.
pub struct ResourceInfo<'a> {
    attrs: Attrs<'a>,
    origin: Option<&'static str>,
    aws: Option<doc::Aws<'a>>,
    service: Option<Service<'a>>,
    language: &'a str,
    entries: Vec<ResourceEntry<'a>>,
}

/// A resource attribute as segments carry it: `otel.resource.<key>`.
pub struct ResourceEntry<'a> {
    key: String,
    annotation_key: String,
    value: &'a AnyValue,
}

impl<'a> ResourceInfo<'a> {
    pub fn new(resource: Option<&'a Resource>, opts: &'a Options) -> ResourceInfo<'a> {
        let kvs: &'a [KeyValue] = resource.map_or(&[], |r| &r.attributes);
        let attrs = Attrs::new(kvs);
        let sdk = match (
            attrs.text("telemetry.sdk.name"),
            attrs.text("telemetry.sdk.language"),
        ) {
            (Some(name), Some(lang)) => Some(doc::SdkName(name, lang)),
            _ => None,
        };
        let entries = kvs
            .iter()
            .filter_map(|kv| {
                let key = format!("otel.resource.{}", kv.key);
                Some(ResourceEntry {
                    annotation_key: meta::annotation_key(
                        &key,
                        !opts.annotation_dots_as_underscores,
                    ),
                    key,
                    value: kv.value.as_ref()?,
                })
            })
            .collect();
        ResourceInfo {
            origin: origin(&attrs),
            aws: aws::from_resource(&attrs, sdk, &opts.aws_log_groups),
            service: attrs
                .text("service.version")
                .or_else(|| attrs.text("container.image.tag"))
                .map(|version| Service { version }),
            language: attrs.str("telemetry.sdk.language").unwrap_or(""),
            entries,
            attrs,
        }
    }
}

const MAX_AGE_SECS: i64 = 28 * 24 * 3600;
const MAX_SKEW_SECS: i64 = 300;

/// `1-` + 8 hex digits + `-` + 24 hex digits of the 16-byte OTel trace ID; in strict mode the
/// first four bytes must be a time within the exporter's window around `now_secs`.
pub fn xray_trace_id(id: &[u8], strict: bool, now_secs: i64) -> Result<TraceIdText, String> {
    if id.len() != 16 {
        return Err(format!("trace ID must be 16 bytes; got {} bytes", id.len()));
    }
    if id.iter().all(|b| *b == 0) {
        return Err("trace ID must not be all zero".into());
    }
    if strict {
        let epoch = i64::from(u32::from_be_bytes([id[0], id[1], id[2], id[3]]));
        let age = now_secs - epoch;
        if !(-MAX_SKEW_SECS..=MAX_AGE_SECS).contains(&age) {
            return Err(format!(
                "invalid xray traceid: {}: its first 4 bytes ({epoch}, as epoch seconds) are not \
                 within 28 days before and 5 minutes after now (strict trace IDs)",
                hex(id)
            ));
        }
    }
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(id);
    Ok(TraceId(bytes).text())
}

/// A span ID in hex; empty or all-zero IDs are none.
fn span_id(id: &[u8], what: &str) -> Result<Option<SpanIdText>, String> {
    if id.is_empty() || (id.len() == 8 && id.iter().all(|b| *b == 0)) {
        return Ok(None);
    }
    if id.len() != 8 {
        return Err(format!("{what} must be 8 bytes; got {} bytes", id.len()));
    }
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(id);
    Ok(Some(SegmentId(u64::from_be_bytes(bytes)).text()))
}

const SQL_SYSTEMS: &[&str] = &[
    "db2",
    "derby",
    "hive",
    "mariadb",
    "mssql",
    "mysql",
    "oracle",
    "postgresql",
    "sqlite",
    "teradata",
    "other_sql",
];

/// The sql block (§13), for SQL databases only; consumes the `db.*` attributes it reads.
fn sql<'a>(span: &'a Span, a: &mut Attrs<'a>) -> Option<Sql<'a>> {
    let system = a.str("db.system").filter(|s| SQL_SYSTEMS.contains(s))?;
    let connection = a.text("db.connection_string").unwrap_or("localhost");
    let block = Sql {
        connection_string: Some(format!("{connection}/{}", a.str("db.name").unwrap_or(""))),
        url: Some(span.name.as_str()).filter(|n| !n.is_empty()),
        sanitized_query: a.text("db.statement"),
        database_type: Some(system),
        user: a.text("db.user"),
    };
    for k in [
        "db.connection_string",
        "db.system",
        "db.name",
        "db.statement",
        "db.user",
    ] {
        a.remove(k);
    }
    Some(block)
}

static EMPTY_VALUE: AnyValue = AnyValue { value: None };

fn links<'a>(span: &'a Span, strict: bool, now_secs: i64) -> Result<Vec<Link<'a>>, String> {
    span.links
        .iter()
        .map(|l| {
            let attributes = (!l.attributes.is_empty()).then(|| {
                l.attributes
                    .iter()
                    .map(|kv| {
                        (
                            kv.key.as_str(),
                            Meta::Attr(kv.value.as_ref().unwrap_or(&EMPTY_VALUE)),
                        )
                    })
                    .collect()
            });
            Ok(Link {
                trace_id: xray_trace_id(&l.trace_id, strict, now_secs)
                    .map_err(|e| format!("link: {e}"))?,
                id: span_id(&l.span_id, "link span ID")?,
                attributes,
            })
        })
        .collect()
}

/// How a local-root span is rewritten before translation (§2.3).
#[derive(Clone, Copy)]
enum Variant<'s> {
    Plain,
    /// The dependency subsegment: parented to the new service segment.
    Dependency {
        parent: &'s SpanIdText,
    },
    /// The service segment: the new ID, remote attributes deleted.
    Service {
        id: &'s SpanIdText,
    },
}

/// Attributes deleted from the service segment's copy of a local-root span.
const REMOTE_ATTRIBUTES: &[&str] = &[
    "aws.remote.service",
    "aws.remote.operation",
    "remoteTarget",
    "K8s.RemoteNamespace",
];

/// The base translation of one span (`MakeSegment`).
fn make<'a>(
    span: &'a Span,
    res: &'a ResourceInfo<'a>,
    opts: &'a Options,
    now_secs: i64,
    variant: Variant<'_>,
) -> Result<Document<'a>, String> {
    let trace_id = xray_trace_id(&span.trace_id, opts.strict_trace_ids, now_secs)?;
    let own_id = span_id(&span.span_id, "span ID")?.ok_or("span ID must not be all zero")?;
    let mut parent = span_id(&span.parent_span_id, "parent span ID")?;
    let (id, hidden) = match variant {
        Variant::Plain => (own_id, &[][..]),
        Variant::Dependency { parent: p } => {
            parent = Some(*p);
            (own_id, &[][..])
        }
        Variant::Service { id } => (*id, REMOTE_ATTRIBUTES),
    };
    if span.end_time_unix_nano != 0 && span.end_time_unix_nano < span.start_time_unix_nano {
        return Err("span ends before it starts".into());
    }
    let kind = SpanKind::try_from(span.kind).unwrap_or(SpanKind::Unspecified);
    let mut a = Attrs::without(&span.attributes, hidden);
    let is_subsegment = kind != SpanKind::Server && parent.is_some();
    let aws_sdk = a.str("rpc.system") == Some("aws-api");

    let (name, from_aws_service) = name(span, kind, &a, &res.attrs);
    let namespace = if aws_sdk || from_aws_service {
        Some("aws")
    } else if kind == SpanKind::Client {
        Some("remote")
    } else {
        None
    };
    let flags = cause::flags(span, &a);
    let http = http::block(span, kind, &mut a);
    let cause = cause::cause(span, kind, aws_sdk, res.language, &mut a);
    let mut aws = res.aws.clone();
    aws::add_span_part(aws.as_mut(), &mut a);
    let sql = sql(span, &mut a);
    // Indexed attributes come back even if a rule consumed them, so they can be annotations.
    for k in &opts.indexed_attributes {
        a.restore(k);
    }
    let user = a.take_text("enduser.id");
    let mut doc = Document {
        name: Some(name),
        id,
        start_time: span.start_time_unix_nano as f64 / 1e9,
        service: res.service.clone(),
        origin: res.origin,
        user,
        links: links(span, opts.strict_trace_ids, now_secs)?,
        trace_id,
        end_time: span.end_time_unix_nano as f64 / 1e9,
        http,
        fault: flags.fault,
        error: flags.error,
        throttle: flags.throttle,
        cause,
        aws,
        namespace,
        parent_id: parent,
        kind: is_subsegment.then_some("subsegment"),
        sql,
        ..Default::default()
    };
    let resource = (!is_subsegment).then_some(&res.entries[..]);
    meta::fill(&mut doc, &mut a, resource, opts);
    Ok(doc)
}

/// A converted document: its JSON text, and the typed document it was written from.
pub struct Converted<'a> {
    pub json: String,
    doc: Document<'a>,
}

impl Converted<'_> {
    /// The document as ingest validates it, without parsing `json` again.
    pub fn entity(&self) -> crate::model::segment::Entity<'_> {
        self.doc.entity()
    }

    /// The document as the serde derive writes it: the reference `json` must equal byte for
    /// byte (the golden tests check it).
    #[doc(hidden)]
    pub fn reference_json(&self) -> Result<String, String> {
        serde_json::to_string(&self.doc).map_err(|e| format!("the span cannot be written: {e}"))
    }
}

/// Converts one span into its documents, appended to `out`: one, or two for a local-root
/// dependency span. On error nothing is appended.
pub fn convert_span<'a>(
    span: &'a Span,
    res: &'a ResourceInfo<'a>,
    opts: &'a Options,
    now_secs: i64,
    out: &mut Vec<Converted<'a>>,
) -> Result<(), SpanRefused> {
    convert_into(span, res, opts, now_secs, out).map_err(SpanRefused)
}

/// Why a span cannot become a segment document (an ID X-Ray cannot take, a document that
/// cannot be written); the span is refused on its own, as the exporter drops it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct SpanRefused(pub String);

impl From<SpanRefused> for crate::error::ErrorKind {
    fn from(_: SpanRefused) -> Self {
        crate::error::ErrorKind::InvalidRequest
    }
}

fn convert_into<'a>(
    span: &'a Span,
    res: &'a ResourceInfo<'a>,
    opts: &'a Options,
    now_secs: i64,
    out: &mut Vec<Converted<'a>>,
) -> Result<(), String> {
    let kind = SpanKind::try_from(span.kind).unwrap_or(SpanKind::Unspecified);
    let a = Attrs::new(&span.attributes);
    let serialise = |doc: Document<'a>| {
        let json = write::to_json(&doc).map_err(|e| format!("the span cannot be written: {e}"))?;
        Ok::<_, String>(Converted { json, doc })
    };
    if a.str("aws.span.kind") != Some("LOCAL_ROOT") {
        let mut d = make(span, res, opts, now_secs, Variant::Plain)?;
        if client_like(kind)
            && d.kind.is_some()
            && d.namespace.is_none()
            && a.has("aws.remote.service")
        {
            d.namespace = Some("remote");
        }
        out.push(serialise(d)?);
        return Ok(());
    }
    if matches!(kind, SpanKind::Server | SpanKind::Internal) {
        let mut d = make(span, res, opts, now_secs, Variant::Plain)?;
        d.kind = None;
        d.namespace = None;
        out.push(serialise(d)?);
        return Ok(());
    }
    let service_id = loop {
        let r = crate::model::ids::random_u64();
        if r != 0 {
            break SegmentId(r).text();
        }
    };
    let mut dep = make(
        span,
        res,
        opts,
        now_secs,
        Variant::Dependency {
            parent: &service_id,
        },
    )?;
    dep.kind = Some("subsegment");
    dep.namespace.get_or_insert("remote");
    if kind == SpanKind::Consumer {
        dep.links.clear();
    }
    if let Some(remote) = a.str("aws.remote.service") {
        dep.name = Some(remote_service_name(remote, &a))
            .filter(|n| !n.is_empty())
            .map(Cow::Borrowed);
    }
    let mut svc = make(
        span,
        res,
        opts,
        now_secs,
        Variant::Service { id: &service_id },
    )?;
    if let Some(local) = a.str("aws.local.service") {
        svc.name = Some(local).filter(|n| !n.is_empty()).map(Cow::Borrowed);
    }
    svc.http = None;
    if let Some(aws) = svc.aws.as_mut() {
        aws.operation = None;
        aws.account_id = None;
        aws.region = None;
        aws.request_id = None;
        aws.queue_url = None;
        aws.table_name = None;
        aws.table_names.clear();
    }
    for ns in svc.metadata.values_mut() {
        ns.retain(|k, _| k.starts_with("otel.resource."));
    }
    svc.kind = None;
    svc.namespace = None;
    if kind != SpanKind::Consumer {
        svc.links.clear();
    }
    let (dep, svc) = (serialise(dep)?, serialise(svc)?);
    out.push(dep);
    out.push(svc);
    Ok(())
}

/// Converts one span with its resource; a convenience for single spans (tests, tools).
pub fn span_to_documents(
    span: &Span,
    resource: Option<&Resource>,
    opts: &Options,
    now_secs: i64,
) -> Result<Vec<String>, String> {
    let res = ResourceInfo::new(resource, opts);
    let mut out = Vec::new();
    convert_span(span, &res, opts, now_secs, &mut out).map_err(|e| e.0)?;
    Ok(out.into_iter().map(|c| c.json).collect())
}

#[cfg(test)]
mod tests;
