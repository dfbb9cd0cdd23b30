use super::*;
use crate::model::intern;
use crate::model::segment::validate;

const T: &str = "1-581cf771-a006649127e371903a2de979";

fn summarise(docs: &[String]) -> TraceSummary {
    let parsed: Vec<ValidDoc<'_>> = docs.iter().map(|d| validate(d).unwrap()).collect();
    let refs: Vec<&ValidDoc<'_>> = parsed.iter().collect();
    compute(&refs)
}

fn seg(id: &str, name: &str, start: f64, end: f64, extra: &str) -> String {
    format!(
        r#"{{"name":"{name}","id":"{id}","trace_id":"{T}","start_time":{start},"end_time":{end}{extra}}}"#
    )
}

fn name(sid: Sid) -> String {
    intern::text(intern::service_key(sid).name).to_string()
}

fn kind(sid: Sid) -> Option<String> {
    intern::service_key(sid)
        .kind
        .map(|k| intern::text(k).to_string())
}

#[test]
fn root_is_the_segment_without_a_parent_in_the_trace() {
    let s = summarise(&[
        seg(
            "2000000000000002",
            "back",
            1.2,
            1.8,
            r#","parent_id":"1000000000000009","fault":true"#,
        ),
        seg(
            "1000000000000001",
            "front",
            1.0,
            2.0,
            r#","subsegments":[{"id":"1000000000000009","name":"back","namespace":"remote","start_time":1.1,"end_time":1.9}]"#,
        ),
    ]);
    assert_eq!(name(s.entry_point.unwrap()), "front");
    assert!(!s.has(Flags::FAULT), "HasFault reads the root segment");
    assert_eq!(s.response_time, Some(1.0));
    assert_eq!(s.services.len(), 2, "the callee replaced the inferred node");
    let [edge] = &s.edges[..] else {
        panic!("one edge: {:?}", s.edges)
    };
    assert_eq!(
        (name(edge.from), name(edge.to)),
        ("front".into(), "back".into())
    );
    assert!(
        (edge.duration - 0.8).abs() < 1e-9,
        "the caller's subsegment times the call"
    );
}

#[test]
fn a_segment_whose_parent_has_not_arrived_is_the_root_for_now() {
    let s = summarise(&[seg(
        "2000000000000002",
        "back",
        1.2,
        1.8,
        r#","parent_id":"1000000000000009","error":true"#,
    )]);
    assert_eq!(name(s.entry_point.unwrap()), "back");
    assert!(s.has(Flags::ERROR));
}

#[test]
fn remote_calls_without_callee_are_inferred_services_with_rows_and_edges() {
    let s = summarise(&[seg(
        "1000000000000001",
        "front",
        1.0,
        2.0,
        r#","subsegments":[{"id":"1000000000000009","name":"api.example.com","namespace":"remote","start_time":1.1,"end_time":1.9,"fault":true},{"id":"1000000000000008","name":"S3","namespace":"aws","start_time":1.1,"end_time":1.2}]"#,
    )]);
    let kinds: Vec<_> = s.services.iter().map(|&x| (name(x), kind(x))).collect();
    assert_eq!(
        kinds,
        vec![
            ("front".into(), None),
            ("api.example.com".into(), Some("remote".into())),
            ("S3".into(), Some("AWS::S3".into()))
        ]
    );
    assert!(s.has(Flags::INFERRED));
    let inferred: Vec<_> = s
        .rows
        .iter()
        .filter(|r| r.flags.contains(Flags::INFERRED))
        .collect();
    assert_eq!(inferred.len(), 2);
    assert!(
        inferred
            .iter()
            .any(|r| r.flags.contains(Flags::FAULT) && name(r.sid) == "api.example.com")
    );
    assert_eq!(s.edges.len(), 2);
}

#[test]
fn annotation_keys_are_capped_at_fifty() {
    let ann: Vec<String> = (0..60).map(|i| format!(r#""k{i}":{i}"#)).collect();
    let s = summarise(&[seg(
        "1000000000000001",
        "a",
        1.0,
        2.0,
        &format!(r#","annotations":{{{}}}"#, ann.join(",")),
    )]);
    assert_eq!(s.annotations.len(), MAX_ANNOTATION_KEYS);
}

#[test]
fn duplicate_values_merge_their_services() {
    let s = summarise(&[
        seg(
            "1000000000000001",
            "a",
            1.0,
            2.0,
            r#","annotations":{"k":"v"}"#,
        ),
        seg(
            "2000000000000002",
            "b",
            1.0,
            2.0,
            r#","annotations":{"k":"v"}"#,
        ),
    ]);
    assert_eq!(s.annotations[0].values.len(), 1);
    assert_eq!(s.annotations[0].values[0].1.len(), 2);
}

#[test]
fn parent_cycles_between_subsegments_do_not_hang() {
    let sub = |id: &str, parent: &str| {
        format!(
            r#"{{"type":"subsegment","name":"x","id":"{id}","parent_id":"{parent}","trace_id":"{T}","start_time":1,"end_time":2,"fault":true}}"#
        )
    };
    let s = summarise(&[
        sub("1000000000000001", "2000000000000002"),
        sub("2000000000000002", "1000000000000001"),
    ]);
    assert!(s.entry_point.is_none());
}

#[test]
fn rendering_matches_the_wire_shape() {
    let s = summarise(&[seg(
        "1000000000000001",
        "front",
        1.0,
        2.5,
        r#","annotations":{"n":2},"http":{"request":{"method":"GET"},"response":{"status":404}},"error":true"#,
    )]);
    let v = serde_json::to_value(crate::model::render::summary(&s)).unwrap();
    assert_eq!(v["Duration"], 1.5);
    assert_eq!(v["HasError"], true);
    assert_eq!(
        v["Http"],
        serde_json::json!({"HttpStatus": 404, "HttpMethod": "GET"})
    );
    assert_eq!(
        v["Annotations"]["n"][0]["AnnotationValue"],
        serde_json::json!({"NumberValue": 2.0})
    );
    assert_eq!(
        v["EntryPoint"],
        serde_json::json!({"Name": "front", "Names": ["front"]})
    );
    assert_eq!(
        v["ErrorRootCauses"][0]["Services"][0]["EntityPath"][0]["Name"],
        "front"
    );
}

#[test]
fn the_head_decodes_the_leading_fields_and_leaves_the_rows_empty() {
    let s = summarise(&[seg(
        "1000000000000001",
        "front",
        1.0,
        2.0,
        r#","fault":true,"user":"ann","http":{"request":{"url":"http://x/items/42","user_agent":"curl"},"response":{"status":500}},"annotations":{"region":"eu","n":3},"aws":{"ec2":{"instance_id":"i-1","availability_zone":"eu-1a"}},"subsegments":[{"id":"1000000000000002","name":"db","namespace":"remote","start_time":1.1,"end_time":1.9,"fault":true}]"#,
    )]);
    assert!(!s.rows.is_empty() && !s.edges.is_empty() && s.root_causes.is_some());
    let head = TraceSummary::decode_head(&s.encode()).unwrap();
    let want = TraceSummary {
        root_causes: None,
        rows: Vec::new(),
        edges: Vec::new(),
        spans: Vec::new(),
        links: Vec::new(),
        ..s.clone()
    };
    assert_eq!(head, want);
    assert_eq!(TraceSummary::decode(&s.encode()).unwrap(), s);
}
