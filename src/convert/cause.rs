//! fault / error / throttle (§8) and `cause` (§9): exception events, the AWS SDK's
//! `HTTP request failure` events, or the span status message.

use super::attrs::Attrs;
use super::doc::{Cause, Exception, SpanIdText};
use super::stack;
use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use std::borrow::Cow;

pub struct Flags {
    pub error: bool,
    pub fault: bool,
    pub throttle: bool,
}

pub fn flags(span: &Span, a: &Attrs<'_>) -> Flags {
    let code = if a.has("http.status_code") {
        a.int("http.status_code")
    } else {
        a.int("http.response.status_code")
    };
    match code {
        Some(c @ 400..=499) => Flags {
            error: true,
            fault: false,
            throttle: c == 429,
        },
        Some(500..=599) => Flags {
            error: false,
            fault: true,
            throttle: false,
        },
        _ => Flags {
            error: false,
            fault: status_is_error(span),
            throttle: false,
        },
    }
}

fn status_is_error(span: &Span) -> bool {
    span.status
        .as_ref()
        .is_some_and(|s| s.code == StatusCode::Error as i32)
}

pub fn random_hex_id() -> SpanIdText {
    crate::model::ids::SegmentId(crate::model::ids::random_u64()).text()
}

/// The cause; consumes `http.status_text` when the status message falls back on it.
pub fn cause<'a>(
    span: &'a Span,
    kind: SpanKind,
    aws_sdk: bool,
    language: &str,
    a: &mut Attrs<'a>,
) -> Option<Cause<'a>> {
    let is_exception =
        |name: &str| name == "exception" || (aws_sdk && name == "HTTP request failure");
    if span.events.iter().any(|e| is_exception(&e.name)) {
        let remote = matches!(kind, SpanKind::Client | SpanKind::Producer);
        let mut exceptions = Vec::new();
        for e in &span.events {
            let ea = Attrs::new(&e.attributes);
            if e.name == "exception" {
                let first = exceptions.len();
                exceptions.push(Exception {
                    id: random_hex_id(),
                    message: Cow::Borrowed(ea.str("exception.message").unwrap_or("")),
                    kind: Cow::Borrowed(ea.str("exception.type").unwrap_or("")),
                    remote: Some(remote),
                    cause: None,
                    stack: Vec::new(),
                });
                if let Some(trace) = ea.str("exception.stacktrace").filter(|t| !t.is_empty()) {
                    stack::parse(language, trace, &mut exceptions, first);
                }
            } else if e.name == "HTTP request failure" && aws_sdk {
                let (Some(code), Some(msg)) = (
                    ea.get("http.response.status_code"),
                    ea.str("aws.http.error_message"),
                ) else {
                    continue;
                };
                let code = match &code.value {
                    Some(V::IntValue(i)) => i.to_string(),
                    Some(V::StringValue(s)) => s.clone(),
                    Some(V::DoubleValue(d)) => d.to_string(),
                    Some(V::BoolValue(b)) => b.to_string(),
                    _ => String::new(),
                };
                let micros = e.time_unix_nano / 1_000;
                exceptions.push(Exception {
                    id: random_hex_id(),
                    message: Cow::Owned(format!(
                        "{code}@{}.{:06}@{msg}",
                        micros / 1_000_000,
                        micros % 1_000_000
                    )),
                    kind: Cow::Borrowed("aws.http.error.event"),
                    remote: Some(true),
                    cause: None,
                    stack: Vec::new(),
                });
            }
        }
        return Some(Cause { exceptions });
    }
    if !status_is_error(span) {
        return None;
    }
    let mut message = span.status.as_ref().map_or("", |s| s.message.as_str());
    if message.is_empty() {
        message = a.str("http.status_text").unwrap_or("");
    }
    a.remove("http.status_text");
    (!message.is_empty()).then(|| Cause {
        exceptions: vec![Exception {
            id: random_hex_id(),
            message: Cow::Borrowed(message),
            kind: Cow::Borrowed(""),
            remote: None,
            cause: None,
            stack: Vec::new(),
        }],
    })
}
