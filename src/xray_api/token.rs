//! Opaque NextTokens. Each one carries a fingerprint of the query it continues, because the
//! CLI replays the original parameters with the token and a token from another query must be
//! refused, not silently misapplied.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::hash::{Hash, Hasher};

/// A stable fingerprint of the query parameters a token belongs to.
pub fn fingerprint(parts: &impl Hash) -> u64 {
    // FxHasher is deterministic across processes, so tokens survive a restart.
    let mut h = rustc_hash::FxHasher::default();
    parts.hash(&mut h);
    h.finish()
}

/// Encodes `kind`, the fingerprint and the position fields into a token.
pub fn encode(kind: &str, fp: u64, fields: &[String]) -> String {
    let mut s = format!("{kind}|{fp:016x}");
    for f in fields {
        s.push('|');
        s.push_str(f);
    }
    URL_SAFE_NO_PAD.encode(s)
}

/// Decodes a token of `kind` for the query with fingerprint `fp`; returns its position fields.
pub fn decode(token: &str, kind: &str, fp: u64) -> Result<Vec<String>, &'static str> {
    let raw = URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .map_err(|_| "NextToken is not a token this service issued.")?;
    let text =
        String::from_utf8(raw).map_err(|_| "NextToken is not a token this service issued.")?;
    let mut parts = text.split('|');
    if parts.next() != Some(kind) {
        return Err("NextToken was issued for another operation.");
    }
    if parts.next() != Some(format!("{fp:016x}").as_str()) {
        return Err(
            "NextToken does not belong to this query; send the same parameters as the request that returned it.",
        );
    }
    Ok(parts.map(str::to_owned).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_are_bound_to_their_query() {
        let t = encode("ts", 7, &["12".into(), "abc".into()]);
        assert_eq!(decode(&t, "ts", 7).unwrap(), vec!["12", "abc"]);
        assert!(decode(&t, "ts", 8).is_err());
        assert!(decode(&t, "bt", 7).is_err());
        assert!(decode("%%%", "ts", 7).is_err());
    }
}
