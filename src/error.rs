//! One closed set of error kinds that every module's errors map to, and the one place each kind
//! becomes a transport's answer: an X-Ray API status and error code (rest-json), a gRPC code,
//! and an OTLP/HTTP status.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    InvalidRequest,
    NotFound,
    Throttled,
    RuleLimitExceeded,
    /// Retryable: the store or the disk cannot take the request now.
    Unavailable,
    Internal,
    /// No credentials, or ones no profile has.
    Unauthenticated,
    /// A body over the size limit.
    TooLarge,
    /// A body in a format the endpoint does not take.
    UnsupportedMediaType,
}

impl ErrorKind {
    /// The HTTP status and error code the X-Ray API answers with.
    pub fn xray(self) -> (u16, &'static str) {
        match self {
            ErrorKind::InvalidRequest | ErrorKind::UnsupportedMediaType => {
                (400, "InvalidRequestException")
            }
            ErrorKind::NotFound => (404, "ResourceNotFoundException"),
            ErrorKind::Throttled => (429, "ThrottledException"),
            ErrorKind::RuleLimitExceeded => (400, "RuleLimitExceededException"),
            // AWS's generic code, which every SDK retries.
            ErrorKind::Unavailable => (503, "ServiceUnavailable"),
            ErrorKind::Internal => (500, "InternalFailure"),
            ErrorKind::Unauthenticated => (403, "MissingAuthenticationTokenException"),
            ErrorKind::TooLarge => (413, "RequestEntityTooLargeException"),
        }
    }

    /// The gRPC status code (OTLP/gRPC, and the `code` of OTLP/HTTP error bodies).
    pub fn grpc(self) -> tonic::Code {
        match self {
            ErrorKind::InvalidRequest | ErrorKind::TooLarge | ErrorKind::UnsupportedMediaType => {
                tonic::Code::InvalidArgument
            }
            ErrorKind::NotFound => tonic::Code::NotFound,
            ErrorKind::Throttled | ErrorKind::RuleLimitExceeded => tonic::Code::ResourceExhausted,
            ErrorKind::Unavailable => tonic::Code::Unavailable,
            ErrorKind::Internal => tonic::Code::Internal,
            ErrorKind::Unauthenticated => tonic::Code::Unauthenticated,
        }
    }

    /// The HTTP status of an OTLP/HTTP answer.
    pub fn otlp_http(self) -> u16 {
        match self {
            ErrorKind::InvalidRequest => 400,
            ErrorKind::NotFound => 404,
            ErrorKind::Throttled | ErrorKind::RuleLimitExceeded => 429,
            ErrorKind::Unavailable => 503,
            ErrorKind::Internal => 500,
            ErrorKind::Unauthenticated => 401,
            ErrorKind::TooLarge => 413,
            ErrorKind::UnsupportedMediaType => 415,
        }
    }
}

impl From<crate::store::StoreError> for ErrorKind {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::Unavailable(_) => ErrorKind::Unavailable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_one_answer_per_transport() {
        use ErrorKind::*;
        for k in [
            InvalidRequest,
            NotFound,
            Throttled,
            RuleLimitExceeded,
            Unavailable,
            Internal,
            Unauthenticated,
            TooLarge,
            UnsupportedMediaType,
        ] {
            let (status, code) = k.xray();
            assert!((400..600).contains(&status) && code.chars().all(char::is_alphanumeric));
            assert!((400..600).contains(&k.otlp_http()));
            assert_ne!(k.grpc(), tonic::Code::Ok);
        }
        assert_eq!(Unavailable.xray(), (503, "ServiceUnavailable"));
        assert_eq!(
            (Unavailable.grpc(), Unavailable.otlp_http()),
            (tonic::Code::Unavailable, 503)
        );
        assert_eq!(
            (Throttled.grpc(), Throttled.otlp_http()),
            (tonic::Code::ResourceExhausted, 429)
        );
        assert_eq!(Unauthenticated.otlp_http(), 401);
    }
}
