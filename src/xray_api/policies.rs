//! Resource policies: at most five per account, each at most 5 KB, with revision IDs that act as
//! compare-and-set guards (`"0"` means "create only").
//!
//! Policies are stored and returned faithfully; nothing here evaluates them, so the lockout
//! check (LockoutPreventionException) has nothing to protect and is not applied.

use super::ApiState;
use super::error::ApiError;
use super::types::{
    DeleteResourcePolicyRequest, DeleteResourcePolicyResult, ListResourcePoliciesResult,
    PutResourcePolicyRequest, PutResourcePolicyResult, ResourcePolicy,
};
use crate::control::{Applied, Command, Policy};
use crate::store::Partition;
use serde_json::Value;

pub const MAX_POLICY_BYTES: usize = 5 * 1024;

fn policy_out(name: &str, p: &Policy) -> ResourcePolicy {
    ResourcePolicy {
        policy_name: Some(name.to_owned()),
        policy_document: Some(p.document.clone()),
        policy_revision_id: Some(p.revision.to_string()),
        last_updated_time: Some(p.updated_at),
    }
}

pub async fn put_resource_policy(
    st: &ApiState,
    part: &Partition,
    req: PutResourcePolicyRequest,
) -> Result<String, ApiError> {
    let document = req.policy_document;
    if !matches!(
        serde_json::from_str::<Value>(&document),
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
        name: req.policy_name,
        document,
        expected_revision: req.policy_revision_id,
        at: st.now_secs(),
    };
    match super::execute(st, part, cmd).await? {
        Applied::Policy(name, p) => super::answer(&PutResourcePolicyResult {
            resource_policy: Some(policy_out(&name, &p)),
        }),
        other => Err(super::unexpected(other)),
    }
}

pub async fn delete_resource_policy(
    st: &ApiState,
    part: &Partition,
    req: DeleteResourcePolicyRequest,
) -> Result<String, ApiError> {
    let cmd = Command::DeletePolicy {
        name: req.policy_name,
        expected_revision: req.policy_revision_id,
    };
    super::execute(st, part, cmd).await?;
    super::answer(&DeleteResourcePolicyResult {})
}

pub async fn list_resource_policies(st: &ApiState, part: &Partition) -> Result<String, ApiError> {
    let list = st
        .control
        .read(part, |c| {
            c.policies.iter().map(|(n, p)| policy_out(n, p)).collect()
        })
        .await?;
    super::answer(&ListResourcePoliciesResult {
        resource_policies: Some(list),
        next_token: None,
    })
}
