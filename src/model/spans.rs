//! A trace's processed documents as OpenTelemetry spans, in the JSON form CloudWatch keeps them
//! in `aws/spans` and ListRetrievedTraces returns with `TraceFormat` `OTEL`: one object a span,
//! attributes as a flat map, times in Unix nanoseconds.
//!
//! X-Ray fields map to span fields as AWS's own X-Ray-to-OpenTelemetry translation (the
//! collector's `awsxray` receiver) maps them: every segment and subsegment is a span (embedded
//! subsegments flattened, parented by their container), segments are `SERVER`, calls in the
//! `aws` and `remote` namespaces `CLIENT`, other subsegments `INTERNAL`; `http`, `aws`, `sql`,
//! `user`, annotations and `cause` become the receiver's attributes and exception events.
//! Two readings of our own, because the gateway keeps what an OTLP span became rather than
//! the span: the `default` metadata the OTLP conversion wrote (the span's plain attributes, and
//! its resource as `otel.resource.*`) is given back as attributes and resource as they were,
//! and a `fault` marks the span's status `ERROR` as a cause does.

use serde_json::{Map, Value, json};

/// What every span of one top-level document shares.
struct Context<'a> {
    trace_id: &'a str,
    resource: &'a Value,
}

/// The spans of processed documents (inferred segments are X-Ray's own and are left out), at
/// most `limit`, each as its span id and its JSON text.
pub fn spans(documents: &[Value], limit: usize) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for doc in documents {
        let Value::Object(top) = doc else { continue };
        if top.get("inferred").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        let trace_id: String = top
            .get("trace_id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim_start_matches("1-")
            .replace('-', "");
        let resource = json!({ "attributes": resource(top) });
        let ctx = Context {
            trace_id: &trace_id,
            resource: &resource,
        };
        let parent = top.get("parent_id").and_then(Value::as_str);
        walk(&ctx, top, parent, true, &mut out, 0);
    }
    out.truncate(limit);
    out
}

fn walk(
    ctx: &Context<'_>,
    e: &Map<String, Value>,
    parent: Option<&str>,
    top: bool,
    out: &mut Vec<(String, String)>,
    depth: usize,
) {
    let id = e.get("id").and_then(Value::as_str).unwrap_or("");
    let span = span(ctx, e, parent, top);
    out.push((id.to_owned(), span.to_string()));
    if depth >= 64 {
        return;
    }
    for sub in e
        .get("subsegments")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Value::Object(s) = sub {
            walk(ctx, s, Some(id), false, out, depth + 1);
        }
    }
}

fn nanos(secs: f64) -> i64 {
    // Microseconds are what X-Ray's float seconds carry; finer digits would be noise.
    (secs * 1e6).round() as i64 * 1000
}

fn kind(e: &Map<String, Value>, top: bool) -> &'static str {
    let is_subsegment = e.get("type").and_then(Value::as_str) == Some("subsegment");
    if top && !is_subsegment {
        return "SERVER";
    }
    match e.get("namespace").and_then(Value::as_str) {
        Some("aws" | "remote") => "CLIENT",
        _ if client_ip(e).is_some() => "SERVER",
        _ => "INTERNAL",
    }
}

fn client_ip(e: &Map<String, Value>) -> Option<&Value> {
    e.get("http")?.get("request")?.get("client_ip")
}

fn span(ctx: &Context<'_>, e: &Map<String, Value>, parent: Option<&str>, top: bool) -> Value {
    let mut s = Map::new();
    s.insert("resource".into(), ctx.resource.clone());
    s.insert("traceId".into(), ctx.trace_id.into());
    s.insert("spanId".into(), e.get("id").cloned().unwrap_or_default());
    if let Some(p) = parent {
        s.insert("parentSpanId".into(), p.into());
    }
    s.insert("name".into(), e.get("name").cloned().unwrap_or_default());
    s.insert("kind".into(), kind(e, top).into());
    let start = e.get("start_time").and_then(Value::as_f64);
    let end = e.get("end_time").and_then(Value::as_f64);
    if let Some(st) = start {
        s.insert("startTimeUnixNano".into(), nanos(st).into());
    }
    if let Some(en) = end {
        s.insert("endTimeUnixNano".into(), nanos(en).into());
        if let Some(st) = start {
            s.insert("durationNano".into(), (nanos(en) - nanos(st)).into());
        }
    }
    let mut attrs = Map::new();
    attributes(e, &mut attrs);
    s.insert("attributes".into(), Value::Object(attrs));
    s.insert("status".into(), status(e));
    let events = exception_events(e, end.or(start).map(nanos));
    if !events.is_empty() {
        s.insert("events".into(), Value::Array(events));
    }
    Value::Object(s)
}

/// The resource of a top-level document: the OTLP resource it was converted from when it
/// carries one, otherwise what the receiver derives from the document.
fn resource(top: &Map<String, Value>) -> Map<String, Value> {
    let mut r = Map::new();
    if let Some(Value::Object(d)) = top.get("metadata").and_then(|m| m.get("default")) {
        for (k, v) in d {
            if let Some(key) = k.strip_prefix("otel.resource.") {
                r.insert(key.to_owned(), v.clone());
            }
        }
    }
    if !r.is_empty() {
        return r;
    }
    r.insert(
        "service.name".into(),
        top.get("name").cloned().unwrap_or_default(),
    );
    let aws = top.get("aws");
    let provider = if aws.is_some() { "aws" } else { "unknown" };
    r.insert("cloud.provider".into(), provider.into());
    let at = |path: &[&str]| {
        path.iter()
            .try_fold(aws?, |v, k| v.get(k))
            .filter(|v| !v.is_null())
    };
    for (path, key) in [
        (&["account_id"][..], "cloud.account.id"),
        (&["ec2", "availability_zone"], "cloud.availability_zone"),
        (&["ec2", "instance_id"], "host.id"),
        (&["ec2", "instance_size"], "host.type"),
        (&["ec2", "ami_id"], "host.image.id"),
        (&["ecs", "container"], "container.name"),
        (&["ecs", "container_id"], "container.id"),
        (&["eks", "cluster_name"], "k8s.cluster.name"),
        (&["eks", "pod"], "k8s.pod.name"),
        (&["eks", "container_id"], "container.id"),
        (
            &["elastic_beanstalk", "environment_name"],
            "service.namespace",
        ),
        (&["elastic_beanstalk", "version_label"], "service.version"),
    ] {
        put(&mut r, key, at(path));
    }
    put(&mut r, "telemetry.sdk.name", at(&["xray", "sdk"]));
    put(
        &mut r,
        "telemetry.sdk.version",
        at(&["xray", "sdk_version"]),
    );
    let version = top.get("service").and_then(|s| s.get("version"));
    put(&mut r, "service.version", version);
    put(&mut r, "aws.xray.resource_arn", top.get("resource_arn"));
    if let Some(sdk) = at(&["xray", "sdk"]).and_then(Value::as_str)
        && let Some((_, lang)) = sdk.split_once("for ")
    {
        r.insert("telemetry.sdk.language".into(), lang.into());
    }
    r
}

/// Sets `key` to `value` when there is one.
fn put(into: &mut Map<String, Value>, key: &str, value: Option<&Value>) {
    if let Some(v) = value.filter(|v| !v.is_null()) {
        into.insert(key.to_owned(), v.clone());
    }
}

fn attributes(e: &Map<String, Value>, a: &mut Map<String, Value>) {
    put(a, "aws.xray.inprogress", e.get("in_progress"));
    put(a, "enduser.id", e.get("user"));
    put(a, "aws.xray.traced", e.get("traced"));
    if let Some(h) = e.get("http") {
        let req = h.get("request");
        let field = |k: &str| req.and_then(|r| r.get(k));
        put(a, "http.method", field("method"));
        put(a, "http.client_ip", field("client_ip"));
        put(a, "http.user_agent", field("user_agent"));
        put(a, "http.url", field("url"));
        put(a, "aws.xray.x_forwarded_for", field("x_forwarded_for"));
        let resp = h.get("response");
        put(a, "http.status_code", resp.and_then(|r| r.get("status")));
        put(
            a,
            "http.response_content_length",
            resp.and_then(|r| r.get("content_length")),
        );
    }
    if let Some(aws) = e.get("aws") {
        for k in [
            "account_id",
            "operation",
            "region",
            "request_id",
            "queue_url",
            "table_name",
        ] {
            put(a, &format!("aws.{k}"), aws.get(k));
        }
        put(a, "aws.xray.retries", aws.get("retries"));
    }
    if e.get("namespace").and_then(Value::as_str) == Some("aws") {
        put(a, "aws.service", e.get("name"));
    }
    if let Some(sql) = e.get("sql") {
        if let Some((conn, db)) = sql
            .get("url")
            .and_then(Value::as_str)
            .and_then(split_db_url)
        {
            a.insert("db.connection_string".into(), conn.into());
            a.insert("db.name".into(), db.into());
        }
        put(a, "db.system", sql.get("database_type"));
        put(a, "db.statement", sql.get("sanitized_query"));
        put(a, "db.user", sql.get("user"));
    }
    if let Some(Value::Object(ann)) = e.get("annotations") {
        for (k, v) in ann {
            a.insert(k.clone(), v.clone());
        }
        let keys: Vec<Value> = ann.keys().map(|k| Value::String(k.clone())).collect();
        a.insert("aws.xray.annotations".into(), Value::Array(keys));
    }
    if let Some(Value::Object(meta)) = e.get("metadata") {
        for (ns, v) in meta {
            match (ns.as_str(), v) {
                ("default", Value::Object(d)) => {
                    for (k, v) in d.iter().filter(|(k, _)| !k.starts_with("otel.resource.")) {
                        a.entry(k.clone()).or_insert_with(|| v.clone());
                    }
                }
                _ => {
                    a.insert(format!("aws.xray.metadata.{ns}"), v.to_string().into());
                }
            }
        }
    }
}

/// `jdbc:postgresql://host:5432/shop?ssl=true` → (`jdbc:postgresql://host:5432`, `shop`).
fn split_db_url(url: &str) -> Option<(&str, &str)> {
    let base = url.split('?').next()?;
    let (conn, db) = base.rsplit_once('/')?;
    let (scheme, host) = conn.split_once("//")?;
    (!scheme.is_empty() && !host.is_empty() && !db.is_empty()).then_some((conn, db))
}

fn status(e: &Map<String, Value>) -> Value {
    let http_status = e
        .get("http")
        .and_then(|h| h.get("response"))
        .and_then(|r| r.get("status"))
        .and_then(Value::as_i64);
    let bad_status = http_status.is_some_and(|s| !(100..399).contains(&s));
    let cause = e.get("cause");
    let fault = e.get("fault").and_then(Value::as_bool) == Some(true);
    if !(bad_status || fault || cause.is_some_and(|c| !c.is_null())) {
        return json!({"code": "UNSET"});
    }
    let mut s = json!({"code": "ERROR"});
    if let Some(Value::String(id)) = cause {
        s["message"] = id.clone().into();
    }
    s
}

fn exception_events(e: &Map<String, Value>, at: Option<i64>) -> Vec<Value> {
    let Some(exceptions) = e
        .get("cause")
        .and_then(|c| c.get("exceptions"))
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    exceptions
        .iter()
        .map(|x| {
            let mut a = Map::new();
            for (from, to) in [
                ("id", "aws.xray.exception.id"),
                ("type", "exception.type"),
                ("message", "exception.message"),
                ("remote", "aws.xray.exception.remote"),
                ("truncated", "aws.xray.exception.truncated"),
                ("skipped", "aws.xray.exception.skipped"),
                ("cause", "aws.xray.exception.cause"),
            ] {
                put(&mut a, to, x.get(from));
            }
            if let Some(trace) = stacktrace(x) {
                a.insert("exception.stacktrace".into(), trace.into());
            }
            let mut ev = json!({"name": "exception", "attributes": a});
            if let Some(t) = at {
                ev["timeUnixNano"] = t.into();
            }
            ev
        })
        .collect()
}

/// `Type: Message` and one `\tat label(path: line)` line a frame, as the receiver writes it.
fn stacktrace(x: &Value) -> Option<String> {
    let frames = x.get("stack")?.as_array()?;
    let text = |v: &Value, k: &str| match v.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    let mut out = format!("{}: {}\n", text(x, "type"), text(x, "message"));
    for f in frames {
        out.push_str(&format!(
            "\tat {}({}: {})\n",
            text(f, "label"),
            text(f, "path"),
            text(f, "line")
        ));
    }
    Some(out)
}

#[cfg(test)]
mod tests;
