//! One closed set of error kinds that every module's errors map to; each transport maps the
//! kinds to its own error model (rest-json here; OTLP status codes later).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    InvalidRequest,
    NotFound,
    Throttled,
    RuleLimitExceeded,
    Unavailable,
    Internal,
}

impl From<crate::store::StoreError> for ErrorKind {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::Unavailable(_) => ErrorKind::Unavailable,
        }
    }
}
