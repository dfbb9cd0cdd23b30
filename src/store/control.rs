//! Control-plane state per partition, held in memory. With a data directory, every command
//! that changed a partition is logged before it is acknowledged, and replay applies the same
//! commands again; a checkpoint holds each partition's whole state.

use super::log::Log;
use super::log::payload::control_record;
use super::log::record::Kind;
use super::{Partition, StoreError};
use crate::control::{Applied, Command, ControlError, ControlState};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Default)]
pub struct ControlStore {
    parts: Mutex<HashMap<Partition, ControlState>>,
    log: Option<Arc<Log>>,
}

impl ControlStore {
    /// Sampling clients sharing reservoirs, over all partitions.
    pub fn sampling_clients(&self) -> usize {
        self.parts
            .lock()
            .values()
            .map(|c| c.sampling.reservoirs.client_count())
            .sum()
    }

    /// A control store whose commands `execute` writes to `log`.
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

    /// Applies `cmd` to the partition's state; with a log, the command is logged (queued under
    /// the lock, so the log has commands in the order they were applied) and acknowledged only
    /// once written. Should the write fail, the change stays in memory until a restart
    /// without having been acknowledged.
    pub async fn execute(&self, part: &Partition, cmd: Command) -> Result<Applied, Refused> {
        let (applied, ticket) = {
            let mut parts = self.parts.lock();
            let applied = parts
                .entry(part.clone())
                .or_default()
                .apply(&cmd)
                .map_err(Refused::Control)?;
            let ticket = match &self.log {
                Some(log) => {
                    let json = serde_json::to_string(&cmd).map_err(|e| {
                        Refused::Store(StoreError::Unavailable(format!("cannot encode: {e}")))
                    })?;
                    let mut record = Vec::with_capacity(json.len() + 64);
                    control_record(&mut record, Kind::Control, part, &json);
                    Some(log.append(record))
                }
                None => None,
            };
            (applied, ticket)
        };
        if let Some(t) = ticket {
            t.wait()
                .await
                .map_err(|e| Refused::Store(StoreError::Unavailable(e.to_string())))?;
        }
        Ok(applied)
    }

    /// Applies a logged command again (replay); one the state now refuses is skipped.
    pub fn replay(&self, part: &Partition, json: &str) -> Result<(), serde_json::Error> {
        let cmd: Command = serde_json::from_str(json)?;
        let mut parts = self.parts.lock();
        if let Err(e) = parts.entry(part.clone()).or_default().apply(&cmd) {
            tracing::warn!("replay: a logged control-plane command is refused now: {e:?}");
        }
        Ok(())
    }

    /// Puts back a partition's whole state, as a checkpoint holds it.
    pub fn restore(&self, part: &Partition, json: &str) -> Result<(), serde_json::Error> {
        let state: ControlState = serde_json::from_str(json)?;
        self.parts.lock().insert(part.clone(), state);
        Ok(())
    }

    /// Every partition's whole state, taken together with `mark` (a log roll) under the lock
    /// commands are applied and logged under: every command logged before the mark is in the
    /// states, and none after it, so a checkpoint never holds a command that replay repeats.
    pub fn export_at<R>(&self, mark: impl FnOnce() -> R) -> (R, Vec<(Partition, String)>) {
        let parts = self.parts.lock();
        let r = mark();
        let states = parts
            .iter()
            .filter_map(|(p, s)| Some((p.clone(), serde_json::to_string(s).ok()?)))
            .collect();
        (r, states)
    }
}

/// Why `execute` did not apply a command.
#[derive(Debug)]
pub enum Refused {
    /// The command itself was refused; nothing changed.
    Control(ControlError),
    /// The log could not take it.
    Store(StoreError),
}
