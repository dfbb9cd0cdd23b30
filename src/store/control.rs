//! Control-plane state per account and region: encryption, the trace-segment destination,
//! indexing rules, resource policies, trace retrievals and tags. Small, typed and in memory;
//! the durable log will record its changes like any other input.

use super::Partition;
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone, PartialEq)]
pub struct Encryption {
    /// `NONE` or `KMS`.
    pub kind: String,
    pub key_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Destination {
    /// `XRay` or `CloudWatchLogs`.
    pub name: String,
    pub kms_key_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct IndexingRule {
    pub name: String,
    pub desired_percentage: f64,
    pub modified_at: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub document: String,
    pub revision: u64,
    pub updated_at: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Retrieval {
    pub trace_ids: Vec<String>,
    pub start: f64,
    pub end: f64,
    pub created_at: f64,
    pub cancelled: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub name: String,
    pub arn: String,
    pub filter: Option<String>,
    pub insights_enabled: bool,
    pub notifications_enabled: bool,
}

#[derive(Debug, Clone)]
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

#[derive(Default)]
pub struct ControlStore {
    parts: Mutex<HashMap<Partition, ControlState>>,
}

impl ControlStore {
    /// Runs `f` on the partition's state (created with the defaults on first use).
    pub fn with<R>(&self, part: &Partition, f: impl FnOnce(&mut ControlState) -> R) -> R {
        let mut parts = self.parts.lock();
        f(parts.entry(part.clone()).or_default())
    }
}
