//! The `aws` block (§11) and the `service` block (§12).

use super::attrs::Attrs;
use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
use serde_json::{Map, Value, json};

fn put(m: &mut Map<String, Value>, k: &str, v: Option<&str>) {
    if let Some(v) = v {
        m.insert(k.into(), v.into());
    }
}

/// Writes `k` even when missing (as `null`), as the exporter does in some blocks.
fn put_or_null(m: &mut Map<String, Value>, k: &str, v: Option<&str>) {
    m.insert(k.into(), v.map_or(Value::Null, Into::into));
}

/// The aws block: span attributes are consumed even when the block is not written (a
/// resource from another cloud provider).
pub fn block(a: &mut Attrs<'_>, res: &Attrs<'_>) -> Option<Value> {
    let mut m = Map::new();
    let operation = a.str("aws.operation").or_else(|| a.str("rpc.method"));
    a.remove("aws.operation");
    a.remove("rpc.method");
    put(&mut m, "operation", operation);
    let account = a
        .take_str("aws.account_id")
        .filter(|s| !s.is_empty())
        .or_else(|| res.str("cloud.account.id"));
    put(&mut m, "account_id", account);
    put(&mut m, "region", a.take_str("aws.region"));
    let request_id = a.take_str("aws.request_id").or(a.take_str("aws.requestId"));
    put(&mut m, "request_id", request_id);
    let queue = a.take_str("aws.queue_url").or(a.take_str("aws.queue.url"));
    put(&mut m, "queue_url", a.str("messaging.url").or(queue));
    let table = a
        .take_str("aws.table_name")
        .or(a.take_str("aws.table.name"));
    put(&mut m, "table_name", table);
    match a
        .get("aws.dynamodb.table_names")
        .and_then(|v| v.value.as_ref())
    {
        Some(V::ArrayValue(arr)) => {
            let names: Vec<&str> = arr
                .values
                .iter()
                .filter_map(|v| match &v.value {
                    Some(V::StringValue(s)) => Some(s.as_str()),
                    _ => None,
                })
                .collect();
            match names.as_slice() {
                [one] => put(&mut m, "table_name", Some(one)),
                [] => {}
                many => {
                    m.remove("table_name");
                    m.insert("table_names".into(), json!(many));
                }
            }
        }
        Some(V::StringValue(s)) => put(&mut m, "table_name", Some(s)),
        _ => {}
    }
    if res.str("cloud.provider").is_some_and(|p| p != "aws") {
        return None;
    }
    let platform = res.str("cloud.platform");
    if platform == Some("aws_ec2") || res.str("host.id").is_some_and(|h| !h.is_empty()) {
        let mut ec2 = Map::new();
        put_or_null(&mut ec2, "instance_id", res.str("host.id"));
        put_or_null(
            &mut ec2,
            "availability_zone",
            res.str("cloud.availability_zone"),
        );
        put_or_null(&mut ec2, "instance_size", res.str("host.type"));
        put_or_null(&mut ec2, "ami_id", res.str("host.image.id"));
        m.insert("ec2".into(), Value::Object(ec2));
    }
    if platform == Some("aws_ecs") {
        let mut ecs = Map::new();
        for (k, attr) in [
            ("container", "container.name"),
            ("container_id", "container.id"),
            ("availability_zone", "cloud.availability_zone"),
            ("container_arn", "aws.ecs.container.arn"),
            ("cluster_arn", "aws.ecs.cluster.arn"),
            ("task_arn", "aws.ecs.task.arn"),
            ("task_family", "aws.ecs.task.family"),
            ("launch_type", "aws.ecs.launchtype"),
        ] {
            put(&mut ecs, k, res.str(attr));
        }
        m.insert("ecs".into(), Value::Object(ecs));
    }
    if platform == Some("aws_elastic_beanstalk")
        && res
            .str("service.instance.id")
            .is_some_and(|s| !s.is_empty())
    {
        let deployment: i64 = res
            .str("service.instance.id")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut eb = Map::new();
        put_or_null(&mut eb, "environment_name", res.str("service.namespace"));
        put_or_null(&mut eb, "version_label", res.str("service.version"));
        eb.insert("deployment_id".into(), deployment.into());
        m.insert("elastic_beanstalk".into(), Value::Object(eb));
    }
    if platform == Some("aws_eks") || res.str("k8s.cluster.name").is_some_and(|s| !s.is_empty()) {
        let mut eks = Map::new();
        put_or_null(&mut eks, "cluster_name", res.str("k8s.cluster.name"));
        put_or_null(&mut eks, "pod", res.str("k8s.pod.name"));
        put_or_null(&mut eks, "container_id", res.str("container.id"));
        m.insert("eks".into(), Value::Object(eks));
    }
    let mut xray = Map::new();
    if let (Some(name), Some(lang)) = (
        res.str("telemetry.sdk.name"),
        res.str("telemetry.sdk.language"),
    ) {
        xray.insert("sdk".into(), format!("{name} for {lang}").into());
    }
    put(&mut xray, "sdk_version", res.str("telemetry.sdk.version"));
    let auto = res.get("telemetry.auto.version").is_some()
        || res.get("telemetry.distro.version").is_some();
    xray.insert("auto_instrumentation".into(), auto.into());
    m.insert("xray".into(), Value::Object(xray));
    Some(Value::Object(m))
}

/// `{"version": ...}` from `service.version`, else `container.image.tag`.
pub fn service(res: &Attrs<'_>) -> Option<Value> {
    res.str("service.version")
        .or_else(|| res.str("container.image.tag"))
        .map(|v| json!({ "version": v }))
}
