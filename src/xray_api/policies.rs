//! Resource policies: at most five per account, each at most 5 KB, with revision IDs that act as
//! compare-and-set guards (`"0"` means "create only").
//!
//! Policies are stored and returned faithfully; nothing here evaluates them, so the lockout
//! check (LockoutPreventionException) has nothing to protect and is not applied.

use super::ApiState;
use super::error::ApiError;
use crate::control::{Applied, Command, Policy};
use crate::store::Partition;
use serde_json::{Value, json};

pub const MAX_POLICY_BYTES: usize = 5 * 1024;

fn policy_json(name: &str, p: &Policy) -> Value {
    json!({
        "PolicyName": name,
        "PolicyDocument": p.document,
        "PolicyRevisionId": p.revision.to_string(),
        "LastUpdatedTime": p.updated_at,
    })
}

pub async fn put_resource_policy(
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
    let cmd = Command::PutPolicy {
        name: name.to_owned(),
        document: document.to_owned(),
        expected_revision: req["PolicyRevisionId"].as_str().map(str::to_owned),
        at: st.now_secs(),
    };
    match super::execute(st, part, cmd).await? {
        Applied::Policy(name, p) => {
            Ok(json!({ "ResourcePolicy": policy_json(&name, &p) }).to_string())
        }
        other => Err(super::unexpected(other)),
    }
}

pub async fn delete_resource_policy(
    st: &ApiState,
    part: &Partition,
    req: &Value,
) -> Result<String, ApiError> {
    let name = req["PolicyName"].as_str().unwrap_or("");
    let cmd = Command::DeletePolicy {
        name: name.to_owned(),
        expected_revision: req["PolicyRevisionId"].as_str().map(str::to_owned),
    };
    super::execute(st, part, cmd).await?;
    Ok("{}".to_owned())
}

pub async fn list_resource_policies(st: &ApiState, part: &Partition) -> Result<String, ApiError> {
    let list: Vec<Value> = st
        .control
        .read(part, |c| {
            c.policies.iter().map(|(n, p)| policy_json(n, p)).collect()
        })
        .await?;
    Ok(json!({ "ResourcePolicies": list }).to_string())
}
