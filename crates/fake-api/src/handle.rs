//! Starting and stopping the fake: `spawn` for tests (a random local port and a handle to
//! drive the clock, faults and stats), `serve` for the CLI (runs until ctrl-c).

use std::net::SocketAddr;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::config::{ConfigError, FakeConfig};
use super::faults::{FaultConfig, FaultConfigError, FaultState};
use super::manifest::{manifest, Manifest};
use super::server::{lock, read, router, AppState};
use super::stats::Stats;

/// Why the fake could not start or stop.
#[derive(Debug, thiserror::Error)]
pub enum FakeApiError {
    #[error("invalid fake API configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("invalid faults: {0}")]
    Faults(#[from] FaultConfigError),
    #[error("binding the fake Compliance API to {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("serving the fake Compliance API: {0}")]
    Serve(#[source] std::io::Error),
    #[error("waiting for ctrl-c: {0}")]
    Signal(#[source] std::io::Error),
}

/// A running fake server. Dropping it stops the server in the background; `shutdown` waits.
#[derive(Debug)]
pub struct FakeServer {
    addr: SocketAddr,
    state: Arc<AppState>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

/// Starts the fake on a random port of 127.0.0.1.
pub async fn spawn(config: FakeConfig) -> Result<FakeServer, FakeApiError> {
    spawn_on(config, SocketAddr::from(([127, 0, 0, 1], 0))).await
}

/// Starts the fake on `addr`.
pub async fn spawn_on(config: FakeConfig, addr: SocketAddr) -> Result<FakeServer, FakeApiError> {
    config.validate()?;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| FakeApiError::Bind { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| FakeApiError::Bind { addr, source })?;
    // Generating a large organisation takes a moment; keep it off the async workers.
    let state = tokio::task::spawn_blocking(move || Arc::new(AppState::new(&config)))
        .await
        .map_err(|e| FakeApiError::Serve(std::io::Error::other(e)))?;
    let app = router(state.clone());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    Ok(FakeServer {
        addr: local,
        state,
        stop: Some(stop),
        task: Some(task),
    })
}

/// Runs the fake on `addr` until ctrl-c.
pub async fn serve(config: FakeConfig, addr: SocketAddr) -> Result<(), FakeApiError> {
    let server = spawn_on(config, addr).await?;
    tracing::info!(
        base_url = %server.base_url(),
        organization_uuid = %server.organization_uuid(),
        now = %server.now(),
        "fake Compliance API listening"
    );
    tokio::signal::ctrl_c()
        .await
        .map_err(FakeApiError::Signal)?;
    server.shutdown().await
}

impl FakeServer {
    /// `http://127.0.0.1:PORT`, to use as the client's base URL.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// UUID of the generated organisation (for the users endpoint).
    pub fn organization_uuid(&self) -> uuid::Uuid {
        read(&self.state.dataset).organisation().uuid
    }

    /// First instant of the generated history.
    pub fn history_start(&self) -> DateTime<Utc> {
        read(&self.state.dataset).config().start
    }

    /// End of the configured history (the clock's start when not live).
    pub fn history_end(&self) -> DateTime<Utc> {
        read(&self.state.dataset).history_end()
    }

    /// The fake's current time.
    pub fn now(&self) -> DateTime<Utc> {
        self.state.now()
    }

    /// Moves the clock to `now` (records after it disappear, records before it appear).
    pub fn set_now(&self, now: DateTime<Utc>) {
        self.state.clock.set(now);
        self.state.refresh();
    }

    /// Moves the clock forward (or back, with a negative duration).
    pub fn advance(&self, by: Duration) {
        self.state.clock.advance(by);
        self.state.refresh();
    }

    /// Replaces the faults in force; their counters restart.
    pub fn set_faults(&self, faults: FaultConfig) -> Result<(), FakeApiError> {
        faults.validate()?;
        *lock(&self.state.faults) = FaultState::new(faults);
        Ok(())
    }

    /// Switches every fault off.
    pub fn clear_faults(&self) {
        *lock(&self.state.faults) = FaultState::new(FaultConfig::default());
    }

    /// The faults in force.
    pub fn faults(&self) -> FaultConfig {
        lock(&self.state.faults).config().clone()
    }

    /// Counters of the requests served so far.
    pub fn stats(&self) -> Stats {
        lock(&self.state.stats).snapshot()
    }

    pub fn reset_stats(&self) {
        lock(&self.state.stats).reset();
    }

    /// Ground truth of `[from, to)` as of the fake's `now` (see [`Manifest`]).
    pub fn manifest(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Manifest {
        self.state.refresh();
        let now = self.state.now();
        let faults = self.faults();
        let data = read(&self.state.dataset);
        manifest(&data, now, &faults, from, to)
    }

    /// Stops accepting requests and waits for open ones to finish.
    pub async fn shutdown(mut self) -> Result<(), FakeApiError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task
                .await
                .map_err(|e| FakeApiError::Serve(std::io::Error::other(e)))?
                .map_err(FakeApiError::Serve),
            None => Ok(()),
        }
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
