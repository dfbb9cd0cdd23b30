//! The http block (§10), from old and new HTTP semantic conventions.

use super::attrs::Attrs;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use serde_json::{Map, Value, json};

/// Attributes whose presence makes the block.
const MARKERS: &[&str] = &[
    "http.method",
    "http.request.method",
    "http.client_ip",
    "http.user_agent",
    "user_agent.original",
    "http.status_code",
    "http.response.status_code",
    "http.url",
    "url.full",
    "http.scheme",
    "url.scheme",
    "http.host",
    "http.server_name",
    "net.host.port",
    "http.target",
    "url.path",
    "url.query",
];

/// Attributes the block consumes whether or not it is made.
const CONSUMED: &[&str] = &[
    "client.address",
    "net.peer.ip",
    "network.peer.address",
    "net.host.name",
    "host.name",
    "server.address",
    "server.port",
    "net.peer.name",
    "net.peer.port",
];

fn is_ip(s: &str) -> bool {
    s.parse::<std::net::IpAddr>().is_ok()
}

fn url(kind: SpanKind, a: &Attrs<'_>) -> Option<String> {
    if let Some(full) = a.str("http.url").or_else(|| a.str("url.full")) {
        return Some(full.to_owned());
    }
    let scheme = a
        .str("http.scheme")
        .or_else(|| a.str("url.scheme"))
        .unwrap_or("http");
    let host_attr = a.str("http.host");
    let (host, port) = if kind == SpanKind::Server {
        let host = host_attr
            .or_else(|| a.str("http.server_name"))
            .or_else(|| a.str("net.host.name"))
            .or_else(|| a.str("host.name"))
            .or_else(|| a.str("server.address"))?;
        (
            host.to_owned(),
            host_attr
                .is_none()
                .then(|| a.int("net.host.port").or_else(|| a.int("server.port")))
                .flatten(),
        )
    } else {
        let host = host_attr
            .or_else(|| a.str("net.peer.name"))
            .or_else(|| a.str("net.peer.ip"))
            .or_else(|| a.str("network.peer.address").filter(|x| is_ip(x)))
            .or_else(|| a.str("server.address"))?;
        (
            host.to_owned(),
            host_attr
                .is_none()
                .then(|| a.int("net.peer.port"))
                .flatten(),
        )
    };
    let default_port = matches!((scheme, port), ("http", Some(80)) | ("https", Some(443)));
    let port = port
        .filter(|p| *p > 0 && !default_port)
        .map(|p| format!(":{p}"))
        .unwrap_or_default();
    let mut path = a
        .str("http.target")
        .or_else(|| a.str("url.path"))
        .unwrap_or("/")
        .to_owned();
    if let Some(q) = a.str("url.query").filter(|q| !q.is_empty()) {
        if !q.starts_with('?') {
            path.push('?');
        }
        path.push_str(q);
    }
    Some(format!("{scheme}://{host}{port}{path}"))
}

pub fn block(span: &Span, kind: SpanKind, a: &mut Attrs<'_>) -> Option<Value> {
    let present = MARKERS.iter().any(|k| a.get(k).is_some());
    let result = present.then(|| {
        let mut req = Map::new();
        if let Some(m) = a
            .str("http.method")
            .or_else(|| a.str("http.request.method"))
        {
            req.insert("method".into(), m.into());
        }
        let mut client_ip = a.str("http.client_ip").map(str::to_owned);
        if let Some(c) = a.str("client.address").filter(|c| is_ip(c)) {
            client_ip = Some(c.to_owned());
        }
        let peer = a
            .str("net.peer.ip")
            .or_else(|| a.str("network.peer.address").filter(|x| is_ip(x)));
        let forwarded = client_ip.is_some() && peer.is_none();
        if client_ip.is_none() {
            client_ip = peer.map(str::to_owned);
        }
        if let Some(ip) = client_ip {
            req.insert("client_ip".into(), ip.into());
        }
        if let Some(ua) = a
            .str("http.user_agent")
            .or_else(|| a.str("user_agent.original"))
        {
            req.insert("user_agent".into(), ua.into());
        }
        if let Some(u) = url(kind, a) {
            req.insert("url".into(), u.into());
        }
        if forwarded {
            req.insert("x_forwarded_for".into(), true.into());
        }
        let mut resp = Map::new();
        if let Some(st) = a
            .int("http.status_code")
            .or_else(|| a.int("http.response.status_code"))
        {
            resp.insert("status".into(), st.into());
        }
        let received = |attrs: &Attrs<'_>| {
            (attrs.str("message.type") == Some("RECEIVED"))
                .then(|| attrs.int("messaging.message_payload_size_bytes"))
                .flatten()
        };
        let length = received(a)
            .or_else(|| {
                span.events
                    .iter()
                    .find_map(|e| received(&Attrs::new(&e.attributes)))
            })
            .unwrap_or(0);
        resp.insert("content_length".into(), length.into());
        json!({"request": req, "response": resp})
    });
    for k in MARKERS.iter().chain(CONSUMED) {
        a.remove(k);
    }
    result
}
