//! The http block (§10), from old and new HTTP semantic conventions.

use super::attrs::Attrs;
use super::doc::{Http, Request, Response};
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;

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

/// Attributes whose presence makes `request.url`.
const URL_SOURCES: &[&str] = &[
    "http.url",
    "url.full",
    "http.host",
    "http.server_name",
    "host.name",
    "net.host.name",
    "net.peer.name",
    "net.peer.ip",
    "server.address",
];

/// The full URL attribute, or one assembled for the span's side of the call; a host missing
/// for that side is left empty, as the exporter does.
fn url(kind: SpanKind, a: &Attrs<'_>) -> String {
    if let Some(full) = a.str("http.url").or_else(|| a.str("url.full")) {
        return full.to_owned();
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
            .or_else(|| a.str("server.address"))
            .unwrap_or("");
        (
            host,
            host_attr
                .is_none()
                .then(|| a.int("net.host.port").or_else(|| a.int("server.port")))
                .flatten(),
        )
    } else {
        let host = host_attr
            .or_else(|| a.str("net.peer.name"))
            .or_else(|| a.str("net.peer.ip"))
            .or_else(|| a.str("server.address"))
            .or_else(|| a.str("network.peer.address").filter(|x| is_ip(x)))
            .unwrap_or("");
        (
            host,
            host_attr
                .is_none()
                .then(|| a.int("net.peer.port"))
                .flatten(),
        )
    };
    let default_port = matches!((scheme, port), ("http", Some(80)) | ("https", Some(443)));
    let port = port.filter(|p| *p > 0 && !default_port);
    let path = a
        .str("http.target")
        .or_else(|| a.str("url.path"))
        .unwrap_or("/");
    let query = a.str("url.query").filter(|q| !q.is_empty());
    let mut url = String::with_capacity(
        scheme.len() + host.len() + path.len() + query.map_or(0, str::len) + 30,
    );
    for part in [scheme, "://", host] {
        url.push_str(part);
    }
    if let Some(p) = port {
        url.push(':');
        url.push_str(itoa::Buffer::new().format(p));
    }
    url.push_str(path);
    if let Some(q) = query {
        if !q.starts_with('?') {
            url.push('?');
        }
        url.push_str(q);
    }
    url
}

pub fn block<'a>(span: &'a Span, kind: SpanKind, a: &mut Attrs<'a>) -> Option<Http<'a>> {
    let present = MARKERS.iter().any(|k| a.has(k));
    let result = present.then(|| {
        let mut req = Request {
            method: a
                .text("http.method")
                .or_else(|| a.text("http.request.method")),
            user_agent: a
                .text("http.user_agent")
                .or_else(|| a.text("user_agent.original")),
            ..Default::default()
        };
        let mut client_ip = a.text("http.client_ip");
        if let Some(c) = a.text("client.address").filter(|c| is_ip(c)) {
            client_ip = Some(c);
        }
        let peer = a
            .text("net.peer.ip")
            .or_else(|| a.text("network.peer.address").filter(|x| is_ip(x)));
        if client_ip.is_some() && peer.is_none() {
            req.x_forwarded_for = Some(true);
        }
        req.client_ip = client_ip.or(peer);
        if URL_SOURCES.iter().any(|k| a.has(k)) || a.str("network.peer.address").is_some_and(is_ip)
        {
            req.url = Some(url(kind, a));
        }
        let status = a
            .int("http.status_code")
            .or_else(|| a.int("http.response.status_code"));
        let received = |attrs: &Attrs<'_>| {
            (attrs.str("message.type") == Some("RECEIVED"))
                .then(|| attrs.int("messaging.message_payload_size_bytes"))
                .flatten()
        };
        let content_length = received(a)
            .or_else(|| {
                span.events
                    .iter()
                    .find_map(|e| received(&Attrs::new(&e.attributes)))
            })
            .unwrap_or(0);
        Http {
            request: req,
            response: Response {
                status,
                content_length,
            },
        }
    });
    for k in MARKERS.iter().chain(CONSUMED) {
        a.remove(k);
    }
    result
}
