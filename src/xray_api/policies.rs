//! Resource policies: at most five per account, each at most 5 KB, with revision IDs that act as
//! compare-and-set guards (`"0"` means "create only").
//!
//! Policies are stored and returned faithfully; nothing here evaluates them, so the lockout
//! check (LockoutPreventionException) has nothing to protect and is not applied.

use super::ApiState;
use super::error::ApiError;
use crate::store::Partition;
use crate::store::control::Policy;
use serde_json::{Value, json};

pub const MAX_POLICIES: usize = 5;
pub const MAX_POLICY_BYTES: usize = 5 * 1024;

fn revision_error(message: String) -> ApiError {
    ApiError::with_code(400, "InvalidPolicyRevisionIdException", message)
}

fn policy_json(name: &str, p: &Policy) -> Value {
    json!({
        "PolicyName": name,
        "PolicyDocument": p.document,
        "PolicyRevisionId": p.revision.to_string(),
        "LastUpdatedTime": p.updated_at,
    })
}

pub fn put_resource_policy(
    st: &ApiState,
    part: &Partition,
    req: &Value,
) -> Result<String, ApiError> {
    let name = req["PolicyName"].as_str().unwrap_or("");
    let document = req["PolicyDocument"].as_str().unwrap_or("");
    if !matches!(
        serde_json::from_str::<Value>(document),
        Ok(Value::Object(_))
    ) {
        return Err(ApiError::with_code(
            400,
            "MalformedPolicyDocumentException",
            "PolicyDocument is not a JSON policy object.",
        ));
    }
    if document.len() > MAX_POLICY_BYTES {
        return Err(ApiError::with_code(
            400,
            "PolicySizeLimitExceededException",
            format!(
                "PolicyDocument is {} bytes; the limit is {MAX_POLICY_BYTES}.",
                document.len()
            ),
        ));
    }
    let expected = req["PolicyRevisionId"].as_str();
    let now = st.now_secs();
    st.control.with(part, |c| {
        let existing = c.policies.get(name).map(|p| p.revision);
        match (expected, existing) {
            (Some("0"), Some(_)) => {
                return Err(revision_error(format!(
                    "Policy '{name}' already exists; revision \"0\" only creates."
                )));
            }
            (Some(e), Some(r)) if e != r.to_string() => {
                return Err(revision_error(format!(
                    "Policy '{name}' is at revision {r}, not {e}."
                )));
            }
            (Some(e), None) if e != "0" => {
                return Err(revision_error(format!(
                    "Policy '{name}' does not exist; use revision \"0\" or none to create it."
                )));
            }
            _ => {}
        }
        if existing.is_none() && c.policies.len() >= MAX_POLICIES {
            return Err(ApiError::with_code(
                400,
                "PolicyCountLimitExceededException",
                format!("An account may hold at most {MAX_POLICIES} resource policies."),
            ));
        }
        let p = Policy {
            document: document.to_owned(),
            revision: existing.unwrap_or(0) + 1,
            updated_at: now,
        };
        let out = json!({ "ResourcePolicy": policy_json(name, &p) });
        c.policies.insert(name.to_owned(), p);
        Ok(out.to_string())
    })
}

pub fn delete_resource_policy(
    st: &ApiState,
    part: &Partition,
    req: &Value,
) -> Result<String, ApiError> {
    let name = req["PolicyName"].as_str().unwrap_or("");
    let expected = req["PolicyRevisionId"].as_str();
    st.control.with(part, |c| {
        match (c.policies.get(name), expected) {
            (Some(p), Some(e)) if p.revision.to_string() != e => {
                return Err(revision_error(format!(
                    "Policy '{name}' is at revision {}, not {e}.",
                    p.revision
                )));
            }
            (None, Some(e)) => {
                return Err(revision_error(format!(
                    "Policy '{name}' does not exist (revision {e} given)."
                )));
            }
            _ => {}
        }
        c.policies.remove(name);
        Ok("{}".to_owned())
    })
}

pub fn list_resource_policies(st: &ApiState, part: &Partition) -> Result<String, ApiError> {
    let list: Vec<Value> = st.control.with(part, |c| {
        c.policies.iter().map(|(n, p)| policy_json(n, p)).collect()
    });
    Ok(json!({ "ResourcePolicies": list }).to_string())
}
