use super::*;

fn doc(v: Value) -> Vec<(String, Value)> {
    spans(&[v], 100)
        .into_iter()
        .map(|(id, text)| (id, serde_json::from_str(&text).unwrap()))
        .collect()
}

#[test]
fn a_segment_and_its_calls_become_server_client_and_internal_spans() {
    let out = doc(json!({
        "trace_id": "1-5759e988-bd862e3fe1be46a994272793", "id": "1000000000000001",
        "name": "api", "start_time": 1.5, "end_time": 2.25, "user": "alice",
        "http": {"request": {"method": "GET", "url": "https://x/a"}, "response": {"status": 502}},
        "annotations": {"tier": "gold"}, "aws": {"xray": {"sdk": "X-Ray for Python"}},
        "subsegments": [
            {"id": "2000000000000002", "name": "DynamoDB", "namespace": "aws", "start_time": 1.6,
             "end_time": 1.7, "aws": {"operation": "GetItem", "table_name": "orders"}},
            {"id": "3000000000000003", "name": "render", "start_time": 1.8, "end_time": 1.9,
             "subsegments": [{"id": "4000000000000004", "name": "db", "start_time": 1.81, "end_time": 1.82,
                              "sql": {"url": "jdbc:postgresql://h:5432/shop?ssl=1", "database_type": "PostgreSQL"}}]},
        ]
    }));
    let ids: Vec<&str> = out.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "1000000000000001",
            "2000000000000002",
            "3000000000000003",
            "4000000000000004"
        ]
    );
    let (root, ddb, render, db) = (&out[0].1, &out[1].1, &out[2].1, &out[3].1);
    assert_eq!(root["traceId"], "5759e988bd862e3fe1be46a994272793");
    assert_eq!(root["kind"], "SERVER");
    assert!(root.get("parentSpanId").is_none());
    assert_eq!(root["startTimeUnixNano"], 1_500_000_000i64);
    assert_eq!(root["durationNano"], 750_000_000i64);
    assert_eq!(root["attributes"]["http.method"], "GET");
    assert_eq!(root["attributes"]["http.status_code"], 502);
    assert_eq!(root["attributes"]["enduser.id"], "alice");
    assert_eq!(root["attributes"]["tier"], "gold");
    assert_eq!(root["attributes"]["aws.xray.annotations"], json!(["tier"]));
    assert_eq!(
        root["status"]["code"], "ERROR",
        "a 5xx response is an error status"
    );
    assert_eq!(root["resource"]["attributes"]["service.name"], "api");
    assert_eq!(
        root["resource"]["attributes"]["telemetry.sdk.language"],
        "Python"
    );
    assert_eq!(
        (ddb["kind"].as_str(), ddb["parentSpanId"].as_str()),
        (Some("CLIENT"), Some("1000000000000001"))
    );
    assert_eq!(ddb["attributes"]["aws.table_name"], "orders");
    assert_eq!(ddb["attributes"]["aws.service"], "DynamoDB");
    assert_eq!(ddb["status"]["code"], "UNSET");
    assert_eq!(render["kind"], "INTERNAL");
    assert_eq!(db["parentSpanId"], "3000000000000003");
    assert_eq!(
        db["attributes"]["db.connection_string"],
        "jdbc:postgresql://h:5432"
    );
    assert_eq!(db["attributes"]["db.name"], "shop");
    assert_eq!(db["attributes"]["db.system"], "PostgreSQL");
    assert_eq!(
        db["resource"], root["resource"],
        "subsegments share their segment's resource"
    );
}

#[test]
fn what_an_otlp_span_became_is_given_back_as_its_attributes_and_resource() {
    let out = doc(json!({
        "trace_id": "1-5759e988-bd862e3fe1be46a994272793", "id": "1000000000000001", "name": "shop",
        "start_time": 1.0, "end_time": 2.0, "fault": true,
        "metadata": {"default": {"cart.items": 3, "otel.resource.service.name": "shop",
                                 "otel.resource.deployment.environment": "test"},
                     "app": {"build": 7}},
        "cause": {"exceptions": [{"id": "5000000000000005", "type": "ValueError", "message": "bad",
                                  "stack": [{"path": "a.py", "line": 3, "label": "f"}]}]}
    }));
    let s = &out[0].1;
    assert_eq!(s["attributes"]["cart.items"], 3);
    assert!(s["attributes"].get("otel.resource.service.name").is_none());
    assert_eq!(s["attributes"]["aws.xray.metadata.app"], "{\"build\":7}");
    assert_eq!(
        s["resource"]["attributes"],
        json!({"service.name": "shop", "deployment.environment": "test"})
    );
    assert_eq!(s["status"]["code"], "ERROR");
    let ev = &s["events"][0];
    assert_eq!(ev["name"], "exception");
    assert_eq!(ev["attributes"]["exception.type"], "ValueError");
    assert_eq!(
        ev["attributes"]["exception.stacktrace"],
        "ValueError: bad\n\tat f(a.py: 3)\n"
    );
}

#[test]
fn inferred_segments_are_not_spans_and_in_progress_spans_have_no_end() {
    let out = doc(
        json!({"trace_id": "1-5759e988-bd862e3fe1be46a994272793", "id": "1000000000000001",
                         "name": "w", "start_time": 1.0, "in_progress": true}),
    );
    assert!(out[0].1.get("endTimeUnixNano").is_none() && out[0].1.get("durationNano").is_none());
    assert_eq!(out[0].1["attributes"]["aws.xray.inprogress"], true);
    assert!(doc(json!({"id": "1", "name": "DynamoDB", "inferred": true})).is_empty());
    assert_eq!(split_db_url("no-scheme/db"), None);
}
