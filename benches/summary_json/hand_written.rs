//! The writer GetTraceSummaries used before the generated API types: Serialize impls straight
//! from the compact summary, with serde_json maps for the nested parts. Kept here as the
//! baseline the derive is measured against.

use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use xray_gateway::model::intern::{self, Sid, Sym};
use xray_gateway::model::summary::{AnnotationEntry, RootCause, Scalar, TraceSummary};
use xray_gateway::model::time::micros_to_secs;

/// A `ServiceId`.
pub struct ServiceIdOf(pub Sid);

impl Serialize for ServiceIdOf {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let k = intern::service_key(self.0);
        let name = intern::text(k.name);
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("Name", &*name)?;
        m.serialize_entry("Names", &[&*name])?;
        if let Some(a) = k.account {
            m.serialize_entry("AccountId", &*intern::text(a))?;
        }
        if let Some(t) = k.kind {
            m.serialize_entry("Type", &*intern::text(t))?;
        }
        m.end()
    }
}

struct Sids<'a>(&'a [Sid]);

impl Serialize for Sids<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut q = s.serialize_seq(Some(self.0.len()))?;
        for sid in self.0 {
            q.serialize_element(&ServiceIdOf(*sid))?;
        }
        q.end()
    }
}

struct Text(Sym);

impl Serialize for Text {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&intern::text(self.0))
    }
}

struct Value<'a>(&'a Scalar);

impl Serialize for Value<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(1))?;
        match self.0 {
            Scalar::String(v) => m.serialize_entry("StringValue", v)?,
            Scalar::Number(v) => m.serialize_entry("NumberValue", v)?,
            Scalar::Bool(v) => m.serialize_entry("BooleanValue", v)?,
        }
        m.end()
    }
}

struct Annotations<'a>(&'a [AnnotationEntry]);

impl Serialize for Annotations<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Values<'a>(&'a [(Scalar, Vec<Sid>)]);
        impl Serialize for Values<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut q = s.serialize_seq(Some(self.0.len()))?;
                for (v, sids) in self.0 {
                    let mut m = serde_json::Map::new();
                    m.insert(
                        "AnnotationValue".into(),
                        serde_json::to_value(Value(v)).unwrap_or_default(),
                    );
                    m.insert(
                        "ServiceIds".into(),
                        serde_json::to_value(Sids(sids)).unwrap_or_default(),
                    );
                    q.serialize_element(&m)?;
                }
                q.end()
            }
        }
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for a in self.0 {
            m.serialize_entry(&*intern::text(a.key), &Values(&a.values))?;
        }
        m.end()
    }
}

/// A list of root causes (fault, error or response time) in the API's shape.
pub struct RootCausesOf<'a>(pub &'a [RootCause]);

impl Serialize for RootCausesOf<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut q = s.serialize_seq(Some(self.0.len()))?;
        for rc in self.0 {
            let services: Vec<serde_json::Value> = rc
                .services
                .iter()
                .map(|svc| {
                    let mut m = match serde_json::to_value(ServiceIdOf(svc.sid)) {
                        Ok(serde_json::Value::Object(m)) => m,
                        _ => serde_json::Map::new(),
                    };
                    let path: Vec<serde_json::Value> = svc
                        .path
                        .iter()
                        .map(|e| {
                            let mut em = serde_json::Map::new();
                            em.insert("Name".into(), intern::text(e.name).as_ref().into());
                            if let Some(ex) = &e.exceptions {
                                let list: Vec<serde_json::Value> = ex
                                    .iter()
                                    .map(|x| {
                                        let mut xm = serde_json::Map::new();
                                        if let Some(n) = &x.name {
                                            xm.insert("Name".into(), n.as_ref().into());
                                        }
                                        if let Some(msg) = &x.message {
                                            xm.insert("Message".into(), msg.as_ref().into());
                                        }
                                        xm.into()
                                    })
                                    .collect();
                                em.insert("Exceptions".into(), list.into());
                            }
                            if let Some(c) = e.coverage {
                                em.insert("Coverage".into(), c.into());
                            }
                            if let Some(r) = e.remote {
                                em.insert("Remote".into(), r.into());
                            }
                            em.into()
                        })
                        .collect();
                    m.insert("EntityPath".into(), path.into());
                    m.insert("Inferred".into(), svc.inferred.into());
                    m.into()
                })
                .collect();
            let mut m = serde_json::Map::new();
            m.insert("Services".into(), services.into());
            m.insert("ClientImpacting".into(), rc.client_impacting.into());
            q.serialize_element(&m)?;
        }
        q.end()
    }
}

/// The summary's members, less `Id`, `Revision` and `MatchedEventTime`.
pub struct WireSummary<'a>(pub &'a TraceSummary);

impl Serialize for WireSummary<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use xray_gateway::model::summary::Flags;
        let t = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("StartTime", &micros_to_secs(t.start))?;
        m.serialize_entry("Duration", &t.duration_secs())?;
        if let Some(r) = t.response_time {
            m.serialize_entry("ResponseTime", &r)?;
        }
        m.serialize_entry("HasFault", &t.has(Flags::FAULT))?;
        m.serialize_entry("HasError", &t.has(Flags::ERROR))?;
        m.serialize_entry("HasThrottle", &t.has(Flags::THROTTLE))?;
        m.serialize_entry("IsPartial", &t.has(Flags::PARTIAL))?;
        if let Some(h) = &t.http {
            let mut hm = serde_json::Map::new();
            if let Some(u) = &h.url {
                hm.insert("HttpURL".into(), u.as_ref().into());
            }
            if let Some(st) = h.status {
                hm.insert("HttpStatus".into(), st.into());
            }
            if let Some(me) = h.method {
                hm.insert("HttpMethod".into(), intern::text(me).as_ref().into());
            }
            if let Some(ua) = &h.user_agent {
                hm.insert("UserAgent".into(), ua.as_ref().into());
            }
            if let Some(ip) = &h.client_ip {
                hm.insert("ClientIp".into(), ip.as_ref().into());
            }
            m.serialize_entry("Http", &hm)?;
        }
        m.serialize_entry("Annotations", &Annotations(&t.annotations))?;
        let users: Vec<serde_json::Value> = t
            .users
            .iter()
            .map(|u| serde_json::json!({"UserName": u.name.as_ref(), "ServiceIds": Sids(&u.services)}))
            .collect();
        m.serialize_entry("Users", &users)?;
        m.serialize_entry("ServiceIds", &Sids(&t.services))?;
        let arns: Vec<serde_json::Value> = t
            .resource_arns
            .iter()
            .map(|a| serde_json::json!({"ARN": a.as_ref()}))
            .collect();
        m.serialize_entry("ResourceARNs", &arns)?;
        let ids: Vec<serde_json::Value> = t
            .instance_ids
            .iter()
            .map(|i| serde_json::json!({"Id": i.as_ref()}))
            .collect();
        m.serialize_entry("InstanceIds", &ids)?;
        let zones: Vec<serde_json::Value> = t
            .availability_zones
            .iter()
            .map(|z| serde_json::json!({"Name": Text(*z)}))
            .collect();
        m.serialize_entry("AvailabilityZones", &zones)?;
        if let Some(e) = t.entry_point {
            m.serialize_entry("EntryPoint", &ServiceIdOf(e))?;
        }
        let none = Default::default();
        let rc = t.root_causes.as_deref().unwrap_or(&none);
        m.serialize_entry("FaultRootCauses", &RootCausesOf(&rc.fault))?;
        m.serialize_entry("ErrorRootCauses", &RootCausesOf(&rc.error))?;
        m.serialize_entry("ResponseTimeRootCauses", &RootCausesOf(&rc.response_time))?;
        m.end()
    }
}

/// The summary as a JSON object text (members as `WireSummary` renders them).
pub fn render(t: &TraceSummary) -> String {
    serde_json::to_string(&WireSummary(t)).unwrap_or_else(|_| "{}".to_owned())
}
