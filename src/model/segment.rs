//! Segment documents as PutTraceSegments and the daemon receive them: a borrowed, typed read of
//! the fields X-Ray indexes, and the validation rules of the real service.
//!
//! Only the fields that are required or indexed are typed; every other field of the document
//! is kept byte for byte in the stored document and is not looked at here.

use super::ids::{SegmentId, TraceId};
use super::lenient;
use super::time::{Micros, secs_to_micros};
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

mod reader;

/// The largest document X-Ray accepts ("Segment document size", not adjustable).
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024;
/// Longest segment name.
pub const MAX_NAME_CHARS: usize = 200;

/// A segment or subsegment, embedded or sent on its own.
#[derive(Debug, Default, Deserialize)]
pub struct Entity<'a> {
    #[serde(borrow, default, deserialize_with = "lenient::string")]
    pub id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "lenient::string")]
    pub name: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "lenient::string")]
    pub trace_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "lenient::string")]
    pub parent_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "type", deserialize_with = "lenient::string")]
    pub kind: Option<Cow<'a, str>>,
    #[serde(default)]
    pub start_time: Option<f64>,
    #[serde(default)]
    pub end_time: Option<f64>,
    #[serde(default, deserialize_with = "lenient::boolean")]
    pub in_progress: Option<bool>,
    #[serde(borrow, default, deserialize_with = "lenient::string")]
    pub origin: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "lenient::string")]
    pub user: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "lenient::string")]
    pub resource_arn: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "lenient::string")]
    pub namespace: Option<Cow<'a, str>>,
    #[serde(default, deserialize_with = "lenient::boolean")]
    pub fault: Option<bool>,
    #[serde(default, deserialize_with = "lenient::boolean")]
    pub error: Option<bool>,
    #[serde(default, deserialize_with = "lenient::boolean")]
    pub throttle: Option<bool>,
    #[serde(default, deserialize_with = "lenient::boolean")]
    pub traced: Option<bool>,
    #[serde(borrow, default)]
    pub cause: Option<Cause<'a>>,
    #[serde(borrow, default)]
    pub http: Option<Http<'a>>,
    #[serde(borrow, default)]
    pub aws: Option<Aws<'a>>,
    #[serde(borrow, default)]
    pub annotations: Option<Annotations<'a>>,
    #[serde(borrow, default)]
    pub subsegments: Option<Vec<Entity<'a>>>,
    /// Span links (OTel-era): spans of other traces this one follows from.
    #[serde(borrow, default)]
    pub links: Option<Vec<Link<'a>>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Link<'a> {
    #[serde(borrow, default, deserialize_with = "lenient::string")]
    pub trace_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "lenient::string")]
    pub id: Option<Cow<'a, str>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Http<'a> {
    #[serde(borrow, default)]
    pub request: Option<HttpRequest<'a>>,
    #[serde(default)]
    pub response: Option<HttpResponse>,
}

#[derive(Debug, Default, Deserialize)]
pub struct HttpRequest<'a> {
    #[serde(borrow, default, deserialize_with = "lenient::string")]
    pub method: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "lenient::string")]
    pub url: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "lenient::string")]
    pub user_agent: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "lenient::string")]
    pub client_ip: Option<Cow<'a, str>>,
    #[serde(default, deserialize_with = "lenient::boolean")]
    pub traced: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
pub struct HttpResponse {
    #[serde(default, deserialize_with = "lenient::integer")]
    pub status: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Aws<'a> {
    #[serde(borrow, default, deserialize_with = "lenient::string")]
    pub account_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "lenient::string")]
    pub operation: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "lenient::string")]
    pub table_name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub ec2: Option<AwsEc2<'a>>,
    #[serde(borrow, default)]
    pub ecs: Option<AwsEcs<'a>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct AwsEc2<'a> {
    #[serde(borrow, default, deserialize_with = "lenient::string")]
    pub instance_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "lenient::string")]
    pub availability_zone: Option<Cow<'a, str>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct AwsEcs<'a> {
    #[serde(borrow, default, deserialize_with = "lenient::string")]
    pub availability_zone: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "lenient::string")]
    pub container_arn: Option<Cow<'a, str>>,
}

/// `cause`: an exception ID recorded elsewhere in the trace, or an object with exceptions.
#[derive(Debug)]
pub enum Cause<'a> {
    ExceptionId(Cow<'a, str>),
    Details(CauseDetails<'a>),
}

#[derive(Debug, Default, Deserialize)]
pub struct CauseDetails<'a> {
    #[serde(borrow, default)]
    pub exceptions: Option<Vec<Exception<'a>>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Exception<'a> {
    #[serde(borrow, default, deserialize_with = "lenient::string")]
    pub id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "lenient::string")]
    pub message: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "type", deserialize_with = "lenient::string")]
    pub kind: Option<Cow<'a, str>>,
    #[serde(default, deserialize_with = "lenient::boolean")]
    pub remote: Option<bool>,
}

impl<'de: 'a, 'a> Deserialize<'de> for Cause<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Cause<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an exception ID string or a cause object")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Cause::ExceptionId(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Cause::ExceptionId(Cow::Owned(v.to_owned())))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                CauseDetails::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(Cause::Details)
            }
        }
        d.deserialize_any(V)
    }
}

/// A scalar annotation value; other JSON values are not indexable and are skipped.
#[derive(Debug, Clone, PartialEq)]
pub enum AnnotationValue<'a> {
    String(Cow<'a, str>),
    Number(f64),
    Bool(bool),
}

#[derive(Debug, Default)]
pub struct Annotations<'a>(pub Vec<(Cow<'a, str>, AnnotationValue<'a>)>);

impl<'de: 'a, 'a> Deserialize<'de> for Annotations<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Scalar<'a>(Option<AnnotationValue<'a>>);
        impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = Scalar<'de>;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str("a string, number or boolean")
                    }
                    fn visit_borrowed_str<E: de::Error>(
                        self,
                        v: &'de str,
                    ) -> Result<Self::Value, E> {
                        Ok(Scalar(Some(AnnotationValue::String(Cow::Borrowed(v)))))
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                        Ok(Scalar(Some(AnnotationValue::String(Cow::Owned(
                            v.to_owned(),
                        )))))
                    }
                    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                        Ok(Scalar(Some(AnnotationValue::Bool(v))))
                    }
                    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                        Ok(Scalar(Some(AnnotationValue::Number(v as f64))))
                    }
                    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                        Ok(Scalar(Some(AnnotationValue::Number(v as f64))))
                    }
                    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                        Ok(Scalar(Some(AnnotationValue::Number(v))))
                    }
                    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                        Ok(Scalar(None))
                    }
                    fn visit_seq<A: de::SeqAccess<'de>>(
                        self,
                        mut s: A,
                    ) -> Result<Self::Value, A::Error> {
                        while s.next_element::<IgnoredAny>()?.is_some() {}
                        Ok(Scalar(None))
                    }
                    fn visit_map<A: MapAccess<'de>>(
                        self,
                        mut m: A,
                    ) -> Result<Self::Value, A::Error> {
                        while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                        Ok(Scalar(None))
                    }
                }
                d.deserialize_any(V)
            }
        }
        struct M;
        impl<'de> Visitor<'de> for M {
            type Value = Annotations<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of annotations")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = m.next_entry::<Cow<'de, str>, Scalar<'de>>()? {
                    if let Some(v) = v.0 {
                        out.push((k, v));
                    }
                }
                Ok(Annotations(out))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Annotations(Vec::new()))
            }
        }
        d.deserialize_any(M)
    }
}

/// What a top-level document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocKind {
    Segment,
    /// `type: "subsegment"` sent on its own, attached to `parent_id` when the trace is read.
    IndependentSubsegment,
}

/// A document that passed validation, with the keys the store works by.
#[derive(Debug)]
pub struct ValidDoc<'a> {
    pub kind: DocKind,
    pub trace_id: TraceId,
    pub id: SegmentId,
    pub parent_id: Option<SegmentId>,
    pub start: Micros,
    /// `None` while in progress.
    pub end: Option<Micros>,
    pub entity: Entity<'a>,
}

impl ValidDoc<'_> {
    pub fn in_progress(&self) -> bool {
        self.end.is_none()
    }
}

/// Why a document was refused, in the `UnprocessedTraceSegments` vocabulary.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    /// The document's `id` when it could be read.
    pub id: Option<String>,
    pub code: &'static str,
    pub message: String,
}

pub const INVALID_SEGMENT: &str = "InvalidSegment";
pub const INVALID_TRACE_ID: &str = "InvalidTraceId";

/// Parses and validates one document. `doc` must outlive the result (fields are borrowed).
pub fn validate(doc: &str) -> Result<ValidDoc<'_>, Rejection> {
    if doc.len() > MAX_DOCUMENT_BYTES {
        return Err(Rejection {
            id: sniff_id(doc),
            code: INVALID_SEGMENT,
            message: format!(
                "Segment document is {} bytes; the limit is {} bytes (64 KB).",
                doc.len(),
                MAX_DOCUMENT_BYTES
            ),
        });
    }
    let trimmed = doc.trim_start();
    if !trimmed.starts_with('{') {
        return Err(Rejection {
            id: None,
            code: INVALID_SEGMENT,
            message: "Segment document must be a JSON object.".into(),
        });
    }
    let entity = match reader::read(doc) {
        Some(e) => e,
        None => serde_json::from_str(doc).map_err(|e| Rejection {
            id: sniff_id(doc),
            code: INVALID_SEGMENT,
            message: format!("Segment document is not valid: {e}."),
        })?,
    };
    check_top(entity)
}

/// Validates a document already read into an [`Entity`] by its producer (the OTLP converter,
/// which builds the view from its own typed document instead of re-parsing the JSON it wrote);
/// `len` is the JSON text's length. Same rules and messages as [`validate`].
pub fn validate_entity(len: usize, entity: Entity<'_>) -> Result<ValidDoc<'_>, Rejection> {
    if len > MAX_DOCUMENT_BYTES {
        return Err(Rejection {
            id: entity.id.as_deref().map(str::to_owned),
            code: INVALID_SEGMENT,
            message: format!(
                "Segment document is {len} bytes; the limit is {MAX_DOCUMENT_BYTES} bytes (64 KB)."
            ),
        });
    }
    check_top(entity)
}

fn check_top(entity: Entity<'_>) -> Result<ValidDoc<'_>, Rejection> {
    let fail = |code: &'static str, message: String| Rejection {
        id: entity.id.as_deref().map(str::to_owned),
        code,
        message,
    };
    let kind = match entity.kind.as_deref() {
        None => DocKind::Segment,
        Some("subsegment") => DocKind::IndependentSubsegment,
        Some(other) => {
            return Err(fail(
                INVALID_SEGMENT,
                format!("Field 'type' is '{other}'; the only accepted value is 'subsegment'."),
            ));
        }
    };
    let trace_id = match entity.trace_id.as_deref() {
        None => {
            return Err(fail(
                INVALID_TRACE_ID,
                "Missing required field 'trace_id'.".into(),
            ));
        }
        Some(t) => TraceId::parse(t).ok_or_else(|| {
            fail(
                INVALID_TRACE_ID,
                format!(
                    "Field 'trace_id' is '{t}'; expected 1-xxxxxxxx-xxxxxxxxxxxxxxxxxxxxxxxx (8 and 24 hexadecimal digits)."
                ),
            )
        })?,
    };
    let parent_id = match entity.parent_id.as_deref() {
        None => None,
        Some(p) => Some(SegmentId::parse(p).ok_or_else(|| {
            fail(
                INVALID_SEGMENT,
                format!("Field 'parent_id' is '{p}'; expected 16 hexadecimal digits."),
            )
        })?),
    };
    if kind == DocKind::IndependentSubsegment && parent_id.is_none() {
        return Err(fail(
            INVALID_SEGMENT,
            "A subsegment sent on its own (type 'subsegment') needs 'parent_id'.".into(),
        ));
    }
    if kind == DocKind::Segment {
        check_segment_name(entity.name.as_deref()).map_err(|m| fail(INVALID_SEGMENT, m))?;
    }
    let (id, start, end) = check_entity(&entity, &Path::Top, kind == DocKind::Segment)
        .map_err(|m| fail(INVALID_SEGMENT, m))?;
    Ok(ValidDoc {
        kind,
        trace_id,
        id,
        parent_id,
        start,
        end,
        entity,
    })
}

fn check_segment_name(name: Option<&str>) -> Result<(), String> {
    let name = name.ok_or("Missing required field 'name'.")?;
    if name.is_empty() {
        return Err("Field 'name' is empty.".into());
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(format!(
            "Field 'name' is longer than {MAX_NAME_CHARS} characters."
        ));
    }
    if let Some(c) = name.chars().find(|&c| !name_char_allowed(c)) {
        return Err(format!(
            "Field 'name' contains {c:?}; allowed are Unicode letters, digits, whitespace and _ . : / % & # = + \\ - @"
        ));
    }
    Ok(())
}

fn name_char_allowed(c: char) -> bool {
    c.is_alphanumeric() || c.is_whitespace() || "_.:/%&#=+\\-@".contains(c)
}

/// Where an entity sits in its document, written out only into an error message.
enum Path<'a> {
    Top,
    Sub(&'a Path<'a>, usize),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Path::Top => Ok(()),
            Path::Sub(parent, i) => write!(f, "{parent}subsegments[{i}]."),
        }
    }
}

/// Checks what every segment and subsegment needs; returns its id and times.
fn check_entity(
    e: &Entity<'_>,
    path: &Path<'_>,
    is_segment: bool,
) -> Result<(SegmentId, Micros, Option<Micros>), String> {
    let at = |field: &str| format!("{path}{field}");
    let id = match e.id.as_deref() {
        None => return Err(format!("Missing required field '{}'.", at("id"))),
        Some(s) => SegmentId::parse(s).ok_or_else(|| {
            format!(
                "Field '{}' is '{s}'; expected 16 hexadecimal digits.",
                at("id")
            )
        })?,
    };
    if !is_segment && e.name.as_deref().is_none_or(str::is_empty) {
        return Err(format!("Missing required field '{}'.", at("name")));
    }
    let start = match e.start_time {
        None => return Err(format!("Missing required field '{}'.", at("start_time"))),
        Some(t) => secs_to_micros(t).ok_or_else(|| {
            format!(
                "Field '{}' is not an epoch time in seconds.",
                at("start_time")
            )
        })?,
    };
    // X-Ray documents "end_time or in_progress"; real SDK documents also omit both
    // (segmentWithParentId), which is kept as in progress. Only `in_progress: false` without an
    // end contradicts itself.
    let end = if e.in_progress == Some(true) {
        None
    } else {
        match e.end_time {
            None if e.in_progress.is_none() => None,
            None => {
                return Err(format!(
                    "Field '{}' is required when '{}' is false.",
                    at("end_time"),
                    at("in_progress")
                ));
            }
            Some(t) => {
                let end = secs_to_micros(t).ok_or_else(|| {
                    format!(
                        "Field '{}' is not an epoch time in seconds.",
                        at("end_time")
                    )
                })?;
                if end < start {
                    return Err(format!(
                        "Field '{}' is before '{}'.",
                        at("end_time"),
                        at("start_time")
                    ));
                }
                Some(end)
            }
        }
    };
    if let Some(subs) = &e.subsegments {
        for (i, sub) in subs.iter().enumerate() {
            check_entity(sub, &Path::Sub(path, i), false)?;
        }
    }
    Ok((id, start, end))
}

/// Best effort: the `id` of a document that failed to parse, for the rejection entry.
fn sniff_id(doc: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct IdOnly<'a> {
        #[serde(borrow, default, deserialize_with = "lenient::string")]
        id: Option<Cow<'a, str>>,
    }
    if let Ok(v) = serde_json::from_str::<IdOnly<'_>>(doc) {
        return v.id.map(Cow::into_owned);
    }
    let at = doc.find("\"id\"")?;
    let rest = doc[at + 4..].trim_start().strip_prefix(':')?.trim_start();
    let rest = rest.strip_prefix('"')?;
    let end = rest.find('"')?;
    Some(rest[..end].to_owned()).filter(|s| s.len() <= 64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(extra: &str) -> String {
        format!(
            r#"{{"name":"svc","id":"70de5b6f19ff9a0a","trace_id":"1-581cf771-a006649127e371903a2de979","start_time":1.478293361271E9{extra}}}"#
        )
    }

    #[test]
    fn complete_segment_is_valid() {
        let d = doc(r#","end_time":1478293361.449"#);
        let v = validate(&d).unwrap();
        assert_eq!(v.kind, DocKind::Segment);
        assert_eq!(v.id.to_string(), "70de5b6f19ff9a0a");
        assert_eq!(v.end.unwrap() - v.start, 178_000);
    }

    #[test]
    fn in_progress_segment_has_no_end() {
        let d = doc(r#","in_progress":true"#);
        assert!(validate(&d).unwrap().in_progress());
    }

    #[test]
    fn missing_end_is_in_progress_but_in_progress_false_needs_an_end() {
        assert!(validate(&doc("")).unwrap().in_progress());
        let e = validate(&doc(r#","in_progress":false"#)).unwrap_err();
        assert_eq!(e.code, INVALID_SEGMENT);
        assert!(e.message.contains("end_time"), "{}", e.message);
        assert_eq!(e.id.as_deref(), Some("70de5b6f19ff9a0a"));
    }

    #[test]
    fn end_before_start_is_rejected() {
        let e = validate(&doc(r#","end_time":1478293360"#)).unwrap_err();
        assert!(e.message.contains("before"), "{}", e.message);
    }

    #[test]
    fn bad_trace_id_uses_invalid_trace_id_code() {
        let d =
            r#"{"name":"a","id":"70de5b6f19ff9a0a","trace_id":"abc","start_time":1,"end_time":2}"#;
        assert_eq!(validate(d).unwrap_err().code, INVALID_TRACE_ID);
    }

    #[test]
    fn name_characters_are_checked_on_segments_only() {
        let d = r#"{"name":"a?b","id":"70de5b6f19ff9a0a","trace_id":"1-581cf771-a006649127e371903a2de979","start_time":1,"end_time":2}"#;
        assert!(validate(d).unwrap_err().message.contains("'?'"));
        let sub = r#"{"type":"subsegment","parent_id":"1111111111111111","name":"GET /a?b","id":"70de5b6f19ff9a0a","trace_id":"1-581cf771-a006649127e371903a2de979","start_time":1,"end_time":2}"#;
        assert!(validate(sub).is_ok());
    }

    #[test]
    fn independent_subsegment_needs_parent() {
        let d = r#"{"type":"subsegment","name":"x","id":"70de5b6f19ff9a0a","trace_id":"1-581cf771-a006649127e371903a2de979","start_time":1,"end_time":2}"#;
        assert!(validate(d).unwrap_err().message.contains("parent_id"));
    }

    #[test]
    fn nested_subsegment_errors_name_their_path() {
        let d = doc(
            r#","end_time":1478293362,"subsegments":[{"id":"1111111111111111","name":"a","start_time":1478293361.3,"end_time":1478293361.4,"subsegments":[{"name":"b","start_time":1,"end_time":2}]}]"#,
        );
        let e = validate(&d).unwrap_err();
        assert_eq!(
            e.message,
            "Missing required field 'subsegments[0].subsegments[0].id'."
        );
    }

    #[test]
    fn numeric_cause_is_rejected_but_string_cause_is_not() {
        let e = validate(&doc(r#","end_time":1478293362,"cause":200"#)).unwrap_err();
        assert!(
            e.message.contains("exception ID string or a cause object"),
            "{}",
            e.message
        );
        assert!(validate(&doc(r#","end_time":1478293362,"cause":"0123456789abcdef""#)).is_ok());
    }

    #[test]
    fn non_object_and_oversized_documents_are_rejected() {
        assert!(validate("[1]").is_err());
        assert!(validate("not json").is_err());
        let big = doc(&format!(
            r#","end_time":1478293362,"metadata":{{"x":"{}"}}"#,
            "a".repeat(70_000)
        ));
        assert!(validate(&big).unwrap_err().message.contains("64 KB"));
    }

    #[test]
    fn lenient_fields_do_not_reject() {
        let d = doc(
            r#","end_time":1478293362,"http":{"response":{"status":"503","content_length":"861"}},"aws":{"account_id":123456789012},"annotations":{"a":1,"b":{"nested":true},"c":"x"}"#,
        );
        let v = validate(&d).unwrap();
        assert_eq!(v.entity.http.unwrap().response.unwrap().status, Some(503));
        assert_eq!(
            v.entity.aws.unwrap().account_id.as_deref(),
            Some("123456789012")
        );
        assert_eq!(v.entity.annotations.unwrap().0.len(), 2);
    }
}
