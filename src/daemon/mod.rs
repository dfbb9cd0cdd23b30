//! The X-Ray daemon's intake, built in: segment documents as UDP datagrams (a
//! `{"format":"json","version":1}` header line, then one document), through the same ingest as
//! PutTraceSegments. The daemon's TCP side (the X-Ray API unsigned, which SDKs use for sampling)
//! is the rest-json router served on the same address; `app` wires that.
//!
//! Bad datagrams are counted and logged at most once a second; the listener never stops for
//! them.

use crate::ingest::ingest;
use crate::store::{Partition, TraceStore};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;

/// The largest datagram read (X-Ray's 64 KB document limit plus the header).
const DATAGRAM_BYTES: usize = 64 * 1024 + 64;
/// Documents ingested together when datagrams queue up (the daemon's batch size).
const BATCH: usize = 50;
/// Receive buffer asked of the kernel, so bursts queue instead of dropping.
const SOCKET_BUFFER_BYTES: usize = 16 << 20;

#[derive(Debug, Default, serde::Serialize)]
pub struct UdpStats {
    pub datagrams: AtomicU64,
    pub documents_stored: AtomicU64,
    pub bad_header: AtomicU64,
    pub missing_document: AtomicU64,
    pub documents_refused: AtomicU64,
}

impl UdpStats {
    pub fn snapshot(&self) -> serde_json::Value {
        serde_json::json!({
            "datagrams": self.datagrams.load(Relaxed),
            "documents_stored": self.documents_stored.load(Relaxed),
            "bad_header": self.bad_header.load(Relaxed),
            "missing_document": self.missing_document.load(Relaxed),
            "documents_refused": self.documents_refused.load(Relaxed),
        })
    }
}

#[derive(Debug, PartialEq)]
pub enum Datagram<'a> {
    Document(&'a str),
    BadHeader,
    MissingDocument,
}

/// Splits a datagram at its first newline and checks the header as the daemon does: a JSON
/// object whose `format` is `json` (any case) and whose `version` is 1.
pub fn parse_datagram(bytes: &[u8]) -> Datagram<'_> {
    let Some(nl) = bytes.iter().position(|&b| b == b'\n') else {
        return Datagram::MissingDocument;
    };
    #[derive(serde::Deserialize)]
    struct Header<'a> {
        #[serde(borrow)]
        format: Option<&'a str>,
        version: Option<serde_json::Number>,
    }
    let ok = serde_json::from_slice::<Header<'_>>(&bytes[..nl])
        .map(|h| {
            h.format.is_some_and(|f| f.eq_ignore_ascii_case("json"))
                && h.version.and_then(|v| v.as_f64()) == Some(1.0)
        })
        .unwrap_or(false);
    if !ok {
        return Datagram::BadHeader;
    }
    match std::str::from_utf8(&bytes[nl + 1..]).map(str::trim) {
        Ok("") => Datagram::MissingDocument,
        Ok(doc) => Datagram::Document(doc),
        Err(_) => Datagram::BadHeader,
    }
}

/// Binds the UDP socket with a large receive buffer.
pub fn bind_udp(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    let _ = socket.set_recv_buffer_size(SOCKET_BUFFER_BYTES);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

struct Problems {
    since: Instant,
    count: u64,
    last: String,
}

/// Receives until `stop` resolves; run two of these on one socket, as the daemon does.
pub async fn receive(
    socket: Arc<UdpSocket>,
    store: Arc<dyn TraceStore>,
    part: Partition,
    stats: Arc<UdpStats>,
    quota: Arc<crate::quota::SegmentQuota>,
    stop: tokio_util::sync::CancellationToken,
) {
    let mut buf = vec![0u8; DATAGRAM_BYTES];
    let mut docs: Vec<String> = Vec::with_capacity(BATCH);
    let mut problems = Problems {
        since: Instant::now(),
        count: 0,
        last: String::new(),
    };
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            r = socket.recv_from(&mut buf) => {
                let Ok((n, _)) = r else { continue };
                take(&buf[..n], &mut docs, &stats, &mut problems);
                // Whatever else is already queued joins the batch.
                while docs.len() < BATCH {
                    match socket.try_recv_from(&mut buf) {
                        Ok((n, _)) => take(&buf[..n], &mut docs, &stats, &mut problems),
                        Err(_) => break,
                    }
                }
            }
        }
        if !docs.is_empty()
            && let Err(t) = quota.take(&part, docs.len())
        {
            // The daemon has no one to answer: throttled documents are dropped and counted.
            let throttled = std::iter::repeat_n("throttled", docs.len());
            crate::metrics::METRICS.documents(crate::metrics::Intake::Udp, 0, throttled);
            stats
                .documents_refused
                .fetch_add(docs.len() as u64, Relaxed);
            note(&mut problems, docs.len() as u64, quota.message(t));
            docs.clear();
        }
        if !docs.is_empty() {
            match ingest(store.as_ref(), &part, crate::metrics::Intake::Udp, &docs).await {
                Ok(refused) => {
                    stats
                        .documents_stored
                        .fetch_add((docs.len() - refused.len()) as u64, Relaxed);
                    stats
                        .documents_refused
                        .fetch_add(refused.len() as u64, Relaxed);
                    if let Some((_, r)) = refused.last() {
                        note(
                            &mut problems,
                            refused.len() as u64,
                            format!("segment refused: {}", r.message),
                        );
                    }
                }
                Err(e) => note(
                    &mut problems,
                    docs.len() as u64,
                    format!("store unavailable: {e}"),
                ),
            }
            docs.clear();
        }
    }
}

fn take(bytes: &[u8], docs: &mut Vec<String>, stats: &UdpStats, problems: &mut Problems) {
    stats.datagrams.fetch_add(1, Relaxed);
    match parse_datagram(bytes) {
        Datagram::Document(d) => docs.push(d.to_owned()),
        Datagram::BadHeader => {
            stats.bad_header.fetch_add(1, Relaxed);
            note(
                problems,
                1,
                "datagram without a valid {\"format\":\"json\",\"version\":1} header".into(),
            );
        }
        Datagram::MissingDocument => {
            stats.missing_document.fetch_add(1, Relaxed);
            note(
                problems,
                1,
                "datagram with a header but no segment document".into(),
            );
        }
    }
}

/// Logs problems at most once a second, with how many there were.
fn note(p: &mut Problems, n: u64, what: String) {
    p.count += n;
    p.last = what;
    if p.since.elapsed() >= Duration::from_secs(1) {
        tracing::warn!(
            dropped = p.count,
            "UDP intake: {} (and others like it in the last second)",
            p.last
        );
        p.count = 0;
        p.since = Instant::now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_checked_like_the_daemon() {
        assert_eq!(
            parse_datagram(b"{\"format\": \"json\", \"version\": 1}\n{\"a\":1}\n"),
            Datagram::Document("{\"a\":1}")
        );
        assert_eq!(
            parse_datagram(b"{\"format\":\"JSON\",\"version\":1.0}\n{}"),
            Datagram::Document("{}")
        );
        assert_eq!(
            parse_datagram(b"{\"format\":\"xml\",\"version\":1}\n{}"),
            Datagram::BadHeader
        );
        assert_eq!(
            parse_datagram(b"{\"format\":\"json\",\"version\":2}\n{}"),
            Datagram::BadHeader
        );
        assert_eq!(parse_datagram(b"not json\n{}"), Datagram::BadHeader);
        assert_eq!(
            parse_datagram(b"{\"format\":\"json\",\"version\":1}"),
            Datagram::MissingDocument
        );
        assert_eq!(
            parse_datagram(b"{\"format\":\"json\",\"version\":1}\n  "),
            Datagram::MissingDocument
        );
    }
}
