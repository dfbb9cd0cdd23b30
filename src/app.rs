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
use crate::store::{Partition, TraceStore};
use crate::xray_api::{self, ApiState};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// How often retention runs.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

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
    let backend = open_store(&config, limits, clock.clone())?;
    let (store, control) = (backend.store.clone(), backend.control.clone());

    let mut listeners = Vec::new();
    let xray = bind(&config.xray_listen, "xray", "the X-Ray API", &mut listeners).await?;
    let otlp_grpc = bind(
        &config.otlp_grpc_listen,
        "otlp-grpc",
        "OTLP/gRPC",
        &mut listeners,
    )
    .await?;
    let otlp_http = bind(
        &config.otlp_http_listen,
        "otlp-http",
        "OTLP/HTTP",
        &mut listeners,
    )
    .await?;
    if !auth.is_verified() {
        warn_if_exposed(&listeners);
    }
    let udp_stats = Arc::new(UdpStats::default());
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
            listeners.push(("daemon".to_owned(), local.to_string()));
            Some((tcp, Arc::new(udp)))
        }
    };

    let sweeper = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SWEEP_EVERY);
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
        })
    };

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
    let state = Arc::new(ApiState {
        store: store.clone(),
        auth: auth.clone(),
        quota: quota.clone(),
        control,
        clock,
        default_partition: default_partition.clone(),
        listeners,
        health_extras,
        on_scrape,
    });
    let (stop_tx, _) = tokio::sync::broadcast::channel::<()>(1);
    let mut servers = Vec::new();
    let mut receivers = Vec::new();
    let mut grpc = Vec::new();
    if let Some(l) = xray {
        // X-Ray itself takes OTLP/HTTP at /v1/traces.
        let app = xray_api::router(state.clone()).merge(otlp::http_router(otlp.clone()));
        servers.push(serve_http(l, app, stop_tx.subscribe()));
    }
    if let Some(l) = otlp_http {
        servers.push(serve_http(
            l,
            otlp::http_router(otlp.clone()),
            stop_tx.subscribe(),
        ));
    }
    if let Some(l) = otlp_grpc {
        let mut stop = stop_tx.subscribe();
        let service = otlp::grpc_service(otlp.clone());
        grpc.push(tokio::spawn(async move {
            // OTLP requests run to hundreds of KB; h2's default 64 KB windows would make a
            // sender wait for window updates several times per request.
            tonic::transport::Server::builder()
                .initial_connection_window_size(8 << 20)
                .initial_stream_window_size(4 << 20)
                .add_service(service)
                .serve_with_incoming_shutdown(
                    tonic::transport::server::TcpIncoming::from(l).with_nodelay(Some(true)),
                    async move {
                        stop.recv().await.ok();
                    },
                )
                .await
        }));
    }
    if let Some((tcp, udp)) = daemon {
        servers.push(serve_http(
            tcp,
            xray_api::router(state.clone()),
            stop_tx.subscribe(),
        ));
        for _ in 0..2 {
            let (udp, store, part, stats, quota, stop) = (
                udp.clone(),
                store.clone(),
                default_partition.clone(),
                udp_stats.clone(),
                quota.clone(),
                stop_tx.subscribe(),
            );
            receivers.push(tokio::spawn(daemon::receive(
                udp, store, part, stats, quota, stop,
            )));
        }
    }
    let recovery = backend
        .durable
        .map(|(durable, replay)| start_durable(durable, replay));
    tracing::info!("ready");
    let failed = async {
        match recovery {
            Some(r) => match r.await {
                Ok(Ok(())) => std::future::pending().await,
                Ok(Err(e)) => e,
                Err(e) => anyhow::anyhow!("recovery stopped: {e}"),
            },
            None => std::future::pending().await,
        }
    };
    let failure = tokio::select! {
        _ = shutdown => None,
        e = failed => Some(e),
    };
    if let Some(e) = failure {
        // The process stops with the reason; nothing half-recovered is served.
        let _ = stop_tx.send(());
        return Err(e);
    }
    tracing::info!("shutting down: draining in-flight requests");
    let _ = stop_tx.send(());
    for s in servers {
        s.await??;
    }
    for r in receivers {
        let _ = r.await;
    }
    for g in grpc {
        g.await??;
    }
    sweeper.abort();
    Ok(())
}

/// The store the gateway serves from: memory alone, or memory over a data directory (with
/// what is to be replayed into it).
struct Backend {
    store: Arc<dyn TraceStore>,
    control: Arc<ControlStore>,
    durable: Option<(Arc<DurableStore>, Replay)>,
}

fn open_store(
    config: &Config,
    mut limits: Limits,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Backend> {
    let Some(dir) = config.data_dir()? else {
        return Ok(Backend {
            store: Arc::new(MemStore::new(limits, clock)),
            control: Arc::default(),
            durable: None,
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

/// Replays the data directory in the background, then writes checkpoints as the log grows;
/// resolves with the reason if the replay fails.
fn start_durable(
    durable: Arc<DurableStore>,
    replay: Replay,
) -> tokio::task::JoinHandle<anyhow::Result<()>> {
    tokio::spawn(async move {
        let d = durable.clone();
        tokio::task::spawn_blocking(move || d.recover(replay)).await??;
        if let Ok(n @ 1..) = durable.sweep().await {
            count_retention(n);
            tracing::info!(traces = n, "retention dropped replayed traces");
        }
        let every = CheckpointPolicy::default().check_every;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                if let Err(e) = durable.maybe_checkpoint().await {
                    tracing::warn!("checkpoint failed (the log keeps everything): {e}");
                }
            }
        });
        Ok(())
    })
}

/// Serves `app` on `l` until `stop` fires, then finishes in-flight requests.
fn serve_http(
    l: TcpListener,
    app: axum::Router,
    mut stop: tokio::sync::broadcast::Receiver<()>,
) -> tokio::task::JoinHandle<std::io::Result<()>> {
    use axum::serve::ListenerExt;
    // Small answers must not wait for the peer's delayed ACK (Nagle).
    let l = l.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    tokio::spawn(async move {
        axum::serve(l, app)
            .with_graceful_shutdown(async move {
                stop.recv().await.ok();
            })
            .await
    })
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
