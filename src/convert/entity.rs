//! The validated view of a converted document (`model::segment::Entity`), built from the typed
//! document rather than by parsing the JSON written from it: ingest then checks and indexes
//! exactly what a parse would have given, at a fraction of the cost.

use super::doc::{Document, Primitive};
use crate::model::segment as m;
use std::borrow::Cow;

fn b(s: &str) -> Option<Cow<'_, str>> {
    Some(Cow::Borrowed(s))
}

impl Document<'_> {
    pub fn entity(&self) -> m::Entity<'_> {
        m::Entity {
            id: b(&self.id),
            name: self.name.as_deref().and_then(b),
            trace_id: b(&self.trace_id),
            parent_id: self.parent_id.as_deref().and_then(b),
            kind: self.kind.and_then(b),
            start_time: Some(self.start_time),
            end_time: Some(self.end_time),
            origin: self.origin.and_then(b),
            user: self.user.and_then(b),
            namespace: self.namespace.and_then(b),
            fault: Some(self.fault),
            error: Some(self.error),
            throttle: Some(self.throttle),
            cause: self.cause.as_ref().map(|c| {
                m::Cause::Details(m::CauseDetails {
                    exceptions: Some(
                        c.exceptions
                            .iter()
                            .map(|e| m::Exception {
                                id: b(&e.id),
                                message: b(&e.message),
                                kind: b(&e.kind),
                                remote: e.remote,
                            })
                            .collect(),
                    ),
                })
            }),
            http: self.http.as_ref().map(|h| m::Http {
                request: Some(m::HttpRequest {
                    method: h.request.method.and_then(b),
                    url: h.request.url.as_deref().and_then(b),
                    user_agent: h.request.user_agent.and_then(b),
                    client_ip: h.request.client_ip.and_then(b),
                    traced: None,
                }),
                response: Some(m::HttpResponse {
                    status: h.response.status,
                }),
            }),
            aws: self.aws.as_ref().map(|a| m::Aws {
                account_id: a.account_id.and_then(b),
                operation: a.operation.and_then(b),
                table_name: a.table_name.and_then(b),
                ec2: a.ec2.as_ref().map(|e| m::AwsEc2 {
                    instance_id: e.instance_id.and_then(b),
                    availability_zone: e.availability_zone.and_then(b),
                }),
                ecs: a.ecs.as_ref().map(|e| m::AwsEcs {
                    availability_zone: e.availability_zone.and_then(b),
                    container_arn: e.container_arn.and_then(b),
                }),
            }),
            annotations: (!self.annotations.is_empty()).then(|| {
                m::Annotations(
                    self.annotations
                        .iter()
                        .map(|(k, v)| {
                            let v = match *v {
                                Primitive::Str(s) => m::AnnotationValue::String(Cow::Borrowed(s)),
                                Primitive::Int(i) => m::AnnotationValue::Number(i as f64),
                                Primitive::Double(d) => m::AnnotationValue::Number(d),
                                Primitive::Bool(x) => m::AnnotationValue::Bool(x),
                            };
                            (Cow::Borrowed(k.as_str()), v)
                        })
                        .collect(),
                )
            }),
            links: (!self.links.is_empty()).then(|| {
                self.links
                    .iter()
                    .map(|l| m::Link {
                        trace_id: b(&l.trace_id),
                        id: b(l.id.as_deref().unwrap_or("")),
                    })
                    .collect()
            }),
            ..Default::default()
        }
    }
}
