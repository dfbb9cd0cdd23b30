//! Server-side validation of request bodies against the service model's constraints (botocore
//! checks only `required`, types and `min`; `max`, patterns and enums are the server's job).
//! Messages follow the AWS wording: `1 validation error detected: Value 'x' at 'timeRangeType'
//! failed to satisfy constraint: Member must satisfy enum value set: [TraceId, Event, Service]`.

use super::shapes::{OPERATIONS, SHAPES};
use serde_json::Value;

pub struct Member {
    pub name: &'static str,
    pub shape: usize,
    pub required: bool,
}

#[derive(Debug, Clone, Copy)]
pub enum Pattern {
    /// `[\w+=,.@-]+`
    PolicyName,
    /// A version 1–5 UUID.
    Uuid,
}

pub enum Shape {
    Structure {
        members: &'static [Member],
        union: bool,
    },
    List {
        member: usize,
        min: Option<i64>,
        max: Option<i64>,
    },
    Map {
        key: usize,
        value: usize,
        min: Option<i64>,
        max: Option<i64>,
    },
    String {
        min: Option<i64>,
        max: Option<i64>,
        pattern: Option<Pattern>,
        values: &'static [&'static str],
    },
    Integer {
        min: Option<i64>,
        max: Option<i64>,
    },
    Double {
        min: Option<f64>,
        max: Option<f64>,
    },
    Boolean,
    Timestamp,
}

pub struct Op {
    pub operation: super::shapes::Operation,
    pub name: &'static str,
    pub path: &'static str,
    pub input: Option<usize>,
}

/// The operation served at `path`, if any.
pub fn operation_for_path(path: &str) -> Option<&'static Op> {
    OPERATIONS.iter().find(|op| op.path == path)
}

pub fn operations() -> &'static [Op] {
    &OPERATIONS
}

impl Pattern {
    fn matches(self, s: &str) -> bool {
        match self {
            Pattern::PolicyName => {
                !s.is_empty()
                    && s.chars()
                        .all(|c| c.is_alphanumeric() || c == '_' || "+=,.@-".contains(c))
            }
            Pattern::Uuid => {
                let b = s.as_bytes();
                let groups = [8, 4, 4, 4, 12];
                let mut at = 0;
                for (g, len) in groups.iter().enumerate() {
                    if g > 0 {
                        if b.get(at) != Some(&b'-') {
                            return false;
                        }
                        at += 1;
                    }
                    let Some(part) = b.get(at..at + len) else {
                        return false;
                    };
                    if !part.iter().all(u8::is_ascii_hexdigit) {
                        return false;
                    }
                    at += len;
                }
                at == b.len() && (b'1'..=b'5').contains(&b[14]) && b"89abAB".contains(&b[19])
            }
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Pattern::PolicyName => "[\\w+=,.@-]+",
            Pattern::Uuid => {
                "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-5][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}"
            }
        }
    }
}

fn camel(name: &str) -> String {
    let mut c = name.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("'{s}'"),
        Value::Null => "null".into(),
        other => format!("'{other}'"),
    }
}

struct Checker {
    errors: Vec<String>,
}

impl Checker {
    fn fail(&mut self, v: &Value, at: &str, what: String) {
        self.errors.push(format!(
            "Value {} at '{at}' failed to satisfy constraint: {what}",
            show(v)
        ));
    }

    fn check(&mut self, v: &Value, shape: usize, at: &str) {
        match &SHAPES[shape].1 {
            Shape::Structure { members, union } => {
                let Some(obj) = v.as_object() else {
                    return self.fail(v, at, "Member must be a structure".into());
                };
                let mut set = 0;
                for m in members.iter() {
                    let path = if at.is_empty() {
                        camel(m.name)
                    } else {
                        format!("{at}.{}", camel(m.name))
                    };
                    match obj.get(m.name) {
                        None | Some(Value::Null) => {
                            if m.required {
                                self.fail(&Value::Null, &path, "Member must not be null".into());
                            }
                        }
                        Some(x) => {
                            set += 1;
                            self.check(x, m.shape, &path);
                        }
                    }
                }
                if *union && set != 1 {
                    self.errors
                        .push(format!("Exactly one member of '{at}' must be set"));
                }
            }
            Shape::List { member, min, max } => {
                let Some(items) = v.as_array() else {
                    return self.fail(v, at, "Member must be a list".into());
                };
                self.length(v, at, items.len() as i64, *min, *max);
                for (i, x) in items.iter().enumerate() {
                    self.check(x, *member, &format!("{at}.{}.member", i + 1));
                }
            }
            Shape::Map {
                key,
                value,
                min,
                max,
            } => {
                let Some(obj) = v.as_object() else {
                    return self.fail(v, at, "Member must be a map".into());
                };
                self.length(v, at, obj.len() as i64, *min, *max);
                for (k, x) in obj {
                    self.check(&Value::String(k.clone()), *key, &format!("{at}.key"));
                    self.check(x, *value, &format!("{at}.{k}"));
                }
            }
            Shape::String {
                min,
                max,
                pattern,
                values,
            } => {
                let Some(s) = v.as_str() else {
                    return self.fail(v, at, "Member must be a string".into());
                };
                if !values.is_empty() && !values.contains(&s) {
                    return self.fail(
                        v,
                        at,
                        format!(
                            "Member must satisfy enum value set: [{}]",
                            values.join(", ")
                        ),
                    );
                }
                self.length(v, at, s.chars().count() as i64, *min, *max);
                if let Some(p) = pattern
                    && !p.matches(s)
                {
                    self.fail(
                        v,
                        at,
                        format!(
                            "Member must satisfy regular expression pattern: {}",
                            p.describe()
                        ),
                    );
                }
            }
            Shape::Integer { min, max } => {
                let Some(n) = v.as_i64() else {
                    return self.fail(v, at, "Member must be an integer".into());
                };
                self.range(v, at, "value", n, *min, *max);
            }
            Shape::Double { min, max } => {
                let Some(n) = v.as_f64() else {
                    return self.fail(v, at, "Member must be a number".into());
                };
                self.range(v, at, "value", n, *min, *max);
            }
            Shape::Boolean => {
                if !v.is_boolean() {
                    self.fail(v, at, "Member must be a boolean".into());
                }
            }
            Shape::Timestamp => {
                if !v.as_f64().is_some_and(|t| t.is_finite() && t >= 0.0) {
                    self.fail(v, at, "Member must be a timestamp in epoch seconds".into());
                }
            }
        }
    }

    fn length(&mut self, v: &Value, at: &str, len: i64, min: Option<i64>, max: Option<i64>) {
        self.range(v, at, "length", len, min, max);
    }

    /// AWS's range check: `what` (a value, a length) within `[min, max]`.
    fn range<T: PartialOrd + std::fmt::Display + Copy>(
        &mut self,
        v: &Value,
        at: &str,
        what: &str,
        n: T,
        min: Option<T>,
        max: Option<T>,
    ) {
        if let Some(m) = min.filter(|&m| n < m) {
            self.fail(
                v,
                at,
                format!("Member must have {what} greater than or equal to {m}"),
            );
        }
        if let Some(m) = max.filter(|&m| n > m) {
            self.fail(
                v,
                at,
                format!("Member must have {what} less than or equal to {m}"),
            );
        }
    }
}

/// Checks a request body against an operation's input shape; the error text lists every
/// violation, AWS style.
pub fn validate_input(op: &Op, body: &Value) -> Result<(), String> {
    let Some(shape) = op.input else { return Ok(()) };
    let mut c = Checker { errors: Vec::new() };
    c.check(body, shape, "");
    match c.errors.len() {
        0 => Ok(()),
        1 => Err(format!("1 validation error detected: {}", c.errors[0])),
        n => Err(format!(
            "{n} validation errors detected: {}",
            c.errors.join("; ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn op(name: &str) -> &'static Op {
        operations().iter().find(|o| o.name == name).unwrap()
    }

    #[test]
    fn all_thirty_eight_operations_have_distinct_paths() {
        let mut paths: Vec<_> = operations().iter().map(|o| o.path).collect();
        paths.sort();
        paths.dedup();
        assert_eq!(paths.len(), 38);
        assert_eq!(
            operation_for_path("/TraceSummaries").unwrap().name,
            "GetTraceSummaries"
        );
    }

    #[test]
    fn enum_violation_reads_like_aws() {
        let e = validate_input(
            op("GetTraceSummaries"),
            &json!({"StartTime": 1, "EndTime": 2, "TimeRangeType": "Foo"}),
        )
        .unwrap_err();
        assert_eq!(
            e,
            "1 validation error detected: Value 'Foo' at 'timeRangeType' failed to satisfy constraint: Member must satisfy enum value set: [TraceId, Event, Service]"
        );
    }

    #[test]
    fn missing_required_members_are_all_listed() {
        let e = validate_input(op("GetTraceSummaries"), &json!({})).unwrap_err();
        assert!(e.starts_with("2 validation errors detected"), "{e}");
        assert!(e.contains("'startTime'") && e.contains("'endTime'"));
    }

    #[test]
    fn nested_lengths_and_patterns_are_checked() {
        let e = validate_input(op("BatchGetTraces"), &json!({"TraceIds": ["x".repeat(36)]}))
            .unwrap_err();
        assert!(
            e.contains("'traceIds.1.member'") && e.contains("less than or equal to 35"),
            "{e}"
        );
        let e = validate_input(op("GetInsight"), &json!({"InsightId": "nope"})).unwrap_err();
        assert!(e.contains("regular expression"), "{e}");
        assert!(
            validate_input(
                op("GetInsight"),
                &json!({"InsightId": "7d6e8a6a-4b1f-4c3e-9d2a-1b2c3d4e5f60"})
            )
            .is_ok()
        );
    }

    #[test]
    fn empty_input_operations_accept_anything() {
        assert!(validate_input(op("GetEncryptionConfig"), &json!({})).is_ok());
    }
}
