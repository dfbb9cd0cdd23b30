//! What the log's records carry, as values only (names, strings, times): nothing in them
//! depends on the process that wrote them, so any later version can re-derive every index
//! from the same bytes.

use super::record::{Kind, frame};
use crate::model::Micros;
use crate::store::Partition;

/// Documents one request had accepted, exactly as they were stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Docs<'a> {
    pub part: Partition,
    /// When they arrived (retention counts from here).
    pub received: Micros,
    pub docs: Vec<&'a str>,
}

/// One trace as a checkpoint holds it: its documents and what replay cannot re-derive.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace<'a> {
    pub part: Partition,
    pub received: Micros,
    pub revision: u32,
    pub limit_exceeded: bool,
    pub docs: Vec<&'a str>,
}

/// A control-plane command, or a partition's whole state, as JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Control<'a> {
    pub part: Partition,
    pub state: &'a str,
}

pub fn docs_record(out: &mut Vec<u8>, part: &Partition, received: Micros, docs: &[&str]) {
    frame(out, Kind::Docs, |b| {
        put_part(b, part);
        b.extend_from_slice(&received.to_le_bytes());
        put_strs(b, docs);
    });
}

pub fn trace_record(out: &mut Vec<u8>, t: &Trace<'_>) {
    frame(out, Kind::Trace, |b| {
        put_part(b, &t.part);
        b.extend_from_slice(&t.received.to_le_bytes());
        b.extend_from_slice(&t.revision.to_le_bytes());
        b.push(t.limit_exceeded as u8);
        put_strs(b, &t.docs);
    });
}

/// A control-plane command (`Kind::Control`) or a partition's whole state
/// (`Kind::ControlState`, in checkpoints), as JSON.
pub fn control_record(out: &mut Vec<u8>, kind: Kind, part: &Partition, json: &str) {
    frame(out, kind, |b| {
        put_part(b, part);
        put_str(b, json);
    });
}

/// A payload that does not decode: the checksum passed, so the writer and reader disagree.
#[derive(Debug, thiserror::Error)]
#[error("a {0:?} record does not decode")]
pub struct Malformed(pub Kind);

impl<'a> Docs<'a> {
    pub fn decode(p: &'a [u8]) -> Result<Docs<'a>, Malformed> {
        let mut d = Dec(p);
        let bad = || Malformed(Kind::Docs);
        Ok(Docs {
            part: d.part().ok_or_else(bad)?,
            received: d.i64().ok_or_else(bad)?,
            docs: d.strs().ok_or_else(bad)?,
        })
    }
}

impl<'a> Trace<'a> {
    pub fn decode(p: &'a [u8]) -> Result<Trace<'a>, Malformed> {
        let mut d = Dec(p);
        let bad = || Malformed(Kind::Trace);
        Ok(Trace {
            part: d.part().ok_or_else(bad)?,
            received: d.i64().ok_or_else(bad)?,
            revision: d.u32().ok_or_else(bad)?,
            limit_exceeded: d.take(1).ok_or_else(bad)?[0] != 0,
            docs: d.strs().ok_or_else(bad)?,
        })
    }
}

impl<'a> Control<'a> {
    pub fn decode(p: &'a [u8]) -> Result<Control<'a>, Malformed> {
        let mut d = Dec(p);
        let bad = || Malformed(Kind::Control);
        Ok(Control {
            part: d.part().ok_or_else(bad)?,
            state: d.str().ok_or_else(bad)?,
        })
    }
}

fn put_str(b: &mut Vec<u8>, s: &str) {
    b.extend_from_slice(&(s.len() as u32).to_le_bytes());
    b.extend_from_slice(s.as_bytes());
}

fn put_strs(b: &mut Vec<u8>, ss: &[&str]) {
    b.extend_from_slice(&(ss.len() as u32).to_le_bytes());
    for s in ss {
        put_str(b, s);
    }
}

fn put_part(b: &mut Vec<u8>, p: &Partition) {
    put_str(b, &p.account);
    put_str(b, &p.region);
}

struct Dec<'a>(&'a [u8]);

impl<'a> Dec<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn str(&mut self) -> Option<&'a str> {
        let n = self.u32()? as usize;
        std::str::from_utf8(self.take(n)?).ok()
    }

    fn strs(&mut self) -> Option<Vec<&'a str>> {
        let n = self.u32()? as usize;
        // Every string takes at least its 4-byte length: a count beyond that is damage.
        if n > self.0.len() / 4 {
            return None;
        }
        (0..n).map(|_| self.str()).collect()
    }

    fn part(&mut self) -> Option<Partition> {
        Some(Partition {
            account: self.str()?.to_owned(),
            region: self.str()?.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::log::record::{Next, Reader};

    fn only_payload(buf: &[u8]) -> (Kind, Vec<u8>) {
        let mut r = Reader::new(buf);
        match r.next_record().unwrap() {
            Next::Record { kind, payload } => (kind, payload.to_vec()),
            _ => panic!("no record"),
        }
    }

    #[test]
    fn every_payload_round_trips() {
        let part = Partition {
            account: "123456789012".into(),
            region: "eu-west-1".into(),
        };
        let mut buf = Vec::new();
        docs_record(&mut buf, &part, 1_700_000_000_000_000, &["{\"a\":1}", "é"]);
        let (kind, p) = only_payload(&buf);
        assert_eq!(kind, Kind::Docs);
        let d = Docs::decode(&p).unwrap();
        assert_eq!(
            (d.part.clone(), d.received),
            (part.clone(), 1_700_000_000_000_000)
        );
        assert_eq!(d.docs, vec!["{\"a\":1}", "é"]);

        let t = Trace {
            part: part.clone(),
            received: -5,
            revision: 7,
            limit_exceeded: true,
            docs: vec!["x"],
        };
        let mut buf = Vec::new();
        trace_record(&mut buf, &t);
        assert_eq!(Trace::decode(&only_payload(&buf).1).unwrap(), t);

        let mut buf = Vec::new();
        control_record(&mut buf, Kind::Control, &part, "{}");
        let p = only_payload(&buf).1;
        let c = Control::decode(&p).unwrap();
        assert_eq!((c.part, c.state), (part, "{}"));
    }

    #[test]
    fn short_payloads_are_malformed_not_panics() {
        let mut buf = Vec::new();
        docs_record(&mut buf, &Partition::default(), 1, &["abc"]);
        let p = only_payload(&buf).1;
        for cut in 0..p.len() {
            assert!(Docs::decode(&p[..cut]).is_err(), "cut at {cut}");
        }
    }
}
