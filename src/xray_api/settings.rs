//! Account settings: encryption, the trace-segment destination, indexing rules, telemetry
//! records, and insights (which need AWS's anomaly detection, so none ever exist here).
//!
//! Changes take effect at once locally; the change itself answers with the transitional
//! status AWS reports (`UPDATING`, `PENDING`), and later reads with `ACTIVE`.

use super::ApiState;
use super::error::ApiError;
use crate::control::{Applied, Command, IndexingRule};
use crate::store::Partition;
use serde_json::{Value, json};

/// A KMS key given as an alias, a key ID or an ARN, as the key's ARN.
fn kms_arn(part: &Partition, key: &str) -> String {
    if key.starts_with("arn:") {
        key.to_owned()
    } else if key.starts_with("alias/") {
        format!("arn:aws:kms:{}:{}:{key}", part.region, part.account)
    } else {
        format!("arn:aws:kms:{}:{}:key/{key}", part.region, part.account)
    }
}

fn encryption_json(kind: &str, key_id: Option<&str>, status: &str) -> Value {
    let mut c = json!({"Status": status, "Type": kind});
    if let Some(k) = key_id {
        c["KeyId"] = k.into();
    }
    json!({ "EncryptionConfig": c })
}

pub async fn get_encryption_config(st: &ApiState, part: &Partition) -> Result<String, ApiError> {
    let e = st.control.read(part, |c| c.encryption.clone()).await?;
    Ok(encryption_json(&e.kind, e.key_id.as_deref(), "ACTIVE").to_string())
}

pub async fn put_encryption_config(
    st: &ApiState,
    part: &Partition,
    req: &Value,
) -> Result<String, ApiError> {
    let kind = req["Type"].as_str().unwrap_or("NONE");
    let key_id = match (kind, req["KeyId"].as_str()) {
        ("KMS", None) => return Err(ApiError::invalid("KeyId is required when Type is KMS.")),
        ("KMS", Some(k)) => Some(kms_arn(part, k)),
        _ => None,
    };
    let cmd = Command::PutEncryption {
        kind: kind.to_owned(),
        key_id: key_id.clone(),
    };
    super::execute(st, part, cmd).await?;
    Ok(encryption_json(kind, key_id.as_deref(), "UPDATING").to_string())
}

pub async fn get_trace_segment_destination(
    st: &ApiState,
    part: &Partition,
) -> Result<String, ApiError> {
    let d = st.control.read(part, |c| c.destination.clone()).await?;
    Ok(json!({"Destination": d.name, "Status": "ACTIVE"}).to_string())
}

pub async fn update_trace_segment_destination(
    st: &ApiState,
    part: &Partition,
    req: &Value,
) -> Result<String, ApiError> {
    let key = req["CloudWatchLogsConfiguration"]["SpansLogGroupKmsKeyId"].as_str();
    if let Some(k) = key {
        let is_key_arn =
            k.starts_with("arn:") && k.split(':').nth(5).is_some_and(|r| r.starts_with("key/"));
        if !is_key_arn {
            return Err(ApiError::invalid(format!(
                "SpansLogGroupKmsKeyId must be a KMS key ARN (arn:aws:kms:region:account:key/id); got '{k}'."
            )));
        }
    }
    let cmd = Command::UpdateDestination {
        name: req["Destination"].as_str().map(str::to_owned),
        kms_key_id: key.map(str::to_owned),
    };
    let name = match super::execute(st, part, cmd).await? {
        Applied::Destination(name) => name,
        other => return Err(super::unexpected(other)),
    };
    Ok(json!({"Destination": name, "Status": "PENDING"}).to_string())
}

fn rule_json(r: &IndexingRule) -> Value {
    json!({
        "Name": r.name,
        "ModifiedAt": r.modified_at,
        "Rule": {"Probabilistic": {
            "DesiredSamplingPercentage": r.desired_percentage,
            // Every trace stays searchable here, but the rule reports what it asks for.
            "ActualSamplingPercentage": r.desired_percentage,
        }},
    })
}

pub async fn get_indexing_rules(st: &ApiState, part: &Partition) -> Result<String, ApiError> {
    let rules = st
        .control
        .read(part, |c| {
            c.indexing_rules.iter().map(rule_json).collect::<Vec<_>>()
        })
        .await?;
    Ok(json!({ "IndexingRules": rules }).to_string())
}

pub async fn update_indexing_rule(
    st: &ApiState,
    part: &Partition,
    req: &Value,
) -> Result<String, ApiError> {
    let name = req["Name"].as_str().unwrap_or("");
    let Some(pct) = req["Rule"]["Probabilistic"]["DesiredSamplingPercentage"].as_f64() else {
        return Err(ApiError::invalid(
            "Rule.Probabilistic.DesiredSamplingPercentage is required.",
        ));
    };
    if !(0.0..=100.0).contains(&pct) {
        return Err(ApiError::invalid(format!(
            "DesiredSamplingPercentage must be between 0 and 100; got {pct}."
        )));
    }
    let cmd = Command::UpdateIndexingRule {
        name: name.to_owned(),
        percentage: pct,
        at: st.now_secs(),
    };
    match super::execute(st, part, cmd).await? {
        Applied::IndexingRule(r) => Ok(json!({ "IndexingRule": rule_json(&r) }).to_string()),
        other => Err(super::unexpected(other)),
    }
}

pub async fn put_telemetry_records(
    st: &ApiState,
    part: &Partition,
    req: &Value,
) -> Result<String, ApiError> {
    let n = req["TelemetryRecords"].as_array().map_or(0, Vec::len) as u64;
    super::execute(st, part, Command::CountTelemetryRecords { n }).await?;
    Ok("{}".to_owned())
}

fn no_such_insight(req: &Value) -> ApiError {
    ApiError::invalid(format!(
        "Insight {} does not exist: insights come from AWS's anomaly detection, which xray-gateway does not run.",
        req["InsightId"].as_str().unwrap_or("")
    ))
}

pub fn get_insight_summaries(req: &Value) -> Result<String, ApiError> {
    if req["EndTime"].as_f64() < req["StartTime"].as_f64() {
        return Err(ApiError::invalid("EndTime must not be before StartTime."));
    }
    if req["GroupName"].is_string() && req["GroupARN"].is_string() {
        return Err(ApiError::invalid("Give GroupName or GroupARN, not both."));
    }
    Ok(json!({ "InsightSummaries": [] }).to_string())
}

pub fn get_insight(req: &Value) -> Result<String, ApiError> {
    Err(no_such_insight(req))
}

pub fn get_insight_impact_graph(st: &ApiState, req: &Value) -> Result<String, ApiError> {
    let (start, end) = (
        req["StartTime"].as_f64().unwrap_or(0.0),
        req["EndTime"].as_f64().unwrap_or(0.0),
    );
    if end < start {
        return Err(ApiError::invalid("EndTime must not be before StartTime."));
    }
    if end - start > 6.0 * 3600.0 {
        return Err(ApiError::invalid("The time window may be at most 6 hours."));
    }
    if st.now_secs() - start > 30.0 * 86400.0 {
        return Err(ApiError::invalid("StartTime may be at most 30 days old."));
    }
    Err(no_such_insight(req))
}
