//! Sampling rules, targets and statistic summaries over the rest-json API (and, unsigned, on
//! the daemon's TCP port). The rules and the reservoir math live in `crate::sampling`.

use super::ApiState;
use super::error::ApiError;
use super::types::{
    self, CreateSamplingRuleRequest, CreateSamplingRuleResult, DeleteSamplingRuleRequest,
    GetSamplingRulesResult, GetSamplingStatisticSummariesResult, GetSamplingTargetsRequest,
    GetSamplingTargetsResult, SamplingRateBoost, SamplingRuleRecord, SamplingStatisticSummary,
    SamplingTargetDocument, UnprocessedStatistics, UpdateSamplingRuleRequest,
};
use crate::control::{Applied, Command};
use crate::sampling::{Boost, BoostReport, Report, Rule, RuleRecord, RuleUpdate, arn_prefix};
use crate::store::Partition;

fn boost_in(b: SamplingRateBoost) -> Boost {
    Boost {
        max_rate: b.max_rate,
        cooldown_minutes: b.cooldown_window_minutes,
    }
}

fn rule_in(r: types::SamplingRule) -> Rule {
    Rule {
        name: r.rule_name.unwrap_or_default(),
        resource_arn: r.resource_arn,
        priority: r.priority,
        fixed_rate: r.fixed_rate,
        reservoir_size: r.reservoir_size,
        service_name: r.service_name,
        service_type: r.service_type,
        host: r.host,
        http_method: r.http_method,
        url_path: r.url_path,
        version: r.version,
        attributes: r.attributes.unwrap_or_default(),
        boost: r.sampling_rate_boost.map(boost_in),
    }
}

fn record_out(r: RuleRecord) -> SamplingRuleRecord {
    let rule = r.rule;
    SamplingRuleRecord {
        sampling_rule: Some(types::SamplingRule {
            rule_name: Some(rule.name),
            rule_arn: Some(r.arn),
            resource_arn: rule.resource_arn,
            priority: rule.priority,
            fixed_rate: rule.fixed_rate,
            reservoir_size: rule.reservoir_size,
            service_name: rule.service_name,
            service_type: rule.service_type,
            host: rule.host,
            http_method: rule.http_method,
            url_path: rule.url_path,
            version: rule.version,
            attributes: Some(rule.attributes),
            sampling_rate_boost: rule.boost.map(|b| SamplingRateBoost {
                max_rate: b.max_rate,
                cooldown_window_minutes: b.cooldown_minutes,
            }),
        }),
        created_at: Some(r.created_at),
        modified_at: Some(r.modified_at),
    }
}

pub async fn create_sampling_rule(
    st: &ApiState,
    part: &Partition,
    req: CreateSamplingRuleRequest,
) -> Result<String, ApiError> {
    let cmd = Command::CreateSamplingRule {
        rule: rule_in(req.sampling_rule),
        arn_prefix: arn_prefix(&part.region, &part.account),
        tags: super::tags::tags_from(req.tags.unwrap_or_default())?,
        at: st.now_secs(),
    };
    match super::execute(st, part, cmd).await? {
        Applied::SamplingRule(r) => super::answer(&CreateSamplingRuleResult {
            sampling_rule_record: Some(record_out(*r)),
        }),
        other => Err(super::unexpected(other)),
    }
}

/// The record a create, update or delete answers with.
fn applied_record(a: Applied) -> Result<Option<SamplingRuleRecord>, ApiError> {
    match a {
        Applied::SamplingRule(r) => Ok(Some(record_out(*r))),
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
    super::answer(&GetSamplingRulesResult {
        sampling_rule_records: Some(records.into_iter().map(record_out).collect()),
        next_token: None,
    })
}

pub async fn update_sampling_rule(
    st: &ApiState,
    part: &Partition,
    req: UpdateSamplingRuleRequest,
) -> Result<String, ApiError> {
    let u = req.sampling_rule_update;
    let update = RuleUpdate {
        resource_arn: u.resource_arn,
        priority: u.priority,
        fixed_rate: u.fixed_rate,
        reservoir_size: u.reservoir_size,
        service_name: u.service_name,
        service_type: u.service_type,
        host: u.host,
        http_method: u.http_method,
        url_path: u.url_path,
        attributes: u.attributes,
        boost: u.sampling_rate_boost.map(boost_in),
    };
    let cmd = Command::UpdateSamplingRule {
        name: u.rule_name,
        arn: u.rule_arn,
        update,
        arn_prefix: arn_prefix(&part.region, &part.account),
        at: st.now_secs(),
    };
    super::answer(&types::UpdateSamplingRuleResult {
        sampling_rule_record: applied_record(super::execute(st, part, cmd).await?)?,
    })
}

pub async fn delete_sampling_rule(
    st: &ApiState,
    part: &Partition,
    req: DeleteSamplingRuleRequest,
) -> Result<String, ApiError> {
    let cmd = Command::DeleteSamplingRule {
        name: req.rule_name,
        arn: req.rule_arn,
        arn_prefix: arn_prefix(&part.region, &part.account),
        at: st.now_secs(),
    };
    super::answer(&types::DeleteSamplingRuleResult {
        sampling_rule_record: applied_record(super::execute(st, part, cmd).await?)?,
    })
}

fn unprocessed_out(u: Vec<crate::sampling::Unprocessed>) -> Vec<UnprocessedStatistics> {
    u.into_iter()
        .map(|x| UnprocessedStatistics {
            rule_name: Some(x.rule_name),
            error_code: Some(x.error_code.to_owned()),
            message: Some(x.message),
        })
        .collect()
}

pub async fn get_sampling_targets(
    st: &ApiState,
    part: &Partition,
    req: GetSamplingTargetsRequest,
) -> Result<String, ApiError> {
    let reports: Vec<Report> = req
        .sampling_statistics_documents
        .into_iter()
        .map(|d| Report {
            rule_name: d.rule_name,
            client_id: d.client_id,
            timestamp: d.timestamp,
            request_count: d.request_count,
            sampled_count: d.sampled_count,
            borrow_count: d.borrow_count.unwrap_or(0),
        })
        .collect();
    let boosts: Vec<BoostReport> = req
        .sampling_boost_statistics_documents
        .unwrap_or_default()
        .into_iter()
        .map(|d| BoostReport {
            rule_name: d.rule_name,
            service_name: d.service_name,
            timestamp: d.timestamp,
            anomaly_count: d.anomaly_count,
            total_count: d.total_count,
            sampled_anomaly_count: d.sampled_anomaly_count,
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
    let targets = out
        .targets
        .into_iter()
        .map(|t| SamplingTargetDocument {
            rule_name: Some(t.rule_name),
            fixed_rate: Some(t.fixed_rate),
            reservoir_quota: Some(t.reservoir_quota),
            reservoir_quota_ttl: Some(t.reservoir_quota_ttl),
            interval: Some(t.interval),
            sampling_boost: t
                .boost
                .map(|(boost_rate, boost_rate_ttl)| types::SamplingBoost {
                    boost_rate,
                    boost_rate_ttl,
                }),
        })
        .collect();
    super::answer(&GetSamplingTargetsResult {
        sampling_target_documents: Some(targets),
        last_rule_modification: Some(out.last_rule_modification),
        unprocessed_statistics: Some(unprocessed_out(out.unprocessed)),
        // Only a client that reports boost statistics hears about them.
        unprocessed_boost_statistics: (!boosts.is_empty())
            .then(|| unprocessed_out(out.unprocessed_boost)),
    })
}

pub async fn get_sampling_statistic_summaries(
    st: &ApiState,
    part: &Partition,
) -> Result<String, ApiError> {
    let list = st
        .control
        .read(part, |c| c.sampling.reservoirs.summaries(&c.sampling.rules))
        .await?;
    let list = list
        .into_iter()
        .map(|s| SamplingStatisticSummary {
            rule_name: Some(s.rule_name),
            timestamp: Some(s.timestamp),
            request_count: Some(s.request_count),
            borrow_count: Some(s.borrow_count),
            sampled_count: Some(s.sampled_count),
        })
        .collect();
    super::answer(&GetSamplingStatisticSummariesResult {
        sampling_statistic_summaries: Some(list),
        next_token: None,
    })
}
