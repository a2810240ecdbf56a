//! HTTP client for the Compliance API: authentication headers, retries with the documented
//! backoff rules, a pluggable fleet-wide rate-limit gate, rate-limit header tracking, request
//! counters, and one method per endpoint logwarden reads.
//!
//! Retry rules (all durations come from [`RetryPolicy`]):
//! - 429: wait `retry-after` (or `retry-after-ms`) exactly, else back off from
//!   `initial_backoff` doubling to `max_backoff`; the same request (same cursor) is re-sent.
//! - 408, 5xx without `x-should-retry: false`, 529, connection errors and timeouts: exponential
//!   backoff with full jitter.
//! - A 2xx body that is truncated or not JSON at all: retried at most
//!   `max_malformed_retries` times, since a cut connection is transient but a server that
//!   always emits broken JSON is not. Well-formed JSON of the wrong shape is never retried.
//! - 400, 401, 403, 404 and a 500 with `x-should-retry: false`: never retried.
//! - A `retry-after` longer than `max_retry_after` is not waited out here: the error is
//!   returned with its `retry_after` so the caller can reschedule.
//!
//! Every retry counts against `max_retries`; when they run out the last error is returned and
//! the caller's cursor is where it was, so a job can retry later without skipping a page.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use rand::Rng;
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, USER_AGENT};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use url::Url;

use super::error::{error_type_for_status, Error};
use super::network::{GuardedResolver, NetworkRules, RefusedHost};
use super::query::{token_pairs, ActivityQuery, ChatQuery, MessageQuery};
use super::secret::Secret;
use super::types::{
    Activity, Chat, ChatMessages, CursorPage, FileMetadata, Group, GroupMember, TokenPage, User,
};

/// Default base URL of the Compliance API.
pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
/// The `anthropic-version` header value the Compliance API documents.
pub const DEFAULT_ANTHROPIC_VERSION: &str = "2023-06-01";

/// Redirects followed within the base URL's origin before the 3xx is returned as an error.
const MAX_REDIRECTS: usize = 5;

/// The default largest response body read: 64 MiB.
pub const DEFAULT_MAX_RESPONSE_SIZE: u64 = 64 * 1024 * 1024;

/// How failed requests are retried. Tests use millisecond durations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt, across all retryable failures of one request.
    pub max_retries: u32,
    /// First backoff; doubles on each retry of the same request.
    pub initial_backoff: Duration,
    /// Backoff ceiling.
    pub max_backoff: Duration,
    /// Of those retries, how many may be spent on truncated or non-JSON 2xx bodies.
    pub max_malformed_retries: u32,
    /// Longest server-requested wait (`retry-after`) honoured in place; a longer one is
    /// returned as the error (with [`Error::retry_after`]) so the job can be rescheduled
    /// instead of holding a worker.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 8,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            max_malformed_retries: 2,
            max_retry_after: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn never() -> Self {
        Self {
            max_retries: 0,
            max_malformed_retries: 0,
            ..Self::default()
        }
    }

    /// The exponential backoff ceiling before retry number `retry` (0-based):
    /// `initial_backoff * 2^retry`, capped at `max_backoff`.
    pub fn backoff(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.min(31));
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }

    /// How long to wait before retrying `error` for the `retry`-th time (0-based).
    pub fn delay_for(&self, error: &Error, retry: u32) -> Duration {
        let jitter: f64 = rand::rng().random();
        self.delay_with_jitter(error, retry, jitter)
    }

    /// `delay_for` with the jitter fraction (0..1) supplied, so the rule is testable.
    pub(crate) fn delay_with_jitter(&self, error: &Error, retry: u32, jitter: f64) -> Duration {
        if error.is_rate_limited() {
            // The limit is a shared per-minute budget: the server's wait is exact, and without
            // it the documented fallback is plain doubling, not a random spread.
            return error.retry_after().unwrap_or_else(|| self.backoff(retry));
        }
        if let Some(wait) = error.retry_after() {
            return wait;
        }
        self.backoff(retry).mul_f64(jitter.clamp(0.0, 1.0))
    }
}

/// Everything needed to build a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `https://api.anthropic.com` in production; the fake server's address in tests. Paths
    /// are appended to it, so a base with a path prefix works.
    pub base_url: Url,
    pub api_key: Secret,
    /// Sent as `anthropic-version`.
    pub anthropic_version: String,
    /// Time allowed to establish a connection.
    pub connect_timeout: Duration,
    /// Time allowed for one attempt, from sending to the last body byte.
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
    /// Sent as `user-agent`.
    pub user_agent: String,
    /// The largest response body read, in bytes; a larger one is refused
    /// ([`Error::ResponseTooLarge`]) without holding more than this much of it.
    pub max_response_size: u64,
    /// Which hosts besides public `https` ones the key may be sent to; checked on the base
    /// URL here and on every resolved address at connect time.
    pub network: NetworkRules,
}

impl ClientConfig {
    pub fn new(base_url: Url, api_key: Secret) -> Self {
        Self {
            base_url,
            api_key,
            anthropic_version: DEFAULT_ANTHROPIC_VERSION.to_owned(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(120),
            retry: RetryPolicy::default(),
            user_agent: concat!("logwarden/", env!("CARGO_PKG_VERSION")).to_owned(),
            max_response_size: DEFAULT_MAX_RESPONSE_SIZE,
            network: NetworkRules::default(),
        }
    }

    /// `new` with the base URL given as text, e.g. from configuration.
    pub fn from_base_url(base_url: &str, api_key: Secret) -> Result<Self, Error> {
        let parsed = Url::parse(base_url).map_err(|parse_error| {
            Error::invalid(
                "base_url",
                format!("must be an http or https URL such as {DEFAULT_BASE_URL}, got {base_url:?} ({parse_error})"),
            )
        })?;
        Ok(Self::new(parsed, api_key))
    }

    fn validate(&self) -> Result<(), Error> {
        if !matches!(self.base_url.scheme(), "http" | "https") || self.base_url.cannot_be_a_base() {
            return Err(Error::invalid(
                "base_url",
                format!("must be an http or https URL, got {}", self.base_url),
            ));
        }
        self.network
            .check_scheme(&self.base_url)
            .map_err(|reason| Error::invalid("base_url", reason))?;
        // An address literal is never resolved, so the resolver cannot check it: check it here.
        let literal = match self.base_url.host() {
            Some(url::Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
            _ => None,
        };
        if let Some(ip) = literal {
            self.network
                .permits(self.base_url.scheme(), ip)
                .map_err(|reason| Error::invalid("base_url", reason))?;
        }
        if !self.base_url.username().is_empty() || self.base_url.password().is_some() {
            return Err(Error::invalid(
                "base_url",
                "must not embed credentials; the key goes in api_key",
            ));
        }
        if self.base_url.query().is_some() || self.base_url.fragment().is_some() {
            return Err(Error::invalid(
                "base_url",
                "must not have a query or fragment",
            ));
        }
        if self.max_response_size == 0 {
            return Err(Error::invalid(
                "max_response_size",
                "must be at least 1 byte",
            ));
        }
        if self.api_key.expose().trim().is_empty() {
            return Err(Error::invalid("api_key", "must not be empty"));
        }
        if self.anthropic_version.trim().is_empty() {
            return Err(Error::invalid(
                "anthropic_version",
                format!("must not be empty (the API documents {DEFAULT_ANTHROPIC_VERSION})"),
            ));
        }
        Ok(())
    }
}

/// Request-rate budget reported by the `anthropic-ratelimit-requests-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitInfo {
    /// Requests allowed per window (`-limit`).
    pub limit: Option<u64>,
    /// Requests left in the current window (`-remaining`).
    pub remaining: Option<u64>,
    /// When the full budget is restored (`-reset`, RFC 3339).
    pub reset: Option<DateTime<Utc>>,
}

impl RateLimitInfo {
    fn from_headers(headers: &HeaderMap) -> Option<Self> {
        let limit = header_str(headers, "anthropic-ratelimit-requests-limit")
            .and_then(|v| v.trim().parse().ok());
        let remaining = header_str(headers, "anthropic-ratelimit-requests-remaining")
            .and_then(|v| v.trim().parse().ok());
        let reset = header_str(headers, "anthropic-ratelimit-requests-reset")
            .and_then(|v| DateTime::parse_from_rfc3339(v.trim()).ok())
            .map(|reset| reset.with_timezone(&Utc));
        if limit.is_none() && remaining.is_none() && reset.is_none() {
            return None;
        }
        Some(Self {
            limit,
            remaining,
            reset,
        })
    }
}

/// What one HTTP response said besides its body; given to the [`RequestGate`] after every
/// response and returned with every successful call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseMeta {
    /// `GET /v1/compliance/...`, without the query.
    pub endpoint: String,
    pub status: u16,
    /// The `request-id` header, to quote to Anthropic support and keep for completeness.
    pub request_id: Option<String>,
    pub rate_limit: Option<RateLimitInfo>,
    /// `retry-after-ms` or `retry-after` (seconds, fractional, or an HTTP date).
    pub retry_after: Option<Duration>,
    /// The `x-should-retry` header.
    pub should_retry: Option<bool>,
    /// 0 for the first attempt of a request, n for its n-th retry.
    pub attempt: u32,
}

impl ResponseMeta {
    fn from_headers(endpoint: &str, status: u16, headers: &HeaderMap, attempt: u32) -> Self {
        Self {
            endpoint: endpoint.to_owned(),
            status,
            request_id: header_str(headers, "request-id").map(str::to_owned),
            rate_limit: RateLimitInfo::from_headers(headers),
            retry_after: parse_retry_after(headers, Utc::now()),
            should_retry: header_str(headers, "x-should-retry").and_then(|v| {
                match v.trim().to_ascii_lowercase().as_str() {
                    "true" => Some(true),
                    "false" => Some(false),
                    _ => None,
                }
            }),
            attempt,
        }
    }
}

/// A successful response: the parsed body and its metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiResponse<T> {
    pub body: T,
    pub meta: ResponseMeta,
}

impl<T> ApiResponse<T> {
    pub fn into_body(self) -> T {
        self.body
    }

    pub fn request_id(&self) -> Option<&str> {
        self.meta.request_id.as_deref()
    }
}

/// A fleet-wide rate limiter in front of the API, implemented elsewhere (e.g. on Redis).
///
/// `acquire` is awaited before every HTTP attempt, retries included; `observe` is called with
/// every response received (success or error, not transport failures) so the gate can follow
/// `anthropic-ratelimit-*` and `retry-after`.
pub trait RequestGate: Send + Sync {
    fn acquire(&self) -> BoxFuture<'_, ()>;
    fn observe(&self, meta: &ResponseMeta);
}

/// A snapshot of a client's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// HTTP attempts sent, retries included.
    pub requests: u64,
    /// Attempts beyond the first of each request.
    pub retries: u64,
    /// 429 responses.
    pub rate_limited: u64,
    /// 5xx responses (including 529).
    pub server_errors: u64,
    /// Attempts that got no response (connection errors, timeouts, broken bodies).
    pub transport_errors: u64,
    /// 2xx responses whose body did not parse.
    pub malformed_responses: u64,
    /// Total time slept between attempts, in milliseconds.
    pub backoff_millis: u64,
}

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    retries: AtomicU64,
    rate_limited: AtomicU64,
    server_errors: AtomicU64,
    transport_errors: AtomicU64,
    malformed_responses: AtomicU64,
    backoff_millis: AtomicU64,
}

impl Counters {
    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) -> ClientStats {
        ClientStats {
            requests: self.requests.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            rate_limited: self.rate_limited.load(Ordering::Relaxed),
            server_errors: self.server_errors.load(Ordering::Relaxed),
            transport_errors: self.transport_errors.load(Ordering::Relaxed),
            malformed_responses: self.malformed_responses.load(Ordering::Relaxed),
            backoff_millis: self.backoff_millis.load(Ordering::Relaxed),
        }
    }
}

struct Shared {
    http: reqwest::Client,
    config: ClientConfig,
    api_key_header: HeaderValue,
    version_header: HeaderValue,
    last_rate_limit: Mutex<Option<RateLimitInfo>>,
}

/// Compliance API client. Cloning is cheap and clones share the connection pool, the gate,
/// the last rate-limit info and the counters (see [`Client::with_own_stats`]).
#[derive(Clone)]
pub struct Client {
    shared: Arc<Shared>,
    gate: Option<Arc<dyn RequestGate>>,
    counters: Arc<Counters>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.shared.config)
            .field("gate", &self.gate.is_some())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Validates the configuration and builds the HTTP client.
    pub fn new(config: ClientConfig) -> Result<Self, Error> {
        config.validate()?;
        let mut api_key_header = HeaderValue::from_str(config.api_key.expose())
            .map_err(|_| Error::invalid("api_key", "must contain only visible ASCII characters"))?;
        api_key_header.set_sensitive(true);
        let version_header = HeaderValue::from_str(&config.anthropic_version).map_err(|_| {
            Error::invalid(
                "anthropic_version",
                "must contain only visible ASCII characters",
            )
        })?;
        let user_agent = HeaderValue::from_str(&config.user_agent).map_err(|_| {
            Error::invalid("user_agent", "must contain only visible ASCII characters")
        })?;
        let mut default_headers = HeaderMap::new();
        default_headers.insert(USER_AGENT, user_agent);
        default_headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        // reqwest drops only the standard credential headers on a redirect to another host,
        // and the key travels in `x-api-key`: a redirect is followed only within the base
        // URL's origin (scheme, host and port); any other is an error.
        let origin = config.base_url.origin();
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS || attempt.url().origin() != origin {
                attempt.stop()
            } else {
                attempt.follow()
            }
        });
        let resolver = GuardedResolver {
            rules: config.network,
            scheme: config.base_url.scheme().to_owned(),
        };
        let http = reqwest::Client::builder()
            .redirect(redirects)
            .dns_resolver(Arc::new(resolver))
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .default_headers(default_headers)
            .build()
            .map_err(|source| Error::Transport {
                endpoint: "client setup".to_owned(),
                timeout: false,
                message: format!("could not build the HTTP client: {}", error_chain(&source)),
            })?;
        Ok(Self {
            shared: Arc::new(Shared {
                http,
                config,
                api_key_header,
                version_header,
                last_rate_limit: Mutex::new(None),
            }),
            gate: None,
            counters: Arc::new(Counters::default()),
        })
    }

    /// Routes every attempt through `gate` (a fleet-wide rate limiter).
    pub fn with_gate(mut self, gate: Arc<dyn RequestGate>) -> Self {
        self.gate = Some(gate);
        self
    }

    /// A clone whose counters start at zero, so one job can record its own requests while
    /// sharing the connection pool, gate and rate-limit view.
    pub fn with_own_stats(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            gate: self.gate.clone(),
            counters: Arc::new(Counters::default()),
        }
    }

    pub fn config(&self) -> &ClientConfig {
        &self.shared.config
    }

    /// Counters of this client (and the clones sharing them).
    pub fn stats(&self) -> ClientStats {
        self.counters.snapshot()
    }

    /// The most recent rate-limit headers seen by any clone of this client.
    pub fn last_rate_limit(&self) -> Option<RateLimitInfo> {
        *self
            .shared
            .last_rate_limit
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    // -----------------------------------------------------------------------------------------
    // Single pages
    // -----------------------------------------------------------------------------------------

    /// `GET /v1/compliance/activities`: one page of the Activity Feed.
    pub async fn list_activities(
        &self,
        query: &ActivityQuery,
    ) -> Result<ApiResponse<CursorPage<Activity>>, Error> {
        let pairs = query.to_query_pairs()?;
        self.get_json(ACTIVITIES_PATH, &pairs).await
    }

    /// `GET /v1/compliance/apps/chats`: one page of chat metadata.
    pub async fn list_chats(
        &self,
        query: &ChatQuery,
    ) -> Result<ApiResponse<CursorPage<Chat>>, Error> {
        let pairs = query.to_query_pairs()?;
        self.get_json(CHATS_PATH, &pairs).await
    }

    /// `GET /v1/compliance/apps/chats/{chat_id}/messages`: the chat and (a page of) its
    /// messages.
    pub async fn chat_messages(
        &self,
        chat_id: &str,
        query: &MessageQuery,
    ) -> Result<ApiResponse<ChatMessages>, Error> {
        let pairs = query.to_query_pairs()?;
        let path = messages_path(chat_id)?;
        self.get_json(&path, &pairs).await
    }

    /// `GET /v1/compliance/organizations/{org_uuid}/users`: one page of members (`limit` 1–1000,
    /// API default 500; `page` is a previous response's `next_page`).
    pub async fn list_users(
        &self,
        org_uuid: &str,
        limit: Option<u32>,
        page: Option<&str>,
    ) -> Result<ApiResponse<TokenPage<User>>, Error> {
        let pairs = token_pairs(limit, page)?;
        let path = users_path(org_uuid)?;
        self.get_json(&path, &pairs).await
    }

    /// `GET /v1/compliance/groups`: one page of RBAC groups.
    pub async fn list_groups(
        &self,
        limit: Option<u32>,
        page: Option<&str>,
    ) -> Result<ApiResponse<TokenPage<Group>>, Error> {
        let pairs = token_pairs(limit, page)?;
        self.get_json(GROUPS_PATH, &pairs).await
    }

    /// `GET /v1/compliance/groups/{group_id}/members`: one page of a group's members.
    pub async fn group_members(
        &self,
        group_id: &str,
        limit: Option<u32>,
        page: Option<&str>,
    ) -> Result<ApiResponse<TokenPage<GroupMember>>, Error> {
        let pairs = token_pairs(limit, page)?;
        let path = members_path(group_id)?;
        self.get_json(&path, &pairs).await
    }

    /// `GET /v1/compliance/apps/chats/files/{file_id}`: a file's metadata (not its content).
    pub async fn file_metadata(&self, file_id: &str) -> Result<ApiResponse<FileMetadata>, Error> {
        let path = [
            "v1",
            "compliance",
            "apps",
            "chats",
            "files",
            path_id("file_id", file_id)?,
        ];
        let no_query: [(String, String); 0] = [];
        self.get_json(&path, &no_query).await
    }

    // -----------------------------------------------------------------------------------------
    // Transport
    // -----------------------------------------------------------------------------------------

    /// Sends a GET with the retry rules of this module and parses a 2xx body as `T`.
    pub(crate) async fn get_json<T: DeserializeOwned, S: AsRef<str>>(
        &self,
        path: &[S],
        pairs: &[(String, String)],
    ) -> Result<ApiResponse<T>, Error> {
        let url = self.url_for(path);
        let endpoint = format!("GET {}", url.path());
        let policy = &self.shared.config.retry;
        let mut retries = 0u32;
        let mut malformed_retries = 0u32;
        loop {
            let error = match self.attempt(&url, &endpoint, pairs, retries).await {
                Ok(response) => return Ok(response),
                Err(error) => error,
            };
            let malformed = matches!(error, Error::MalformedResponse { .. });
            let wait_too_long = error
                .retry_after()
                .is_some_and(|wait| wait > policy.max_retry_after);
            let may_retry = error.is_retryable()
                && !wait_too_long
                && retries < policy.max_retries
                && (!malformed || malformed_retries < policy.max_malformed_retries);
            if !may_retry {
                return Err(error);
            }
            if malformed {
                malformed_retries += 1;
            }
            let delay = policy.delay_for(&error, retries);
            Counters::bump(&self.counters.retries);
            let millis = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
            self.counters
                .backoff_millis
                .fetch_add(millis, Ordering::Relaxed);
            tokio::time::sleep(delay).await;
            retries += 1;
        }
    }

    async fn attempt<T: DeserializeOwned>(
        &self,
        url: &Url,
        endpoint: &str,
        pairs: &[(String, String)],
        attempt: u32,
    ) -> Result<ApiResponse<T>, Error> {
        if let Some(gate) = &self.gate {
            gate.acquire().await;
        }
        Counters::bump(&self.counters.requests);
        let sent = self
            .shared
            .http
            .get(url.clone())
            .query(pairs)
            .header("x-api-key", self.shared.api_key_header.clone())
            .header("anthropic-version", self.shared.version_header.clone())
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(source) => return Err(self.transport_error(endpoint, source)),
        };

        let status = response.status().as_u16();
        let meta = ResponseMeta::from_headers(endpoint, status, response.headers(), attempt);
        if status == 429 {
            Counters::bump(&self.counters.rate_limited);
        }
        if status >= 500 {
            Counters::bump(&self.counters.server_errors);
        }
        if let Some(info) = meta.rate_limit {
            *self
                .shared
                .last_rate_limit
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(info);
        }
        if let Some(gate) = &self.gate {
            gate.observe(&meta);
        }

        let body = self.read_body(response, &meta).await?;
        if (300..400).contains(&status) {
            return Err(Error::Api {
                endpoint: meta.endpoint,
                status,
                error_type: error_type_for_status(status).to_owned(),
                message: "redirected outside the base URL's origin (or too many times); not followed, since the API key goes only to the base URL".to_owned(),
                request_id: meta.request_id,
                retry_after: None,
                should_retry: Some(false),
            });
        }
        if !(200..300).contains(&status) {
            return Err(self.api_error(meta, &body));
        }
        match serde_json::from_slice::<T>(&body) {
            Ok(parsed) => Ok(ApiResponse { body: parsed, meta }),
            Err(parse_error) => {
                Counters::bump(&self.counters.malformed_responses);
                Err(Error::MalformedResponse {
                    endpoint: meta.endpoint,
                    status,
                    request_id: meta.request_id,
                    transient: !matches!(parse_error.classify(), serde_json::error::Category::Data),
                    detail: format!("{parse_error} ({} bytes)", body.len()),
                })
            }
        }
    }

    /// Reads a body of at most `max_response_size` bytes: a larger `Content-Length` is refused
    /// before reading, and a body without one is refused as soon as it passes the limit.
    async fn read_body(
        &self,
        mut response: reqwest::Response,
        meta: &ResponseMeta,
    ) -> Result<Vec<u8>, Error> {
        let limit = self.shared.config.max_response_size;
        let too_large = |declared: Option<u64>| Error::ResponseTooLarge {
            endpoint: meta.endpoint.clone(),
            status: meta.status,
            request_id: meta.request_id.clone(),
            limit,
            declared,
        };
        let declared = response.content_length();
        if let Some(length) = declared.filter(|length| *length > limit) {
            return Err(too_large(Some(length)));
        }
        let capacity = declared.unwrap_or(0).min(limit);
        let mut body = Vec::with_capacity(usize::try_from(capacity).unwrap_or(0));
        loop {
            let chunk = match response.chunk().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => return Ok(body),
                Err(source) => return Err(self.transport_error(&meta.endpoint, source)),
            };
            if (body.len() + chunk.len()) as u64 > limit {
                return Err(too_large(declared));
            }
            body.extend_from_slice(&chunk);
        }
    }

    fn transport_error(&self, endpoint: &str, source: reqwest::Error) -> Error {
        // A host resolving only to refused addresses is the configuration's fault, not the
        // network's: not retried.
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&source);
        while let Some(error) = cause {
            if let Some(refused) = error.downcast_ref::<RefusedHost>() {
                return Error::invalid("base_url", refused.message.clone());
            }
            cause = error.source();
        }
        Counters::bump(&self.counters.transport_errors);
        Error::Transport {
            endpoint: endpoint.to_owned(),
            timeout: source.is_timeout(),
            message: self.redact(&error_chain(&source.without_url())),
        }
    }

    fn api_error(&self, meta: ResponseMeta, body: &[u8]) -> Error {
        let parsed: Option<ErrorBody> = serde_json::from_slice(body).ok();
        let detail = parsed.as_ref().and_then(|body| body.error.as_ref());
        let error_type = detail
            .and_then(|detail| detail.error_type.clone())
            .unwrap_or_else(|| error_type_for_status(meta.status).to_owned());
        let message = detail
            .and_then(|detail| detail.message.clone())
            .unwrap_or_else(|| body_snippet(body, meta.status));
        let request_id = meta
            .request_id
            .or_else(|| parsed.and_then(|body| body.request_id));
        Error::Api {
            endpoint: meta.endpoint,
            status: meta.status,
            error_type: self.redact(&error_type),
            message: self.redact(&one_line(&message)),
            request_id,
            retry_after: meta.retry_after,
            should_retry: meta.should_retry,
        }
    }

    /// Removes the API key from text that came from elsewhere (a server echoing the header).
    fn redact(&self, text: &str) -> String {
        let key = self.shared.config.api_key.expose();
        if key.is_empty() {
            text.to_owned()
        } else {
            text.replace(key, "***")
        }
    }

    fn url_for<S: AsRef<str>>(&self, path: &[S]) -> Url {
        let mut url = self.shared.config.base_url.clone();
        // A base URL that cannot hold a path was rejected in `Client::new`.
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty();
            segments.extend(path.iter().map(AsRef::as_ref));
        }
        url
    }
}

pub(crate) const ACTIVITIES_PATH: &[&str] = &["v1", "compliance", "activities"];
pub(crate) const CHATS_PATH: &[&str] = &["v1", "compliance", "apps", "chats"];
pub(crate) const GROUPS_PATH: &[&str] = &["v1", "compliance", "groups"];

pub(crate) fn owned(path: &[&str]) -> Vec<String> {
    path.iter().map(|segment| (*segment).to_owned()).collect()
}

/// An id placed in a URL path. `.` and `..` would be dropped by URL normalisation and send
/// the request to another endpoint, so they are refused along with empty ids.
fn path_id<'a>(field: &str, id: &'a str) -> Result<&'a str, Error> {
    if id.is_empty() || id == "." || id == ".." {
        return Err(Error::invalid(
            field,
            format!("must be a non-empty API id, got {id:?}"),
        ));
    }
    Ok(id)
}

pub(crate) fn messages_path(chat_id: &str) -> Result<Vec<String>, Error> {
    let chat_id = path_id("chat_id", chat_id)?;
    Ok(owned(&[
        "v1",
        "compliance",
        "apps",
        "chats",
        chat_id,
        "messages",
    ]))
}

pub(crate) fn users_path(org_uuid: &str) -> Result<Vec<String>, Error> {
    let org_uuid = path_id("org_uuid", org_uuid)?;
    Ok(owned(&[
        "v1",
        "compliance",
        "organizations",
        org_uuid,
        "users",
    ]))
}

pub(crate) fn members_path(group_id: &str) -> Result<Vec<String>, Error> {
    let group_id = path_id("group_id", group_id)?;
    Ok(owned(&["v1", "compliance", "groups", group_id, "members"]))
}

/// The path template of an endpoint as [`ResponseMeta::endpoint`] names it, for labels that
/// must not carry ids: `GET /v1/compliance/apps/chats/{chat_id}/messages` for any chat. A
/// base URL's own path prefix is left out; a path this client does not call is `other`.
pub fn endpoint_template(endpoint: &str) -> String {
    let Some((method, path)) = endpoint.split_once(' ').filter(|(method, path)| {
        method.bytes().all(|b| b.is_ascii_uppercase()) && path.starts_with('/')
    }) else {
        return "other".to_owned();
    };
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let Some(start) = segments
        .windows(2)
        .position(|pair| pair == ["v1", "compliance"])
    else {
        return format!("{method} other");
    };
    let template = match &segments[start + 2..] {
        ["activities"] => "/v1/compliance/activities",
        ["apps", "chats"] => "/v1/compliance/apps/chats",
        ["apps", "chats", "files", _] => "/v1/compliance/apps/chats/files/{file_id}",
        ["apps", "chats", _, "messages"] => "/v1/compliance/apps/chats/{chat_id}/messages",
        ["organizations", _, "users"] => "/v1/compliance/organizations/{org_uuid}/users",
        ["groups"] => "/v1/compliance/groups",
        ["groups", _, "members"] => "/v1/compliance/groups/{group_id}/members",
        _ => "other",
    };
    format!("{method} {template}")
}

fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// `retry-after-ms` (milliseconds) wins over `retry-after`, which is seconds (possibly
/// fractional) or an HTTP date. Negative, non-finite or past values mean "no wait".
fn parse_retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    if let Some(millis) = header_str(headers, "retry-after-ms")
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite())
    {
        return Some(Duration::from_secs_f64(millis.max(0.0) / 1000.0));
    }
    let value = header_str(headers, "retry-after")?.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return seconds
            .is_finite()
            .then(|| Duration::from_secs_f64(seconds.max(0.0)));
    }
    let date = DateTime::parse_from_rfc2822(value).ok()?;
    let wait = date.with_timezone(&Utc) - now;
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

/// The standard Anthropic error body; every field optional so an odd body still yields
/// whatever it does carry.
#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    error: Option<ErrorDetail>,
    #[serde(default)]
    request_id: Option<String>,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(rename = "type", default)]
    error_type: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

const SNIPPET_CHARS: usize = 200;

/// The start of a non-JSON error body (a proxy's HTML page, say), or the status reason.
fn body_snippet(body: &[u8], status: u16) -> String {
    let text = String::from_utf8_lossy(body);
    let text = one_line(&text);
    if text.is_empty() {
        return reqwest::StatusCode::from_u16(status)
            .ok()
            .and_then(|code| code.canonical_reason())
            .unwrap_or("no error body")
            .to_owned();
    }
    let mut snippet: String = text.chars().take(SNIPPET_CHARS).collect();
    if text.chars().count() > SNIPPET_CHARS {
        snippet.push('…');
    }
    snippet
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// An error and its sources as one line, since reqwest's own message omits the cause.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    one_line(&text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scripted_server::{Scripted, ScriptedServer};
    use serde_json::json;
    use std::time::Instant;

    const KEY: &str = "sk-ant-api01-test-SECRET-value-9f3a";

    fn fast_policy() -> RetryPolicy {
        RetryPolicy {
            max_retries: 4,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(8),
            max_malformed_retries: 2,
            max_retry_after: Duration::from_secs(2),
        }
    }

    fn client_for(server: &ScriptedServer, retry: RetryPolicy) -> Client {
        let mut config = ClientConfig::new(server.base_url.clone(), Secret::new(KEY));
        config.network.allow_loopback_http = true;
        config.retry = retry;
        config.request_timeout = Duration::from_secs(5);
        Client::new(config).expect("client")
    }

    fn activity_page(ids: &[&str], has_more: bool) -> Scripted {
        let data: Vec<_> = ids
            .iter()
            .map(|id| {
                json!({
                    "id": id, "created_at": "2026-04-10T08:09:10Z", "organization_id": null,
                    "organization_uuid": null, "type": "sso_login_succeeded",
                    "actor": {"type": "user_actor", "email_address": "a@example.com", "user_id": "user_1",
                              "ip_address": "192.0.2.1", "user_agent": "ua"}
                })
            })
            .collect();
        Scripted::json(
            200,
            json!({"data": data, "has_more": has_more,
                   "first_id": ids.first(), "last_id": ids.last()}),
        )
    }

    #[test]
    fn endpoint_templates_name_the_path_parameters_and_never_an_id() {
        for (endpoint, template) in [
            (
                "GET /v1/compliance/activities",
                "GET /v1/compliance/activities",
            ),
            (
                "GET /v1/compliance/apps/chats/chat_01abc/messages",
                "GET /v1/compliance/apps/chats/{chat_id}/messages",
            ),
            (
                "GET /prefix/v1/compliance/apps/chats/files/file_9",
                "GET /v1/compliance/apps/chats/files/{file_id}",
            ),
            (
                "GET /v1/compliance/organizations/5f1c-org/users",
                "GET /v1/compliance/organizations/{org_uuid}/users",
            ),
            (
                "GET /v1/compliance/groups/grp_1/members",
                "GET /v1/compliance/groups/{group_id}/members",
            ),
            (
                "GET /v1/compliance/apps/chats",
                "GET /v1/compliance/apps/chats",
            ),
            ("GET /v1/compliance/unknown/abc", "GET other"),
            ("client setup", "other"),
        ] {
            assert_eq!(endpoint_template(endpoint), template, "{endpoint}");
        }
    }
    #[derive(Default)]
    struct RecordingGate {
        events: Mutex<Vec<String>>,
    }

    impl RequestGate for RecordingGate {
        fn acquire(&self) -> BoxFuture<'_, ()> {
            Box::pin(async move {
                self.events
                    .lock()
                    .expect("events")
                    .push("acquire".to_owned());
            })
        }
        fn observe(&self, meta: &ResponseMeta) {
            self.events
                .lock()
                .expect("events")
                .push(format!("observe {} attempt {}", meta.status, meta.attempt));
        }
    }

    #[tokio::test]
    async fn every_request_sends_the_api_key_and_version_headers() {
        let server = ScriptedServer::start(vec![activity_page(&["activity_1"], false)]).await;
        let client = client_for(&server, fast_policy());

        let page = client
            .list_activities(&ActivityQuery::new().limit(10))
            .await
            .expect("page");

        let received = server.received();
        assert_eq!(received.len(), 1);
        let request = &received[0];
        assert_eq!(request.path, "/v1/compliance/activities");
        assert_eq!(request.headers["x-api-key"], KEY);
        assert_eq!(
            request.headers["anthropic-version"],
            DEFAULT_ANTHROPIC_VERSION
        );
        assert_eq!(request.param("limit"), Some("10"));
        assert_eq!(page.body.data[0].id, "activity_1");
        assert_eq!(page.request_id(), Some("req_001"));
    }

    #[tokio::test]
    async fn a_redirect_is_an_error_and_the_key_never_reaches_the_host_it_names() {
        let elsewhere = ScriptedServer::start(vec![activity_page(&["activity_1"], false)]).await;
        let target = format!("{}v1/compliance/activities", elsewhere.base_url);
        let server =
            ScriptedServer::start(vec![Scripted::raw(302, "").header("location", &target)]).await;
        let client = client_for(&server, fast_policy());

        let err = client
            .list_activities(&ActivityQuery::new())
            .await
            .expect_err("a redirect is not followed");

        assert_eq!(err.status(), Some(302));
        assert!(elsewhere.received().is_empty(), "the redirect was followed");
    }

    #[tokio::test]
    async fn a_429_with_retry_after_waits_that_long_and_retries_the_same_cursor() {
        let server = ScriptedServer::start(vec![
            Scripted::error(
                429,
                "rate_limit_error",
                "Compliance API rate limit exceeded",
            )
            .header("retry-after", "0.15"),
            activity_page(&["activity_2"], false),
        ])
        .await;
        let client = client_for(&server, fast_policy());
        let started = Instant::now();

        let page = client
            .list_activities(&ActivityQuery::new().after_id("cursor_A"))
            .await
            .expect("page after retry");

        // The fallback backoff is at most 8 ms, so a 150 ms wait can only come from retry-after.
        assert!(started.elapsed() >= Duration::from_millis(150));
        let received = server.received();
        assert_eq!(received.len(), 2);
        assert!(received
            .iter()
            .all(|r| r.param("after_id") == Some("cursor_A")));
        assert_eq!(page.meta.attempt, 1);
        let stats = client.stats();
        assert_eq!(
            (stats.requests, stats.retries, stats.rate_limited),
            (2, 1, 1)
        );
        assert!(stats.backoff_millis >= 150);
    }

    #[tokio::test]
    async fn a_429_without_retry_after_backs_off_and_retries() {
        let server = ScriptedServer::start(vec![
            Scripted::error(429, "rate_limit_error", "slow down"),
            Scripted::error(429, "rate_limit_error", "slow down"),
            activity_page(&["activity_3"], false),
        ])
        .await;
        let policy = RetryPolicy {
            initial_backoff: Duration::from_millis(40),
            max_backoff: Duration::from_millis(500),
            ..fast_policy()
        };
        let client = client_for(&server, policy);
        let started = Instant::now();

        client
            .list_activities(&ActivityQuery::new())
            .await
            .expect("page after backoff");

        // Plain doubling without jitter: 40 ms then 80 ms.
        assert!(started.elapsed() >= Duration::from_millis(120));
        assert_eq!(client.stats().rate_limited, 2);
        assert_eq!(server.received().len(), 3);
    }

    #[tokio::test]
    async fn a_retry_after_beyond_the_policy_cap_is_returned_to_the_caller() {
        let server = ScriptedServer::start(vec![
            Scripted::error(429, "rate_limit_error", "slow").header("retry-after", "600")
        ])
        .await;
        let client = client_for(&server, fast_policy());

        let error = client
            .list_activities(&ActivityQuery::new())
            .await
            .expect_err("wait too long");

        assert!(error.is_retryable());
        assert_eq!(error.retry_after(), Some(Duration::from_secs(600)));
        assert_eq!(client.stats().requests, 1);
    }

    #[tokio::test]
    async fn a_529_is_retried_with_backoff() {
        let server = ScriptedServer::start(vec![
            Scripted::error(529, "overloaded_error", "Overloaded"),
            Scripted::raw(503, "<html>Service Unavailable</html>"),
            activity_page(&["activity_4"], false),
        ])
        .await;
        let client = client_for(&server, fast_policy());

        let page = client
            .list_activities(&ActivityQuery::new())
            .await
            .expect("page");

        assert_eq!(page.body.data.len(), 1);
        let stats = client.stats();
        assert_eq!(
            (stats.requests, stats.retries, stats.server_errors),
            (3, 2, 2)
        );
    }

    #[tokio::test]
    async fn a_500_with_x_should_retry_false_is_not_retried() {
        let server = ScriptedServer::start(vec![
            Scripted::error(500, "api_error", "deterministic failure")
                .header("x-should-retry", "false"),
            activity_page(&["never_reached"], false),
        ])
        .await;
        let client = client_for(&server, fast_policy());

        let error = client
            .list_activities(&ActivityQuery::new())
            .await
            .expect_err("500 should fail");

        assert_eq!(error.status(), Some(500));
        assert!(!error.is_retryable());
        assert_eq!(error.class(), "api_error");
        assert_eq!(server.received().len(), 1);
    }

    #[tokio::test]
    async fn a_500_without_x_should_retry_is_retried() {
        let server = ScriptedServer::start(vec![
            Scripted::error(500, "api_error", "transient"),
            activity_page(&["activity_5"], false),
        ])
        .await;
        let client = client_for(&server, fast_policy());

        client
            .list_activities(&ActivityQuery::new())
            .await
            .expect("page");

        assert_eq!(server.received().len(), 2);
    }

    #[tokio::test]
    async fn a_401_is_not_retried_and_reports_type_and_request_id_without_the_key() {
        let server = ScriptedServer::start(vec![Scripted::error(
            401,
            "authentication_error",
            &format!("The API key provided is invalid or has been revoked: {KEY}"),
        )])
        .await;
        let client = client_for(&server, fast_policy());

        let error = client
            .list_activities(&ActivityQuery::new())
            .await
            .expect_err("401");

        assert_eq!(error.class(), "authentication_error");
        assert_eq!(error.request_id(), Some("req_001"));
        assert!(!error.is_retryable());
        assert_eq!(server.received().len(), 1);
        let shown = error.to_string();
        assert!(!shown.contains(KEY), "{shown}");
        assert!(shown.contains("HTTP 401 authentication_error"), "{shown}");
        assert!(shown.contains("***"), "{shown}");
        assert!(!format!("{error:?}").contains(KEY));
    }

    #[tokio::test]
    async fn retries_stop_at_max_retries_and_return_the_last_error() {
        let server = ScriptedServer::start(vec![
            Scripted::error(503, "api_error", "down"),
            Scripted::error(503, "api_error", "down"),
            Scripted::error(503, "api_error", "still down"),
        ])
        .await;
        let policy = RetryPolicy {
            max_retries: 2,
            ..fast_policy()
        };
        let client = client_for(&server, policy);

        let error = client
            .list_chats(&ChatQuery::new())
            .await
            .expect_err("gives up");

        assert!(matches!(&error, Error::Api { message, .. } if message == "still down"));
        assert_eq!(client.stats().requests, 3);
    }

    #[tokio::test]
    async fn a_truncated_body_is_retried_a_few_times_then_reported_as_malformed() {
        let truncated = r#"{"data":[{"id":"activity_1","created_at":"2026-04"#;
        let server = ScriptedServer::start(vec![
            Scripted::raw(200, truncated),
            Scripted::raw(200, truncated),
            Scripted::raw(200, truncated),
            activity_page(&["never_reached"], false),
        ])
        .await;
        let client = client_for(&server, fast_policy());

        let error = client
            .list_activities(&ActivityQuery::new())
            .await
            .expect_err("malformed");

        assert!(matches!(
            error,
            Error::MalformedResponse {
                transient: true,
                status: 200,
                ..
            }
        ));
        assert_eq!(error.request_id(), Some("req_003"));
        // First attempt plus max_malformed_retries (2).
        assert_eq!(server.received().len(), 3);
        assert_eq!(client.stats().malformed_responses, 3);
    }

    #[tokio::test]
    async fn a_truncated_body_followed_by_a_good_one_succeeds() {
        let server = ScriptedServer::start(vec![
            Scripted::raw(200, r#"{"data":["#),
            activity_page(&["activity_6"], false),
        ])
        .await;
        let client = client_for(&server, fast_policy());

        let page = client
            .list_activities(&ActivityQuery::new())
            .await
            .expect("page");

        assert_eq!(page.body.data[0].id, "activity_6");
    }

    #[tokio::test]
    async fn a_body_of_the_wrong_shape_is_not_retried() {
        let server = ScriptedServer::start(vec![Scripted::json(200, json!({"data": 5}))]).await;
        let client = client_for(&server, fast_policy());

        let error = client
            .list_activities(&ActivityQuery::new())
            .await
            .expect_err("wrong shape");

        assert!(matches!(
            error,
            Error::MalformedResponse {
                transient: false,
                ..
            }
        ));
        assert!(!error.is_retryable());
        assert_eq!(server.received().len(), 1);
    }

    #[tokio::test]
    async fn the_gate_is_acquired_before_every_attempt_and_observes_every_response() {
        let server = ScriptedServer::start(vec![
            Scripted::error(503, "api_error", "down"),
            Scripted::error(429, "rate_limit_error", "slow").header("retry-after", "0"),
            activity_page(&["activity_7"], false),
        ])
        .await;
        let gate = Arc::new(RecordingGate::default());
        let client = client_for(&server, fast_policy()).with_gate(gate.clone());

        client
            .list_activities(&ActivityQuery::new())
            .await
            .expect("page");

        let events = gate.events.lock().expect("events").clone();
        assert_eq!(
            events,
            vec![
                "acquire",
                "observe 503 attempt 0",
                "acquire",
                "observe 429 attempt 1",
                "acquire",
                "observe 200 attempt 2"
            ]
        );
    }

    #[tokio::test]
    async fn rate_limit_headers_are_parsed_and_kept_as_the_last_rate_limit() {
        let server = ScriptedServer::start(vec![activity_page(&["activity_8"], false)
            .header("anthropic-ratelimit-requests-limit", "600")
            .header("anthropic-ratelimit-requests-remaining", "599")
            .header("anthropic-ratelimit-requests-reset", "2026-04-21T14:38:25Z")])
        .await;
        let client = client_for(&server, fast_policy());
        assert_eq!(client.last_rate_limit(), None);

        let page = client
            .list_activities(&ActivityQuery::new())
            .await
            .expect("page");

        let expected = RateLimitInfo {
            limit: Some(600),
            remaining: Some(599),
            reset: Some(
                DateTime::parse_from_rfc3339("2026-04-21T14:38:25Z")
                    .expect("ts")
                    .with_timezone(&Utc),
            ),
        };
        assert_eq!(page.meta.rate_limit, Some(expected));
        assert_eq!(client.last_rate_limit(), Some(expected));
        assert_eq!(client.clone().last_rate_limit(), Some(expected));
    }

    #[tokio::test]
    async fn with_own_stats_counts_separately_from_the_parent() {
        let server = ScriptedServer::start(vec![
            activity_page(&["a"], false),
            activity_page(&["b"], false),
        ])
        .await;
        let parent = client_for(&server, fast_policy());
        let job = parent.with_own_stats();

        parent
            .list_activities(&ActivityQuery::new())
            .await
            .expect("parent");
        job.list_activities(&ActivityQuery::new())
            .await
            .expect("job");
        job.clone().stats();

        assert_eq!(parent.stats().requests, 1);
        assert_eq!(job.stats().requests, 1);
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_retryable_transport_error() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        drop(listener);
        let base = Url::parse(&format!("http://{address}/")).expect("url");
        let mut config = ClientConfig::new(base, Secret::new(KEY));
        config.network.allow_loopback_http = true;
        config.retry = RetryPolicy {
            max_retries: 2,
            ..fast_policy()
        };
        let client = Client::new(config).expect("client");

        let error = client
            .list_activities(&ActivityQuery::new())
            .await
            .expect_err("refused");

        assert_eq!(error.class(), "transport_error");
        assert!(error.is_retryable());
        assert!(!error.to_string().contains(KEY));
        let stats = client.stats();
        assert_eq!((stats.requests, stats.transport_errors), (3, 3));
    }

    #[tokio::test]
    async fn a_response_that_never_comes_times_out() {
        let server = ScriptedServer::start(vec![Scripted::hang()]).await;
        let mut config = ClientConfig::new(server.base_url.clone(), Secret::new(KEY));
        config.network.allow_loopback_http = true;
        config.retry = RetryPolicy::never();
        config.request_timeout = Duration::from_millis(100);
        let client = Client::new(config).expect("client");

        let error = client
            .list_activities(&ActivityQuery::new())
            .await
            .expect_err("timeout");

        assert!(
            matches!(error, Error::Transport { timeout: true, .. }),
            "{error}"
        );
        assert_eq!(error.class(), "timeout_error");
    }

    /// The most this process has held in memory at once (VmHWM), in bytes.
    fn peak_resident_bytes() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
        let line = status
            .lines()
            .find(|line| line.starts_with("VmHWM:"))
            .expect("VmHWM line");
        let kib: u64 = line
            .trim_start_matches("VmHWM:")
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .expect("VmHWM in kB");
        kib * 1024
    }

    const GIB: u64 = 1024 * 1024 * 1024;

    #[tokio::test]
    async fn a_one_gigabyte_body_without_a_length_is_refused_at_the_limit_and_peak_memory_stays_under_200_mb(
    ) {
        let server = ScriptedServer::start(vec![Scripted::generated(GIB, false)]).await;
        let client = client_for(&server, fast_policy());
        assert_eq!(client.config().max_response_size, 64 * 1024 * 1024);

        let error = client
            .list_activities(&ActivityQuery::new())
            .await
            .expect_err("too large");

        assert!(
            matches!(error, Error::ResponseTooLarge { declared: None, .. }),
            "{error}"
        );
        assert!(!error.is_retryable());
        assert_eq!(error.class(), "response_too_large");
        let text = error.to_string();
        assert!(text.contains("67108864 bytes"), "{text}");
        assert!(text.contains("api_max_response_size"), "{text}");
        assert_eq!(
            server.received().len(),
            1,
            "a too-large body is not retried"
        );
        let peak = peak_resident_bytes();
        println!(
            "peak resident memory after refusing a 1 GiB body: {} MiB",
            peak / (1024 * 1024)
        );
        assert!(peak < 200 * 1024 * 1024, "peak RSS {peak} bytes");
    }

    #[tokio::test]
    async fn a_declared_length_over_the_limit_is_refused_before_the_body_is_read() {
        let server = ScriptedServer::start(vec![Scripted::generated(GIB, true)]).await;
        let client = client_for(&server, fast_policy());

        let error = client
            .list_activities(&ActivityQuery::new())
            .await
            .expect_err("too large");

        assert!(
            matches!(error, Error::ResponseTooLarge { declared: Some(GIB), limit, .. } if limit == DEFAULT_MAX_RESPONSE_SIZE),
            "{error}"
        );
        assert!(
            error.to_string().contains("Content-Length 1073741824"),
            "{error}"
        );
        assert_eq!(client.stats().retries, 0);
    }

    #[tokio::test]
    async fn a_body_at_the_limit_is_read_and_one_byte_over_is_refused() {
        let page = r#"{"data":[],"has_more":false,"first_id":null,"last_id":null}"#;
        let server =
            ScriptedServer::start(vec![Scripted::raw(200, page), Scripted::raw(200, page)]).await;
        let mut config = ClientConfig::new(server.base_url.clone(), Secret::new(KEY));
        config.network.allow_loopback_http = true;
        config.retry = fast_policy();
        config.max_response_size = page.len() as u64;
        let exact = Client::new(config.clone()).expect("client");
        config.max_response_size = page.len() as u64 - 1;
        let short = Client::new(config.clone()).expect("client");

        let read = exact.list_activities(&ActivityQuery::new()).await;
        let refused = short.list_activities(&ActivityQuery::new()).await;

        assert!(read.expect("at the limit").body.data.is_empty());
        assert!(matches!(refused, Err(Error::ResponseTooLarge { .. })));
        config.max_response_size = 0;
        let zero = Client::new(config).expect_err("zero limit");
        assert!(
            matches!(zero, Error::InvalidArgument { field, .. } if field == "max_response_size")
        );
    }

    #[tokio::test]
    async fn a_redirect_to_another_host_is_not_followed_and_the_other_host_never_sees_the_key() {
        let other = ScriptedServer::start(vec![activity_page(&["stolen"], false)]).await;
        let target = other
            .base_url
            .join("v1/compliance/activities")
            .expect("url");
        let first = ScriptedServer::start(vec![
            Scripted::raw(302, "").header("location", target.as_str()),
            Scripted::raw(307, "").header("location", target.as_str()),
        ])
        .await;
        let client = client_for(&first, fast_policy());

        let found = client.list_activities(&ActivityQuery::new()).await;
        let temporary = client.list_activities(&ActivityQuery::new()).await;

        for result in [found, temporary] {
            let error = result.expect_err("redirect refused");
            assert!(!error.is_retryable(), "{error}");
            assert!(error.to_string().contains("not followed"), "{error}");
            assert!(!error.to_string().contains(KEY));
        }
        assert!(other.received().is_empty(), "the other host got a request");
        assert_eq!(first.received().len(), 2);
    }

    #[tokio::test]
    async fn a_redirect_within_the_base_urls_origin_is_followed_with_the_key() {
        let server = ScriptedServer::start(vec![
            Scripted::raw(307, "").header("location", "/moved/v1/compliance/activities"),
            activity_page(&["activity_moved"], false),
        ])
        .await;
        let client = client_for(&server, fast_policy());

        let page = client
            .list_activities(&ActivityQuery::new())
            .await
            .expect("followed");

        assert_eq!(page.body.data[0].id, "activity_moved");
        let received = server.received();
        assert_eq!(received[1].path, "/moved/v1/compliance/activities");
        assert_eq!(
            received[1]
                .headers
                .get("x-api-key")
                .and_then(|v| v.to_str().ok()),
            Some(KEY)
        );
    }

    #[tokio::test]
    async fn plain_http_and_internal_hosts_are_refused_unless_their_setting_allows_them() {
        let server = ScriptedServer::start(vec![activity_page(&["a"], false)]).await;
        let strict = ClientConfig::new(server.base_url.clone(), Secret::new(KEY));
        let error = Client::new(strict).expect_err("plain http");
        assert!(
            matches!(&error, Error::InvalidArgument { field, message } if field == "base_url" && message.contains("allow_loopback_http")),
            "{error}"
        );
        let mut https_loopback =
            ClientConfig::from_base_url("https://127.0.0.1:9", Secret::new(KEY)).expect("config");
        let error = Client::new(https_loopback.clone()).expect_err("loopback");
        assert!(
            error.to_string().contains("allow_private_networks"),
            "{error}"
        );
        https_loopback.network.allow_private_networks = true;
        Client::new(https_loopback).expect("allowed");
        for url in [
            "https://10.0.0.5",
            "https://169.254.169.254",
            "https://[fd00::1]",
        ] {
            let config = ClientConfig::from_base_url(url, Secret::new(KEY)).expect("config");
            let error = Client::new(config).expect_err(url);
            assert!(
                error.to_string().contains("allow_private_networks"),
                "{url}: {error}"
            );
        }
        assert!(server.received().is_empty());
    }

    #[tokio::test]
    async fn a_host_name_is_checked_on_the_addresses_it_resolves_to_when_connecting() {
        let server = ScriptedServer::start(vec![activity_page(&["by_name"], false)]).await;
        let port = server.base_url.port().expect("port");
        // `localhost` resolves to loopback addresses: refused over https without a setting
        // (checked at connect time, by the resolver, and not retried).
        let by_name = Url::parse(&format!("https://localhost:{port}/")).expect("url");
        let mut config = ClientConfig::new(by_name, Secret::new(KEY));
        config.retry = fast_policy();
        let refused = Client::new(config).expect("a name is checked when it is resolved");

        let error = refused
            .list_activities(&ActivityQuery::new())
            .await
            .expect_err("resolves to loopback");

        assert!(
            matches!(&error, Error::InvalidArgument { field, message } if field == "base_url" && message.contains("allow_private_networks")),
            "{error}"
        );
        assert_eq!(refused.stats().retries, 0);
        assert!(server.received().is_empty());

        let fake = Url::parse(&format!("http://localhost:{port}/")).expect("url");
        let mut config = ClientConfig::new(fake, Secret::new(KEY));
        config.network.allow_loopback_http = true;
        let allowed = Client::new(config).expect("client");
        let page = allowed
            .list_activities(&ActivityQuery::new())
            .await
            .expect("loopback http allowed");
        assert_eq!(page.body.data[0].id, "by_name");
    }

    #[tokio::test]
    async fn invalid_queries_fail_before_any_request() {
        let server = ScriptedServer::start(vec![]).await;
        let client = client_for(&server, fast_policy());

        let error = client
            .list_activities(&ActivityQuery::new().limit(6000))
            .await
            .expect_err("invalid");
        let dot = client
            .chat_messages("..", &MessageQuery::new())
            .await
            .expect_err("dot dot");

        assert_eq!(error.class(), "invalid_argument");
        assert!(matches!(dot, Error::InvalidArgument { field, .. } if field == "chat_id"));
        assert!(server.received().is_empty());
    }

    #[tokio::test]
    async fn ids_in_paths_are_percent_encoded_and_base_path_prefixes_are_kept() {
        let server = ScriptedServer::start(vec![Scripted::json(
            200,
            json!({"id": "claude_file_1", "created_at": "2024-01-15T10:30:00Z",
                   "message_ids": [], "claude_chat_ids": []}),
        )])
        .await;
        let mut base = server.base_url.clone();
        base.set_path("/prefix/");
        let mut config = ClientConfig::new(base, Secret::new(KEY));
        config.network.allow_loopback_http = true;
        config.retry = fast_policy();
        let client = Client::new(config).expect("client");

        let file = client
            .file_metadata("claude_file_1/../x")
            .await
            .expect("file");

        assert_eq!(file.body.id, "claude_file_1");
        assert_eq!(
            server.received()[0].path,
            "/prefix/v1/compliance/apps/chats/files/claude_file_1%2F..%2Fx"
        );
    }

    #[tokio::test]
    async fn chat_messages_and_directory_endpoints_use_the_documented_paths() {
        let server = ScriptedServer::start(vec![
            Scripted::json(200, json!({
                "id": "claude_chat_1", "name": "n", "created_at": "2026-01-01T00:00:00Z",
                "updated_at": "2026-01-01T00:00:00Z", "deleted_at": null, "href": "h", "model": null,
                "organization_uuid": "o", "project_id": null, "user": null,
                "chat_messages": [], "has_more": false, "first_id": null, "last_id": null})),
            Scripted::json(200, json!({"data": [], "has_more": false, "next_page": null})),
            Scripted::json(200, json!({"data": [], "has_more": false, "next_page": null})),
            Scripted::json(200, json!({"data": [], "has_more": false, "next_page": null})),
        ])
        .await;
        let client = client_for(&server, fast_policy());

        client
            .chat_messages("claude_chat_1", &MessageQuery::new().untruncated())
            .await
            .expect("messages");
        client
            .list_users("org-uuid-1", Some(1000), Some("tok"))
            .await
            .expect("users");
        client.list_groups(None, None).await.expect("groups");
        client
            .group_members("rbac_group_1", Some(5), None)
            .await
            .expect("members");

        let paths: Vec<_> = server.received().into_iter().map(|r| r.path).collect();
        assert_eq!(
            paths,
            vec![
                "/v1/compliance/apps/chats/claude_chat_1/messages",
                "/v1/compliance/organizations/org-uuid-1/users",
                "/v1/compliance/groups",
                "/v1/compliance/groups/rbac_group_1/members",
            ]
        );
        let users = &server.received()[1];
        assert_eq!(
            (users.param("limit"), users.param("page")),
            (Some("1000"), Some("tok"))
        );
    }

    #[test]
    fn the_api_key_never_appears_in_debug_output() {
        let key = Secret::new(KEY);
        assert_eq!(format!("{key:?}"), "Secret(***)");
        assert_eq!(key.last4(), "9f3a");
        let config = ClientConfig::from_base_url(DEFAULT_BASE_URL, key).expect("config");
        let client = Client::new(config.clone()).expect("client");
        assert!(!format!("{config:?}").contains(KEY));
        assert!(!format!("{client:?}").contains(KEY));
    }

    #[test]
    fn bad_configuration_is_rejected_naming_the_field() {
        let not_http =
            ClientConfig::from_base_url("ftp://example.com", Secret::new(KEY)).expect("parses");
        assert!(
            matches!(Client::new(not_http), Err(Error::InvalidArgument { field, .. }) if field == "base_url")
        );
        let garbage =
            ClientConfig::from_base_url("not a url", Secret::new(KEY)).expect_err("garbage");
        assert!(garbage.to_string().contains("base_url"));
        let empty_key =
            ClientConfig::from_base_url(DEFAULT_BASE_URL, Secret::new("")).expect("parses");
        assert!(
            matches!(Client::new(empty_key), Err(Error::InvalidArgument { field, .. }) if field == "api_key")
        );
        let newline_key =
            ClientConfig::from_base_url(DEFAULT_BASE_URL, Secret::new("sk\nx")).expect("parses");
        let error = Client::new(newline_key).expect_err("newline");
        assert!(!error.to_string().contains("sk\nx"));
    }

    fn api_error(status: u16, retry_after: Option<Duration>) -> Error {
        Error::Api {
            endpoint: "GET /v1/compliance/activities".to_owned(),
            status,
            error_type: error_type_for_status(status).to_owned(),
            message: "m".to_owned(),
            request_id: None,
            retry_after,
            should_retry: None,
        }
    }

    #[test]
    fn backoff_doubles_from_one_second_to_a_sixty_second_ceiling() {
        let policy = RetryPolicy::default();
        let waits: Vec<u64> = (0..9)
            .map(|retry| policy.backoff(retry).as_secs())
            .collect();
        assert_eq!(waits, vec![1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(policy.backoff(u32::MAX), Duration::from_secs(60));
    }

    #[test]
    fn a_429_waits_retry_after_exactly_else_the_unjittered_backoff() {
        let policy = RetryPolicy::default();
        let with_header = api_error(429, Some(Duration::from_millis(25_500)));
        assert_eq!(
            policy.delay_with_jitter(&with_header, 3, 0.0),
            Duration::from_millis(25_500)
        );
        let without = api_error(429, None);
        assert_eq!(
            policy.delay_with_jitter(&without, 2, 0.0),
            Duration::from_secs(4)
        );
        assert_eq!(
            policy.delay_with_jitter(&without, 10, 0.5),
            Duration::from_secs(60)
        );
    }

    #[test]
    fn server_errors_use_full_jitter_under_the_backoff_ceiling() {
        let policy = RetryPolicy::default();
        let overloaded = api_error(529, None);
        assert_eq!(
            policy.delay_with_jitter(&overloaded, 2, 0.5),
            Duration::from_secs(2)
        );
        assert_eq!(
            policy.delay_with_jitter(&overloaded, 2, 1.0),
            Duration::from_secs(4)
        );
        assert_eq!(
            policy.delay_with_jitter(&overloaded, 2, 0.0),
            Duration::ZERO
        );
        for _ in 0..100 {
            assert!(policy.delay_for(&overloaded, 3) <= Duration::from_secs(8));
        }
    }

    #[test]
    fn retry_after_accepts_seconds_fractions_milliseconds_and_http_dates() {
        let now = DateTime::parse_from_rfc3339("2026-04-21T14:38:02Z")
            .expect("ts")
            .with_timezone(&Utc);
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.insert(*name, HeaderValue::from_static(value));
            }
            map
        };
        assert_eq!(
            parse_retry_after(&headers(&[("retry-after", "25")]), now),
            Some(Duration::from_secs(25))
        );
        assert_eq!(
            parse_retry_after(&headers(&[("retry-after", "0.25")]), now),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            parse_retry_after(
                &headers(&[("retry-after", "25"), ("retry-after-ms", "1500")]),
                now
            ),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            parse_retry_after(
                &headers(&[("retry-after", "Tue, 21 Apr 2026 14:38:27 GMT")]),
                now
            ),
            Some(Duration::from_secs(25))
        );
        assert_eq!(
            parse_retry_after(&headers(&[("retry-after", "-3")]), now),
            Some(Duration::ZERO)
        );
        assert_eq!(
            parse_retry_after(&headers(&[("retry-after", "soon")]), now),
            None
        );
        assert_eq!(parse_retry_after(&headers(&[]), now), None);
    }

    #[test]
    fn a_non_json_error_body_still_yields_a_typed_one_line_error() {
        let snippet = body_snippet(b"<html>\n<body>502 Bad Gateway</body>\n</html>", 502);
        assert_eq!(snippet, "<html> <body>502 Bad Gateway</body> </html>");
        assert_eq!(body_snippet(b"", 503), "Service Unavailable");
        let long = "x".repeat(500);
        assert_eq!(
            body_snippet(long.as_bytes(), 502).chars().count(),
            SNIPPET_CHARS + 1
        );
    }
}
