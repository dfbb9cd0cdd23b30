use super::*;
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
    assert_eq!(s.entry_point.as_ref().unwrap().name, "front");
    assert!(!s.has_fault, "HasFault reads the root segment");
    assert_eq!(s.response_time, Some(1.0));
    assert_eq!(
        s.service_ids.len(),
        2,
        "the callee replaced the inferred node"
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
    assert_eq!(s.entry_point.as_ref().unwrap().name, "back");
    assert!(s.has_error);
}

#[test]
fn remote_calls_without_callee_are_inferred_services() {
    let s = summarise(&[seg(
        "1000000000000001",
        "front",
        1.0,
        2.0,
        r#","subsegments":[{"id":"1000000000000009","name":"api.example.com","namespace":"remote","start_time":1.1,"end_time":1.9},{"id":"1000000000000008","name":"S3","namespace":"aws","start_time":1.1,"end_time":1.2}]"#,
    )]);
    let kinds: Vec<_> = s
        .service_ids
        .iter()
        .map(|x| (x.name.as_str(), x.kind.as_deref()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("front", None),
            ("api.example.com", Some("remote")),
            ("S3", Some("AWS::S3"))
        ]
    );
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
    assert_eq!(s.annotations[0].1.len(), 1);
    assert_eq!(s.annotations[0].1[0].service_ids.len(), 2);
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
