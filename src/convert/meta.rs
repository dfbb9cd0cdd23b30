//! Annotations and metadata (§14): indexed attributes become annotations, the rest metadata,
//! `aws.xray.metadata.<namespace>` strings are routed into their namespace, and segments carry
//! their resource as `otel.resource.*`.

use super::attrs::Attrs;
use super::doc::{Document, Meta, Primitive, Sorted, is_empty_value};
use super::{Options, ResourceEntry};
use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
use std::borrow::Cow;

/// Each character outside `A-Z a-z 0-9` becomes `_`; `.` is kept unless `dots` is false (the
/// exporter's `exporter.xray.allowDot` gate, on by default).
pub fn annotation_key(key: &str, dots: bool) -> String {
    key.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || (dots && c == '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

const METADATA_PREFIX: &str = "aws.xray.metadata.";

/// Fills `doc.annotations` and `doc.metadata` from the attributes left by the other rules;
/// `resource` is given for segments only.
pub fn fill<'a>(
    doc: &mut Document<'a>,
    a: &mut Attrs<'a>,
    resource: Option<&'a [ResourceEntry<'a>]>,
    opts: &'a Options,
) {
    let mut indexed: Vec<&str> = if opts.index_all_attributes {
        Vec::new()
    } else {
        opts.indexed_attributes.iter().map(String::as_str).collect()
    };
    if let Some(list) = a.take("aws.xray.annotations")
        && let Some(V::ArrayValue(arr)) = &list.value
    {
        indexed.extend(arr.values.iter().filter_map(|v| match &v.value {
            Some(V::StringValue(s)) => Some(s.as_str()),
            _ => None,
        }));
    }
    let index_all = opts.index_all_attributes;
    let mut annotations = Vec::new();
    let mut namespaces = Vec::new();
    let resource = resource.unwrap_or(&[]);
    let mut default_ns = Vec::with_capacity(resource.len() + a.len());
    for e in resource {
        let primitive = Primitive::of(e.value);
        match primitive {
            Some(p) if index_all || indexed.contains(&e.key.as_str()) => {
                annotations.push((e.annotation_key.clone(), p));
            }
            _ if !is_empty_value(Some(e.value)) => {
                default_ns.push((Cow::Borrowed(e.key.as_str()), Meta::Attr(e.value)));
            }
            _ => {}
        }
    }
    for kv in a.iter() {
        let Some(v) = kv.value.as_ref() else { continue };
        if index_all || indexed.contains(&kv.key.as_str()) {
            // Non-primitive values of indexed keys are dropped, not kept as metadata.
            if let Some(p) = Primitive::of(v) {
                annotations.push((
                    annotation_key(&kv.key, !opts.annotation_dots_as_underscores),
                    p,
                ));
            }
            continue;
        }
        if let (Some(ns), Some(V::StringValue(s))) =
            (kv.key.strip_prefix(METADATA_PREFIX), &v.value)
        {
            match serde_json::from_str::<serde_json::Value>(s) {
                Ok(serde_json::Value::Object(o)) if ns.eq_ignore_ascii_case("default") => {
                    for (k, v) in o {
                        default_ns.push((Cow::Owned(k), Meta::Json(v)));
                    }
                }
                Ok(serde_json::Value::Object(o)) => {
                    let ns_map = o
                        .into_iter()
                        .map(|(k, v)| (Cow::Owned(k), Meta::Json(v)))
                        .collect();
                    namespaces.push((Cow::Borrowed(ns), Sorted::new(ns_map)));
                }
                _ => {
                    default_ns.push((Cow::Borrowed(kv.key.as_str()), Meta::Str(s)));
                }
            }
            continue;
        }
        if !is_empty_value(Some(v)) {
            default_ns.push((Cow::Borrowed(kv.key.as_str()), Meta::Attr(v)));
        }
    }
    if !default_ns.is_empty() {
        namespaces.push((Cow::Borrowed("default"), Sorted::new(default_ns)));
    }
    doc.annotations = Sorted::new(annotations);
    doc.metadata = Sorted::new(namespaces);
}
