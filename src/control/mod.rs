//! The control plane, pure: per account and region, groups, sampling rules, encryption, the
//! trace-segment destination, indexing rules, resource policies, trace retrievals, tags, and
//! the commands that change them. `ControlState::apply` is the one place a change is decided;
//! the API builds commands (with every generated value, ARN, token or time, inside), a store
//! applies them and logs them, and replay applies the same commands again.

use crate::sampling::{RuleError, RuleRecord, RuleUpdate};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// User tags a resource may carry at most.
pub const MAX_TAGS: usize = 50;
/// Groups per account and region besides `Default` (not adjustable in AWS).
pub const MAX_GROUPS: usize = 25;
pub const DEFAULT_GROUP: &str = "Default";
/// Resource policies per account and region.
pub const MAX_POLICIES: usize = 5;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Encryption {
    /// `NONE` or `KMS`.
    pub kind: String,
    pub key_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Destination {
    /// `XRay` or `CloudWatchLogs`.
    pub name: String,
    pub kms_key_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexingRule {
    pub name: String,
    pub desired_percentage: f64,
    pub modified_at: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    pub document: String,
    pub revision: u64,
    pub updated_at: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Retrieval {
    pub trace_ids: Vec<String>,
    pub start: f64,
    pub end: f64,
    pub created_at: f64,
    pub cancelled: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub name: String,
    pub arn: String,
    pub filter: Option<String>,
    pub insights_enabled: bool,
    pub notifications_enabled: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ControlState {
    /// Groups other than the built-in `Default`.
    pub groups: Vec<Group>,
    pub encryption: Encryption,
    pub destination: Destination,
    pub indexing_rules: Vec<IndexingRule>,
    pub policies: BTreeMap<String, Policy>,
    pub retrievals: HashMap<String, Retrieval>,
    /// Taggable resources (groups, sampling rules) by ARN, with their tags.
    pub tags: HashMap<String, BTreeMap<String, String>>,
    pub telemetry_records: u64,
    pub sampling: crate::sampling::SamplingState,
}

impl Default for ControlState {
    fn default() -> Self {
        ControlState {
            groups: Vec::new(),
            encryption: Encryption {
                kind: "NONE".into(),
                key_id: None,
            },
            destination: Destination {
                name: "XRay".into(),
                kms_key_id: None,
            },
            // X-Ray's built-in rule indexes 1% of spans when the destination is CloudWatch Logs.
            indexing_rules: vec![IndexingRule {
                name: "Default".into(),
                desired_percentage: 1.0,
                modified_at: 0.0,
            }],
            policies: BTreeMap::new(),
            retrievals: HashMap::new(),
            tags: HashMap::new(),
            telemetry_records: 0,
            sampling: Default::default(),
        }
    }
}

/// A change to one partition's control plane, with every value it needs decided already.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Command {
    PutEncryption {
        kind: String,
        key_id: Option<String>,
    },
    UpdateDestination {
        name: Option<String>,
        kms_key_id: Option<String>,
    },
    UpdateIndexingRule {
        name: String,
        percentage: f64,
        at: f64,
    },
    CountTelemetryRecords {
        n: u64,
    },
    PutPolicy {
        name: String,
        document: String,
        expected_revision: Option<String>,
        at: f64,
    },
    DeletePolicy {
        name: String,
        expected_revision: Option<String>,
    },
    StartRetrieval {
        token: String,
        retrieval: Retrieval,
    },
    CancelRetrieval {
        token: String,
    },
    CreateSamplingRule {
        rule: crate::sampling::Rule,
        arn_prefix: String,
        tags: Vec<(String, String)>,
        at: f64,
    },
    UpdateSamplingRule {
        name: Option<String>,
        arn: Option<String>,
        update: RuleUpdate,
        arn_prefix: String,
        at: f64,
    },
    DeleteSamplingRule {
        name: Option<String>,
        arn: Option<String>,
        arn_prefix: String,
        at: f64,
    },
    CreateGroup {
        group: Group,
        tags: Vec<(String, String)>,
    },
    UpdateGroup {
        arn: String,
        filter: Option<String>,
        insights_enabled: bool,
        notifications_enabled: bool,
    },
    DeleteGroup {
        arn: String,
    },
    TagResource {
        arn: String,
        tags: Vec<(String, String)>,
    },
    UntagResource {
        arn: String,
        keys: Vec<String>,
    },
}

/// What an applied command made, for the answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    Done,
    Destination(String),
    IndexingRule(IndexingRule),
    Policy(String, Policy),
    SamplingRule(Box<RuleRecord>),
    Group(Group),
}

/// Why a command was refused; the state is then unchanged.
#[derive(Debug, Clone, PartialEq)]
pub enum ControlError {
    Invalid(String),
    NotFound {
        message: String,
        resource: String,
    },
    /// An error of its own code (`InvalidPolicyRevisionIdException`, `TooManyTagsException`...).
    Coded {
        code: &'static str,
        message: String,
        resource: Option<String>,
    },
    Rule(RuleError),
}

fn revision_error(message: String) -> ControlError {
    ControlError::Coded {
        code: "InvalidPolicyRevisionIdException",
        message,
        resource: None,
    }
}

fn no_resource(arn: &str) -> ControlError {
    ControlError::NotFound {
        message: format!("Resource {arn} does not exist."),
        resource: arn.to_owned(),
    }
}

impl ControlState {
    /// Applies `cmd`, or refuses it leaving the state as it was.
    pub fn apply(&mut self, cmd: &Command) -> Result<Applied, ControlError> {
        match cmd {
            Command::PutEncryption { kind, key_id } => {
                self.encryption = Encryption {
                    kind: kind.clone(),
                    key_id: key_id.clone(),
                };
                Ok(Applied::Done)
            }
            Command::UpdateDestination { name, kms_key_id } => {
                if let Some(n) = name {
                    self.destination.name = n.clone();
                }
                if kms_key_id.is_some() {
                    self.destination.kms_key_id = kms_key_id.clone();
                }
                Ok(Applied::Destination(self.destination.name.clone()))
            }
            Command::UpdateIndexingRule {
                name,
                percentage,
                at,
            } => {
                let r = self
                    .indexing_rules
                    .iter_mut()
                    .find(|r| &r.name == name)
                    .ok_or_else(|| ControlError::NotFound {
                        message: format!("Indexing rule '{name}' does not exist."),
                        resource: name.clone(),
                    })?;
                r.desired_percentage = *percentage;
                r.modified_at = *at;
                Ok(Applied::IndexingRule(r.clone()))
            }
            Command::CountTelemetryRecords { n } => {
                self.telemetry_records += n;
                Ok(Applied::Done)
            }
            Command::PutPolicy {
                name,
                document,
                expected_revision,
                at,
            } => self.put_policy(name, document, expected_revision.as_deref(), *at),
            Command::DeletePolicy {
                name,
                expected_revision,
            } => {
                match (self.policies.get(name), expected_revision) {
                    (Some(p), Some(e)) if &p.revision.to_string() != e => {
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
                self.policies.remove(name);
                Ok(Applied::Done)
            }
            Command::StartRetrieval { token, retrieval } => {
                // Retrievals are kept a day, then forgotten.
                let now = retrieval.created_at;
                self.retrievals
                    .retain(|_, r| now - r.created_at < 24.0 * 3600.0);
                self.retrievals.insert(token.clone(), retrieval.clone());
                Ok(Applied::Done)
            }
            Command::CancelRetrieval { token } => {
                let r = self
                    .retrievals
                    .get_mut(token)
                    .ok_or_else(|| ControlError::NotFound {
                        message: "No trace retrieval has this RetrievalToken.".into(),
                        resource: token.clone(),
                    })?;
                r.cancelled = true;
                Ok(Applied::Done)
            }
            Command::CreateSamplingRule {
                rule,
                arn_prefix,
                tags,
                at,
            } => {
                let r = self
                    .sampling
                    .rules
                    .create(rule.clone(), arn_prefix, *at)
                    .map_err(ControlError::Rule)?;
                self.tags
                    .insert(r.arn.clone(), tags.iter().cloned().collect());
                Ok(Applied::SamplingRule(Box::new(r)))
            }
            Command::UpdateSamplingRule {
                name,
                arn,
                update,
                arn_prefix,
                at,
            } => {
                let rules = &mut self.sampling.rules;
                let name = rules
                    .resolve(name.as_deref(), arn.as_deref(), arn_prefix)
                    .map_err(ControlError::Rule)?;
                rules
                    .update(&name, update.clone(), arn_prefix, *at)
                    .map(|r| Applied::SamplingRule(Box::new(r)))
                    .map_err(ControlError::Rule)
            }
            Command::DeleteSamplingRule {
                name,
                arn,
                arn_prefix,
                at,
            } => {
                let name = self
                    .sampling
                    .rules
                    .resolve(name.as_deref(), arn.as_deref(), arn_prefix)
                    .map_err(ControlError::Rule)?;
                let r = self
                    .sampling
                    .rules
                    .delete(&name, *at)
                    .map_err(ControlError::Rule)?;
                self.sampling.reservoirs.forget_rule(&name);
                self.tags.remove(&r.arn);
                Ok(Applied::SamplingRule(Box::new(r)))
            }
            Command::CreateGroup { group, tags } => {
                let name = &group.name;
                if name == DEFAULT_GROUP || self.groups.iter().any(|g| &g.name == name) {
                    return Err(ControlError::Invalid(format!(
                        "Group {name} already exists."
                    )));
                }
                if self.groups.len() >= MAX_GROUPS {
                    return Err(ControlError::Invalid(format!(
                        "An account may have at most {MAX_GROUPS} groups per region."
                    )));
                }
                self.groups.push(group.clone());
                self.tags
                    .insert(group.arn.clone(), tags.iter().cloned().collect());
                Ok(Applied::Group(group.clone()))
            }
            Command::UpdateGroup {
                arn,
                filter,
                insights_enabled,
                notifications_enabled,
            } => {
                let g = self
                    .groups
                    .iter_mut()
                    .find(|g| &g.arn == arn)
                    .ok_or_else(|| ControlError::Invalid(format!("Group {arn} does not exist.")))?;
                g.filter = filter.clone();
                g.insights_enabled = *insights_enabled;
                g.notifications_enabled = *notifications_enabled;
                Ok(Applied::Group(g.clone()))
            }
            Command::DeleteGroup { arn } => {
                self.groups.retain(|g| &g.arn != arn);
                self.tags.remove(arn);
                Ok(Applied::Done)
            }
            Command::TagResource { arn, tags } => {
                let held = self.tags.get_mut(arn).ok_or_else(|| no_resource(arn))?;
                let mut merged = held.clone();
                merged.extend(tags.iter().cloned());
                if merged.keys().filter(|k| !k.starts_with("aws:")).count() > MAX_TAGS {
                    return Err(ControlError::Coded {
                        code: "TooManyTagsException",
                        message: format!("A resource may have at most {MAX_TAGS} tags."),
                        resource: Some(arn.clone()),
                    });
                }
                *held = merged;
                Ok(Applied::Done)
            }
            Command::UntagResource { arn, keys } => {
                let held = self.tags.get_mut(arn).ok_or_else(|| no_resource(arn))?;
                for k in keys {
                    held.remove(k);
                }
                Ok(Applied::Done)
            }
        }
    }

    fn put_policy(
        &mut self,
        name: &str,
        document: &str,
        expected: Option<&str>,
        at: f64,
    ) -> Result<Applied, ControlError> {
        let existing = self.policies.get(name).map(|p| p.revision);
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
        if existing.is_none() && self.policies.len() >= MAX_POLICIES {
            return Err(ControlError::Coded {
                code: "PolicyCountLimitExceededException",
                message: format!("An account may hold at most {MAX_POLICIES} resource policies."),
                resource: None,
            });
        }
        let p = Policy {
            document: document.to_owned(),
            revision: existing.unwrap_or(0) + 1,
            updated_at: at,
        };
        self.policies.insert(name.to_owned(), p.clone());
        Ok(Applied::Policy(name.to_owned(), p))
    }
}

#[cfg(test)]
mod tests;
