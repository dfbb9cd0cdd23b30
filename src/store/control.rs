//! Control-plane state per account and region: encryption, the trace-segment destination,
//! indexing rules, resource policies, trace retrievals, groups, sampling rules and tags. Small,
//! typed and in memory. With a data directory, a partition's whole state (a few KB) is logged
//! after every change, before the change is acknowledged; replay keeps the last one.

use super::log::{Log, payload::control_record};
use super::{Partition, StoreError};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

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

#[derive(Default)]
pub struct ControlStore {
    parts: Mutex<HashMap<Partition, ControlState>>,
    log: Option<Arc<Log>>,
}

impl ControlStore {
    /// A control store whose changes `persist` writes to `log`.
    pub fn logged(log: Arc<Log>) -> ControlStore {
        ControlStore {
            parts: Mutex::default(),
            log: Some(log),
        }
    }

    /// Runs `f` on the partition's state (created with the defaults on first use).
    pub fn with<R>(&self, part: &Partition, f: impl FnOnce(&mut ControlState) -> R) -> R {
        let mut parts = self.parts.lock();
        f(parts.entry(part.clone()).or_default())
    }

    /// Makes the partition's state as it is now durable (a no-op without a log). The record is
    /// queued under the lock, so records reach the log in the order the states were made.
    pub async fn persist(&self, part: &Partition) -> Result<(), StoreError> {
        let Some(log) = &self.log else {
            return Ok(());
        };
        let ticket = {
            let parts = self.parts.lock();
            let state = parts.get(part).cloned().unwrap_or_default();
            let json = serde_json::to_string(&state)
                .map_err(|e| StoreError::Unavailable(format!("cannot encode state: {e}")))?;
            let mut record = Vec::with_capacity(json.len() + 64);
            control_record(&mut record, part, &json);
            log.append(record)
        };
        ticket
            .wait()
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    /// Puts back a partition's state as `persist` wrote it.
    pub fn restore(&self, part: &Partition, json: &str) -> Result<(), serde_json::Error> {
        let state: ControlState = serde_json::from_str(json)?;
        self.parts.lock().insert(part.clone(), state);
        Ok(())
    }

    /// Every partition's state, as `persist` writes it, for a checkpoint.
    pub fn export(&self) -> Vec<(Partition, String)> {
        self.parts
            .lock()
            .iter()
            .filter_map(|(p, s)| Some((p.clone(), serde_json::to_string(s).ok()?)))
            .collect()
    }
}
