//! The document's name (§5), the helpers namespaces need (§6), and its origin (§7).

use super::attrs::Attrs;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use std::borrow::Cow;

/// Keeps space, ASCII digits, letters and `_ . : / % & # = + - @`; at most 200 bytes.
fn sanitise_name(name: &str) -> String {
    let mut s: String = name
        .chars()
        .filter(|c| {
            *c == ' ' || c.is_ascii_digit() || c.is_alphabetic() || "_.:/%&#=+-@".contains(*c)
        })
        .collect();
    if s.len() > 200 {
        let mut cut = 200;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    if s.is_empty() { "span".into() } else { s }
}

pub fn origin(resource: &Attrs<'_>) -> Option<&'static str> {
    if resource.is_empty() || resource.str("cloud.provider").is_some_and(|p| p != "aws") {
        return None;
    }
    Some(match resource.str("cloud.platform")? {
        "aws_app_runner" => "AWS::AppRunner::Service",
        "aws_eks" => "AWS::EKS::Container",
        "aws_elastic_beanstalk" => "AWS::ElasticBeanstalk::Environment",
        "aws_ecs" => match resource.str("aws.ecs.launchtype") {
            Some("ec2") => "AWS::ECS::EC2",
            Some("fargate") => "AWS::ECS::Fargate",
            _ => "AWS::ECS::Container",
        },
        "aws_ec2" => "AWS::EC2::Instance",
        _ => return None,
    })
}

pub fn client_like(kind: SpanKind) -> bool {
    matches!(
        kind,
        SpanKind::Client | SpanKind::Producer | SpanKind::Consumer
    )
}

/// `aws.remote.service` as a name: AWS SDK spans drop `AWS.SDK.` or `AWS::`.
pub fn remote_service_name<'a>(name: &'a str, a: &Attrs<'_>) -> &'a str {
    if a.str("rpc.system") != Some("aws-api") {
        return name;
    }
    name.strip_prefix("AWS.SDK.")
        .or_else(|| name.strip_prefix("AWS::"))
        .unwrap_or(name)
}

/// The document's name (§5; each rule applies only if the ones before gave nothing) and
/// whether it came from `aws.service`.
pub fn name<'a>(
    span: &'a Span,
    kind: SpanKind,
    a: &Attrs<'a>,
    res: &Attrs<'a>,
) -> (Cow<'a, str>, bool) {
    let local_root_internal =
        kind == SpanKind::Internal && a.str("aws.span.kind") == Some("LOCAL_ROOT");
    if (kind == SpanKind::Server || local_root_internal)
        && let Some(n) = a.text("aws.local.service")
    {
        return (n.into(), false);
    }
    if client_like(kind)
        && let Some(n) = a.text("aws.remote.service")
    {
        let n = remote_service_name(n, a);
        if !n.is_empty() {
            return (n.into(), false);
        }
    }
    if let Some(n) = a.text("peer.service") {
        return (n.into(), false);
    }
    if let Some(n) = a.text("aws.service") {
        return (n.into(), true);
    }
    if let Some(db) = a.text("db.name") {
        let host = a.str("db.connection_string").and_then(|c| {
            let c = c.strip_prefix("jdbc:").unwrap_or(c);
            let rest = c.split_once("//")?.1;
            let host = rest
                .split(['/', '?', '#'])
                .next()?
                .rsplit('@')
                .next()?
                .split(':')
                .next()?;
            (!host.is_empty()).then_some(host)
        });
        return match host {
            Some(h) => (format!("{db}@{h}").into(), false),
            None => (db.into(), false),
        };
    }
    if kind == SpanKind::Server
        && let Some(n) = res.text("service.name")
    {
        return (n.into(), false);
    }
    for k in ["rpc.service", "http.host", "net.peer.name"] {
        if let Some(n) = a.text(k) {
            return (n.into(), false);
        }
    }
    (sanitise_name(&span.name).into(), false)
}
