//! Control-plane state per partition, held in memory or in PostgreSQL. With a data
//! directory, every command that changed a partition is logged before it is acknowledged, and
//! replay applies the same commands again; a checkpoint holds each partition's whole state.
//! Over PostgreSQL the state lives there (`postgres::PgControl`) and memory keeps only the
//! last state seen of each partition, for the metrics.

use super::log::Log;
use super::log::payload::control_record;
use super::log::record::Kind;
use super::postgres::PgControl;
use super::{Partition, StoreError};
use crate::control::{Applied, Command, ControlError, ControlState};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Default)]
pub struct ControlStore {
    parts: Mutex<HashMap<Partition, ControlState>>,
    log: Option<Arc<Log>>,
    pg: Option<PgControl>,
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
            log: Some(log),
            ..ControlStore::default()
        }
    }

    /// A control store whose state lives in PostgreSQL.
    pub fn postgres(pg: PgControl) -> ControlStore {
        ControlStore {
            pg: Some(pg),
            ..ControlStore::default()
        }
    }

    /// Runs `f` on the partition's state held in memory (created with the defaults on first
    /// use).
    pub fn with<R>(&self, part: &Partition, f: impl FnOnce(&mut ControlState) -> R) -> R {
        let mut parts = self.parts.lock();
        f(parts.entry(part.clone()).or_default())
    }

    /// What `f` reads of the partition's current state.
    pub async fn read<R>(
        &self,
        part: &Partition,
        f: impl FnOnce(&ControlState) -> R,
    ) -> Result<R, StoreError> {
        match &self.pg {
            Some(pg) => {
                let state = pg.load(part).await?;
                let r = f(&state);
                self.parts.lock().insert(part.clone(), state);
                Ok(r)
            }
            None => Ok(self.with(part, |s| f(s))),
        }
    }

    /// Changes the partition's state in a way that is not logged: what clients report to
    /// the sampling reservoirs, which a restart may forget (their next reports restore it).
    pub async fn update<R>(
        &self,
        part: &Partition,
        f: impl FnOnce(&mut ControlState) -> R,
    ) -> Result<R, StoreError> {
        match &self.pg {
            Some(pg) => {
                let (r, state) = pg
                    .change(part, |s| Ok::<R, std::convert::Infallible>(f(s)))
                    .await?;
                self.parts.lock().insert(part.clone(), state);
                Ok(r.unwrap_or_else(|never| match never {}))
            }
            None => Ok(self.with(part, f)),
        }
    }

    /// Applies `cmd` to the partition's state; with a log, the command is logged (queued under
    /// the lock, so the log has commands in the order they were applied) and acknowledged only
    /// once written. Should the write fail, the change stays in memory until a restart
    /// without having been acknowledged. Over PostgreSQL, it is applied and stored in one
    /// transaction.
    pub async fn execute(&self, part: &Partition, cmd: Command) -> Result<Applied, Refused> {
        if let Some(pg) = &self.pg {
            let (applied, state) = pg
                .change(part, |s| s.apply(&cmd))
                .await
                .map_err(|e| Refused::Store(e.into()))?;
            self.parts.lock().insert(part.clone(), state);
            return applied.map_err(Refused::Control);
        }
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
