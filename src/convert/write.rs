//! Writes a `Document` as JSON, field for field in the order the serde derive in `doc.rs`
//! declares (the exporter's). Written by hand because serialising through serde cost as much
//! as building the document; the derive stays as the reference that tests hold this writer
//! to, byte for byte (see `tests.rs`). Strings are escaped as serde_json escapes them and
//! numbers printed as it prints them, so both give the same text.

use super::doc::{
    Aws, Cause, Document, Ecs, Http, Link, Meta, Metadata, Primitive, Service, Sql, Xray,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, any_value::Value as V};

/// Why a document cannot be written: a number JSON cannot carry.
fn not_finite(d: f64) -> String {
    format!("an attribute holds {d}, which JSON cannot carry")
}

pub fn to_json(doc: &Document<'_>) -> Result<String, String> {
    let mut w = Json(String::with_capacity(2048));
    w.document(doc)?;
    Ok(w.0)
}

struct Json(String);

/// The escape for each byte, as serde_json writes it: 0 for none, `u` for `\u00XX`.
static ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = b'u';
        i += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0a] = b'n';
    t[0x0c] = b'f';
    t[0x0d] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

impl Json {
    fn raw(&mut self, s: &str) {
        self.0.push_str(s);
    }

    fn str(&mut self, s: &str) {
        self.0.push('"');
        self.escaped(s);
        self.0.push('"');
    }

    /// `s` escaped as the inside of a JSON string.
    fn escaped(&mut self, s: &str) {
        let out = &mut self.0;
        let bytes = s.as_bytes();
        // Without an early exit this check compiles to vector instructions; most strings pass.
        let clean = !bytes.iter().fold(false, |acc, &b| {
            acc | (b < 0x20) | (b == b'"') | (b == b'\\')
        });
        if clean {
            out.push_str(s);
            return;
        }
        let mut start = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let e = ESCAPE[b as usize];
            if e == 0 {
                continue;
            }
            // Every escaped byte is ASCII, so `i` is a character boundary.
            out.push_str(&s[start..i]);
            out.push('\\');
            if e == b'u' {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push_str("u00");
                out.push(HEX[(b >> 4) as usize] as char);
                out.push(HEX[(b & 0xf) as usize] as char);
            } else {
                out.push(e as char);
            }
            start = i + 1;
        }
        out.push_str(&s[start..]);
    }

    fn opt_str(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.str(s),
            None => self.raw("null"),
        }
    }

    fn i64(&mut self, v: i64) {
        self.raw(itoa::Buffer::new().format(v));
    }

    fn bool(&mut self, v: bool) {
        self.raw(if v { "true" } else { "false" });
    }

    /// A time: written as serde writes an `f64`, `null` when not finite.
    fn f64(&mut self, v: f64) {
        if v.is_finite() {
            self.raw(zmij::Buffer::new().format_finite(v));
        } else {
            self.raw("null");
        }
    }

    /// An attribute's number: one that is not finite fails the document, as Go's encoder does.
    fn finite(&mut self, v: f64) -> Result<(), String> {
        if !v.is_finite() {
            return Err(not_finite(v));
        }
        self.f64(v);
        Ok(())
    }

    fn object(&mut self) -> Obj<'_> {
        self.0.push('{');
        Obj {
            w: self,
            first: true,
        }
    }

    /// Writes `items` as an array, each with `each`.
    fn array<T>(
        &mut self,
        items: impl IntoIterator<Item = T>,
        mut each: impl FnMut(&mut Json, T) -> Result<(), String>,
    ) -> Result<(), String> {
        self.0.push('[');
        for (i, item) in items.into_iter().enumerate() {
            if i > 0 {
                self.0.push(',');
            }
            each(self, item)?;
        }
        self.0.push(']');
        Ok(())
    }
}

/// An object being written: keys and commas.
struct Obj<'w> {
    w: &'w mut Json,
    first: bool,
}

impl Obj<'_> {
    fn sep(&mut self) {
        if !self.first {
            self.w.0.push(',');
        }
        self.first = false;
    }

    /// A key known not to need escaping; returns the writer for its value.
    fn key(&mut self, k: &'static str) -> &mut Json {
        self.sep();
        let out = &mut self.w.0;
        out.push('"');
        out.push_str(k);
        out.push_str("\":");
        self.w
    }

    fn dyn_key(&mut self, k: &str) -> &mut Json {
        self.sep();
        self.w.str(k);
        self.w.0.push(':');
        self.w
    }

    fn str_if(&mut self, k: &'static str, v: Option<&str>) {
        if let Some(v) = v {
            self.key(k).str(v);
        }
    }

    fn end(self) {
        self.w.0.push('}');
    }
}

impl Json {
    fn document(&mut self, d: &Document<'_>) -> Result<(), String> {
        let mut o = self.object();
        o.key("name").opt_str(d.name.as_deref());
        o.key("id").str(&d.id);
        o.key("start_time").f64(d.start_time);
        if let Some(s) = &d.service {
            o.key("service").service(s);
        }
        o.str_if("origin", d.origin);
        o.str_if("user", d.user);
        if !d.links.is_empty() {
            o.key("links").array(&d.links, Json::link)?;
        }
        o.key("trace_id").str(&d.trace_id);
        o.key("end_time").f64(d.end_time);
        if let Some(h) = &d.http {
            o.key("http").http(h);
        }
        o.key("fault").bool(d.fault);
        o.key("error").bool(d.error);
        o.key("throttle").bool(d.throttle);
        if let Some(c) = &d.cause {
            o.key("cause").cause(c);
        }
        if let Some(a) = &d.aws {
            o.key("aws").aws(a);
        }
        if !d.annotations.is_empty() {
            let w = o.key("annotations");
            let mut a = w.object();
            for (k, v) in &d.annotations {
                a.dyn_key(k).primitive(*v)?;
            }
            a.end();
        }
        if !d.metadata.is_empty() {
            o.key("metadata").metadata(&d.metadata)?;
        }
        o.str_if("namespace", d.namespace);
        o.str_if("parent_id", d.parent_id.as_deref());
        o.str_if("type", d.kind);
        if let Some(s) = &d.sql {
            o.key("sql").sql(s);
        }
        o.end();
        Ok(())
    }

    fn service(&mut self, s: &Service<'_>) {
        let mut o = self.object();
        o.key("version").str(s.version);
        o.end();
    }

    fn link(&mut self, l: &Link<'_>) -> Result<(), String> {
        let mut o = self.object();
        o.key("trace_id").str(&l.trace_id);
        o.key("id").str(l.id.as_deref().unwrap_or(""));
        if let Some(attrs) = &l.attributes {
            o.key("attributes").meta_object(attrs)?;
        }
        o.end();
        Ok(())
    }

    fn http(&mut self, h: &Http<'_>) {
        let mut o = self.object();
        {
            let r = &h.request;
            let mut q = o.key("request").object();
            if let Some(x) = r.x_forwarded_for {
                q.key("x_forwarded_for").bool(x);
            }
            q.str_if("method", r.method);
            q.str_if("url", r.url.as_deref());
            q.str_if("user_agent", r.user_agent);
            q.str_if("client_ip", r.client_ip);
            q.end();
        }
        let mut p = o.key("response").object();
        if let Some(s) = h.response.status {
            p.key("status").i64(s);
        }
        p.key("content_length").i64(h.response.content_length);
        p.end();
        o.end();
    }

    fn cause(&mut self, c: &Cause<'_>) {
        let mut o = self.object();
        let _ = o.key("exceptions").array(&c.exceptions, |w, e| {
            let mut x = w.object();
            x.key("id").str(&e.id);
            x.key("message").str(&e.message);
            x.key("type").str(&e.kind);
            if let Some(r) = e.remote {
                x.key("remote").bool(r);
            }
            x.str_if("cause", e.cause.as_deref());
            if !e.stack.is_empty() {
                let _ = x.key("stack").array(&e.stack, |w, f| {
                    let mut s = w.object();
                    s.key("path").str(f.path);
                    s.key("line").i64(f.line);
                    s.key("label").str(f.label);
                    s.end();
                    Ok(())
                });
            }
            x.end();
            Ok(())
        });
        o.end();
    }

    fn aws(&mut self, a: &Aws<'_>) {
        let mut o = self.object();
        if let Some(b) = &a.elastic_beanstalk {
            let mut e = o.key("elastic_beanstalk").object();
            e.key("environment_name").opt_str(b.environment_name);
            e.key("version_label").opt_str(b.version_label);
            e.key("deployment_id").i64(b.deployment_id);
            e.end();
        }
        if !a.cloudwatch_logs.is_empty() {
            let _ = o.key("cloudwatch_logs").array(&a.cloudwatch_logs, |w, g| {
                let mut l = w.object();
                l.key("log_group").opt_str(g.log_group);
                l.str_if("arn", g.arn);
                l.end();
                Ok(())
            });
        }
        if let Some(e) = &a.ecs {
            o.key("ecs").ecs(e);
        }
        if let Some(e) = &a.ec2 {
            o.key("ec2").nullable_strings(&[
                ("instance_id", e.instance_id),
                ("availability_zone", e.availability_zone),
                ("instance_size", e.instance_size),
                ("ami_id", e.ami_id),
            ]);
        }
        if let Some(e) = &a.eks {
            o.key("eks").nullable_strings(&[
                ("cluster_name", e.cluster_name),
                ("pod", e.pod),
                ("container_id", e.container_id),
            ]);
        }
        o.key("xray").xray(&a.xray);
        o.str_if("account_id", a.account_id);
        o.str_if("operation", a.operation);
        o.str_if("region", a.region);
        o.str_if("request_id", a.request_id);
        o.str_if("queue_url", a.queue_url);
        o.str_if("table_name", a.table_name);
        if !a.table_names.is_empty() {
            let _ = o.key("table_names").array(&a.table_names, |w, t| {
                w.str(t);
                Ok(())
            });
        }
        o.end();
    }

    fn ecs(&mut self, e: &Ecs<'_>) {
        self.present_strings(&[
            ("container", e.container),
            ("container_id", e.container_id),
            ("task_arn", e.task_arn),
            ("task_family", e.task_family),
            ("cluster_arn", e.cluster_arn),
            ("container_arn", e.container_arn),
            ("availability_zone", e.availability_zone),
            ("launch_type", e.launch_type),
        ]);
    }

    /// An object of string fields, `null` where absent.
    fn nullable_strings(&mut self, fields: &[(&'static str, Option<&str>)]) {
        let mut o = self.object();
        for (k, v) in fields {
            o.key(k).opt_str(*v);
        }
        o.end();
    }

    /// An object of the string fields that are present.
    fn present_strings(&mut self, fields: &[(&'static str, Option<&str>)]) {
        let mut o = self.object();
        for (k, v) in fields {
            o.str_if(k, *v);
        }
        o.end();
    }

    fn xray(&mut self, x: &Xray<'_>) {
        let mut o = self.object();
        if let Some(sdk) = &x.sdk {
            let w = o.key("sdk");
            w.0.push('"');
            w.escaped(sdk.0);
            w.0.push_str(" for ");
            w.escaped(sdk.1);
            w.0.push('"');
        }
        o.str_if("sdk_version", x.sdk_version);
        o.key("auto_instrumentation").bool(x.auto_instrumentation);
        o.end();
    }

    fn sql(&mut self, s: &Sql<'_>) {
        self.present_strings(&[
            ("connection_string", s.connection_string.as_deref()),
            ("url", s.url),
            ("sanitized_query", s.sanitized_query),
            ("database_type", s.database_type),
            ("user", s.user),
        ]);
    }

    fn primitive(&mut self, p: Primitive<'_>) -> Result<(), String> {
        match p {
            Primitive::Str(v) => self.str(v),
            Primitive::Int(v) => self.i64(v),
            Primitive::Double(v) => self.finite(v)?,
            Primitive::Bool(v) => self.bool(v),
        }
        Ok(())
    }

    fn metadata(&mut self, m: &Metadata<'_>) -> Result<(), String> {
        let mut o = self.object();
        for (ns, values) in m {
            o.dyn_key(ns).meta_object(values)?;
        }
        o.end();
        Ok(())
    }

    /// An object of metadata values: a namespace, or a link's attributes.
    fn meta_object<'m, 'v: 'm, K: AsRef<str> + 'm>(
        &mut self,
        entries: impl IntoIterator<Item = (&'m K, &'m Meta<'v>)>,
    ) -> Result<(), String> {
        let mut o = self.object();
        for (k, v) in entries {
            o.dyn_key(k.as_ref()).meta(v)?;
        }
        o.end();
        Ok(())
    }

    fn meta(&mut self, m: &Meta<'_>) -> Result<(), String> {
        match m {
            Meta::Attr(v) => self.any(v),
            Meta::Json(v) => {
                // Parsed from JSON text, so it holds only what JSON can carry.
                self.raw(&v.to_string());
                Ok(())
            }
            Meta::Str(s) => {
                self.str(s);
                Ok(())
            }
        }
    }

    /// An attribute value as Go's `AsRaw` and encoder print it: maps sorted by key (the
    /// last of equal keys wins), bytes as base64.
    fn any(&mut self, v: &AnyValue) -> Result<(), String> {
        use base64::Engine;
        match v.value.as_ref() {
            None => self.raw("null"),
            Some(V::StringValue(s)) => self.str(s),
            Some(V::BoolValue(b)) => self.bool(*b),
            Some(V::IntValue(i)) => self.i64(*i),
            Some(V::DoubleValue(d)) => self.finite(*d)?,
            Some(V::BytesValue(b)) => {
                self.str(&base64::engine::general_purpose::STANDARD.encode(b));
            }
            Some(V::ArrayValue(a)) => self.array(&a.values, Json::any)?,
            Some(V::KvlistValue(l)) => {
                let sorted = super::doc::sorted_kvlist(l);
                let mut o = self.object();
                for (k, v) in sorted {
                    let w = o.dyn_key(k);
                    match v {
                        Some(v) => w.any(v)?,
                        None => w.raw("null"),
                    }
                }
                o.end();
            }
            // An index into a profile's string table: meaningless without the table.
            Some(_) => self.raw("null"),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_as_serde_json_escapes_them_wherever_the_byte_falls() {
        for special in [
            '"', '\\', '\u{0}', '\u{8}', '\n', '\u{1f}', 'é', '\u{7f}', ' ',
        ] {
            for at in 0..20 {
                let text: String = (0..20)
                    .map(|i| if i == at { special } else { 'a' })
                    .collect();
                let mut w = Json(String::new());
                w.str(&text);
                assert_eq!(w.0, serde_json::to_string(&text).unwrap(), "{text:?}");
            }
        }
    }
}
