//! Who data belongs to: an account and region, as in AWS. For a request they are read from the
//! SigV4 credential scope the way LocalStack does (a 12-digit access key is the account ID), or
//! are the defaults when the request is unsigned. The X-Ray API and OTLP exports signed for
//! X-Ray's OTLP endpoint both read them this way.

pub const DEFAULT_ACCOUNT: &str = "000000000000";
pub const DEFAULT_REGION: &str = "us-east-1";

/// State is partitioned by account and region, as in AWS.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Partition {
    pub account: String,
    pub region: String,
}

/// The partition of unsigned requests when the defaults are not configured otherwise.
impl Default for Partition {
    fn default() -> Self {
        Partition {
            account: DEFAULT_ACCOUNT.into(),
            region: DEFAULT_REGION.into(),
        }
    }
}

impl Partition {
    /// The partition an `Authorization` header names, else `default`.
    pub fn from_auth(auth: Option<&str>, default: &Partition) -> Partition {
        partition_from_auth(auth, default)
    }
}

/// Reads `Credential=AKID/date/region/service/aws4_request` out of an Authorization header.
fn partition_from_auth(auth: Option<&str>, default: &Partition) -> Partition {
    let Some(cred) = auth.and_then(|a| a.split("Credential=").nth(1)) else {
        return default.clone();
    };
    let cred = cred.split([',', ' ']).next().unwrap_or("");
    let mut parts = cred.split('/');
    let key = parts.next().unwrap_or("");
    let region = parts.nth(1).filter(|r| !r.is_empty() && r.len() <= 64);
    let account = if key.len() == 12 && key.bytes().all(|b| b.is_ascii_digit()) {
        key.to_owned()
    } else {
        default.account.clone()
    };
    Partition {
        account,
        region: region
            .map(str::to_owned)
            .unwrap_or_else(|| default.region.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_comes_from_the_credential_scope() {
        let p = partition_from_auth(
            Some(
                "AWS4-HMAC-SHA256 Credential=test/20261124/eu-west-2/xray/aws4_request, SignedHeaders=host, Signature=abc",
            ),
            &Partition::default(),
        );
        assert_eq!(
            p,
            Partition {
                account: DEFAULT_ACCOUNT.into(),
                region: "eu-west-2".into()
            }
        );
    }

    #[test]
    fn twelve_digit_access_key_is_the_account() {
        let p = partition_from_auth(
            Some("AWS4-HMAC-SHA256 Credential=123456789012/20261124/us-west-2/xray/aws4_request"),
            &Partition::default(),
        );
        assert_eq!(p.account, "123456789012");
        assert_eq!(p.region, "us-west-2");
    }

    #[test]
    fn unsigned_requests_use_the_defaults() {
        assert_eq!(
            partition_from_auth(None, &Partition::default()),
            Partition::default()
        );
        assert_eq!(
            partition_from_auth(Some("Bearer x"), &Partition::default()),
            Partition::default()
        );
    }
}
