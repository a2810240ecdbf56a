//! The `metrics_listen` listener of `logwarden worker` and `logwarden scheduler`: this
//! process's Prometheus counters at `/metrics` and `/healthz`, until shutdown.

use std::net::SocketAddr;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::http;

/// The metrics listener running in the background.
pub struct MetricsListener {
    pub addr: SocketAddr,
    task: JoinHandle<std::io::Result<()>>,
}

impl MetricsListener {
    /// Binds `listen` when it is set and serves the process's metrics until `shutdown`; an
    /// empty `listen` starts nothing.
    pub async fn start(listen: &str, shutdown: CancellationToken) -> anyhow::Result<Option<Self>> {
        if listen.is_empty() {
            return Ok(None);
        }
        let listener = http::bind(listen).await?;
        let addr = listener.local_addr()?;
        let router = http::metrics::process_router(crate::infra::metrics::global());
        let task = tokio::spawn(http::serve(listener, router, shutdown.cancelled_owned()));
        tracing::info!(%addr, "metrics listening");
        eprintln!("metrics: http://{addr}/metrics, health: http://{addr}/healthz");
        Ok(Some(Self { addr, task }))
    }

    /// Waits until the listener has stopped (after shutdown).
    pub async fn wait(self) -> anyhow::Result<()> {
        self.task.await??;
        Ok(())
    }
}
