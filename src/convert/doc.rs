//! The document the exporter writes, field for field in its order (§18). Typed, so a span is
//! serialised once, straight from the OTLP data it borrows, without building a JSON tree.
//! Optional fields are omitted when absent; the few the exporter writes as `null` are
//! `Option`s without a skip.

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValueList, any_value::Value as V};
use serde::Serialize;
use serde::ser::{Error as _, SerializeMap, SerializeSeq, Serializer};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// Metadata: namespace → key → value, both levels sorted as Go prints maps.
pub type Metadata<'a> = Sorted<Cow<'a, str>, Sorted<Cow<'a, str>, Meta<'a>>>;

/// A map as Go prints one: keys sorted, the last value given for a key winning. Built from
/// its entries in one go, because a document's maps are filled once and a sort of a dozen
/// entries costs far less than a tree of them.
pub struct Sorted<K, V>(Vec<(K, V)>);

impl<K, V> Default for Sorted<K, V> {
    fn default() -> Self {
        Sorted(Vec::new())
    }
}

impl<K: Ord, V> Sorted<K, V> {
    pub fn new(mut entries: Vec<(K, V)>) -> Sorted<K, V> {
        // Reversed, the stable sort puts the last entry for a key first, which dedup keeps.
        entries.reverse();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        entries.dedup_by(|later, first| later.0 == first.0);
        Sorted(entries)
    }
}

impl<K, V> Sorted<K, V> {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.0.iter_mut().map(|(_, v)| v)
    }

    pub fn retain(&mut self, mut keep: impl FnMut(&K, &V) -> bool) {
        self.0.retain(|(k, v)| keep(k, v));
    }
}

impl<'s, K, V> IntoIterator for &'s Sorted<K, V> {
    type Item = (&'s K, &'s V);
    type IntoIter = std::iter::Map<std::slice::Iter<'s, (K, V)>, fn(&'s (K, V)) -> (&'s K, &'s V)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl<K: Serialize, V: Serialize> Serialize for Sorted<K, V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// A span or exception ID as documents carry it: 16 hex digits.
pub type SpanIdText = crate::model::ids::IdText<16>;
/// A trace ID in the X-Ray form.
pub type TraceIdText = crate::model::ids::IdText<35>;

fn id_or_empty<S: serde::Serializer>(id: &Option<SpanIdText>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(id.as_deref().unwrap_or(""))
}

#[derive(Serialize, Default)]
pub struct Document<'a> {
    pub name: Option<Cow<'a, str>>,
    pub id: SpanIdText,
    pub start_time: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<Service<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<Link<'a>>,
    pub trace_id: TraceIdText,
    pub end_time: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<Http<'a>>,
    pub fault: bool,
    pub error: bool,
    pub throttle: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<Cause<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws: Option<Aws<'a>>,
    #[serde(skip_serializing_if = "Sorted::is_empty")]
    pub annotations: Sorted<String, Primitive<'a>>,
    #[serde(skip_serializing_if = "Sorted::is_empty")]
    pub metadata: Metadata<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<SpanIdText>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sql: Option<Sql<'a>>,
}

#[derive(Serialize, Clone)]
pub struct Service<'a> {
    pub version: &'a str,
}

#[derive(Serialize)]
pub struct Link<'a> {
    pub trace_id: TraceIdText,
    /// Written as `""` when the link names no span, as the exporter does.
    #[serde(serialize_with = "id_or_empty")]
    pub id: Option<SpanIdText>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributes: Option<BTreeMap<&'a str, Meta<'a>>>,
}

#[derive(Serialize, Default)]
pub struct Http<'a> {
    pub request: Request<'a>,
    pub response: Response,
}

#[derive(Serialize, Default)]
pub struct Request<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x_forwarded_for: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<&'a str>,
}

#[derive(Serialize, Default)]
pub struct Response {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<i64>,
    pub content_length: i64,
}

#[derive(Serialize)]
pub struct Cause<'a> {
    pub exceptions: Vec<Exception<'a>>,
}

#[derive(Serialize)]
pub struct Exception<'a> {
    pub id: SpanIdText,
    pub message: Cow<'a, str>,
    #[serde(rename = "type")]
    pub kind: Cow<'a, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<SpanIdText>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stack: Vec<Frame<'a>>,
}

#[derive(Serialize, Debug, PartialEq)]
pub struct Frame<'a> {
    pub path: &'a str,
    pub line: i64,
    pub label: &'a str,
}

#[derive(Serialize, Default, Clone)]
pub struct Aws<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub elastic_beanstalk: Option<Beanstalk<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cloudwatch_logs: Vec<LogGroup<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ecs: Option<Ecs<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ec2: Option<Ec2<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eks: Option<Eks<'a>>,
    pub xray: Xray<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub table_names: Vec<&'a str>,
}

#[derive(Serialize, Clone)]
pub struct Beanstalk<'a> {
    pub environment_name: Option<&'a str>,
    pub version_label: Option<&'a str>,
    pub deployment_id: i64,
}

#[derive(Serialize, Clone)]
pub struct LogGroup<'a> {
    pub log_group: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arn: Option<&'a str>,
}

#[derive(Serialize, Clone, Default)]
pub struct Ecs<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_arn: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_family: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_arn: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_arn: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub availability_zone: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub launch_type: Option<&'a str>,
}

#[derive(Serialize, Clone)]
pub struct Ec2<'a> {
    pub instance_id: Option<&'a str>,
    pub availability_zone: Option<&'a str>,
    pub instance_size: Option<&'a str>,
    pub ami_id: Option<&'a str>,
}

#[derive(Serialize, Clone)]
pub struct Eks<'a> {
    pub cluster_name: Option<&'a str>,
    pub pod: Option<&'a str>,
    pub container_id: Option<&'a str>,
}

#[derive(Serialize, Clone, Default)]
pub struct Xray<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sdk: Option<SdkName<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sdk_version: Option<&'a str>,
    pub auto_instrumentation: bool,
}

/// `<telemetry.sdk.name> for <telemetry.sdk.language>`, written without an allocation.
#[derive(Clone, Copy)]
pub struct SdkName<'a>(pub &'a str, pub &'a str);

impl Serialize for SdkName<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{} for {}", self.0, self.1))
    }
}

#[derive(Serialize)]
pub struct Sql<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_string: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sanitized_query: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<&'a str>,
}

/// An annotation value: the four types X-Ray indexes.
#[derive(Clone, Copy)]
pub enum Primitive<'a> {
    Str(&'a str),
    Int(i64),
    Double(f64),
    Bool(bool),
}

impl<'a> Primitive<'a> {
    pub fn of(v: &'a AnyValue) -> Option<Primitive<'a>> {
        Some(match v.value.as_ref()? {
            V::StringValue(s) => Primitive::Str(s),
            V::IntValue(i) => Primitive::Int(*i),
            V::DoubleValue(d) => Primitive::Double(*d),
            V::BoolValue(b) => Primitive::Bool(*b),
            _ => return None,
        })
    }
}

fn finite<S: Serializer>(d: f64, s: S) -> Result<S::Ok, S::Error> {
    // Go's encoder refuses NaN and infinities, which drops the span (§1).
    if d.is_finite() {
        s.serialize_f64(d)
    } else {
        Err(S::Error::custom(format!(
            "an attribute holds {d}, which JSON cannot carry"
        )))
    }
}

impl Serialize for Primitive<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            Primitive::Str(v) => s.serialize_str(v),
            Primitive::Int(v) => s.serialize_i64(v),
            Primitive::Double(v) => finite(v, s),
            Primitive::Bool(v) => s.serialize_bool(v),
        }
    }
}

/// A metadata value: an attribute as it came (maps as sorted objects, bytes as base64, as
/// Go's `AsRaw` and encoder print them), or JSON taken from an `aws.xray.metadata.*` string.
pub enum Meta<'a> {
    Attr(&'a AnyValue),
    Json(serde_json::Value),
    Str(&'a str),
}

impl Serialize for Meta<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Meta::Attr(v) => RawValue(v).serialize(s),
            Meta::Json(v) => v.serialize(s),
            Meta::Str(v) => s.serialize_str(v),
        }
    }
}

struct RawValue<'a>(&'a AnyValue);

impl Serialize for RawValue<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use base64::Engine;
        match self.0.value.as_ref() {
            None => s.serialize_none(),
            Some(V::StringValue(v)) => s.serialize_str(v),
            Some(V::BoolValue(v)) => s.serialize_bool(*v),
            Some(V::IntValue(v)) => s.serialize_i64(*v),
            Some(V::DoubleValue(v)) => finite(*v, s),
            Some(V::BytesValue(v)) => {
                s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
            }
            Some(V::ArrayValue(a)) => {
                let mut seq = s.serialize_seq(Some(a.values.len()))?;
                for v in &a.values {
                    seq.serialize_element(&RawValue(v))?;
                }
                seq.end()
            }
            Some(V::KvlistValue(l)) => {
                let sorted = sorted_kvlist(l);
                let mut map = s.serialize_map(Some(sorted.len()))?;
                for (k, v) in sorted {
                    match v {
                        Some(v) => map.serialize_entry(k, &RawValue(v))?,
                        None => map.serialize_entry(k, &())?,
                    }
                }
                map.end()
            }
            // An index into a profile's string table: meaningless without the table.
            Some(_) => s.serialize_none(),
        }
    }
}

/// A map attribute's entries as Go prints them: sorted by key, the last of equal keys winning.
pub fn sorted_kvlist(l: &KeyValueList) -> BTreeMap<&str, Option<&AnyValue>> {
    l.values
        .iter()
        .map(|kv| (kv.key.as_str(), kv.value.as_ref()))
        .collect()
}

/// Whether an attribute value is OTel's Empty, which the exporter leaves out of metadata.
pub fn is_empty_value(v: Option<&AnyValue>) -> bool {
    v.is_none_or(|v| v.value.is_none())
}
