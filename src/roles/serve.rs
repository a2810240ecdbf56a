//! `logwarden serve` and the single-machine `logwarden run`: the HTTP API on its own, or the
//! API, the scheduler and one worker in one process on the configured database.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::http::{self, ApiState};
use crate::roles::scheduler::Scheduler;
use crate::roles::worker::Worker;

/// The HTTP API running in the background.
pub struct RunningServer {
    pub addr: SocketAddr,
    task: JoinHandle<std::io::Result<()>>,
}

impl RunningServer {
    /// Binds `listen` and serves the API on `app` until `shutdown`, then finishes the
    /// requests in flight.
    pub async fn start(
        app: &App,
        listen: &str,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Self> {
        let listener = http::bind(listen).await?;
        let addr = listener.local_addr()?;
        let extra = http::host::parse_allowed_hosts(&app.services.settings.allowed_hosts)
            .map_err(|err| anyhow::anyhow!("invalid allowed_hosts: {err}"))?;
        let hosts = std::sync::Arc::new(http::host::AllowedHosts::new(addr, &extra));
        // Outermost: a request for another host reaches nothing else.
        let router = http::router(ApiState::new(app)).layer(axum::middleware::from_fn_with_state(
            hosts,
            http::host::check,
        ));
        let task = tokio::spawn(http::serve(listener, router, shutdown.cancelled_owned()));
        tracing::info!(%addr, "HTTP API listening");
        Ok(Self { addr, task })
    }

    /// The address to open, e.g. `http://127.0.0.1:8080`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The lines that tell a person where the server is.
    pub fn announce(&self) {
        let url = self.url();
        eprintln!(
            "logwarden API at {url}/api/v1 — open {url}/api/v1/openapi.json for the reference"
        );
        eprintln!("health: {url}/healthz, {url}/readyz; metrics: {url}/metrics");
        eprintln!("dashboard: {url}/ (log in with an API token)");
    }

    /// Waits until the server has stopped.
    pub async fn wait(self) -> anyhow::Result<()> {
        self.task.await??;
        Ok(())
    }
}

/// How `run` shapes its worker and scheduler.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub listen: String,
    /// The data plane the one worker consumes.
    pub data_plane: String,
    pub concurrency: usize,
    pub pump_every: Duration,
}

/// The parts of `run` in the background: the API, the scheduler and one worker.
pub struct Running {
    pub server: RunningServer,
    scheduler: JoinHandle<anyhow::Result<()>>,
    worker: JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Starts the API, the scheduler and one worker on `app`. On the in-process queue the
    /// jobs this process was running when it last stopped are taken over at once.
    pub async fn start(
        app: &App,
        options: &RunOptions,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Self> {
        logwarden_jobs::payload::DataPlaneName::parse(&options.data_plane)
            .map_err(|err| anyhow::anyhow!("{err}"))?;
        let server = RunningServer::start(app, &options.listen, shutdown.clone()).await?;
        let scheduler = Scheduler::new(app.services.clone(), app.transport.clone());
        if app.transport.redis().is_none() {
            let recovered = scheduler.recover_embedded().await?;
            if recovered > 0 {
                tracing::info!(recovered, "resumed jobs that were running at the last stop");
            }
        }
        let name = format!(
            "run-{}-{}",
            std::process::id(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let worker = Worker::new(app, name, shutdown.clone());
        let (plane, concurrency) = (options.data_plane.clone(), options.concurrency);
        let worker = tokio::spawn(async move { worker.run(&plane, concurrency).await });
        let pump_every = options.pump_every;
        let scheduler =
            tokio::spawn(async move { scheduler.run(pump_every, shutdown.clone()).await });
        Ok(Self {
            server,
            scheduler,
            worker,
        })
    }

    /// Waits until every part has stopped; the first failure is the result.
    pub async fn wait(self) -> anyhow::Result<()> {
        let server = self.server.wait().await;
        let scheduler = self.scheduler.await?;
        let worker = self.worker.await?;
        server.and(scheduler).and(worker)
    }
}
