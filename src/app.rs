//! Composition root: builds the store, binds the listeners, serves until shutdown, drains.

use crate::config::{Config, Listen};
use crate::model::time::{Clock, SystemClock};
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
    let store: Arc<dyn TraceStore> = Arc::new(MemStore::new(limits, clock.clone()));

    let mut listeners = Vec::new();
    let xray = match config.xray_listen {
        Listen::Off => None,
        Listen::At(addr) => {
            let l = TcpListener::bind(addr)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on {addr} for the X-Ray API: {e}"))?;
            let local = l.local_addr()?;
            tracing::info!(listener = "xray", address = %local, "listening");
            listeners.push(("xray".to_owned(), local.to_string()));
            Some(l)
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
                    Ok(n) => tracing::info!(traces = n, "retention dropped old traces"),
                    Err(e) => tracing::warn!("retention sweep failed: {e}"),
                }
            }
        })
    };

    let state = Arc::new(ApiState {
        store,
        control: Default::default(),
        clock,
        default_partition: Partition {
            account: config.default_account.clone(),
            region: config.default_region.clone(),
        },
        listeners,
    });
    let (stop_tx, _) = tokio::sync::broadcast::channel::<()>(1);
    let mut servers = Vec::new();
    if let Some(l) = xray {
        let mut stop = stop_tx.subscribe();
        let app = xray_api::router(state.clone());
        servers.push(tokio::spawn(async move {
            axum::serve(l, app)
                .with_graceful_shutdown(async move {
                    stop.recv().await.ok();
                })
                .await
        }));
    }
    tracing::info!("ready");
    shutdown.await;
    tracing::info!("shutting down: draining in-flight requests");
    let _ = stop_tx.send(());
    for s in servers {
        s.await??;
    }
    sweeper.abort();
    Ok(())
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
