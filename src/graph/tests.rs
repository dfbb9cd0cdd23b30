use super::*;
use crate::model::segment::{ValidDoc, validate};
use crate::model::summary::compute;
use serde_json::Value;

const T: &str = "1-581cf771-a006649127e371903a2de979";

fn summary(docs: &[String]) -> TraceSummary {
    let parsed: Vec<ValidDoc<'_>> = docs.iter().map(|d| validate(d).unwrap()).collect();
    let refs: Vec<&ValidDoc<'_>> = parsed.iter().collect();
    compute(&refs)
}

/// The services as JSON, the way the API answers them.
fn render_services(g: &Graph) -> Vec<Value> {
    super::render_services(g)
        .iter()
        .map(|s| serde_json::to_value(s).unwrap())
        .collect()
}

fn by_name<'a>(services: &'a [Value], name: &str) -> &'a Value {
    services
        .iter()
        .find(|s| s["Name"] == name)
        .unwrap_or_else(|| panic!("no node {name}"))
}

fn two_services_and_dynamodb(front_status: u16, throttled: bool) -> Vec<String> {
    vec![
        format!(
            r#"{{"name":"front","id":"1000000000000001","trace_id":"{T}","start_time":100,"end_time":101,"http":{{"response":{{"status":{front_status}}}}},"fault":{f},
            "subsegments":[{{"id":"2000000000000002","name":"back","namespace":"remote","start_time":100.1,"end_time":100.9}}]}}"#,
            f = front_status >= 500
        ),
        format!(
            r#"{{"name":"back","id":"3000000000000003","trace_id":"{T}","parent_id":"2000000000000002","start_time":100.2,"end_time":100.8,
            "subsegments":[{{"id":"4000000000000004","name":"DynamoDB","namespace":"aws","start_time":100.3,"end_time":100.4,"throttle":{throttled},"error":{throttled},"aws":{{"table_name":"orders"}}}}]}}"#
        ),
    ]
}

#[test]
fn two_services_a_dynamodb_call_and_the_client() {
    let mut g = Graph::default();
    g.contribute(&summary(&two_services_and_dynamodb(200, false)), 1);
    let s = render_services(&g);
    assert_eq!(s.len(), 4, "client, orders, back, front");
    let client = &s[0];
    assert_eq!(
        (client["Name"].as_str(), client["Type"].as_str()),
        (Some("client"), Some("client"))
    );
    let front = by_name(&s, "front");
    assert_eq!(client["Edges"][0]["ReferenceId"], front["ReferenceId"]);
    assert_eq!(front["Root"], true);
    let back = by_name(&s, "back");
    let ddb = by_name(&s, "orders");
    assert_eq!(
        (ddb["Type"].as_str(), ddb["State"].as_str()),
        (Some("AWS::DynamoDB::Table"), Some("unknown"))
    );
    assert_eq!(front["Edges"][0]["ReferenceId"], back["ReferenceId"]);
    assert_eq!(back["Edges"][0]["ReferenceId"], ddb["ReferenceId"]);
    let e = &front["Edges"][0]["SummaryStatistics"];
    assert_eq!(
        (e["OkCount"].as_i64(), e["TotalCount"].as_i64()),
        (Some(1), Some(1))
    );
    assert!(
        (e["TotalResponseTime"].as_f64().unwrap() - 0.8).abs() < 1e-9,
        "the edge is timed by the caller's subsegment"
    );
    assert!(
        (back["SummaryStatistics"]["TotalResponseTime"]
            .as_f64()
            .unwrap()
            - 0.6)
            .abs()
            < 1e-9
    );
    assert_eq!(back["StartTime"], 100.2);
}

#[test]
fn a_subsegment_arriving_after_its_callee_still_makes_the_edge() {
    let docs = two_services_and_dynamodb(200, false);
    let mut g = Graph::default();
    g.contribute(&summary(&docs[1..]), 1);
    assert!(!g.edges.contains_key(&(
        Some(crate::model::intern::service("front", None, None)),
        crate::model::intern::service("back", None, None)
    )));
    // The front end arrives: the store withdraws the old summary and adds the new one.
    g.contribute(&summary(&docs[1..]), -1);
    g.contribute(&summary(&[docs[1].clone(), docs[0].clone()]), 1);
    let s = render_services(&g);
    assert_eq!(
        by_name(&s, "front")["Edges"][0]["ReferenceId"],
        by_name(&s, "back")["ReferenceId"]
    );
    assert_eq!(by_name(&s, "back")["Root"], false);
}

#[test]
fn throttles_and_faults_are_counted_apart() {
    let mut g = Graph::default();
    g.contribute(&summary(&two_services_and_dynamodb(200, true)), 1);
    g.contribute(&summary(&two_services_and_dynamodb(502, false)), 1);
    let s = render_services(&g);
    let back = by_name(&s, "back");
    let edge = &back["Edges"][0]["SummaryStatistics"];
    assert_eq!(
        edge["ErrorStatistics"],
        serde_json::json!({"ThrottleCount": 1, "OtherCount": 0, "TotalCount": 1})
    );
    assert_eq!(edge["OkCount"], 1);
    let front = by_name(&s, "front")["SummaryStatistics"].clone();
    assert_eq!(
        (
            front["FaultStatistics"]["TotalCount"].as_i64(),
            front["OkCount"].as_i64(),
            front["TotalCount"].as_i64()
        ),
        (Some(1), Some(1), Some(2))
    );
}

#[test]
fn withdrawing_everything_leaves_nothing() {
    let mut g = Graph::default();
    let s = summary(&two_services_and_dynamodb(200, false));
    g.contribute(&s, 1);
    g.contribute(&s, -1);
    assert!(g.is_empty());
}

#[test]
fn histogram_bins_are_a_quarter_wide() {
    assert_eq!(bin_of(0.0), 0);
    assert_eq!(bin_of(0.85), bin_of(0.85 * 1.1));
    assert!(bin_of(0.85 * 1.3) > bin_of(0.85));
    assert!(bin_of(1e9) == BINS - 1);
}

#[test]
fn histogram_values_are_the_values_observed() {
    let mut h = Hist::default();
    h.record(1.0, 1);
    assert_eq!(h.entries().collect::<Vec<_>>(), vec![(1.0, 1)]);
    // Values sharing a bin are reported as their mean; a withdrawn one leaves the rest's.
    h.record(1.02, 1);
    h.record(1.08, 1);
    h.record(0.002, 1);
    assert_eq!(
        h.entries().collect::<Vec<_>>(),
        vec![(0.002, 1), (1.0, 1), (1.05, 2)]
    );
    h.record(1.08, -1);
    assert_eq!(
        h.entries().collect::<Vec<_>>(),
        vec![(0.002, 1), (1.0, 1), (1.02, 1)]
    );
    h.record(0.002, -1);
    h.record(1.0, -1);
    h.record(1.02, -1);
    assert!(h.0.is_empty());
}

#[test]
fn a_span_link_becomes_a_link_edge_with_event_ages() {
    let producer = crate::model::intern::service("producer", None, None);
    let consumer = crate::model::intern::service("consumer", None, None);
    let mut g = Graph::default();
    g.nodes.entry(producer).or_default().rows = 1;
    g.nodes.entry(consumer).or_default().rows = 1;
    g.add_link(producer, consumer, 2.5, 100_000_000);
    g.add_link(producer, consumer, 0.004, 100_000_000);
    let s = render_services(&g);
    let p = by_name(&s, "producer");
    let link = &p["Edges"][0];
    assert_eq!(link["EdgeType"], "link");
    assert_eq!(link["ReferenceId"], by_name(&s, "consumer")["ReferenceId"]);
    assert_eq!(link["SummaryStatistics"]["TotalCount"], 2);
    let ages: Vec<f64> = link["ReceivedEventAgeHistogram"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["Value"].as_f64().unwrap())
        .collect();
    assert_eq!(ages, vec![0.004, 2.5]);
}

#[test]
fn each_dynamodb_table_is_a_node_and_untargeted_calls_share_a_generic_one() {
    let call = |id: u64, table: &str| {
        let aws = if table.is_empty() {
            r#"{"operation":"ListTables"}"#.to_owned()
        } else {
            format!(r#"{{"operation":"GetItem","table_name":"{table}"}}"#)
        };
        format!(
            r#"{{"id":"{id:016x}","name":"DynamoDB","namespace":"aws","start_time":100.1,"end_time":100.2,"aws":{aws}}}"#
        )
    };
    let doc = format!(
        r#"{{"name":"api","id":"1000000000000001","trace_id":"{T}","start_time":100,"end_time":101,"subsegments":[{},{},{},{}]}}"#,
        call(2, "orders"),
        call(3, "carts"),
        call(4, "orders"),
        call(5, "")
    );
    let mut g = Graph::default();
    g.contribute(&summary(&[doc]), 1);
    let s = render_services(&g);
    let kind = |name: &str| by_name(&s, name)["Type"].as_str().unwrap().to_owned();
    assert_eq!(kind("orders"), "AWS::DynamoDB::Table");
    assert_eq!(kind("carts"), "AWS::DynamoDB::Table");
    assert_eq!(kind("DynamoDB"), "AWS::DynamoDB");
    let api = by_name(&s, "api");
    let to_orders = api["Edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["ReferenceId"] == by_name(&s, "orders")["ReferenceId"])
        .expect("an edge api -> orders");
    assert_eq!(to_orders["SummaryStatistics"]["TotalCount"], 2);
    assert_eq!(s.len(), 5, "client, api and three DynamoDB nodes");
}
