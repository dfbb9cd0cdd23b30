//! Composition root: builds the store, binds the listeners, serves until shutdown, drains.

use crate::config::{Config, Listen};
use crate::convert::Options;
use crate::daemon::{self, UdpStats};
use crate::model::time::{Clock, SystemClock};
use crate::otlp::{self, OtlpState};
use crate::store::control::ControlStore;
use crate::store::durable::{CheckpointPolicy, DurableStore};
use crate::store::log::{self, Log, Replay};
use crate::store::memory::{Limits, MemStore};
use crate::store::postgres::{Db, PgControl, PgOptions, PgStore};
use crate::store::{Partition, TraceStore};
use crate::xray_api::{self, ApiState};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// How often retention runs.
const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// How often housekeeping runs over PostgreSQL: it also sums the graph contributions that
/// writes append, which reads would otherwise add up one by one.
const PG_HOUSEKEEPING_EVERY: Duration = Duration::from_secs(5);

/// Runs the gateway until `shutdown` resolves, then stops accepting, finishes in-flight
/// requests and returns.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let limits = Limits {
        retention_micros: config.retention.as_micros().min(i64::MAX as u128) as i64,
        max_traces: config.max_traces,
        max_bytes: config.max_memory_mb.saturating_mul(1 << 20),
        bound_resident: true,
        ..Limits::default()
    };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let auth = Arc::new(match &config.credentials_file {
        Some(path) => {
            let creds = crate::auth::Credentials::load(path)?;
            tracing::info!(profiles = creds.profiles(), path = %path.display(), "requests must be signed");
            crate::auth::Auth::verified(creds)
        }
        None => crate::auth::Auth::open(),
    });
    let quota = Arc::new(match config.segments_per_second {
        Some(n) => crate::quota::SegmentQuota::per_second(n),
        None => crate::quota::SegmentQuota::unlimited(),
    });
    let backend = open_store(&config, limits, clock.clone()).await?;
    let sweep_every = if backend.shared {
        PG_HOUSEKEEPING_EVERY
    } else {
        SWEEP_EVERY
    };
    let (store, control) = (backend.store.clone(), backend.control.clone());

    let bound = Bound::bind(&config).await?;
    if !auth.is_verified() {
        warn_if_exposed(&bound.addresses);
    }
    let udp_stats = Arc::new(UdpStats::default());
    let stop = CancellationToken::new();
    // Tasks that serve until `stop` and then drain, and tasks that run until they are aborted.
    let mut servers: JoinSet<(&'static str, anyhow::Result<()>)> = JoinSet::new();
    let mut background: JoinSet<(&'static str, anyhow::Result<()>)> = JoinSet::new();

    {
        let store = store.clone();
        background.spawn(async move {
            let mut tick = tokio::time::interval(sweep_every);
            tick.tick().await;
            loop {
                tick.tick().await;
                match store.sweep().await {
                    Ok(0) => {}
                    Ok(n) => {
                        count_retention(n);
                        tracing::info!(traces = n, "retention dropped old traces")
                    }
                    Err(e) => tracing::warn!("retention sweep failed: {e}"),
                }
            }
        });
    }

    let default_partition = Partition {
        account: config.default_account.clone(),
        region: config.default_region.clone(),
    };
    let stats_for_health = udp_stats.clone();
    let otlp = Arc::new(OtlpState {
        auth: auth.clone(),
        quota: quota.clone(),
        store_timeout: config.otlp_store_timeout,
        max_body_bytes: config.otlp_max_body_mb.saturating_mul(1 << 20),
        ..OtlpState::new(
            store.clone(),
            default_partition.clone(),
            Options {
                indexed_attributes: config.indexed_attributes.clone(),
                index_all_attributes: config.index_all_attributes,
                aws_log_groups: config.aws_log_groups.clone(),
                annotation_dots_as_underscores: config.annotation_dots_as_underscores,
                strict_trace_ids: config.strict_trace_ids,
            },
            clock.clone(),
        )
    });
    let mut health_extras: Vec<(String, xray_api::HealthFn)> = vec![(
        "daemon_udp".to_owned(),
        Box::new(move || stats_for_health.snapshot()),
    )];
    if let Some((durable, _)) = &backend.durable {
        let (d, dir, fsync) = (durable.clone(), config.data_dir()?, config.fsync);
        health_extras.push((
            "data_dir".to_owned(),
            Box::new(move || {
                let mut v = d.recovery.snapshot();
                v["path"] = dir.as_ref().map(|p| p.display().to_string()).into();
                v["fsync"] = format!("{fsync:?}").to_lowercase().into();
                v["log"] = d.log().stats.snapshot();
                v
            }),
        ));
    }
    let mut on_scrape: Vec<Box<dyn Fn() + Send + Sync>> = Vec::new();
    if let Some((durable, _)) = &backend.durable {
        let d = durable.clone();
        on_scrape.push(Box::new(move || {
            use std::sync::atomic::Ordering::Relaxed;
            let m = &crate::metrics::METRICS;
            let (log, rec) = (&d.log().stats, &d.recovery);
            m.wal_bytes.set(log.wal_bytes.load(Relaxed) as i64);
            let errors = log.write_errors.load(Relaxed) + log.fsync_errors.load(Relaxed);
            m.log_write_errors
                .inc_by(errors.saturating_sub(m.log_write_errors.get()));
            m.recovering.set(i64::from(rec.running.load(Relaxed)));
            m.replayed_bytes.set(rec.bytes_read.load(Relaxed) as i64);
            m.replay_total_bytes
                .set(rec.bytes_total.load(Relaxed) as i64);
        }));
    }
    if let Some(db) = &backend.db {
        let db = db.clone();
        on_scrape.push(Box::new(move || {
            let (open, idle, max, waiting) = db.pool_status();
            let pool = &crate::metrics::METRICS.postgres_pool;
            for (state, n) in [
                ("open", open),
                ("idle", idle),
                ("max", max),
                ("waiting", waiting),
            ] {
                pool.get_or_create(&crate::metrics::StateLabel { state })
                    .set(n as i64);
            }
        }));
    }
    let state = Arc::new(ApiState {
        store: store.clone(),
        auth: auth.clone(),
        quota: quota.clone(),
        control,
        clock,
        default_partition: default_partition.clone(),
        listeners: bound.addresses.clone(),
        health_extras,
        on_scrape,
    });
    let Bound {
        xray,
        otlp_grpc,
        otlp_http,
        daemon,
        addresses,
    } = bound;
    if let Some(l) = xray {
        // X-Ray itself takes OTLP/HTTP at /v1/traces.
        let app = xray_api::router(state.clone()).merge(otlp::http_router(otlp.clone()));
        servers.spawn(named(
            "the X-Ray listener",
            serve_http(l, app, stop.clone()),
        ));
    }
    if let Some(l) = otlp_http {
        let app = otlp::http_router(otlp.clone());
        servers.spawn(named(
            "the OTLP/HTTP listener",
            serve_http(l, app, stop.clone()),
        ));
    }
    if let Some(l) = otlp_grpc {
        let service = otlp::grpc_service(otlp.clone());
        servers.spawn(named(
            "the OTLP/gRPC listener",
            serve_grpc(l, service, stop.clone()),
        ));
    }
    if let Some((tcp, udp)) = daemon {
        let app = xray_api::router(state.clone());
        servers.spawn(named(
            "the daemon's TCP listener",
            serve_http(tcp, app, stop.clone()),
        ));
        for _ in 0..2 {
            let receive = daemon::receive(
                udp.clone(),
                store.clone(),
                default_partition.clone(),
                udp_stats.clone(),
                quota.clone(),
                stop.clone(),
            );
            servers.spawn(named("the daemon's UDP intake", async move {
                receive.await;
                anyhow::Ok(())
            }));
        }
    }
    if let Some((durable, replay)) = backend.durable {
        background.spawn(named("the data directory", run_durable(durable, replay)));
    }
    announce_ready(&addresses);

    let failure = tokio::select! {
        _ = shutdown => None,
        Some(ended) = servers.join_next() => Some(ended),
        Some(ended) = background.join_next() => Some(ended),
    };
    if let Some(ended) = failure {
        // A listener or the data directory gave out: the process stops with the reason rather
        // than serve half of what it promises.
        stop.cancel();
        background.shutdown().await;
        return Err(why_ended(ended));
    }
    tracing::info!("shutting down: draining in-flight requests");
    stop.cancel();
    background.shutdown().await;
    while let Some(ended) = servers.join_next().await {
        if let Ok((what, Err(e))) = ended {
            return Err(e.context(format!("{what} failed while draining")));
        }
    }
    Ok(())
}

/// Every socket the gateway serves on, bound before anything is served, so that a port in use
/// stops the start with a clear error and port 0 resolves before the ready line.
struct Bound {
    xray: Option<TcpListener>,
    otlp_grpc: Option<TcpListener>,
    otlp_http: Option<TcpListener>,
    daemon: Option<(TcpListener, Arc<tokio::net::UdpSocket>)>,
    /// `(name, address)` of each, for `/health` and the ready line.
    addresses: Vec<(String, String)>,
}

impl Bound {
    async fn bind(config: &Config) -> anyhow::Result<Bound> {
        let mut addresses = Vec::new();
        let xray = bind(&config.xray_listen, "xray", "the X-Ray API", &mut addresses).await?;
        let otlp_grpc = bind(
            &config.otlp_grpc_listen,
            "otlp-grpc",
            "OTLP/gRPC",
            &mut addresses,
        )
        .await?;
        let otlp_http = bind(
            &config.otlp_http_listen,
            "otlp-http",
            "OTLP/HTTP",
            &mut addresses,
        )
        .await?;
        let daemon = match config.daemon_listen {
            Listen::Off => None,
            Listen::At(addr) => {
                // TCP first, so that port 0 resolves; UDP then takes the same port number.
                let tcp = TcpListener::bind(addr).await.map_err(|e| {
                    anyhow::anyhow!("cannot listen on {addr} (TCP) for the daemon: {e}")
                })?;
                let local = tcp.local_addr()?;
                let udp = daemon::bind_udp(local).map_err(|e| {
                    anyhow::anyhow!("cannot listen on {local} (UDP) for the daemon: {e}")
                })?;
                tracing::info!(listener = "daemon-udp", address = %local, "listening");
                tracing::info!(listener = "daemon-tcp", address = %local, "listening");
                addresses.push(("daemon".to_owned(), local.to_string()));
                Some((tcp, Arc::new(udp)))
            }
        };
        Ok(Bound {
            xray,
            otlp_grpc,
            otlp_http,
            daemon,
            addresses,
        })
    }
}

/// One line of JSON on standard output, `{"ready": {"xray": "127.0.0.1:4566", ...}}`, with
/// every bound address: what scripts and tests wait for.
fn announce_ready(addresses: &[(String, String)]) {
    let listeners: serde_json::Map<String, serde_json::Value> = addresses
        .iter()
        .map(|(n, a)| (n.clone(), a.clone().into()))
        .collect();
    let line = serde_json::json!({
        "ready": listeners,
        "version": env!("CARGO_PKG_VERSION"),
    });
    tracing::info!("ready");
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// A task's result with what it was, for the reason the gateway stops.
async fn named<E: Into<anyhow::Error>>(
    what: &'static str,
    task: impl Future<Output = Result<(), E>>,
) -> (&'static str, anyhow::Result<()>) {
    (what, task.await.map_err(Into::into))
}

fn why_ended(
    ended: Result<(&'static str, anyhow::Result<()>), tokio::task::JoinError>,
) -> anyhow::Error {
    match ended {
        Ok((what, Ok(()))) => anyhow::anyhow!("{what} stopped unexpectedly"),
        Ok((what, Err(e))) => e.context(format!("{what} failed")),
        Err(e) => anyhow::anyhow!("a server task panicked: {e}"),
    }
}

/// The store the gateway serves from: memory alone, or memory over a data directory (with
/// what is to be replayed into it).
struct Backend {
    store: Arc<dyn TraceStore>,
    control: Arc<ControlStore>,
    durable: Option<(Arc<DurableStore>, Replay)>,
    /// Whether other gateways share the store (PostgreSQL).
    shared: bool,
    /// The PostgreSQL connection pool, when it is the store.
    db: Option<Arc<Db>>,
}

/// How long a starting gateway waits for PostgreSQL to accept connections.
const PG_CONNECT_FOR: Duration = Duration::from_secs(30);

async fn open_store(
    config: &Config,
    mut limits: Limits,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Backend> {
    if let Some(url) = &config.postgres_url {
        if config.data_dir()?.is_some() {
            anyhow::bail!("--postgres-url and a data directory exclude each other: choose one");
        }
        let opts = PgOptions {
            pool_size: config.postgres_pool.max(1),
            statement_timeout: config.postgres_statement_timeout,
            ..PgOptions::new(url)
        };
        let db = Arc::new(Db::open(&opts, PG_CONNECT_FOR).await?);
        crate::model::intern::share_vocabulary();
        tracing::info!("traces and control plane in PostgreSQL");
        return Ok(Backend {
            store: Arc::new(PgStore::new(
                db.clone(),
                clock,
                limits.retention_micros,
                limits.max_trace_bytes,
            )),
            control: Arc::new(ControlStore::postgres(PgControl::new(db.clone()))),
            durable: None,
            shared: true,
            db: Some(db),
        });
    }
    let Some(dir) = config.data_dir()? else {
        return Ok(Backend {
            store: Arc::new(MemStore::new(limits, clock)),
            control: Arc::default(),
            durable: None,
            shared: false,
            db: None,
        });
    };
    let opts = log::Options {
        dir: dir.clone(),
        fsync: config.fsync,
        segment_bytes: 64 << 20,
        repair: config.repair,
    };
    let (log, replay) = Log::open(&opts, Arc::new(log::files::Disk))?;
    let log = Arc::new(log);
    let mut policy = CheckpointPolicy {
        min_wal_bytes: config.checkpoint_mb.saturating_mul(1 << 20),
        ..CheckpointPolicy::default()
    };
    if let Some(mb) = config.max_disk_mb {
        // A checkpoint, the wal after it and the next checkpoint being written each hold at
        // most a third.
        policy.max_disk_bytes = mb.saturating_mul(1 << 20);
        limits.max_raw_bytes = policy.max_disk_bytes / 3;
    }
    let mem = Arc::new(MemStore::new(limits, clock.clone()));
    let control = Arc::new(ControlStore::logged(log.clone()));
    let durable = Arc::new(DurableStore::new(mem, log, control.clone(), clock, policy));
    tracing::info!(path = %dir.display(), fsync = ?config.fsync, "data directory opened");
    Ok(Backend {
        store: durable.clone(),
        control,
        durable: Some((durable, replay)),
        shared: false,
        db: None,
    })
}

/// Says once that anyone who reaches a listener beyond loopback may use any account.
fn warn_if_exposed(listeners: &[(String, String)]) {
    let exposed: Vec<&str> = listeners
        .iter()
        .filter(|(_, a)| {
            a.parse::<std::net::SocketAddr>()
                .is_ok_and(|a| !a.ip().is_loopback())
        })
        .map(|(n, _)| n.as_str())
        .collect();
    if !exposed.is_empty() {
        tracing::warn!(
            listeners = ?exposed,
            "listening beyond loopback without --credentials-file: anyone who reaches these ports can read and write every account's traces"
        );
    }
}

fn count_retention(n: u64) {
    crate::metrics::METRICS
        .evicted
        .get_or_create(&crate::metrics::CauseLabel { cause: "retention" })
        .inc_by(n);
}

/// Replays the data directory, then writes checkpoints as the log grows; returns only if the
/// replay fails.
async fn run_durable(durable: Arc<DurableStore>, replay: Replay) -> anyhow::Result<()> {
    let d = durable.clone();
    tokio::task::spawn_blocking(move || d.recover(replay)).await??;
    if let Ok(n @ 1..) = durable.sweep().await {
        count_retention(n);
        tracing::info!(traces = n, "retention dropped replayed traces");
    }
    let every = CheckpointPolicy::default().check_every;
    loop {
        tokio::time::sleep(every).await;
        if let Err(e) = durable.maybe_checkpoint().await {
            tracing::warn!("checkpoint failed (the log keeps everything): {e}");
        }
    }
}

/// Serves `app` on `l` until `stop` fires, then finishes in-flight requests.
async fn serve_http(
    l: TcpListener,
    app: axum::Router,
    stop: CancellationToken,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    // Small answers must not wait for the peer's delayed ACK (Nagle).
    let l = l.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(l, app)
        .with_graceful_shutdown(stop.cancelled_owned())
        .await
}

/// Serves OTLP/gRPC on `l` until `stop` fires.
async fn serve_grpc(
    l: TcpListener,
    service: otlp::GrpcService,
    stop: CancellationToken,
) -> Result<(), tonic::transport::Error> {
    // OTLP requests run to hundreds of KB; h2's default 64 KB windows would make a sender wait
    // for window updates several times per request.
    tonic::transport::Server::builder()
        .initial_connection_window_size(8 << 20)
        .initial_stream_window_size(4 << 20)
        .add_service(service)
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(l).with_nodelay(Some(true)),
            stop.cancelled_owned(),
        )
        .await
}

/// Binds a TCP listener (unless `off`), logs its address and records it for `/health`.
async fn bind(
    listen: &Listen,
    name: &str,
    what: &str,
    listeners: &mut Vec<(String, String)>,
) -> anyhow::Result<Option<TcpListener>> {
    let Listen::At(addr) = listen else {
        return Ok(None);
    };
    let l = TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr} for {what}: {e}"))?;
    let local = l.local_addr()?;
    tracing::info!(listener = name, address = %local, "listening");
    listeners.push((name.replace('-', "_"), local.to_string()));
    Ok(Some(l))
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed when this is called (inside the
/// runtime), not when the future is first polled, so a signal that arrives as soon as the
/// gateway says it is ready still drains instead of killing the process.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut int = signal(SignalKind::interrupt()).ok();
        let mut term = signal(SignalKind::terminate()).ok();
        async move {
            let int = async {
                match int.as_mut() {
                    Some(s) => drop(s.recv().await),
                    None => std::future::pending::<()>().await,
                }
            };
            let term = async {
                match term.as_mut() {
                    Some(s) => drop(s.recv().await),
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! { _ = int => {}, _ = term => {} }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
