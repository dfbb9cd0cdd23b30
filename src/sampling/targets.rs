//! GetSamplingTargets: each rule's reservoir (requests a second) is split among the clients
//! that reported statistics for it recently; statistics are also summed per rule in 10-second
//! windows for GetSamplingStatisticSummaries.
//!
//! Readings where AWS documents little: a client counts for a rule while it reported within
//! the last three intervals (30 s); the split gives each client `reservoir / n` and the first
//! `reservoir % n` clients (by ClientID) one more; a quota is valid 300 s (the guide's example)
//! or until the next report replaces it. A rule with `SamplingRateBoost` is boosted to its
//! `MaxRate` for 60 s when a boost report counts anomalies, at most once per cooldown window.

use super::rules::RuleSet;
use std::collections::{BTreeMap, HashMap, VecDeque};

/// Seconds between a client's reports.
pub const INTERVAL_SECS: i64 = 10;
/// How long a quota is valid after it is handed out.
pub const QUOTA_TTL_SECS: f64 = 300.0;
/// A client stops counting for a rule when it has not reported for this long.
const ACTIVE_SECS: f64 = 3.0 * INTERVAL_SECS as f64;
/// Statistic windows kept per rule (5 minutes of 10-second windows).
const WINDOWS_KEPT: usize = 30;
const BOOST_SECS: f64 = 60.0;

#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub rule_name: String,
    pub client_id: String,
    pub timestamp: f64,
    pub request_count: i64,
    pub sampled_count: i64,
    pub borrow_count: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BoostReport {
    pub rule_name: String,
    pub service_name: String,
    pub timestamp: f64,
    pub anomaly_count: i64,
    pub total_count: i64,
    pub sampled_anomaly_count: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub rule_name: String,
    pub fixed_rate: f64,
    pub reservoir_quota: i64,
    pub reservoir_quota_ttl: f64,
    pub interval: i64,
    /// `(BoostRate, BoostRateTTL)` while a boost is on.
    pub boost: Option<(f64, f64)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Unprocessed {
    pub rule_name: String,
    pub error_code: &'static str,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct TargetOutcome {
    pub targets: Vec<Target>,
    pub unprocessed: Vec<Unprocessed>,
    pub unprocessed_boost: Vec<Unprocessed>,
    pub last_rule_modification: f64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StatisticSummary {
    pub rule_name: String,
    /// Start of the 10-second window.
    pub timestamp: f64,
    pub request_count: i64,
    pub borrow_count: i64,
    pub sampled_count: i64,
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
struct RuleState {
    /// ClientID → when it last reported.
    clients: BTreeMap<String, f64>,
    windows: VecDeque<StatisticSummary>,
    last_boost: Option<f64>,
    boost_until: f64,
}

/// Serializable for a database that gateways share (the data directory does not keep them).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Reservoirs {
    rules: HashMap<String, RuleState>,
}

fn window_start(t: f64) -> f64 {
    (t / INTERVAL_SECS as f64).floor() * INTERVAL_SECS as f64
}

impl Reservoirs {
    /// Distinct clients sharing any rule's reservoir.
    pub fn client_count(&self) -> usize {
        let all: std::collections::BTreeSet<&String> =
            self.rules.values().flat_map(|r| r.clients.keys()).collect();
        all.len()
    }

    /// Takes one client's reports and answers its targets.
    pub fn report(
        &mut self,
        rules: &RuleSet,
        reports: &[Report],
        boosts: &[BoostReport],
        now: f64,
    ) -> TargetOutcome {
        let mut out = TargetOutcome {
            last_rule_modification: rules.last_modification(),
            ..Default::default()
        };
        for b in boosts {
            let Some(rule) = rules.rule(&b.rule_name) else {
                out.unprocessed_boost.push(unknown(&b.rule_name));
                continue;
            };
            let state = self.rules.entry(b.rule_name.clone()).or_default();
            if let Some(boost) = &rule.boost {
                let cooled = state
                    .last_boost
                    .is_none_or(|t| now - t >= boost.cooldown_minutes as f64 * 60.0);
                if b.anomaly_count > 0 && cooled {
                    state.last_boost = Some(now);
                    state.boost_until = now + BOOST_SECS;
                }
            }
        }
        for r in reports {
            let Some(rule) = rules.rule(&r.rule_name) else {
                out.unprocessed.push(unknown(&r.rule_name));
                continue;
            };
            let state = self.rules.entry(r.rule_name.clone()).or_default();
            state.clients.insert(r.client_id.clone(), now);
            state.clients.retain(|_, seen| now - *seen <= ACTIVE_SECS);
            let start = window_start(r.timestamp);
            match state.windows.iter_mut().find(|w| w.timestamp == start) {
                Some(w) => {
                    w.request_count += r.request_count;
                    w.sampled_count += r.sampled_count;
                    w.borrow_count += r.borrow_count;
                }
                None => {
                    state.windows.push_back(StatisticSummary {
                        rule_name: r.rule_name.clone(),
                        timestamp: start,
                        request_count: r.request_count,
                        borrow_count: r.borrow_count,
                        sampled_count: r.sampled_count,
                    });
                    state
                        .windows
                        .make_contiguous()
                        .sort_by(|a, b| a.timestamp.total_cmp(&b.timestamp));
                    while state.windows.len() > WINDOWS_KEPT {
                        state.windows.pop_front();
                    }
                }
            }
            out.targets.push(Target {
                rule_name: r.rule_name.clone(),
                fixed_rate: rule.fixed_rate,
                reservoir_quota: share(rule.reservoir_size, &state.clients, &r.client_id),
                reservoir_quota_ttl: now + QUOTA_TTL_SECS,
                interval: INTERVAL_SECS,
                boost: (rule.boost.is_some() && now < state.boost_until).then(|| {
                    (
                        rule.boost.as_ref().map_or(0.0, |b| b.max_rate),
                        state.boost_until,
                    )
                }),
            });
        }
        out
    }

    /// The latest window of statistics of every rule that has some, by rule name.
    pub fn summaries(&self, rules: &RuleSet) -> Vec<StatisticSummary> {
        let mut out: Vec<StatisticSummary> = self
            .rules
            .iter()
            .filter(|(name, _)| rules.rule(name).is_some())
            .filter_map(|(_, s)| s.windows.back().cloned())
            .collect();
        out.sort_by(|a, b| a.rule_name.cmp(&b.rule_name));
        out
    }

    pub fn forget_rule(&mut self, name: &str) {
        self.rules.remove(name);
    }
}

fn unknown(rule: &str) -> Unprocessed {
    Unprocessed {
        rule_name: rule.to_owned(),
        error_code: "400",
        message: format!("Sampling rule '{rule}' does not exist."),
    }
}

/// `client`'s share of `reservoir` among the active `clients`.
fn share(reservoir: i64, clients: &BTreeMap<String, f64>, client: &str) -> i64 {
    let n = clients.len().max(1) as i64;
    let rank = clients.keys().position(|c| c == client).unwrap_or(0) as i64;
    let reservoir = reservoir.max(0);
    reservoir / n + i64::from(rank < reservoir % n)
}

#[cfg(test)]
mod tests {
    use super::super::rules::{Boost, Rule, RuleUpdate};
    use super::*;

    const P: &str = "arn:aws:xray:us-east-1:000000000000:sampling-rule/";

    fn rules(reservoir: i64) -> RuleSet {
        let mut s = RuleSet::default();
        s.create(
            Rule {
                name: "api".into(),
                priority: 1,
                reservoir_size: reservoir,
                fixed_rate: 0.1,
                ..Rule::default_rule()
            },
            P,
            1.0,
        )
        .unwrap();
        s
    }

    fn report(client: usize, now: f64) -> Report {
        Report {
            rule_name: "api".into(),
            client_id: format!("{client:024x}"),
            timestamp: now,
            request_count: 10,
            sampled_count: 3,
            borrow_count: 1,
        }
    }

    fn quotas(res: &mut Reservoirs, rules: &RuleSet, clients: usize, now: f64) -> Vec<i64> {
        // Every client reports once, then each asks again to see the settled split.
        for c in 0..clients {
            res.report(rules, &[report(c, now)], &[], now);
        }
        (0..clients)
            .map(|c| res.report(rules, &[report(c, now)], &[], now).targets[0].reservoir_quota)
            .collect()
    }

    #[test]
    fn one_client_gets_the_whole_reservoir() {
        let rules = rules(10);
        assert_eq!(
            quotas(&mut Reservoirs::default(), &rules, 1, 100.0),
            vec![10]
        );
    }

    #[test]
    fn two_and_five_clients_share_it_without_exceeding_it() {
        let rules = rules(10);
        assert_eq!(
            quotas(&mut Reservoirs::default(), &rules, 2, 100.0),
            vec![5, 5]
        );
        let five = quotas(&mut Reservoirs::default(), &rules, 5, 100.0);
        assert_eq!(five, vec![2, 2, 2, 2, 2]);
        let odd = quotas(
            &mut Reservoirs::default(),
            &super::tests::rules(7),
            5,
            100.0,
        );
        assert_eq!(odd.iter().sum::<i64>(), 7);
        assert_eq!(odd, vec![2, 2, 1, 1, 1]);
    }

    #[test]
    fn clients_that_stop_reporting_stop_counting_and_quotas_carry_a_ttl() {
        let rules = rules(10);
        let mut res = Reservoirs::default();
        quotas(&mut res, &rules, 2, 100.0);
        // Client 1 goes quiet; 31 s later client 0 has the reservoir to itself.
        let t = res
            .report(&rules, &[report(0, 131.0)], &[], 131.0)
            .targets
            .remove(0);
        assert_eq!(
            (t.reservoir_quota, t.reservoir_quota_ttl, t.interval),
            (10, 131.0 + QUOTA_TTL_SECS, 10)
        );
        assert_eq!(t.fixed_rate, 0.1);
    }

    #[test]
    fn rule_updates_show_in_the_next_targets_and_last_modification() {
        let mut rules = rules(10);
        let mut res = Reservoirs::default();
        assert_eq!(
            res.report(&rules, &[report(0, 100.0)], &[], 100.0)
                .last_rule_modification,
            1.0
        );
        rules
            .update(
                "api",
                RuleUpdate {
                    fixed_rate: Some(0.5),
                    reservoir_size: Some(4),
                    ..Default::default()
                },
                P,
                150.0,
            )
            .unwrap();
        let out = res.report(&rules, &[report(0, 160.0)], &[], 160.0);
        assert_eq!(
            (
                out.targets[0].fixed_rate,
                out.targets[0].reservoir_quota,
                out.last_rule_modification
            ),
            (0.5, 4, 150.0)
        );
    }

    #[test]
    fn unknown_rules_are_unprocessed() {
        let rules = rules(1);
        let mut r = report(0, 100.0);
        r.rule_name = "gone".into();
        let out = Reservoirs::default().report(&rules, &[r], &[], 100.0);
        assert!(out.targets.is_empty());
        assert_eq!(out.unprocessed[0].rule_name, "gone");
    }

    #[test]
    fn statistics_sum_per_ten_second_window() {
        let rules = rules(1);
        let mut res = Reservoirs::default();
        res.report(&rules, &[report(0, 101.0)], &[], 101.0);
        res.report(&rules, &[report(1, 109.0)], &[], 109.0);
        let s = res.summaries(&rules);
        assert_eq!(
            (
                s[0].timestamp,
                s[0].request_count,
                s[0].sampled_count,
                s[0].borrow_count
            ),
            (100.0, 20, 6, 2)
        );
        res.report(&rules, &[report(0, 111.0)], &[], 111.0);
        assert_eq!(res.summaries(&rules)[0].request_count, 10);
    }

    #[test]
    fn boosts_need_anomalies_and_respect_the_cooldown() {
        let mut rules = rules(1);
        rules
            .update(
                "api",
                RuleUpdate {
                    boost: Some(Boost {
                        max_rate: 0.8,
                        cooldown_minutes: 5,
                    }),
                    ..Default::default()
                },
                P,
                2.0,
            )
            .unwrap();
        let mut res = Reservoirs::default();
        let anomaly = |t: f64| BoostReport {
            rule_name: "api".into(),
            service_name: "svc".into(),
            timestamp: t,
            anomaly_count: 3,
            total_count: 10,
            sampled_anomaly_count: 1,
        };
        assert_eq!(
            res.report(&rules, &[report(0, 100.0)], &[], 100.0).targets[0].boost,
            None
        );
        assert_eq!(
            res.report(&rules, &[report(0, 110.0)], &[anomaly(110.0)], 110.0)
                .targets[0]
                .boost,
            Some((0.8, 170.0))
        );
        assert_eq!(
            res.report(&rules, &[report(0, 180.0)], &[], 180.0).targets[0].boost,
            None,
            "boosts last a minute"
        );
        assert_eq!(
            res.report(&rules, &[report(0, 200.0)], &[anomaly(200.0)], 200.0)
                .targets[0]
                .boost,
            None,
            "cooling down"
        );
        assert!(
            res.report(&rules, &[report(0, 420.0)], &[anomaly(420.0)], 420.0)
                .targets[0]
                .boost
                .is_some()
        );
    }
}
