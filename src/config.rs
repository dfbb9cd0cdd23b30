//! Command-line flags, each also readable from an environment variable.

use clap::Parser;
use std::net::SocketAddr;

/// A listen address, or `off` to disable that listener.
#[derive(Debug, Clone, PartialEq)]
pub enum Listen {
    Off,
    At(SocketAddr),
}

fn parse_listen(s: &str) -> Result<Listen, String> {
    if s.eq_ignore_ascii_case("off") {
        return Ok(Listen::Off);
    }
    s.parse::<SocketAddr>()
        .map(Listen::At)
        .map_err(|e| format!("'{s}' is not an address like 127.0.0.1:4566 or 'off': {e}"))
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    // A bare number is seconds, as before units were required.
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(std::time::Duration::from_secs(secs));
    }
    humantime::parse_duration(s)
        .map_err(|e| format!("'{s}' is not a duration like 30d, 12h, 90m, 45s or 500ms: {e}"))
}

#[derive(Debug, Clone, Parser)]
#[command(name = "xray-gateway", version, about = "AWS X-Ray on your machine")]
pub struct Config {
    /// Address of the X-Ray API (rest-json, what awslocal and the AWS SDKs call), or `off`.
    #[arg(long, env = "XRAY_LISTEN", default_value = "127.0.0.1:4566", value_parser = parse_listen)]
    pub xray_listen: Listen,

    /// OTLP/gRPC trace receiver (the TraceService), or `off`.
    #[arg(long, env = "XRAY_OTLP_GRPC_LISTEN", default_value = "127.0.0.1:4317", value_parser = parse_listen)]
    pub otlp_grpc_listen: Listen,

    /// OTLP/HTTP trace receiver (`POST /v1/traces`, protobuf or JSON), or `off`.
    #[arg(long, env = "XRAY_OTLP_HTTP_LISTEN", default_value = "127.0.0.1:4318", value_parser = parse_listen)]
    pub otlp_http_listen: Listen,

    /// Span or resource attributes (`otel.resource.<key>`) that become annotations, comma-separated,
    /// as the awsxray exporter's `indexed_attributes`.
    #[arg(long, env = "XRAY_INDEXED_ATTRIBUTES", value_delimiter = ',')]
    pub indexed_attributes: Vec<String>,

    /// Make every primitive attribute an annotation, as the exporter's `index_all_attributes`.
    #[arg(long, env = "XRAY_INDEX_ALL_ATTRIBUTES")]
    pub index_all_attributes: bool,

    /// Write `.` in annotation keys as `_`, as the exporter did before its `allowDot` gate
    /// (v0.97) or with the gate off. By default dots are kept, as current exporters do.
    #[arg(long, env = "XRAY_ANNOTATION_DOTS_AS_UNDERSCORES")]
    pub annotation_dots_as_underscores: bool,

    /// Log groups written as `aws.cloudwatch_logs` when a resource names none, comma-separated,
    /// as the exporter's `aws_log_groups`.
    #[arg(long, env = "XRAY_AWS_LOG_GROUPS", value_delimiter = ',')]
    pub aws_log_groups: Vec<String>,

    /// Refuse OTLP trace IDs whose first 4 bytes, read as epoch seconds, are over 28 days old
    /// or over 5 minutes ahead (the exporter's old timestamp validation); such spans are
    /// counted in `partial_success`. Off: any 128-bit trace ID is accepted, as the exporter
    /// does by default.
    #[arg(long, env = "XRAY_STRICT_TRACE_IDS")]
    pub strict_trace_ids: bool,

    /// How long an OTLP export may wait for the store (for a turn, then for the write) before
    /// it is answered UNAVAILABLE / 503, which exporters retry.
    #[arg(long, env = "XRAY_OTLP_STORE_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub otlp_store_timeout: std::time::Duration,

    /// Largest OTLP request, in MiB, before and after gunzip.
    #[arg(long, env = "XRAY_OTLP_MAX_BODY_MB", default_value_t = 16)]
    pub otlp_max_body_mb: usize,

    /// The X-Ray daemon's address (UDP segments and, on TCP, the X-Ray API unsigned, as the
    /// SDKs' samplers call it), or `off`. Point SDKs here with AWS_XRAY_DAEMON_ADDRESS.
    #[arg(long, env = "XRAY_DAEMON_LISTEN", default_value = "127.0.0.1:2000", value_parser = parse_listen)]
    pub daemon_listen: Listen,

    /// Account that requests without a 12-digit access key, and ingest without credentials, land in.
    #[arg(long, env = "XRAY_DEFAULT_ACCOUNT", default_value = "000000000000")]
    pub default_account: String,

    /// Region for unsigned requests and ingest without credentials.
    #[arg(long, env = "XRAY_DEFAULT_REGION", default_value = "us-east-1")]
    pub default_region: String,

    /// Traces not updated for this long are dropped (X-Ray keeps 30 days).
    #[arg(long, env = "XRAY_RETENTION", default_value = "30d", value_parser = parse_duration)]
    pub retention: std::time::Duration,

    /// Most traces kept in memory; the oldest (by start) are evicted first.
    #[arg(long, env = "XRAY_MAX_TRACES", default_value_t = 1_000_000)]
    pub max_traces: u64,

    /// Resident memory of the gateway, in MiB: the oldest traces are evicted to stay under it.
    #[arg(long, env = "XRAY_MAX_MEMORY_MB", default_value_t = 2048)]
    pub max_memory_mb: u64,

    /// Keep traces and control-plane state in this directory: every accepted input is written
    /// to its log before it is acknowledged and replayed on start. Without it nothing touches
    /// the disk. LocalStack's `PERSISTENCE=1` with `DATA_DIR` selects it too.
    #[arg(long, env = "XRAY_DATA_DIR")]
    pub data_dir: Option<std::path::PathBuf>,

    /// Keep everything in PostgreSQL (e.g. `postgres://user@host:5432/db`) instead of memory or
    /// a data directory: several gateways over one database serve the same traces and
    /// control plane. The schema is created or migrated at start.
    #[arg(long, env = "XRAY_POSTGRES_URL", conflicts_with = "data_dir")]
    pub postgres_url: Option<String>,

    /// Connections to PostgreSQL at most; requests beyond them wait, then answer
    /// ServiceUnavailable.
    #[arg(long, env = "XRAY_POSTGRES_POOL", default_value_t = 16)]
    pub postgres_pool: usize,

    /// Longest a PostgreSQL statement may run before it is cancelled.
    #[arg(long, env = "XRAY_POSTGRES_STATEMENT_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub postgres_statement_timeout: std::time::Duration,

    /// When the log is synced to disk: `always` before every acknowledgement, `everysec` in the
    /// background once a second, `never`. A process crash loses nothing under any of them.
    #[arg(long, env = "XRAY_FSYNC", value_enum, default_value = "everysec")]
    pub fsync: crate::store::log::Fsync,

    /// Most disk for the data directory, in MiB; the oldest traces are evicted to stay within it.
    #[arg(long, env = "XRAY_MAX_DISK_MB")]
    pub max_disk_mb: Option<u64>,

    /// Write a checkpoint once the log behind the last one holds this many MiB and more than
    /// that checkpoint: higher means fewer checkpoints and longer restarts.
    #[arg(long, env = "XRAY_CHECKPOINT_MB", default_value_t = 256)]
    pub checkpoint_mb: u64,

    /// Start even if the log is damaged before its end, cutting it at the damage (what follows
    /// is lost). Without it such damage stops the start with the file and offset.
    #[arg(long, env = "XRAY_REPAIR")]
    pub repair: bool,

    /// Log filter (tracing's EnvFilter syntax), e.g. `info` or `xray_gateway=debug`.
    #[arg(long, env = "XRAY_LOG", default_value = "info")]
    pub log: String,

    /// `text` for people, `json` for one JSON object per line.
    #[arg(long, env = "XRAY_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,

    /// Profiles in the AWS shared-credentials format (`aws_access_key_id`,
    /// `aws_secret_access_key`, `aws_account_id`, optionally `otlp_token`). With it, X-Ray API
    /// requests must be SigV4-signed with a profile's key and land in its account; OTLP exports
    /// carry a signature or `Authorization: Bearer <otlp_token>`.
    #[arg(long, env = "XRAY_CREDENTIALS_FILE")]
    pub credentials_file: Option<std::path::PathBuf>,

    /// Segment documents accepted per second for each account and region (X-Ray's default
    /// quota is 2,600); more is refused as throttled. Unset: no quota.
    #[arg(long, env = "XRAY_SEGMENTS_PER_SECOND")]
    pub segments_per_second: Option<std::num::NonZeroU32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

impl Config {
    /// The data directory: `--data-dir`, or LocalStack's `PERSISTENCE=1` with `DATA_DIR`.
    pub fn data_dir(&self) -> anyhow::Result<Option<std::path::PathBuf>> {
        if self.data_dir.is_some() {
            return Ok(self.data_dir.clone());
        }
        let persistence = std::env::var("PERSISTENCE").is_ok_and(|v| v == "1" || v == "true");
        if !persistence {
            return Ok(None);
        }
        match std::env::var_os("DATA_DIR") {
            Some(d) if !d.is_empty() => Ok(Some(d.into())),
            _ => anyhow::bail!("PERSISTENCE=1 needs DATA_DIR (or --data-dir) to say where"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_accepts_addresses_and_off() {
        assert_eq!(parse_listen("off").unwrap(), Listen::Off);
        assert!(matches!(
            parse_listen("127.0.0.1:0").unwrap(),
            Listen::At(_)
        ));
        assert!(parse_listen("localhost").is_err());
    }

    #[test]
    fn durations_take_units() {
        assert_eq!(parse_duration("30d").unwrap().as_secs(), 2_592_000);
        assert_eq!(parse_duration("90m").unwrap().as_secs(), 5400);
        assert_eq!(parse_duration("500ms").unwrap().as_millis(), 500);
        assert_eq!(parse_duration("60").unwrap().as_secs(), 60);
        assert!(parse_duration("3x").is_err());
        assert!(parse_duration("soon").is_err());
    }
}
