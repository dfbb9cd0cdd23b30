//! Sampling rules, targets and statistic summaries over the rest-json API (and, unsigned, on
//! the daemon's TCP port). The rules and the reservoir math live in `crate::sampling`.

use super::ApiState;
use super::error::ApiError;
use crate::control::{Applied, Command};
use crate::sampling::{Boost, BoostReport, Report, Rule, RuleRecord, RuleUpdate, arn_prefix};
use crate::store::Partition;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

fn text(v: &Value, k: &str) -> Option<String> {
    v[k].as_str().map(str::to_owned)
}

fn attributes(v: &Value) -> Option<BTreeMap<String, String>> {
    v.as_object().map(|m| {
        m.iter()
            .filter_map(|(k, x)| Some((k.clone(), x.as_str()?.to_owned())))
            .collect()
    })
}

fn boost(v: &Value) -> Option<Boost> {
    let b = v.as_object()?;
    Some(Boost {
        max_rate: b.get("MaxRate")?.as_f64()?,
        cooldown_minutes: b
            .get("CooldownWindowMinutes")
            .and_then(Value::as_i64)
            .unwrap_or(1),
    })
}

fn rule_from(v: &Value) -> Rule {
    Rule {
        name: text(v, "RuleName").unwrap_or_default(),
        resource_arn: text(v, "ResourceARN").unwrap_or_default(),
        priority: v["Priority"].as_i64().unwrap_or(0),
        fixed_rate: v["FixedRate"].as_f64().unwrap_or(0.0),
        reservoir_size: v["ReservoirSize"].as_i64().unwrap_or(0),
        service_name: text(v, "ServiceName").unwrap_or_default(),
        service_type: text(v, "ServiceType").unwrap_or_default(),
        host: text(v, "Host").unwrap_or_default(),
        http_method: text(v, "HTTPMethod").unwrap_or_default(),
        url_path: text(v, "URLPath").unwrap_or_default(),
        version: v["Version"].as_i64().unwrap_or(0),
        attributes: attributes(&v["Attributes"]).unwrap_or_default(),
        boost: boost(&v["SamplingRateBoost"]),
    }
}

fn record_json(r: &RuleRecord) -> Value {
    let rule = &r.rule;
    let mut m = json!({
        "RuleName": rule.name,
        "RuleARN": r.arn,
        "ResourceARN": rule.resource_arn,
        "Priority": rule.priority,
        "FixedRate": rule.fixed_rate,
        "ReservoirSize": rule.reservoir_size,
        "ServiceName": rule.service_name,
        "ServiceType": rule.service_type,
        "Host": rule.host,
        "HTTPMethod": rule.http_method,
        "URLPath": rule.url_path,
        "Version": rule.version,
        "Attributes": rule.attributes,
    });
    if let Some(b) = &rule.boost {
        m["SamplingRateBoost"] =
            json!({"MaxRate": b.max_rate, "CooldownWindowMinutes": b.cooldown_minutes});
    }
    json!({"SamplingRule": m, "CreatedAt": r.created_at, "ModifiedAt": r.modified_at})
}

pub async fn create_sampling_rule(
    st: &ApiState,
    part: &Partition,
    req: &Value,
) -> Result<String, ApiError> {
    let rule = rule_from(&req["SamplingRule"]);
    let tags = super::tags::tags_from(&req["Tags"])?;
    let cmd = Command::CreateSamplingRule {
        rule,
        arn_prefix: arn_prefix(&part.region, &part.account),
        tags,
        at: st.now_secs(),
    };
    rule_answer(super::execute(st, part, cmd).await?)
}

/// The `SamplingRuleRecord` answer of a create, update or delete.
fn rule_answer(a: Applied) -> Result<String, ApiError> {
    match a {
        Applied::SamplingRule(r) => {
            Ok(json!({ "SamplingRuleRecord": record_json(&r) }).to_string())
        }
        other => Err(super::unexpected(other)),
    }
}

pub async fn get_sampling_rules(st: &ApiState, part: &Partition) -> Result<String, ApiError> {
    let prefix = arn_prefix(&part.region, &part.account);
    let records = st
        .control
        .read(part, |c| c.sampling.rules.records(&prefix))
        .await?;
    // Every rule on one page: the Python SDK's poller makes one call and ignores NextToken.
    Ok(
        json!({ "SamplingRuleRecords": records.iter().map(record_json).collect::<Vec<_>>() })
            .to_string(),
    )
}

pub async fn update_sampling_rule(
    st: &ApiState,
    part: &Partition,
    req: &Value,
) -> Result<String, ApiError> {
    let u = &req["SamplingRuleUpdate"];
    let update = RuleUpdate {
        resource_arn: text(u, "ResourceARN"),
        priority: u["Priority"].as_i64(),
        fixed_rate: u["FixedRate"].as_f64(),
        reservoir_size: u["ReservoirSize"].as_i64(),
        service_name: text(u, "ServiceName"),
        service_type: text(u, "ServiceType"),
        host: text(u, "Host"),
        http_method: text(u, "HTTPMethod"),
        url_path: text(u, "URLPath"),
        attributes: attributes(&u["Attributes"]),
        boost: boost(&u["SamplingRateBoost"]),
    };
    let cmd = Command::UpdateSamplingRule {
        name: text(u, "RuleName"),
        arn: text(u, "RuleARN"),
        update,
        arn_prefix: arn_prefix(&part.region, &part.account),
        at: st.now_secs(),
    };
    rule_answer(super::execute(st, part, cmd).await?)
}

pub async fn delete_sampling_rule(
    st: &ApiState,
    part: &Partition,
    req: &Value,
) -> Result<String, ApiError> {
    let cmd = Command::DeleteSamplingRule {
        name: text(req, "RuleName"),
        arn: text(req, "RuleARN"),
        arn_prefix: arn_prefix(&part.region, &part.account),
        at: st.now_secs(),
    };
    rule_answer(super::execute(st, part, cmd).await?)
}

fn unprocessed_json(u: &[crate::sampling::Unprocessed]) -> Vec<Value> {
    u.iter()
        .map(|x| json!({"RuleName": x.rule_name, "ErrorCode": x.error_code, "Message": x.message}))
        .collect()
}

pub async fn get_sampling_targets(
    st: &ApiState,
    part: &Partition,
    req: &Value,
) -> Result<String, ApiError> {
    let reports: Vec<Report> = req["SamplingStatisticsDocuments"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| Report {
            rule_name: text(d, "RuleName").unwrap_or_default(),
            client_id: text(d, "ClientID").unwrap_or_default(),
            timestamp: d["Timestamp"].as_f64().unwrap_or(0.0),
            request_count: d["RequestCount"].as_i64().unwrap_or(0),
            sampled_count: d["SampledCount"].as_i64().unwrap_or(0),
            borrow_count: d["BorrowCount"].as_i64().unwrap_or(0),
        })
        .collect();
    let boosts: Vec<BoostReport> = req["SamplingBoostStatisticsDocuments"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| BoostReport {
            rule_name: text(d, "RuleName").unwrap_or_default(),
            service_name: text(d, "ServiceName").unwrap_or_default(),
            timestamp: d["Timestamp"].as_f64().unwrap_or(0.0),
            anomaly_count: d["AnomalyCount"].as_i64().unwrap_or(0),
            total_count: d["TotalCount"].as_i64().unwrap_or(0),
            sampled_anomaly_count: d["SampledAnomalyCount"].as_i64().unwrap_or(0),
        })
        .collect();
    let now = st.now_secs();
    let out = st
        .control
        .update(part, |c| {
            let s = &mut c.sampling;
            s.reservoirs.report(&s.rules, &reports, &boosts, now)
        })
        .await?;
    let targets: Vec<Value> = out
        .targets
        .iter()
        .map(|t| {
            let mut m = json!({
                "RuleName": t.rule_name,
                "FixedRate": t.fixed_rate,
                "ReservoirQuota": t.reservoir_quota,
                "ReservoirQuotaTTL": t.reservoir_quota_ttl,
                "Interval": t.interval,
            });
            if let Some((rate, ttl)) = t.boost {
                m["SamplingBoost"] = json!({"BoostRate": rate, "BoostRateTTL": ttl});
            }
            m
        })
        .collect();
    let mut body = Map::new();
    body.insert("SamplingTargetDocuments".into(), targets.into());
    body.insert(
        "LastRuleModification".into(),
        out.last_rule_modification.into(),
    );
    body.insert(
        "UnprocessedStatistics".into(),
        unprocessed_json(&out.unprocessed).into(),
    );
    if !boosts.is_empty() {
        body.insert(
            "UnprocessedBoostStatistics".into(),
            unprocessed_json(&out.unprocessed_boost).into(),
        );
    }
    Ok(Value::Object(body).to_string())
}

pub async fn get_sampling_statistic_summaries(
    st: &ApiState,
    part: &Partition,
) -> Result<String, ApiError> {
    let list = st
        .control
        .read(part, |c| c.sampling.reservoirs.summaries(&c.sampling.rules))
        .await?;
    let list: Vec<Value> = list
        .iter()
        .map(|s| {
            json!({
                "RuleName": s.rule_name,
                "Timestamp": s.timestamp,
                "RequestCount": s.request_count,
                "BorrowCount": s.borrow_count,
                "SampledCount": s.sampled_count,
            })
        })
        .collect();
    Ok(json!({ "SamplingStatisticSummaries": list }).to_string())
}
