//! X-Ray identifiers: trace IDs (`1-xxxxxxxx-yyyyyyyyyyyyyyyyyyyyyyyy`) and 64-bit segment IDs.

use std::fmt;

/// A trace ID, packed: the 8 hex digits of epoch seconds followed by the 24 random hex digits.
/// The version digit is always `1`, so it is not stored.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
pub struct TraceId(pub [u8; 16]);

/// Byte order, compared as one big-endian number: the same order as the bytes', without a
/// call to `memcmp` in every step of the stores' index trees.
impl Ord for TraceId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        u128::from_be_bytes(self.0).cmp(&u128::from_be_bytes(other.0))
    }
}

impl PartialOrd for TraceId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// A segment or subsegment ID: 16 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default)]
pub struct SegmentId(pub u64);

/// Each byte's value as a hex digit of either case; `INVALID` for any other byte.
const HEX_VALUE: [u8; 256] = {
    let mut t = [INVALID; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};
const INVALID: u8 = 0x10;

/// Decodes without a branch per digit: IDs are random, so a branch on digit-or-letter was
/// mispredicted about every other byte, which made this a visible part of ingest.
fn decode_hex_into(src: &[u8], dst: &mut [u8]) -> Option<()> {
    if src.len() != dst.len() * 2 {
        return None;
    }
    let mut bad = 0;
    for (d, pair) in dst.iter_mut().zip(src.chunks_exact(2)) {
        let (hi, lo) = (HEX_VALUE[pair[0] as usize], HEX_VALUE[pair[1] as usize]);
        bad |= hi | lo;
        *d = (hi << 4) | (lo & 0xf);
    }
    (bad & INVALID == 0).then_some(())
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn hex_into(dst: &mut [u8], bytes: &[u8]) {
    for (pair, b) in dst.chunks_exact_mut(2).zip(bytes) {
        pair[0] = HEX[(b >> 4) as usize];
        pair[1] = HEX[(b & 15) as usize];
    }
}

/// The text of an ID (ASCII hex digits and dashes) kept inline rather than in a heap string:
/// a converted span carries several.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct IdText<const N: usize>([u8; N]);

impl<const N: usize> IdText<N> {
    pub fn as_str(&self) -> &str {
        // Only ever built from ASCII, so this never falls back.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl<const N: usize> Default for IdText<N> {
    fn default() -> Self {
        IdText([b'0'; N])
    }
}

impl<const N: usize> std::ops::Deref for IdText<N> {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl<const N: usize> fmt::Display for IdText<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<const N: usize> fmt::Debug for IdText<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl<const N: usize> serde::Serialize for IdText<N> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Lowercase hex of `bytes` (span IDs as X-Ray writes segment IDs).
pub fn hex(bytes: &[u8]) -> String {
    let mut s = vec![0u8; bytes.len() * 2];
    hex_into(&mut s, bytes);
    String::from_utf8(s).unwrap_or_default()
}

impl TraceId {
    /// The X-Ray form, `1-xxxxxxxx-yyyyyyyyyyyyyyyyyyyyyyyy`.
    pub fn text(&self) -> IdText<35> {
        let mut t = [b'-'; 35];
        t[0] = b'1';
        hex_into(&mut t[2..10], &self.0[..4]);
        hex_into(&mut t[11..], &self.0[4..]);
        IdText(t)
    }

    /// Parses the X-Ray form; hex digits of either case are accepted.
    pub fn parse(s: &str) -> Option<TraceId> {
        let b = s.as_bytes();
        if b.len() != 35 || b[0] != b'1' || b[1] != b'-' || b[10] != b'-' {
            return None;
        }
        let mut out = [0u8; 16];
        decode_hex_into(&b[2..10], &mut out[..4])?;
        decode_hex_into(&b[11..35], &mut out[4..])?;
        Some(TraceId(out))
    }

    /// The epoch seconds encoded in the ID (meaningless for reshaped W3C IDs).
    pub fn epoch_seconds(&self) -> u32 {
        u32::from_be_bytes([self.0[0], self.0[1], self.0[2], self.0[3]])
    }

    /// A stable 64-bit hash of the random part, for sampling and sharding.
    pub fn mix64(&self) -> u64 {
        let lo = u64::from_le_bytes(self.0[8..16].try_into().unwrap_or_default());
        let hi = u64::from_le_bytes(self.0[0..8].try_into().unwrap_or_default());
        // splitmix64 finaliser over both halves: IDs may be sequential in tests.
        let mut z = lo ^ hi.rotate_left(29);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        z ^ (z >> 31)
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text().as_str())
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl SegmentId {
    /// 16 lowercase hex digits.
    pub fn text(&self) -> IdText<16> {
        let mut t = [0u8; 16];
        hex_into(&mut t, &self.0.to_be_bytes());
        IdText(t)
    }

    pub fn parse(s: &str) -> Option<SegmentId> {
        let mut out = [0u8; 8];
        decode_hex_into(s.as_bytes(), &mut out)?;
        Some(SegmentId(u64::from_be_bytes(out)))
    }
}

impl fmt::Display for SegmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text().as_str())
    }
}

/// A well-mixed 64-bit value, different on every call and in every process (request IDs,
/// tokens, the random IDs the OTLP converter makes). Not for secrets.
pub fn random_u64() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let seed = *SEED.get_or_init(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        t ^ (std::process::id() as u64).rotate_left(32)
    });
    let mut z = seed.wrapping_add(
        SEQ.fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9e3779b97f4a7c15),
    );
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_ids_order_as_their_bytes_do() {
        let ids = [
            [0u8; 16],
            [1; 16],
            [0xff; 16],
            {
                let mut b = [0u8; 16];
                b[15] = 1;
                b
            },
            {
                let mut b = [0u8; 16];
                b[0] = 0x80;
                b
            },
        ];
        for a in ids {
            for b in ids {
                assert_eq!(TraceId(a).cmp(&TraceId(b)), a.cmp(&b));
            }
        }
    }

    #[test]
    fn trace_id_round_trips_and_normalises_case() {
        let id = TraceId::parse("1-5759E988-BD862E3FE1BE46A994272793").unwrap();
        assert_eq!(id.to_string(), "1-5759e988-bd862e3fe1be46a994272793");
        assert_eq!(id.epoch_seconds(), 0x5759e988);
    }

    #[test]
    fn malformed_trace_ids_are_refused() {
        for bad in [
            "",
            "1-5759e988-bd862e3fe1be46a99427279",
            "2-5759e988-bd862e3fe1be46a994272793",
            "1-5759e988_bd862e3fe1be46a994272793",
            "1-5759e98g-bd862e3fe1be46a994272793",
            "5759e988bd862e3fe1be46a994272793",
        ] {
            assert!(TraceId::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn segment_id_needs_sixteen_hex_digits() {
        assert_eq!(
            SegmentId::parse("70de5b6f19ff9a0a").unwrap().to_string(),
            "70de5b6f19ff9a0a"
        );
        assert!(SegmentId::parse("70de5b6f19ff9a0").is_none());
        assert!(SegmentId::parse("70de5b6f19ff9a0z").is_none());
    }

    #[test]
    fn every_byte_decodes_as_a_hex_digit_or_is_refused() {
        for b in 0..=255u8 {
            let mut text = *b"00000000000000a0";
            text[15] = b;
            let want = (b as char)
                .to_digit(16)
                .filter(|_| b.is_ascii())
                .map(|d| SegmentId(0xa0 | d as u64));
            assert_eq!(
                SegmentId::parse(std::str::from_utf8(&text).unwrap_or("")),
                want,
                "{b}"
            );
        }
    }
}
