//! rest-json errors as botocore reads them: status, `x-amzn-ErrorType`, and a body with
//! `__type`, `message` and the modeled `Message`.

use crate::error::ErrorKind;
use crate::store::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    pub resource_name: Option<String>,
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> ApiError {
        let (status, code) = kind.xray();
        ApiError {
            status,
            code,
            message: message.into(),
            resource_name: None,
        }
    }

    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorKind::InvalidRequest, message)
    }

    pub fn with_code(status: u16, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            resource_name: None,
        }
    }

    pub fn body(&self) -> String {
        let mut v = serde_json::json!({
            "__type": self.code,
            "message": self.message,
            "Message": self.message,
        });
        if let Some(r) = &self.resource_name {
            v["ResourceName"] = r.clone().into();
        }
        v.to_string()
    }
}

impl From<crate::query::FilterError> for ApiError {
    fn from(e: crate::query::FilterError) -> Self {
        let message = format!("Invalid filter expression: {e}.");
        ApiError::new(e.into(), message)
    }
}

impl From<crate::auth::AuthError> for ApiError {
    fn from(e: crate::auth::AuthError) -> Self {
        ApiError::with_code(403, e.code(), e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let message = e.to_string();
        ApiError::new(ErrorKind::from(e), message)
    }
}

impl From<crate::control::ControlError> for ApiError {
    fn from(e: crate::control::ControlError) -> Self {
        use crate::control::ControlError as C;
        use crate::sampling::RuleError;
        match e {
            C::Invalid(m) => ApiError::invalid(m),
            C::NotFound { message, resource } => {
                let mut a = ApiError::new(ErrorKind::NotFound, message);
                a.resource_name = Some(resource);
                a
            }
            C::Coded {
                code,
                message,
                resource,
            } => {
                let mut a = ApiError::with_code(400, code, message);
                a.resource_name = resource;
                a
            }
            C::Rule(RuleError::Invalid(m)) => ApiError::invalid(m),
            C::Rule(RuleError::LimitExceeded) => ApiError::new(
                ErrorKind::RuleLimitExceeded,
                format!(
                    "An account may have at most {} custom sampling rules per region.",
                    crate::sampling::MAX_CUSTOM_RULES
                ),
            ),
            C::Rule(RuleError::NotFound(r)) => {
                ApiError::invalid(format!("Sampling rule '{r}' does not exist."))
            }
        }
    }
}

impl From<crate::store::control::Refused> for ApiError {
    fn from(e: crate::store::control::Refused) -> Self {
        match e {
            crate::store::control::Refused::Control(c) => c.into(),
            crate::store::control::Refused::Store(s) => s.into(),
        }
    }
}
