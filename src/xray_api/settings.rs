//! Account settings: encryption, the trace-segment destination, indexing rules, telemetry
//! records, and insights (which need AWS's anomaly detection, so none ever exist here).
//!
//! Changes take effect at once locally; the change itself answers with the transitional
//! status AWS reports (`UPDATING`, `PENDING`), and later reads with `ACTIVE`.

use super::ApiState;
use super::error::ApiError;
use super::types::{
    EncryptionConfig, GetEncryptionConfigResult, GetIndexingRulesResult, GetInsightEventsRequest,
    GetInsightImpactGraphRequest, GetInsightRequest, GetInsightSummariesRequest,
    GetInsightSummariesResult, GetTraceSegmentDestinationResult, IndexingRuleValue,
    ProbabilisticRuleValue, PutEncryptionConfigRequest, PutEncryptionConfigResult,
    PutTelemetryRecordsRequest, PutTelemetryRecordsResult, UpdateIndexingRuleRequest,
    UpdateIndexingRuleResult, UpdateTraceSegmentDestinationRequest,
    UpdateTraceSegmentDestinationResult,
};
use crate::control::{Applied, Command, IndexingRule};
use crate::store::Partition;

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

fn encryption_out(kind: String, key_id: Option<String>, status: &str) -> Option<EncryptionConfig> {
    Some(EncryptionConfig {
        key_id,
        status: Some(status.to_owned()),
        r#type: Some(kind),
    })
}

pub async fn get_encryption_config(st: &ApiState, part: &Partition) -> Result<String, ApiError> {
    let e = st.control.read(part, |c| c.encryption.clone()).await?;
    super::answer(&GetEncryptionConfigResult {
        encryption_config: encryption_out(e.kind, e.key_id, "ACTIVE"),
    })
}

pub async fn put_encryption_config(
    st: &ApiState,
    part: &Partition,
    req: PutEncryptionConfigRequest,
) -> Result<String, ApiError> {
    let kind = req.r#type;
    let key_id = match (kind.as_str(), req.key_id.as_deref()) {
        ("KMS", None) => return Err(ApiError::invalid("KeyId is required when Type is KMS.")),
        ("KMS", Some(k)) => Some(kms_arn(part, k)),
        _ => None,
    };
    let cmd = Command::PutEncryption {
        kind: kind.clone(),
        key_id: key_id.clone(),
    };
    super::execute(st, part, cmd).await?;
    super::answer(&PutEncryptionConfigResult {
        encryption_config: encryption_out(kind, key_id, "UPDATING"),
    })
}

pub async fn get_trace_segment_destination(
    st: &ApiState,
    part: &Partition,
) -> Result<String, ApiError> {
    let d = st.control.read(part, |c| c.destination.clone()).await?;
    super::answer(&GetTraceSegmentDestinationResult {
        destination: Some(d.name),
        status: Some("ACTIVE".to_owned()),
    })
}

pub async fn update_trace_segment_destination(
    st: &ApiState,
    part: &Partition,
    req: UpdateTraceSegmentDestinationRequest,
) -> Result<String, ApiError> {
    let key = req
        .cloud_watch_logs_configuration
        .and_then(|c| c.spans_log_group_kms_key_id);
    if let Some(k) = &key {
        let is_key_arn =
            k.starts_with("arn:") && k.split(':').nth(5).is_some_and(|r| r.starts_with("key/"));
        if !is_key_arn {
            return Err(ApiError::invalid(format!(
                "SpansLogGroupKmsKeyId must be a KMS key ARN (arn:aws:kms:region:account:key/id); got '{k}'."
            )));
        }
    }
    let cmd = Command::UpdateDestination {
        name: req.destination,
        kms_key_id: key,
    };
    let name = match super::execute(st, part, cmd).await? {
        Applied::Destination(name) => name,
        other => return Err(super::unexpected(other)),
    };
    super::answer(&UpdateTraceSegmentDestinationResult {
        destination: Some(name),
        status: Some("PENDING".to_owned()),
    })
}

fn rule_out(r: &IndexingRule) -> super::types::IndexingRule {
    super::types::IndexingRule {
        name: Some(r.name.clone()),
        modified_at: Some(r.modified_at),
        rule: Some(IndexingRuleValue {
            probabilistic: Some(ProbabilisticRuleValue {
                desired_sampling_percentage: r.desired_percentage,
                // Every trace stays searchable here, but the rule reports what it asks for.
                actual_sampling_percentage: Some(r.desired_percentage),
            }),
        }),
    }
}

pub async fn get_indexing_rules(st: &ApiState, part: &Partition) -> Result<String, ApiError> {
    let rules = st
        .control
        .read(part, |c| {
            c.indexing_rules.iter().map(rule_out).collect::<Vec<_>>()
        })
        .await?;
    super::answer(&GetIndexingRulesResult {
        indexing_rules: Some(rules),
        next_token: None,
    })
}

pub async fn update_indexing_rule(
    st: &ApiState,
    part: &Partition,
    req: UpdateIndexingRuleRequest,
) -> Result<String, ApiError> {
    let Some(pct) = req
        .rule
        .probabilistic
        .map(|p| p.desired_sampling_percentage)
    else {
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
        name: req.name,
        percentage: pct,
        at: st.now_secs(),
    };
    match super::execute(st, part, cmd).await? {
        Applied::IndexingRule(r) => super::answer(&UpdateIndexingRuleResult {
            indexing_rule: Some(rule_out(&r)),
        }),
        other => Err(super::unexpected(other)),
    }
}

pub async fn put_telemetry_records(
    st: &ApiState,
    part: &Partition,
    req: PutTelemetryRecordsRequest,
) -> Result<String, ApiError> {
    let n = req.telemetry_records.len() as u64;
    super::execute(st, part, Command::CountTelemetryRecords { n }).await?;
    super::answer(&PutTelemetryRecordsResult {})
}

fn no_such_insight(id: &str) -> ApiError {
    ApiError::invalid(format!(
        "Insight {id} does not exist: insights come from AWS's anomaly detection, which xray-gateway does not run."
    ))
}

pub fn get_insight_summaries(req: GetInsightSummariesRequest) -> Result<String, ApiError> {
    if req.end_time < req.start_time {
        return Err(ApiError::invalid("EndTime must not be before StartTime."));
    }
    if req.group_name.is_some() && req.group_arn.is_some() {
        return Err(ApiError::invalid("Give GroupName or GroupARN, not both."));
    }
    super::answer(&GetInsightSummariesResult {
        insight_summaries: Some(Vec::new()),
        next_token: None,
    })
}

pub fn get_insight(req: GetInsightRequest) -> Result<String, ApiError> {
    Err(no_such_insight(&req.insight_id))
}

pub fn get_insight_events(req: GetInsightEventsRequest) -> Result<String, ApiError> {
    Err(no_such_insight(&req.insight_id))
}

pub fn get_insight_impact_graph(
    st: &ApiState,
    req: GetInsightImpactGraphRequest,
) -> Result<String, ApiError> {
    let (start, end) = (req.start_time, req.end_time);
    if end < start {
        return Err(ApiError::invalid("EndTime must not be before StartTime."));
    }
    if end - start > 6.0 * 3600.0 {
        return Err(ApiError::invalid("The time window may be at most 6 hours."));
    }
    if st.now_secs() - start > 30.0 * 86400.0 {
        return Err(ApiError::invalid("StartTime may be at most 30 days old."));
    }
    Err(no_such_insight(&req.insight_id))
}
