//! The connection pool and what every query shares: partition numbers, errors and retries.

use super::schema;
use crate::store::{Partition, StoreError};
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use parking_lot::RwLock;
use std::collections::HashMap;
use std::time::Duration;
use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;

/// How the gateway talks to PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgOptions {
    pub url: String,
    /// Connections at most; requests beyond them wait (back-pressure) up to `wait`.
    pub pool_size: usize,
    pub wait: Duration,
    /// Longest a statement may run before PostgreSQL cancels it.
    pub statement_timeout: Duration,
    pub connect_timeout: Duration,
}

impl PgOptions {
    pub fn new(url: &str) -> PgOptions {
        PgOptions {
            url: url.to_owned(),
            pool_size: 16,
            wait: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(3),
        }
    }
}

pub struct Db {
    pool: Pool,
    parts: RwLock<HashMap<Partition, i32>>,
}

/// A failed query: whether trying the transaction again may succeed, and what to report.
#[derive(Debug)]
pub enum DbError {
    /// A serialization failure or a deadlock PostgreSQL broke: the transaction may be retried.
    Retry(tokio_postgres::Error),
    Unavailable(String),
}

impl From<tokio_postgres::Error> for DbError {
    fn from(e: tokio_postgres::Error) -> DbError {
        match e.code() {
            Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE => DbError::Retry(e),
            Some(c) if *c == SqlState::T_R_DEADLOCK_DETECTED => DbError::Retry(e),
            _ => DbError::Unavailable(describe(&e)),
        }
    }
}

impl From<deadpool_postgres::PoolError> for DbError {
    fn from(e: deadpool_postgres::PoolError) -> DbError {
        DbError::Unavailable(format!("PostgreSQL: {e}"))
    }
}

impl From<DbError> for StoreError {
    fn from(e: DbError) -> StoreError {
        match e {
            DbError::Retry(e) => StoreError::Unavailable(describe(&e)),
            DbError::Unavailable(m) => StoreError::Unavailable(m),
        }
    }
}

/// A PostgreSQL error with the server's message when there is one.
fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(d) => format!("PostgreSQL: {}", d.message()),
        None => format!("PostgreSQL: {e}"),
    }
}

/// Transactions retried after a serialization failure or deadlock before giving up.
const ATTEMPTS: usize = 5;

impl Db {
    /// Opens the pool and migrates the schema (retrying while PostgreSQL is not up yet, for
    /// `connect_for`).
    pub async fn open(opts: &PgOptions, connect_for: Duration) -> anyhow::Result<Db> {
        let mut cfg: tokio_postgres::Config = opts.url.parse()?;
        cfg.connect_timeout(opts.connect_timeout);
        // Options the URL gives (a search_path, say) are kept.
        let given = cfg.get_options().unwrap_or_default().to_owned();
        cfg.options(format!(
            "{given} -c statement_timeout={}",
            opts.statement_timeout.as_millis()
        ));
        cfg.application_name("xray-gateway");
        let mgr = Manager::from_config(
            cfg,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(mgr)
            .max_size(opts.pool_size)
            .wait_timeout(Some(opts.wait))
            .create_timeout(Some(opts.connect_timeout))
            .recycle_timeout(Some(opts.connect_timeout))
            .runtime(Runtime::Tokio1)
            .build()?;
        let db = Db {
            pool,
            parts: RwLock::default(),
        };
        let deadline = tokio::time::Instant::now() + connect_for;
        loop {
            match db.migrate().await {
                Ok(n) => {
                    tracing::info!(
                        applied = n,
                        version = schema::latest(),
                        "PostgreSQL schema ready"
                    );
                    return Ok(db);
                }
                Err(e) if tokio::time::Instant::now() < deadline => {
                    tracing::warn!("PostgreSQL not ready yet: {e:?}");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => anyhow::bail!("cannot prepare the PostgreSQL schema: {e:?}"),
            }
        }
    }

    async fn migrate(&self) -> Result<usize, DbError> {
        let mut c = self.client().await?;
        Ok(schema::migrate(&mut c).await?)
    }

    /// The pool's connections: (open, idle, max, requests waiting).
    pub fn pool_status(&self) -> (usize, usize, usize, usize) {
        let s = self.pool.status();
        (s.size, s.available, s.max_size, s.waiting)
    }

    pub async fn client(&self) -> Result<Object, DbError> {
        Ok(self.pool.get().await?)
    }

    /// The partition's number, created on first write.
    pub async fn partition(&self, part: &Partition) -> Result<i32, DbError> {
        if let Some(&id) = self.parts.read().get(part) {
            return Ok(id);
        }
        let c = self.client().await?;
        let row = c
            .query_one(
                "INSERT INTO xray_partitions (account, region) VALUES ($1, $2)
                 ON CONFLICT (account, region) DO UPDATE SET account = EXCLUDED.account
                 RETURNING id",
                &[&part.account, &part.region],
            )
            .await?;
        let id: i32 = row.get(0);
        self.parts.write().insert(part.clone(), id);
        Ok(id)
    }

    /// The partition's number if anything was ever written to it.
    pub async fn existing_partition(&self, part: &Partition) -> Result<Option<i32>, DbError> {
        if let Some(&id) = self.parts.read().get(part) {
            return Ok(Some(id));
        }
        let c = self.client().await?;
        let row = c
            .query_opt(
                "SELECT id FROM xray_partitions WHERE account = $1 AND region = $2",
                &[&part.account, &part.region],
            )
            .await?;
        let id = row.map(|r| r.get::<_, i32>(0));
        if let Some(id) = id {
            self.parts.write().insert(part.clone(), id);
        }
        Ok(id)
    }

    /// Whether to try a failed transaction again (after a pause that grows with `tries`).
    pub async fn retry(e: &DbError, tries: &mut usize) -> bool {
        let DbError::Retry(cause) = e else {
            return false;
        };
        *tries += 1;
        if *tries >= ATTEMPTS {
            return false;
        }
        tracing::debug!("retrying a transaction: {cause}");
        tokio::time::sleep(Duration::from_millis(5 << *tries)).await;
        true
    }
}
