//! Each partition's control plane as one JSON document in `xray_control`: read whole, and
//! changed under the row's lock (`SELECT … FOR UPDATE`), so that a rule or group changed
//! through one gateway, and the sampling reservoirs every gateway's clients share, are one
//! state for all of them.

use super::db::{Db, DbError};
use crate::control::ControlState;
use crate::store::Partition;
use std::sync::Arc;

pub struct PgControl {
    db: Arc<Db>,
}

fn decode(state: &str, reservoirs: &str) -> Result<ControlState, DbError> {
    let unreadable = |e| DbError::Unavailable(format!("unreadable control-plane state: {e}"));
    let mut s: ControlState = serde_json::from_str(state).map_err(unreadable)?;
    s.sampling.reservoirs = serde_json::from_str(reservoirs).map_err(unreadable)?;
    Ok(s)
}

fn encode<T: serde::Serialize>(v: &T) -> Result<String, DbError> {
    serde_json::to_string(v).map_err(|e| DbError::Unavailable(e.to_string()))
}

impl PgControl {
    pub fn new(db: Arc<Db>) -> PgControl {
        PgControl { db }
    }

    /// The partition's state (the defaults when nothing was ever changed in it).
    pub async fn load(&self, part: &Partition) -> Result<ControlState, DbError> {
        let Some(pid) = self.db.existing_partition(part).await? else {
            return Ok(ControlState::default());
        };
        let c = self.db.client().await?;
        let row = c
            .query_opt(
                "SELECT state, reservoirs FROM xray_control WHERE part = $1",
                &[&pid],
            )
            .await?;
        match row {
            Some(r) => decode(r.get(0), r.get(1)),
            None => Ok(ControlState::default()),
        }
    }

    /// Runs `f` on the partition's state under its row lock and keeps the change when `f`
    /// succeeds; the state `f` left is returned with its answer.
    pub async fn change<R, E>(
        &self,
        part: &Partition,
        f: impl FnOnce(&mut ControlState) -> Result<R, E>,
    ) -> Result<(Result<R, E>, ControlState), DbError> {
        let pid = self.db.partition(part).await?;
        let mut c = self.db.client().await?;
        let tx = c.transaction().await?;
        let fresh = encode(&ControlState::default())?;
        tx.execute(
            "INSERT INTO xray_control (part, state) VALUES ($1, $2) ON CONFLICT (part) DO NOTHING",
            &[&pid, &fresh],
        )
        .await?;
        let row = tx
            .query_one(
                "SELECT state, reservoirs FROM xray_control WHERE part = $1 FOR UPDATE",
                &[&pid],
            )
            .await?;
        let mut state = decode(row.get(0), row.get(1))?;
        let answer = f(&mut state);
        if answer.is_ok() {
            let (json, reservoirs) = (encode(&state)?, encode(&state.sampling.reservoirs)?);
            tx.execute(
                "UPDATE xray_control SET state = $2, reservoirs = $3 WHERE part = $1",
                &[&pid, &json, &reservoirs],
            )
            .await?;
            tx.commit().await?;
        }
        Ok((answer, state))
    }
}
