//! Compact summaries in the shapes of the X-Ray API (`TraceSummary` and its parts), as the
//! generated API types. The serde derive writes them faster than the Serialize impls this module
//! used to hold (`cargo bench --bench summary_json` keeps the comparison).

use super::api;
use super::intern::{self, Sid};
use super::summary::{Flags, RcEntity, RootCause, Scalar, TraceSummary};
use super::time::micros_to_secs;
use std::collections::BTreeMap;

fn text(s: intern::Sym) -> String {
    intern::text(s).to_string()
}

/// A `ServiceId`.
pub fn service_id(sid: Sid) -> api::ServiceId {
    let k = intern::service_key(sid);
    api::ServiceId {
        name: Some(text(k.name)),
        names: Some(vec![text(k.name)]),
        account_id: k.account.map(text),
        r#type: k.kind.map(text),
    }
}

fn service_ids(sids: &[Sid]) -> Option<Vec<api::ServiceId>> {
    Some(sids.iter().copied().map(service_id).collect())
}

fn exceptions(e: &RcEntity) -> Option<Vec<api::RootCauseException>> {
    e.exceptions.as_ref().map(|list| {
        list.iter()
            .map(|x| api::RootCauseException {
                name: x.name.as_deref().map(str::to_owned),
                message: x.message.as_deref().map(str::to_owned),
            })
            .collect()
    })
}

/// The three root-cause lists have their own types with the same members.
macro_rules! root_causes {
    ($list:expr, $cause:ident, $service:ident, $entity:ident, |$e:ident| { $($extra:tt)* }) => {
            $list
                .iter()
                .map(|rc: &RootCause| api::$cause {
                    client_impacting: Some(rc.client_impacting),
                    services: Some(
                        rc.services
                            .iter()
                            .map(|svc| {
                                let id = service_id(svc.sid);
                                api::$service {
                                    name: id.name,
                                    names: id.names,
                                    r#type: id.r#type,
                                    account_id: id.account_id,
                                    inferred: Some(svc.inferred),
                                    entity_path: Some(
                                        svc.path
                                            .iter()
                                            .map(|$e| api::$entity {
                                                name: Some(text($e.name)),
                                                remote: $e.remote,
                                                $($extra)*
                                            })
                                            .collect(),
                                    ),
                                }
                            })
                            .collect(),
                    ),
                })
                .collect()
    };
}

pub fn fault_root_causes(list: &[RootCause]) -> Vec<api::FaultRootCause> {
    root_causes!(list, FaultRootCause, FaultRootCauseService, FaultRootCauseEntity, |e| {
        exceptions: exceptions(e)
    })
}

pub fn error_root_causes(list: &[RootCause]) -> Vec<api::ErrorRootCause> {
    root_causes!(list, ErrorRootCause, ErrorRootCauseService, ErrorRootCauseEntity, |e| {
        exceptions: exceptions(e)
    })
}

pub fn response_time_root_causes(list: &[RootCause]) -> Vec<api::ResponseTimeRootCause> {
    root_causes!(
        list,
        ResponseTimeRootCause,
        ResponseTimeRootCauseService,
        ResponseTimeRootCauseEntity,
        |e| { coverage: e.coverage }
    )
}

/// A summary as the API's `TraceSummary`, less `Id`, `Revision` and `MatchedEventTime`, which
/// belong to the query.
pub fn summary(s: &TraceSummary) -> api::TraceSummary {
    let none = Default::default();
    let rc = s.root_causes.as_deref().unwrap_or(&none);
    let annotations: BTreeMap<String, Vec<api::ValueWithServiceIds>> = s
        .annotations
        .iter()
        .map(|a| {
            let values = a
                .values
                .iter()
                .map(|(v, sids)| api::ValueWithServiceIds {
                    annotation_value: Some(match v {
                        Scalar::String(x) => api::AnnotationValue {
                            string_value: Some(x.to_string()),
                            ..Default::default()
                        },
                        Scalar::Number(x) => api::AnnotationValue {
                            number_value: Some(*x),
                            ..Default::default()
                        },
                        Scalar::Bool(x) => api::AnnotationValue {
                            boolean_value: Some(*x),
                            ..Default::default()
                        },
                    }),
                    service_ids: service_ids(sids),
                })
                .collect();
            (text(a.key), values)
        })
        .collect();
    api::TraceSummary {
        id: None,
        start_time: Some(micros_to_secs(s.start)),
        duration: Some(s.duration_secs()),
        response_time: s.response_time,
        has_fault: Some(s.has(Flags::FAULT)),
        has_error: Some(s.has(Flags::ERROR)),
        has_throttle: Some(s.has(Flags::THROTTLE)),
        is_partial: Some(s.has(Flags::PARTIAL)),
        http: s.http.as_ref().map(|h| api::Http {
            http_url: h.url.as_deref().map(str::to_owned),
            http_status: h.status.map(i64::from),
            http_method: h.method.map(text),
            user_agent: h.user_agent.as_deref().map(str::to_owned),
            client_ip: h.client_ip.as_deref().map(str::to_owned),
        }),
        annotations: Some(annotations),
        users: Some(
            s.users
                .iter()
                .map(|u| api::TraceUser {
                    user_name: Some(u.name.to_string()),
                    service_ids: service_ids(&u.services),
                })
                .collect(),
        ),
        service_ids: service_ids(&s.services),
        resource_arns: Some(
            s.resource_arns
                .iter()
                .map(|a| api::ResourceARNDetail {
                    arn: Some(a.to_string()),
                })
                .collect(),
        ),
        instance_ids: Some(
            s.instance_ids
                .iter()
                .map(|i| api::InstanceIdDetail {
                    id: Some(i.to_string()),
                })
                .collect(),
        ),
        availability_zones: Some(
            s.availability_zones
                .iter()
                .map(|z| api::AvailabilityZoneDetail {
                    name: Some(text(*z)),
                })
                .collect(),
        ),
        entry_point: s.entry_point.map(service_id),
        fault_root_causes: Some(fault_root_causes(&rc.fault)),
        error_root_causes: Some(error_root_causes(&rc.error)),
        response_time_root_causes: Some(response_time_root_causes(&rc.response_time)),
        ..Default::default()
    }
}
