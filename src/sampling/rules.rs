//! Sampling rules: the built-in `Default` rule and up to 25 custom rules per account and
//! region, addressed by name or ARN.

use std::collections::BTreeMap;

/// Custom rules per account and region (X-Ray's default quota).
pub const MAX_CUSTOM_RULES: usize = 25;
pub const DEFAULT_RULE: &str = "Default";

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Boost {
    pub max_rate: f64,
    pub cooldown_minutes: i64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Rule {
    pub name: String,
    pub resource_arn: String,
    pub priority: i64,
    pub fixed_rate: f64,
    pub reservoir_size: i64,
    pub service_name: String,
    pub service_type: String,
    pub host: String,
    pub http_method: String,
    pub url_path: String,
    pub version: i64,
    pub attributes: BTreeMap<String, String>,
    pub boost: Option<Boost>,
}

impl Rule {
    /// AWS's built-in rule: priority 10000, 5 % after one request a second, matching all.
    pub fn default_rule() -> Rule {
        Rule {
            name: DEFAULT_RULE.into(),
            resource_arn: "*".into(),
            priority: 10000,
            fixed_rate: 0.05,
            reservoir_size: 1,
            service_name: "*".into(),
            service_type: "*".into(),
            host: "*".into(),
            http_method: "*".into(),
            url_path: "*".into(),
            version: 1,
            attributes: BTreeMap::new(),
            boost: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RuleRecord {
    pub rule: Rule,
    pub arn: String,
    pub created_at: f64,
    pub modified_at: f64,
}

/// Fields an update may change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RuleUpdate {
    pub resource_arn: Option<String>,
    pub priority: Option<i64>,
    pub fixed_rate: Option<f64>,
    pub reservoir_size: Option<i64>,
    pub service_name: Option<String>,
    pub service_type: Option<String>,
    pub host: Option<String>,
    pub http_method: Option<String>,
    pub url_path: Option<String>,
    pub attributes: Option<BTreeMap<String, String>>,
    pub boost: Option<Boost>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RuleError {
    Invalid(String),
    LimitExceeded,
    NotFound(String),
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RuleSet {
    default: Rule,
    default_modified_at: f64,
    custom: Vec<RuleRecord>,
    last_modification: f64,
}

impl Default for RuleSet {
    fn default() -> Self {
        RuleSet {
            default: Rule::default_rule(),
            default_modified_at: 0.0,
            custom: Vec::new(),
            last_modification: 0.0,
        }
    }
}

/// `arn:aws:xray:<region>:<account>:sampling-rule/`
pub fn arn_prefix(region: &str, account: &str) -> String {
    format!("arn:aws:xray:{region}:{account}:sampling-rule/")
}

impl RuleSet {
    /// Every rule, by priority then name; `Default` (priority 10000) last.
    pub fn records(&self, prefix: &str) -> Vec<RuleRecord> {
        let mut out = self.custom.clone();
        out.sort_by(|a, b| (a.rule.priority, &a.rule.name).cmp(&(b.rule.priority, &b.rule.name)));
        out.push(RuleRecord {
            rule: self.default.clone(),
            arn: format!("{prefix}{DEFAULT_RULE}"),
            created_at: 0.0,
            modified_at: self.default_modified_at,
        });
        out
    }

    pub fn rule(&self, name: &str) -> Option<&Rule> {
        if name == DEFAULT_RULE {
            return Some(&self.default);
        }
        self.custom
            .iter()
            .find(|r| r.rule.name == name)
            .map(|r| &r.rule)
    }

    pub fn last_modification(&self) -> f64 {
        self.last_modification
    }

    /// The rule a name or ARN refers to (exactly one of them is expected).
    pub fn resolve(
        &self,
        name: Option<&str>,
        arn: Option<&str>,
        prefix: &str,
    ) -> Result<String, RuleError> {
        match (name, arn) {
            (Some(_), Some(_)) => Err(RuleError::Invalid(
                "Give RuleName or RuleARN, not both.".into(),
            )),
            (None, None) => Err(RuleError::Invalid(
                "RuleName or RuleARN is required.".into(),
            )),
            (Some(n), None) => self
                .rule(n)
                .map(|r| r.name.clone())
                .ok_or_else(|| RuleError::NotFound(n.to_owned())),
            (None, Some(a)) => a
                .strip_prefix(prefix)
                .and_then(|n| self.rule(n))
                .map(|r| r.name.clone())
                .ok_or_else(|| RuleError::NotFound(a.to_owned())),
        }
    }

    pub fn create(&mut self, rule: Rule, prefix: &str, now: f64) -> Result<RuleRecord, RuleError> {
        if rule.name.is_empty() {
            return Err(RuleError::Invalid(
                "SamplingRule.RuleName is required.".into(),
            ));
        }
        if rule.name == DEFAULT_RULE || self.custom.iter().any(|r| r.rule.name == rule.name) {
            return Err(RuleError::Invalid(format!(
                "A sampling rule named '{}' already exists.",
                rule.name
            )));
        }
        if rule.version != 1 {
            return Err(RuleError::Invalid(format!(
                "SamplingRule.Version must be 1; got {}.",
                rule.version
            )));
        }
        if self.custom.len() >= MAX_CUSTOM_RULES {
            return Err(RuleError::LimitExceeded);
        }
        let record = RuleRecord {
            arn: format!("{prefix}{}", rule.name),
            rule,
            created_at: now,
            modified_at: now,
        };
        self.custom.push(record.clone());
        self.last_modification = now;
        Ok(record)
    }

    pub fn update(
        &mut self,
        name: &str,
        u: RuleUpdate,
        prefix: &str,
        now: f64,
    ) -> Result<RuleRecord, RuleError> {
        if let Some(p) = u.priority.filter(|p| !(1..=9999).contains(p)) {
            return Err(RuleError::Invalid(format!(
                "Priority must be between 1 and 9999; got {p}."
            )));
        }
        if let Some(r) = u.fixed_rate.filter(|r| !(0.0..=1.0).contains(r)) {
            return Err(RuleError::Invalid(format!(
                "FixedRate must be between 0 and 1; got {r}."
            )));
        }
        if let Some(s) = u.reservoir_size.filter(|s| *s < 0) {
            return Err(RuleError::Invalid(format!(
                "ReservoirSize must not be negative; got {s}."
            )));
        }
        if name == DEFAULT_RULE {
            let only_rates = RuleUpdate {
                fixed_rate: None,
                reservoir_size: None,
                ..u.clone()
            } == RuleUpdate::default();
            if !only_rates {
                return Err(RuleError::Invalid(
                    "Only FixedRate and ReservoirSize of the Default rule can change.".into(),
                ));
            }
            if let Some(r) = u.fixed_rate {
                self.default.fixed_rate = r;
            }
            if let Some(s) = u.reservoir_size {
                self.default.reservoir_size = s;
            }
            self.default_modified_at = now;
            self.last_modification = now;
            return Ok(RuleRecord {
                rule: self.default.clone(),
                arn: format!("{prefix}{DEFAULT_RULE}"),
                created_at: 0.0,
                modified_at: now,
            });
        }
        let record = self
            .custom
            .iter_mut()
            .find(|r| r.rule.name == name)
            .ok_or_else(|| RuleError::NotFound(name.to_owned()))?;
        let r = &mut record.rule;
        macro_rules! set {
            ($($field:ident),*) => { $(if let Some(v) = u.$field { r.$field = v; })* };
        }
        set!(
            resource_arn,
            priority,
            fixed_rate,
            reservoir_size,
            service_name,
            service_type,
            host,
            http_method,
            url_path,
            attributes
        );
        if u.boost.is_some() {
            r.boost = u.boost;
        }
        record.modified_at = now;
        self.last_modification = now;
        Ok(record.clone())
    }

    pub fn delete(&mut self, name: &str, now: f64) -> Result<RuleRecord, RuleError> {
        if name == DEFAULT_RULE {
            return Err(RuleError::Invalid(
                "The Default sampling rule cannot be deleted.".into(),
            ));
        }
        let at = self
            .custom
            .iter()
            .position(|r| r.rule.name == name)
            .ok_or_else(|| RuleError::NotFound(name.to_owned()))?;
        self.last_modification = now;
        Ok(self.custom.remove(at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "arn:aws:xray:us-east-1:000000000000:sampling-rule/";

    fn rule(name: &str, priority: i64) -> Rule {
        Rule {
            name: name.into(),
            priority,
            ..Rule::default_rule()
        }
    }

    #[test]
    fn default_rule_exists_sorts_last_and_cannot_go() {
        let mut s = RuleSet::default();
        s.create(rule("b", 5), P, 10.0).unwrap();
        s.create(rule("a", 5), P, 11.0).unwrap();
        let names: Vec<_> = s.records(P).into_iter().map(|r| r.rule.name).collect();
        assert_eq!(names, ["a", "b", "Default"]);
        assert!(matches!(
            s.delete("Default", 12.0),
            Err(RuleError::Invalid(_))
        ));
        assert_eq!(s.records(P)[2].arn, format!("{P}Default"));
    }

    #[test]
    fn only_rate_and_reservoir_of_default_change() {
        let mut s = RuleSet::default();
        let r = s
            .update(
                "Default",
                RuleUpdate {
                    fixed_rate: Some(0.5),
                    reservoir_size: Some(3),
                    ..Default::default()
                },
                P,
                20.0,
            )
            .unwrap();
        assert_eq!(
            (r.rule.fixed_rate, r.rule.reservoir_size, r.modified_at),
            (0.5, 3, 20.0)
        );
        let e = s.update(
            "Default",
            RuleUpdate {
                host: Some("x".into()),
                ..Default::default()
            },
            P,
            21.0,
        );
        assert!(matches!(e, Err(RuleError::Invalid(_))));
        assert_eq!(s.last_modification(), 20.0);
    }

    #[test]
    fn twenty_five_custom_rules_at_most() {
        let mut s = RuleSet::default();
        for i in 0..MAX_CUSTOM_RULES {
            s.create(rule(&format!("r{i}"), 1), P, 1.0).unwrap();
        }
        assert_eq!(
            s.create(rule("one-more", 1), P, 1.0),
            Err(RuleError::LimitExceeded)
        );
        s.delete("r0", 2.0).unwrap();
        assert!(s.create(rule("one-more", 1), P, 3.0).is_ok());
    }

    #[test]
    fn updates_change_only_what_they_name_and_resolve_by_arn() {
        let mut s = RuleSet::default();
        s.create(rule("api", 7), P, 1.0).unwrap();
        let name = s.resolve(None, Some(&format!("{P}api")), P).unwrap();
        let r = s
            .update(
                &name,
                RuleUpdate {
                    url_path: Some("/x/*".into()),
                    ..Default::default()
                },
                P,
                5.0,
            )
            .unwrap();
        assert_eq!(
            (
                r.rule.url_path.as_str(),
                r.rule.priority,
                r.created_at,
                r.modified_at
            ),
            ("/x/*", 7, 1.0, 5.0)
        );
        assert_eq!(
            s.resolve(Some("nope"), None, P),
            Err(RuleError::NotFound("nope".into()))
        );
        assert!(matches!(
            s.create(rule("api", 1), P, 6.0),
            Err(RuleError::Invalid(_))
        ));
    }
}
