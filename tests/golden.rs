//! Golden files for the OTLP → X-Ray conversion (`tests/golden/*.json`): an OTLP/JSON
//! `ExportTraceServiceRequest` in, the segment documents of each span out, compared as JSON.
//!
//! A case file holds `options` (the exporter's), `now` (epoch seconds, for strict trace IDs),
//! `request`, and `expected`: one entry per span in request order, either the list of its
//! documents or `{"rejected": "<part of the message>"}`. Random IDs (exception IDs, the
//! local-root service segment's ID) are written `"<random>"` (any 16 hex digits) or
//! `"<random:NAME>"` (any 16 hex digits, the same wherever NAME appears in the case).
//!
//! `GOLDEN_BLESS=1 cargo test --test golden` prints each case's actual output in that form, to
//! help write a new case; every expected output is then checked by hand against the spec.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::path::Path;
use xray_gateway::convert::{Converted, Options, ResourceInfo, convert_span};
use xray_gateway::model::segment::{validate, validate_entity};

fn options(v: &Value) -> Options {
    let strings = |k: &str| -> Vec<String> {
        v[k].as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    Options {
        indexed_attributes: strings("indexed_attributes"),
        index_all_attributes: v["index_all_attributes"].as_bool().unwrap_or(false),
        aws_log_groups: strings("aws_log_groups"),
        strict_trace_ids: v["strict_trace_ids"].as_bool().unwrap_or(false),
        annotation_dots_as_underscores: v["annotation_dots_as_underscores"]
            .as_bool()
            .unwrap_or(false),
    }
}

fn is_random_id(s: &str) -> bool {
    s.len() == 16
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// Compares `actual` with `expected`, binding `<random:NAME>` placeholders; returns the path
/// of the first difference.
fn matches(
    expected: &Value,
    actual: &Value,
    names: &mut HashMap<String, String>,
    path: &str,
) -> Result<(), String> {
    match (expected, actual) {
        (Value::String(e), Value::String(a)) if e == "<random>" => is_random_id(a)
            .then_some(())
            .ok_or(format!("{path}: {a:?} is not a random ID")),
        (Value::String(e), Value::String(a)) if e.starts_with("<random:") => {
            if !is_random_id(a) {
                return Err(format!("{path}: {a:?} is not a random ID"));
            }
            let bound = names.entry(e.clone()).or_insert_with(|| a.clone());
            (bound == a)
                .then_some(())
                .ok_or(format!("{path}: {e} was {bound}, here {a}"))
        }
        (Value::Object(e), Value::Object(a)) => {
            for k in a.keys() {
                if !e.contains_key(k) {
                    return Err(format!("{path}.{k}: not expected, got {}", a[k]));
                }
            }
            for (k, ev) in e {
                let av = a
                    .get(k)
                    .ok_or_else(|| format!("{path}.{k}: missing, expected {ev}"))?;
                matches(ev, av, names, &format!("{path}.{k}"))?;
            }
            Ok(())
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                return Err(format!(
                    "{path}: {} elements, expected {}",
                    a.len(),
                    e.len()
                ));
            }
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                matches(ev, av, names, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        (Value::Number(e), Value::Number(a)) => (e.as_f64() == a.as_f64())
            .then_some(())
            .ok_or(format!("{path}: {a}, expected {e}")),
        _ => (expected == actual)
            .then_some(())
            .ok_or(format!("{path}: {actual}, expected {expected}")),
    }
}

/// Map keys must be written sorted, as Go prints maps (§18).
fn check_sorted(v: &Value, path: &str) -> Result<(), String> {
    match v {
        Value::Object(m) => {
            for (k, inner) in m {
                if ["annotations", "metadata", "attributes"].contains(&k.as_str()) {
                    sorted_deep(inner, &format!("{path}.{k}"))?;
                }
                check_sorted(inner, &format!("{path}.{k}"))?;
            }
            Ok(())
        }
        Value::Array(a) => a.iter().try_for_each(|x| check_sorted(x, path)),
        _ => Ok(()),
    }
}

fn sorted_deep(v: &Value, path: &str) -> Result<(), String> {
    match v {
        Value::Object(m) => {
            let keys: Vec<&String> = m.keys().collect();
            if keys.windows(2).any(|w| w[0] > w[1]) {
                return Err(format!("{path}: keys not sorted: {keys:?}"));
            }
            m.values().try_for_each(|x| sorted_deep(x, path))
        }
        Value::Array(a) => a.iter().try_for_each(|x| sorted_deep(x, path)),
        _ => Ok(()),
    }
}

/// Ingest validates a converted document from the view the converter builds; it must be
/// exactly what parsing the document's JSON gives.
fn same_view_as_parsed(d: &Converted<'_>) {
    let parsed = format!("{:?}", validate(&d.json));
    let built = format!("{:?}", validate_entity(d.json.len(), d.entity()));
    assert_eq!(
        parsed, built,
        "the converter's view differs from its JSON: {}",
        d.json
    );
}

/// The hand-written JSON writer must give exactly the text the serde derive gives.
fn same_text_as_serde(d: &Converted<'_>) {
    assert_eq!(
        Ok(&d.json),
        d.reference_json().as_ref(),
        "the writer and the serde derive disagree"
    );
}

/// Each span's outcome: its documents, or the refusal.
fn run_case(case: &Value) -> Vec<Value> {
    let opts = options(&case["options"]);
    let now = case["now"].as_i64().unwrap_or(1_700_000_000);
    let req: ExportTraceServiceRequest =
        serde_json::from_value(case["request"].clone()).expect("the request is OTLP/JSON");
    let mut outcomes = Vec::new();
    for rs in &req.resource_spans {
        let res = ResourceInfo::new(rs.resource.as_ref(), &opts);
        for ss in &rs.scope_spans {
            for span in &ss.spans {
                let mut out = Vec::new();
                outcomes.push(match convert_span(span, &res, &opts, now, &mut out) {
                    Ok(()) => Value::Array(
                        out.iter()
                            .map(|d| {
                                same_view_as_parsed(d);
                                same_text_as_serde(d);
                                serde_json::from_str(&d.json).expect("documents are JSON")
                            })
                            .collect(),
                    ),
                    Err(e) => {
                        assert!(out.is_empty(), "a refused span leaves no document");
                        let mut m = Map::new();
                        m.insert("rejected".into(), e.0.into());
                        Value::Object(m)
                    }
                });
            }
        }
    }
    outcomes
}

fn check_case(path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let case: Value = serde_json::from_str(&text).map_err(|e| format!("not JSON: {e}"))?;
    let actual = run_case(&case);
    if std::env::var_os("GOLDEN_BLESS").is_some() {
        println!(
            "== {}\n{}",
            path.display(),
            serde_json::to_string_pretty(&actual).unwrap()
        );
    }
    let expected = case["expected"]
        .as_array()
        .ok_or("the case has no expected list")?;
    if expected.len() != actual.len() {
        return Err(format!(
            "{} spans converted, {} expected",
            actual.len(),
            expected.len()
        ));
    }
    let mut names = HashMap::new();
    for (i, (e, a)) in expected.iter().zip(&actual).enumerate() {
        let at = format!("span {i}");
        match (e.get("rejected"), a.get("rejected")) {
            (Some(want), Some(got)) => {
                let (want, got) = (want.as_str().unwrap_or(""), got.as_str().unwrap_or(""));
                if !got.contains(want) {
                    return Err(format!("{at}: refused with {got:?}, expected {want:?}"));
                }
            }
            (None, None) => {
                matches(e, a, &mut names, &at)?;
                check_sorted(a, &at)?;
            }
            _ => return Err(format!("{at}: got {a}, expected {e}")),
        }
    }
    Ok(())
}

#[test]
fn golden_cases() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/golden exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 10, "the §27 checklist needs its cases");
    let failures: Vec<String> = paths
        .iter()
        .filter_map(|p| {
            check_case(p)
                .err()
                .map(|e| format!("{}: {e}", p.file_name().unwrap().to_string_lossy()))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_matcher_notices_differences() {
    let mut names = HashMap::new();
    let e: Value = serde_json::json!({"a": 1, "id": "<random:S>", "p": "<random:S>"});
    assert!(
        matches(
            &e,
            &serde_json::json!({"a": 1, "id": "0123456789abcdef", "p": "0123456789abcdef"}),
            &mut names,
            ""
        )
        .is_ok()
    );
    names.clear();
    for wrong in [
        serde_json::json!({"a": 2, "id": "0123456789abcdef", "p": "0123456789abcdef"}),
        serde_json::json!({"a": 1, "id": "0123456789abcdef", "p": "1123456789abcdef"}),
        serde_json::json!({"a": 1, "id": "0123456789abcdef", "p": "0123456789abcdef", "x": null}),
        serde_json::json!({"a": 1, "id": "0123456789abcdef"}),
        serde_json::json!({"a": 1, "id": "XYZ", "p": "XYZ"}),
    ] {
        names.clear();
        assert!(matches(&e, &wrong, &mut names, "").is_err(), "{wrong}");
    }
    assert!(sorted_deep(&serde_json::from_str(r#"{"b":1,"a":2}"#).unwrap(), "").is_err());
}
