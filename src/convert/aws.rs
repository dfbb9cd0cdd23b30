//! The `aws` block (§11): its resource-derived part, computed once per resource, and the part
//! each span's attributes add.

use super::attrs::{Attrs, string_list};
use super::doc::{Aws, Beanstalk, Ec2, Ecs, Eks, LogGroup, SdkName, Xray};
use opentelemetry_proto::tonic::common::v1::any_value::Value as V;

/// The block as the resource alone makes it; `None` for a resource of another cloud provider.
pub fn from_resource<'a>(
    res: &Attrs<'a>,
    sdk: Option<SdkName<'a>>,
    config_log_groups: &'a [String],
) -> Option<Aws<'a>> {
    if res.str("cloud.provider").is_some_and(|p| p != "aws") {
        return None;
    }
    let platform = res.str("cloud.platform");
    let mut aws = Aws {
        account_id: res.text("cloud.account.id"),
        ..Default::default()
    };
    if platform == Some("aws_ec2") || res.text("host.id").is_some() {
        aws.ec2 = Some(Ec2 {
            instance_id: res.text("host.id"),
            availability_zone: res.text("cloud.availability_zone"),
            instance_size: res.text("host.type"),
            ami_id: res.text("host.image.id"),
        });
    }
    if platform == Some("aws_ecs") {
        aws.ecs = Some(Ecs {
            container: res.text("container.name"),
            container_id: res.text("container.id"),
            task_arn: res.text("aws.ecs.task.arn"),
            task_family: res.text("aws.ecs.task.family"),
            cluster_arn: res.text("aws.ecs.cluster.arn"),
            container_arn: res.text("aws.ecs.container.arn"),
            availability_zone: res.text("cloud.availability_zone"),
            launch_type: res.text("aws.ecs.launchtype"),
        });
    }
    if platform == Some("aws_elastic_beanstalk")
        && let Some(instance) = res.text("service.instance.id")
    {
        aws.elastic_beanstalk = Some(Beanstalk {
            environment_name: res.text("service.namespace"),
            version_label: res.text("service.version"),
            deployment_id: instance.parse().unwrap_or(0),
        });
    }
    if platform == Some("aws_eks") || res.text("k8s.cluster.name").is_some() {
        aws.eks = Some(Eks {
            cluster_name: res.text("k8s.cluster.name"),
            pod: res.text("k8s.pod.name"),
            container_id: res.text("container.id"),
        });
    }
    aws.cloudwatch_logs = log_groups(res, config_log_groups);
    aws.xray = Xray {
        sdk,
        sdk_version: res.text("telemetry.sdk.version"),
        auto_instrumentation: res.has("telemetry.auto.version")
            || res.has("telemetry.distro.version"),
    };
    Some(aws)
}

/// Log groups from ARNs, else names, else the configured names.
fn log_groups<'a>(res: &Attrs<'a>, config: &'a [String]) -> Vec<LogGroup<'a>> {
    let arns = string_list(res.get("aws.log.group.arns"));
    if !arns.is_empty() {
        return arns
            .into_iter()
            .map(|arn| LogGroup {
                // arn:aws:logs:<region>:<account>:log-group:<name>[:*]
                log_group: Some(arn.split(':').nth(6).unwrap_or(arn)),
                arn: Some(arn),
            })
            .collect();
    }
    let names = string_list(res.get("aws.log.group.names"));
    let names: Vec<&str> = if names.is_empty() {
        config.iter().map(String::as_str).collect()
    } else {
        names
    };
    names
        .into_iter()
        .map(|n| LogGroup {
            log_group: Some(n),
            arn: None,
        })
        .collect()
}

/// Adds what the span's attributes say to the resource's block, consuming them; they are
/// consumed even when there is no block (a resource of another cloud provider).
pub fn add_span_part<'a>(aws: Option<&mut Aws<'a>>, a: &mut Attrs<'a>) {
    let operation = a.text("aws.operation").or_else(|| a.text("rpc.method"));
    a.remove("aws.operation");
    a.remove("rpc.method");
    let account = a.take_text("aws.account_id");
    let region = a.take_text("aws.region");
    let request_id = a
        .take_text("aws.request_id")
        .or(a.take_text("aws.requestId"));
    let queue = a
        .take_text("aws.queue_url")
        .or(a.take_text("aws.queue.url"));
    let queue = a.text("messaging.url").or(queue);
    let mut table = a
        .take_text("aws.table_name")
        .or(a.take_text("aws.table.name"));
    let mut tables = Vec::new();
    match a
        .get("aws.dynamodb.table_names")
        .and_then(|v| v.value.as_ref())
    {
        Some(V::ArrayValue(_)) => {
            let names = string_list(a.get("aws.dynamodb.table_names"));
            match names.as_slice() {
                [one] => table = Some(one),
                [] => {}
                _ => {
                    table = None;
                    tables = names;
                }
            }
        }
        Some(V::StringValue(s)) => table = Some(s),
        _ => {}
    }
    let Some(aws) = aws else { return };
    aws.operation = operation;
    if account.is_some() {
        aws.account_id = account;
    }
    aws.region = region;
    aws.request_id = request_id;
    aws.queue_url = queue.filter(|q| !q.is_empty());
    aws.table_name = table.filter(|t| !t.is_empty());
    aws.table_names = tables;
}
