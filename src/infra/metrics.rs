//! The process's own Prometheus metrics: HTTP requests by route and status, Compliance API
//! requests by endpoint (its path template) and status, rate-limit waits, policy evaluation
//! time, and the jobs this process's worker ran and the events they stored. The
//! fleet-wide figures (jobs, queue depth, events) come from the database at scrape time;
//! see `http::metrics`. Rendered in the Prometheus text exposition format.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use logwarden_compliance::{RequestGate, ResponseMeta};

/// Upper bounds (seconds) of the histogram buckets.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0,
];

/// A Prometheus histogram of durations.
#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (bound, count) in BUCKETS.iter().zip(self.counts.iter_mut()) {
            if seconds <= *bound {
                *count += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }

    fn render(&self, out: &mut String, name: &str) {
        for (bound, count) in BUCKETS.iter().zip(self.counts) {
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {count}");
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum {}", self.sum);
        let _ = writeln!(out, "{name}_count {}", self.count);
    }
}

#[derive(Debug, Default)]
struct Inner {
    http: BTreeMap<(String, String, u16), u64>,
    api: BTreeMap<(String, u16), u64>,
    rate_limit_wait: Histogram,
    policy_evaluation: Histogram,
    worker_jobs: BTreeMap<(String, &'static str), u64>,
    worker_events: u64,
}

/// The process's counters; one per process ([`global`]).
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

static GLOBAL: LazyLock<Arc<Metrics>> = LazyLock::new(|| Arc::new(Metrics::default()));

/// The process's metrics.
pub fn global() -> Arc<Metrics> {
    GLOBAL.clone()
}

/// A label value with `\`, `"` and newlines escaped.
pub fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut inner)
    }

    pub fn http_request(&self, method: &str, route: &str, status: u16) {
        self.with(|inner| {
            *inner
                .http
                .entry((method.to_owned(), route.to_owned(), status))
                .or_default() += 1;
        });
    }

    pub fn api_response(&self, endpoint: &str, status: u16) {
        self.with(|inner| *inner.api.entry((endpoint.to_owned(), status)).or_default() += 1);
    }

    /// One job delivery this process's worker handled, by job kind and how it ended.
    pub fn worker_job(&self, kind: &str, outcome: &'static str) {
        self.with(|inner| {
            *inner
                .worker_jobs
                .entry((kind.to_owned(), outcome))
                .or_default() += 1;
        });
    }

    /// Prompt events stored by a job this process's worker finished.
    pub fn worker_events_ingested(&self, events: u64) {
        self.with(|inner| inner.worker_events += events);
    }

    pub fn rate_limit_wait(&self, waited: Duration) {
        self.with(|inner| inner.rate_limit_wait.observe(waited.as_secs_f64()));
    }

    pub fn policy_evaluation(&self, took: Duration) {
        self.with(|inner| inner.policy_evaluation.observe(took.as_secs_f64()));
    }

    /// Appends this process's metrics in the text format.
    pub fn render(&self, out: &mut String) {
        self.with(|inner| {
            out.push_str("# HELP logwarden_http_requests_total HTTP requests served, by route and status.\n");
            out.push_str("# TYPE logwarden_http_requests_total counter\n");
            for ((method, route, status), count) in &inner.http {
                let _ = writeln!(
                    out,
                    "logwarden_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{status}\"}} {count}",
                    label(method),
                    label(route)
                );
            }
            out.push_str("# HELP logwarden_compliance_api_requests_total Compliance API responses received by this process, by endpoint and status.\n");
            out.push_str("# TYPE logwarden_compliance_api_requests_total counter\n");
            for ((endpoint, status), count) in &inner.api {
                let _ = writeln!(
                    out,
                    "logwarden_compliance_api_requests_total{{endpoint=\"{}\",status=\"{status}\"}} {count}",
                    label(endpoint)
                );
            }
            out.push_str("# HELP logwarden_rate_limit_wait_seconds Time this process's Compliance API requests waited for the rate budget.\n");
            out.push_str("# TYPE logwarden_rate_limit_wait_seconds histogram\n");
            inner
                .rate_limit_wait
                .render(out, "logwarden_rate_limit_wait_seconds");
            out.push_str("# HELP logwarden_policy_evaluation_seconds Time to evaluate one event against its policy set.\n");
            out.push_str("# TYPE logwarden_policy_evaluation_seconds histogram\n");
            inner
                .policy_evaluation
                .render(out, "logwarden_policy_evaluation_seconds");
            out.push_str("# HELP logwarden_worker_jobs_total Job deliveries this process's worker handled, by kind and outcome.\n");
            out.push_str("# TYPE logwarden_worker_jobs_total counter\n");
            for ((kind, outcome), count) in &inner.worker_jobs {
                let _ = writeln!(
                    out,
                    "logwarden_worker_jobs_total{{kind=\"{}\",outcome=\"{outcome}\"}} {count}",
                    label(kind)
                );
            }
            out.push_str("# HELP logwarden_worker_events_ingested_total Prompt events stored by the jobs this process's worker finished.\n");
            out.push_str("# TYPE logwarden_worker_events_ingested_total counter\n");
            let _ = writeln!(
                out,
                "logwarden_worker_events_ingested_total {}",
                inner.worker_events
            );
        });
    }
}

/// A request gate that records its waits and every response into the metrics, then defers
/// to the real gate.
pub struct MeteredGate {
    pub inner: Arc<dyn RequestGate>,
    pub metrics: Arc<Metrics>,
}

impl RequestGate for MeteredGate {
    fn acquire(&self) -> futures::future::BoxFuture<'_, ()> {
        Box::pin(async move {
            let started = Instant::now();
            self.inner.acquire().await;
            self.metrics.rate_limit_wait(started.elapsed());
        })
    }

    fn observe(&self, meta: &ResponseMeta) {
        // The path template: a raw path would make one series per chat id.
        self.metrics.api_response(
            &logwarden_compliance::endpoint_template(&meta.endpoint),
            meta.status,
        );
        self.inner.observe(meta);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_counts_each_value_in_every_bucket_at_or_above_it() {
        let metrics = Metrics::default();
        metrics.policy_evaluation(Duration::from_millis(2));
        metrics.policy_evaluation(Duration::from_secs(2));
        metrics.http_request("GET", "/api/v1/jobs", 200);
        metrics.worker_job("sync", "succeeded");
        metrics.worker_job("sync", "succeeded");
        metrics.worker_events_ingested(7);
        let mut out = String::new();
        metrics.render(&mut out);
        assert!(out.contains("logwarden_policy_evaluation_seconds_bucket{le=\"0.005\"} 1"));
        assert!(out.contains("logwarden_policy_evaluation_seconds_bucket{le=\"5\"} 2"));
        assert!(out.contains("logwarden_policy_evaluation_seconds_count 2"));
        assert!(out.contains(
            "logwarden_http_requests_total{method=\"GET\",route=\"/api/v1/jobs\",status=\"200\"} 1"
        ));
        assert!(out.contains("logwarden_worker_jobs_total{kind=\"sync\",outcome=\"succeeded\"} 2"));
        assert!(out.contains("logwarden_worker_events_ingested_total 7"));
        assert_eq!(label("a\"b\\c"), "a\\\"b\\\\c");
    }
}
