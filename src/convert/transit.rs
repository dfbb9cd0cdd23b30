//! Spans carried inside PutTraceSegments: the CloudWatch agent's `awsxray` exporter, with
//! `transit_spans_in_otlp_format`, sends `T1S` + base64 of an OTLP `ExportTraceServiceRequest`
//! (protobuf) as a "document", one per resource, with its own exporter options added to the
//! resource as `aws.xray.exporter.config.*` attributes. X-Ray converts those spans itself; so
//! does the gateway, with the options the exporter sent.

use super::{Options, ResourceInfo, convert_span};
use base64::Engine;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
use prost::Message;

pub const PREFIX: &str = "T1S";
const INDEX_ALL: &str = "aws.xray.exporter.config.index_all_attributes";
const INDEXED: &str = "aws.xray.exporter.config.indexed_attributes";

/// A span that could not be converted: its ID (hex) and why.
pub struct Refused {
    pub span_id: String,
    pub message: String,
}

/// The segment documents of a `T1S` document, and the spans refused; `Err` when the text is
/// not base64 of an OTLP request.
pub fn documents(
    doc: &str,
    base: &Options,
    now_secs: i64,
) -> Result<(Vec<String>, Vec<Refused>), String> {
    let b64 = doc.trim().strip_prefix(PREFIX).unwrap_or(doc).trim_end();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(b64))
        .map_err(|e| format!("The T1S document is not base64: {e}."))?;
    let mut req = ExportTraceServiceRequest::decode(&bytes[..])
        .map_err(|e| format!("The T1S document is not an OTLP ExportTraceServiceRequest: {e}."))?;
    let mut out = Vec::new();
    let mut refused = Vec::new();
    for rs in &mut req.resource_spans {
        let mut opts = base.clone();
        if let Some(res) = rs.resource.as_mut() {
            for kv in &res.attributes {
                match (
                    kv.key.as_str(),
                    kv.value.as_ref().and_then(|v| v.value.as_ref()),
                ) {
                    (INDEX_ALL, Some(V::BoolValue(b))) => opts.index_all_attributes = *b,
                    (INDEXED, Some(V::ArrayValue(a))) => {
                        opts.indexed_attributes = a
                            .values
                            .iter()
                            .filter_map(|v| match &v.value {
                                Some(V::StringValue(s)) => Some(s.clone()),
                                _ => None,
                            })
                            .collect();
                    }
                    _ => {}
                }
            }
            // Transport settings, not part of the application's resource.
            res.attributes
                .retain(|kv| kv.key != INDEX_ALL && kv.key != INDEXED);
        }
        let res = ResourceInfo::new(rs.resource.as_ref(), &opts);
        for span in rs.scope_spans.iter().flat_map(|ss| &ss.spans) {
            let mut converted = Vec::new();
            match convert_span(span, &res, &opts, now_secs, &mut converted) {
                Ok(()) => out.extend(converted.into_iter().map(|c| c.json)),
                Err(e) => refused.push(Refused {
                    span_id: crate::model::ids::hex(&span.span_id),
                    message: e.0,
                }),
            }
        }
    }
    Ok((out, refused))
}
