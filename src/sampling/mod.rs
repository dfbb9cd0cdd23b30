//! Sampling, pure: rules (the built-in `Default`, validation, the 25-rule limit), reservoir
//! quotas split among the clients that report, boosts, and statistic summaries. Time comes
//! in as an argument (epoch seconds), so all of it is testable without sleeping.
//!
//! Matching requests against rules happens in the clients (SDKs, agents); the service only
//! stores rules and hands out quotas, and so does this module.

mod rules;
mod targets;

pub use rules::{
    Boost, MAX_CUSTOM_RULES, Rule, RuleError, RuleRecord, RuleSet, RuleUpdate, arn_prefix,
};
pub use targets::{
    BoostReport, INTERVAL_SECS, QUOTA_TTL_SECS, Report, Reservoirs, StatisticSummary, Target,
    TargetOutcome, Unprocessed,
};

/// Rules and quota state of one account and region.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct SamplingState {
    pub rules: RuleSet,
    /// Quotas handed out lately: they renew within seconds, so they are not persisted.
    #[serde(skip)]
    pub reservoirs: Reservoirs,
}
