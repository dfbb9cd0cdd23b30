use super::sigv4::{Request, format_amz_date, parse_amz_date, parse_header, verify};
use super::*;
use axum::http::{HeaderMap, HeaderValue};

/// AWS's published SigV4 test vector `get-vanilla`.
const VANILLA_AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";
const VANILLA_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

fn vanilla_headers(auth: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("host", HeaderValue::from_static("example.amazonaws.com"));
    h.insert("x-amz-date", HeaderValue::from_static("20150830T123600Z"));
    h.insert("authorization", HeaderValue::from_str(auth).unwrap());
    h
}

fn check(headers: &HeaderMap, secret: &str, now: i64) -> Result<(), AuthError> {
    let auth = headers["authorization"].to_str().unwrap();
    let h = parse_header(auth).unwrap()?;
    let req = Request {
        method: "GET",
        path: "/",
        query: "",
        headers,
        body: b"",
    };
    verify(&req, &h, secret, "service", now)
}

#[test]
fn the_published_test_vector_verifies() {
    let now = parse_amz_date("20150830T123600Z").unwrap();
    assert_eq!(
        check(&vanilla_headers(VANILLA_AUTH), VANILLA_SECRET, now),
        Ok(())
    );
}

#[test]
fn a_wrong_secret_a_changed_header_or_a_stale_date_is_refused() {
    let now = parse_amz_date("20150830T123600Z").unwrap();
    let h = vanilla_headers(VANILLA_AUTH);
    assert!(
        matches!(check(&h, "other", now), Err(AuthError::Signature(m)) if m.contains("does not match"))
    );
    let mut moved = h.clone();
    moved.insert("host", HeaderValue::from_static("evil.example.com"));
    assert!(check(&moved, VANILLA_SECRET, now).is_err());
    let late = now + 16 * 60;
    assert!(
        matches!(check(&h, VANILLA_SECRET, late), Err(AuthError::Signature(m)) if m.starts_with("Signature expired"))
    );
    assert!(
        matches!(check(&h, VANILLA_SECRET, now - 16 * 60), Err(AuthError::Signature(m)) if m.contains("not yet current"))
    );
    assert_eq!(check(&h, VANILLA_SECRET, now + 14 * 60), Ok(()));
}

#[test]
fn dates_round_trip() {
    for s in [
        "19700101T000000Z",
        "20150830T123600Z",
        "20261206T235959Z",
        "20240229T120000Z",
    ] {
        assert_eq!(format_amz_date(parse_amz_date(s).unwrap()), s);
    }
    assert_eq!(parse_amz_date("20150830T123600Z"), Some(1_440_938_160));
    assert_eq!(parse_amz_date("2015-08-30T12:36:00Z"), None);
}

#[test]
fn headers_that_are_not_sigv4_or_lack_parts() {
    assert!(parse_header("Bearer abc").is_none());
    assert!(matches!(
        parse_header("AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/xray/aws4_request"),
        Some(Err(AuthError::Incomplete(_)))
    ));
}

const FILE: &str = "[team-a]\naws_access_key_id = AKIAA\naws_secret_access_key = sa\naws_account_id = 111111111111\notlp_token = tok-a\n\n[team-b]\naws_access_key_id=AKIAB\naws_secret_access_key=sb\naws_account_id=222222222222\n";

#[test]
fn profiles_map_keys_and_tokens_to_accounts() {
    let auth = Auth::verified(Credentials::parse(FILE).unwrap());
    let default = Partition::default();
    let p = auth
        .export(Some("Bearer tok-a"), None, &default, 0)
        .unwrap();
    assert_eq!(p.account, "111111111111");
    assert_eq!(
        auth.export(Some("Bearer nope"), None, &default, 0),
        Err(AuthError::UnknownToken)
    );
    assert_eq!(
        auth.export(None, None, &default, 0),
        Err(AuthError::Missing)
    );
    let headers = HeaderMap::new();
    let req = Request {
        method: "POST",
        path: "/",
        query: "",
        headers: &headers,
        body: b"",
    };
    assert_eq!(auth.signed(&req, &default, 0), Err(AuthError::Missing));
    let open = Auth::open();
    assert_eq!(open.export(None, None, &default, 0), Ok(default.clone()));
}

#[test]
fn a_bad_credentials_file_says_what_is_wrong() {
    let no_account = "[a]\naws_access_key_id=K\naws_secret_access_key=S\n";
    assert!(
        Credentials::parse(no_account)
            .unwrap_err()
            .to_string()
            .contains("aws_account_id")
    );
    let short = "[a]\naws_access_key_id=K\naws_secret_access_key=S\naws_account_id=12\n";
    assert!(
        Credentials::parse(short)
            .unwrap_err()
            .to_string()
            .contains("12 digits")
    );
    assert!(Credentials::parse("").is_err());
}
