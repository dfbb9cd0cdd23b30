//! Who is calling. Without a credentials file the gateway trusts what a request claims (the
//! access key and region of its SigV4 scope, as LocalStack does). With one
//! (`--credentials-file`, the AWS shared-credentials format), every X-Ray API request must be
//! signed with a profile's key and lands in that profile's account; OTLP exports carry a
//! signature or a profile's bearer token.

pub mod sigv4;

use crate::store::Partition;
use std::collections::HashMap;
use std::sync::Arc;

/// Why a request was not let in; each transport answers it in its own error model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("Missing Authentication Token")]
    Missing,
    #[error("The security token included in the request is invalid.")]
    UnknownKey,
    #[error("{0}")]
    Incomplete(String),
    #[error("{0}")]
    Signature(String),
    #[error("The bearer token is not a profile's otlp_token.")]
    UnknownToken,
}

impl AuthError {
    /// AWS's error code for it.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::Missing => "MissingAuthenticationTokenException",
            AuthError::UnknownKey | AuthError::UnknownToken => "UnrecognizedClientException",
            AuthError::Incomplete(_) => "IncompleteSignatureException",
            AuthError::Signature(_) => "InvalidSignatureException",
        }
    }
}

/// One profile of the credentials file.
#[derive(Debug)]
pub struct Profile {
    pub name: String,
    secret: String,
    pub account: String,
}

#[derive(Debug, Default)]
pub struct Credentials {
    by_key: HashMap<String, Arc<Profile>>,
    by_token: HashMap<String, Arc<Profile>>,
}

impl Credentials {
    pub fn load(path: &std::path::Path) -> anyhow::Result<Credentials> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        Credentials::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }

    /// Reads profiles with `aws_access_key_id`, `aws_secret_access_key` and `aws_account_id`
    /// (and optionally `otlp_token`).
    pub fn parse(text: &str) -> anyhow::Result<Credentials> {
        let ini = ini::Ini::load_from_str(text)?;
        let mut c = Credentials::default();
        for (section, props) in ini.iter() {
            let Some(name) = section else { continue };
            let get = |k: &str| props.get(k).map(str::trim).filter(|v| !v.is_empty());
            let (Some(key), Some(secret)) =
                (get("aws_access_key_id"), get("aws_secret_access_key"))
            else {
                anyhow::bail!("profile [{name}] needs aws_access_key_id and aws_secret_access_key");
            };
            let account = get("aws_account_id").ok_or_else(|| {
                anyhow::anyhow!("profile [{name}] needs aws_account_id (12 digits)")
            })?;
            if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
                anyhow::bail!("profile [{name}]: aws_account_id must be 12 digits");
            }
            let profile = Arc::new(Profile {
                name: name.to_owned(),
                secret: secret.to_owned(),
                account: account.to_owned(),
            });
            if c.by_key.insert(key.to_owned(), profile.clone()).is_some() {
                anyhow::bail!("access key {key} appears in two profiles");
            }
            if let Some(token) = get("otlp_token")
                && c.by_token.insert(token.to_owned(), profile).is_some()
            {
                anyhow::bail!("an otlp_token appears in two profiles");
            }
        }
        if c.by_key.is_empty() {
            anyhow::bail!("no profiles with credentials");
        }
        Ok(c)
    }

    pub fn profiles(&self) -> usize {
        self.by_key.len()
    }
}

/// The gateway's policy: open (no credentials file) or verified.
pub struct Auth {
    credentials: Option<Credentials>,
}

impl Auth {
    pub fn open() -> Auth {
        Auth { credentials: None }
    }

    pub fn verified(credentials: Credentials) -> Auth {
        Auth {
            credentials: Some(credentials),
        }
    }

    pub fn is_verified(&self) -> bool {
        self.credentials.is_some()
    }

    /// The partition of a signed request (an X-Ray API call, or an OTLP export signed as the
    /// collector's `sigv4auth` signs it) at `now` (Unix seconds).
    pub fn signed(
        &self,
        req: &sigv4::Request<'_>,
        default: &Partition,
        now: i64,
    ) -> Result<Partition, AuthError> {
        let auth = req
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let Some(creds) = &self.credentials else {
            return Ok(Partition::from_auth(auth, default));
        };
        let h = auth
            .and_then(sigv4::parse_header)
            .ok_or(AuthError::Missing)??;
        let profile = creds
            .by_key
            .get(h.access_key)
            .ok_or(AuthError::UnknownKey)?;
        sigv4::verify(req, &h, &profile.secret, "xray", now)?;
        Ok(Partition {
            account: profile.account.clone(),
            region: h.region.to_owned(),
        })
    }

    /// The partition of an OTLP export: a profile's bearer token, or (over HTTP) a signature.
    /// `req` is `None` over gRPC, where only the token is taken.
    pub fn export(
        &self,
        auth: Option<&str>,
        req: Option<&sigv4::Request<'_>>,
        default: &Partition,
        now: i64,
    ) -> Result<Partition, AuthError> {
        let Some(creds) = &self.credentials else {
            return Ok(Partition::from_auth(auth, default));
        };
        if let Some(token) = auth.and_then(|a| a.strip_prefix("Bearer ")) {
            let profile = creds
                .by_token
                .get(token.trim())
                .ok_or(AuthError::UnknownToken)?;
            return Ok(Partition {
                account: profile.account.clone(),
                region: default.region.clone(),
            });
        }
        match req {
            Some(r) => self.signed(r, default, now),
            None => Err(AuthError::Missing),
        }
    }
}

#[cfg(test)]
mod tests;
