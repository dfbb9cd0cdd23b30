//! How records are framed in the log's files: `u32 length | u32 CRC-32 | u8 kind | payload`,
//! little-endian, the CRC taken over the kind and the payload. A reader tells a record cut
//! short by the end of its file (what a crash leaves behind) from one whose checksum fails.

use std::io::{self, Read};

/// Bytes before a record's payload.
pub const HEADER: usize = 9;
/// The largest payload a record may declare; anything larger is damage, not data.
pub const MAX_PAYLOAD: u32 = 256 << 20;

/// What a record holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Documents accepted by one request, as stored (`payload::Docs`).
    Docs = 1,
    /// A control-plane command that was applied (`payload::Control`).
    Control = 2,
    /// One whole trace as a checkpoint holds it (`payload::Trace`).
    Trace = 3,
    /// A partition's whole control-plane state as a checkpoint holds it (`payload::Control`).
    ControlState = 4,
}

impl Kind {
    fn from_u8(b: u8) -> Option<Kind> {
        match b {
            1 => Some(Kind::Docs),
            2 => Some(Kind::Control),
            3 => Some(Kind::Trace),
            4 => Some(Kind::ControlState),
            _ => None,
        }
    }
}

/// Appends one framed record to `out`: reserves the header, lets `fill` write the payload,
/// then fills in its length and checksum.
pub fn frame(out: &mut Vec<u8>, kind: Kind, fill: impl FnOnce(&mut Vec<u8>)) {
    let at = out.len();
    out.extend_from_slice(&[0; HEADER]);
    out[at + 8] = kind as u8;
    fill(out);
    let len = (out.len() - at - HEADER) as u32;
    let crc = crc32fast::hash(&out[at + 8..]);
    out[at..at + 4].copy_from_slice(&len.to_le_bytes());
    out[at + 4..at + 8].copy_from_slice(&crc.to_le_bytes());
}

/// Why reading stopped before the end of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Damage {
    /// The file ends inside a record: the last write was cut short.
    Torn,
    /// A whole record is there but its checksum, length or kind is wrong.
    Corrupt(String),
}

/// Reads records one after another from a file, keeping the offset of each.
pub struct Reader<R> {
    inner: R,
    offset: u64,
    payload: Vec<u8>,
}

/// One step of a `Reader`.
pub enum Next<'a> {
    Record {
        kind: Kind,
        payload: &'a [u8],
    },
    End,
    /// Damage at `Reader::offset`, which is where the valid records end.
    Damaged(Damage),
}

impl<R: Read> Reader<R> {
    pub fn new(inner: R) -> Reader<R> {
        Reader {
            inner,
            offset: 0,
            payload: Vec::new(),
        }
    }

    /// Where the next record starts: after a `Damaged`, the length of the valid prefix.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    pub fn next_record(&mut self) -> io::Result<Next<'_>> {
        let mut header = [0u8; HEADER];
        match read_full(&mut self.inner, &mut header)? {
            0 => return Ok(Next::End),
            n if n < HEADER => return Ok(Next::Damaged(Damage::Torn)),
            _ => {}
        }
        let len = u32::from_le_bytes(header[0..4].try_into().unwrap_or_default());
        let crc = u32::from_le_bytes(header[4..8].try_into().unwrap_or_default());
        if len > MAX_PAYLOAD {
            return Ok(Next::Damaged(Damage::Corrupt(format!(
                "a record declares {len} bytes"
            ))));
        }
        self.payload.clear();
        self.payload.resize(len as usize, 0);
        if read_full(&mut self.inner, &mut self.payload)? < len as usize {
            return Ok(Next::Damaged(Damage::Torn));
        }
        let mut h = crc32fast::Hasher::new();
        h.update(&header[8..9]);
        h.update(&self.payload);
        if h.finalize() != crc {
            // The file's last record, whole in length but not in content, is a write the
            // disk did not finish (a power loss); anything after it makes it damage.
            let mut probe = [0u8; 1];
            if read_full(&mut self.inner, &mut probe)? == 0 {
                return Ok(Next::Damaged(Damage::Torn));
            }
            return Ok(Next::Damaged(Damage::Corrupt("checksum mismatch".into())));
        }
        let Some(kind) = Kind::from_u8(header[8]) else {
            return Ok(Next::Damaged(Damage::Corrupt(format!(
                "unknown record kind {}",
                header[8]
            ))));
        };
        self.offset += (HEADER + len as usize) as u64;
        Ok(Next::Record {
            kind,
            payload: &self.payload,
        })
    }
}

/// Reads until `buf` is full or the input ends; returns how much was read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    type Read = (Vec<(Kind, Vec<u8>)>, Option<Damage>, u64);

    fn records(bytes: &[u8]) -> Read {
        let mut r = Reader::new(bytes);
        let mut out = Vec::new();
        loop {
            match r.next_record().unwrap() {
                Next::Record { kind, payload } => out.push((kind, payload.to_vec())),
                Next::End => return (out, None, r.offset()),
                Next::Damaged(d) => return (out, Some(d), r.offset()),
            }
        }
    }

    #[test]
    fn framed_records_read_back_in_order() {
        let mut buf = Vec::new();
        frame(&mut buf, Kind::Docs, |b| b.extend_from_slice(b"first"));
        frame(&mut buf, Kind::Control, |b| b.extend_from_slice(b""));
        frame(&mut buf, Kind::Trace, |b| b.extend_from_slice(&[7; 1000]));
        let (got, damage, end) = records(&buf);
        assert_eq!(damage, None);
        assert_eq!(end, buf.len() as u64);
        assert_eq!(
            got,
            vec![
                (Kind::Docs, b"first".to_vec()),
                (Kind::Control, Vec::new()),
                (Kind::Trace, vec![7; 1000])
            ]
        );
    }

    #[test]
    fn a_cut_anywhere_in_the_last_record_is_torn_and_keeps_the_prefix() {
        let mut buf = Vec::new();
        frame(&mut buf, Kind::Docs, |b| b.extend_from_slice(b"kept"));
        let whole = buf.len();
        frame(&mut buf, Kind::Docs, |b| b.extend_from_slice(b"cut short"));
        for cut in whole + 1..buf.len() {
            let (got, damage, end) = records(&buf[..cut]);
            assert_eq!(got.len(), 1, "cut at {cut}");
            assert_eq!(damage, Some(Damage::Torn), "cut at {cut}");
            assert_eq!(end, whole as u64);
        }
    }

    #[test]
    fn any_flipped_byte_is_caught() {
        let mut buf = Vec::new();
        frame(&mut buf, Kind::Docs, |b| {
            b.extend_from_slice(b"{\"id\":\"x\"}")
        });
        for i in 0..buf.len() {
            let mut bad = buf.clone();
            bad[i] ^= 0x20;
            let (got, damage, _) = records(&bad);
            assert!(got.is_empty(), "flip at {i} read back a record");
            assert!(damage.is_some(), "flip at {i} went unnoticed");
        }
    }
}
