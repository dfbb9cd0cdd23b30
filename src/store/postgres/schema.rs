//! The PostgreSQL schema, created and migrated at start. Each migration runs once, in order,
//! recorded in `xray_schema_version`; gateways that start together queue on a
//! transaction-scoped advisory lock, so exactly one of them applies what is missing.

use tokio_postgres::Client;

/// Serializes schema migrations across gateways.
const MIGRATION_LOCK: i64 = 0x5852_4159_0001;

/// The migrations, oldest first; a released one is never edited, only followed by another.
const MIGRATIONS: &[&str] = &[
    // 1: partitions, traces, documents, graph sums, pending links, control-plane state.
    r#"
    CREATE TABLE xray_partitions (
        id      serial PRIMARY KEY,
        account text NOT NULL,
        region  text NOT NULL,
        UNIQUE (account, region)
    );
    -- One row per trace: the rules' latest summary (encoded with its strings), the times the
    -- three range types scan by, and the index terms (hashed) filters push down through GIN.
    CREATE TABLE xray_traces (
        part           int     NOT NULL,
        trace_id       bytea   NOT NULL,
        start_us       bigint  NOT NULL,
        last_us        bigint  NOT NULL,
        revision       int     NOT NULL,
        raw_bytes      bigint  NOT NULL,
        limit_exceeded boolean NOT NULL,
        received_us    bigint  NOT NULL,
        summary        bytea   NOT NULL,
        terms          bigint[] NOT NULL,
        PRIMARY KEY (part, trace_id)
    );
    CREATE INDEX xray_traces_start ON xray_traces (part, start_us, trace_id);
    CREATE INDEX xray_traces_last ON xray_traces (part, last_us, trace_id);
    -- Retention's scan: rows are written roughly in the order they were received.
    CREATE INDEX xray_traces_received ON xray_traces USING brin (received_us);
    CREATE INDEX xray_traces_terms ON xray_traces USING gin (terms);
    -- A trace's documents as received, at the positions the merge rules give them.
    CREATE TABLE xray_documents (
        part       int     NOT NULL,
        trace_id   bytea   NOT NULL,
        pos        int     NOT NULL,
        seg_id     bigint  NOT NULL,
        parent_id  bigint,
        is_segment boolean NOT NULL,
        complete   boolean NOT NULL,
        body       text    NOT NULL,
        PRIMARY KEY (part, trace_id, pos)
    );
    -- Signed graph contributions per minute of trace start, appended by every write (no row
    -- is updated in place, so concurrent writers never wait on each other here) and summed
    -- into one row per minute by housekeeping.
    CREATE TABLE xray_graph (
        part   int    NOT NULL,
        minute bigint NOT NULL,
        id     bigserial,
        graph  bytea  NOT NULL,
        PRIMARY KEY (part, minute, id)
    );
    -- Span links whose target trace has not arrived yet.
    CREATE TABLE xray_pending_links (
        part     int    NOT NULL,
        target   bytea  NOT NULL,
        span     bigint NOT NULL,
        source   bytea  NOT NULL,
        start_us bigint NOT NULL,
        bucket   bigint NOT NULL
    );
    CREATE INDEX xray_pending_links_target ON xray_pending_links (part, target);
    -- Each partition's control plane (groups, sampling rules and reservoirs, settings,
    -- policies, tags, retrievals) as one document, changed under its row lock.
    CREATE TABLE xray_control (
        part  int PRIMARY KEY,
        state text NOT NULL,
        -- The sampling reservoirs every gateway's clients share (not part of the state a data
        -- directory keeps: they renew within seconds).
        reservoirs text NOT NULL DEFAULT '{}'
    );
    "#,
];

/// Brings the schema up to date.
pub async fn migrate(client: &mut Client) -> Result<usize, tokio_postgres::Error> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS xray_schema_version (version int NOT NULL)")
        .await?;
    let row = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM xray_schema_version",
            &[],
        )
        .await?;
    let current: i32 = row.get(0);
    let mut applied = 0;
    for (i, sql) in MIGRATIONS.iter().enumerate() {
        let version = i as i32 + 1;
        if version <= current {
            continue;
        }
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO xray_schema_version (version) VALUES ($1)",
            &[&version],
        )
        .await?;
        applied += 1;
    }
    tx.commit().await?;
    Ok(applied)
}

/// The schema version this build writes.
pub fn latest() -> usize {
    MIGRATIONS.len()
}
