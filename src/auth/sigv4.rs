//! Checking an AWS Signature Version 4 `Authorization` header the way AWS does: the canonical
//! request rebuilt from what arrived, the payload hashed, the date within 15 minutes, and the
//! signature compared in constant time.

use super::AuthError;
use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// How far a request's date may be from the gateway's clock.
pub const MAX_SKEW_SECS: i64 = 15 * 60;

/// What a request arrived with.
pub struct Request<'a> {
    pub method: &'a str,
    /// The path as sent, percent-encoding included.
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// The parts of an `AWS4-HMAC-SHA256` header.
pub struct Header<'a> {
    pub access_key: &'a str,
    pub date: &'a str,
    pub region: &'a str,
    pub service: &'a str,
    pub signed_headers: &'a str,
    pub signature: &'a str,
}

/// Reads an `Authorization` header; `None` when it is not SigV4 at all.
pub fn parse_header(auth: &str) -> Option<Result<Header<'_>, AuthError>> {
    let rest = auth.strip_prefix("AWS4-HMAC-SHA256")?;
    let field = |name: &str| {
        rest.split(',')
            .map(str::trim)
            .find_map(|p| p.strip_prefix(name)?.strip_prefix('='))
    };
    let incomplete = |what: &str| {
        AuthError::Incomplete(format!(
            "Authorization header requires '{what}' parameter. Authorization={auth}"
        ))
    };
    let parsed = (|| {
        let credential = field("Credential").ok_or_else(|| incomplete("Credential"))?;
        let signed_headers = field("SignedHeaders").ok_or_else(|| incomplete("SignedHeaders"))?;
        let signature = field("Signature").ok_or_else(|| incomplete("Signature"))?;
        let mut scope = credential.split('/');
        let (Some(access_key), Some(date), Some(region), Some(service), Some("aws4_request")) = (
            scope.next(),
            scope.next(),
            scope.next(),
            scope.next(),
            scope.next(),
        ) else {
            return Err(AuthError::Incomplete(format!(
                "Credential should be scoped to a valid region, service and date: '{credential}'."
            )));
        };
        Ok(Header {
            access_key,
            date,
            region,
            service,
            signed_headers,
            signature,
        })
    })();
    Some(parsed)
}

/// Checks `h`, the parsed header of `req`, against `secret` at `now` (Unix seconds).
pub fn verify(
    req: &Request<'_>,
    h: &Header<'_>,
    secret: &str,
    service: &str,
    now: i64,
) -> Result<(), AuthError> {
    if h.service != service {
        return Err(AuthError::Signature(format!(
            "Credential should be scoped to correct service: '{service}'."
        )));
    }
    let amz_date = header_text(req.headers, "x-amz-date").ok_or_else(|| {
        AuthError::Incomplete(
            "Authorization header requires existence of a 'X-Amz-Date' header.".into(),
        )
    })?;
    let when = parse_amz_date(&amz_date).ok_or_else(|| {
        AuthError::Incomplete(format!(
            "X-Amz-Date '{amz_date}' is not a date like 20261206T120000Z."
        ))
    })?;
    if !amz_date.starts_with(h.date) || h.date.len() != 8 {
        return Err(AuthError::Signature(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', from 'x-amz-date'.",
            h.date,
            &amz_date[..8.min(amz_date.len())]
        )));
    }
    if when < now - MAX_SKEW_SECS {
        return Err(AuthError::Signature(format!(
            "Signature expired: {amz_date} is now earlier than {} ({} - 15 min.)",
            format_amz_date(now - MAX_SKEW_SECS),
            format_amz_date(now)
        )));
    }
    if when > now + MAX_SKEW_SECS {
        return Err(AuthError::Signature(format!(
            "Signature not yet current: {amz_date} is still later than {} ({} + 15 min.)",
            format_amz_date(now + MAX_SKEW_SECS),
            format_amz_date(now)
        )));
    }
    let payload = hex::encode(Sha256::digest(req.body));
    if let Some(claimed) = header_text(req.headers, "x-amz-content-sha256")
        && claimed != payload
    {
        return Err(AuthError::Signature(
            "The provided 'x-amz-content-sha256' header does not match what was computed.".into(),
        ));
    }
    let canonical = canonical_request(req, h.signed_headers, &payload);
    let scope = format!("{}/{}/{}/aws4_request", h.date, h.region, h.service);
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let mut key = hmac(format!("AWS4{secret}").as_bytes(), h.date.as_bytes());
    for part in [h.region, h.service, "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    let given = hex::decode(h.signature).unwrap_or_default();
    let mut mac = HmacSha256::new_from_slice(&key).expect("HMAC takes any key length");
    mac.update(to_sign.as_bytes());
    mac.verify_slice(&given).map_err(|_| {
        AuthError::Signature(
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.".into(),
        )
    })
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// All values of header `name`, joined by commas as SigV4 joins repeated headers.
fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    let values: Vec<&str> = headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    (!values.is_empty()).then(|| {
        values
            .iter()
            .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
            .join(",")
    })
}

fn canonical_request(req: &Request<'_>, signed_headers: &str, payload: &str) -> String {
    let mut out = String::with_capacity(256);
    out.push_str(req.method);
    out.push('\n');
    out.push_str(&encode(req.path, true));
    out.push('\n');
    let mut pairs: Vec<(&str, &str)> = req
        .query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .collect();
    pairs.sort_unstable();
    let query: Vec<String> = pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                encode(&decode(k), false),
                encode(&decode(v), false)
            )
        })
        .collect();
    out.push_str(&query.join("&"));
    out.push('\n');
    for name in signed_headers.split(';') {
        out.push_str(name);
        out.push(':');
        out.push_str(&header_text(req.headers, name).unwrap_or_default());
        out.push('\n');
    }
    out.push('\n');
    out.push_str(signed_headers);
    out.push('\n');
    out.push_str(payload);
    out
}

/// SigV4's URI encoding: everything but unreserved characters (and `/` in paths).
fn encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `20261206T120000Z` as Unix seconds.
pub fn parse_amz_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (h, mi, se) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se)
}

/// Unix seconds as `20261206T120000Z`.
pub fn format_amz_date(t: i64) -> String {
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}
