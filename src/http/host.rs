//! The DNS-rebinding defence: the server answers only requests whose `Host` names it. A page
//! on `evil.example` whose name an attacker re-points at 127.0.0.1 reaches a loopback server
//! with `Host: evil.example`, so refusing unknown names keeps such a page from reading or
//! driving the API with the operator's cookie.
//!
//! A server answers to its listen address; on a loopback address also to `localhost`,
//! `127.0.0.1` and `::1`; on an unspecified address (`0.0.0.0`, `::`) to any address literal
//! and `localhost` (an address literal cannot be rebound); and always to the names of the
//! `allowed_hosts` setting. Ports are not compared: a proxy in front may use another one.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::HOST;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

/// The hosts one server answers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHosts {
    /// Lowercase names and address literals (IPv6 without brackets).
    names: Vec<String>,
    /// Any address literal is the server's own (it listens on every address).
    any_address: bool,
}

/// Why an `allowed_hosts` entry is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{entry:?} is not a host name: use names such as logwarden.example.com, separated by commas"
)]
pub struct BadHostEntry {
    pub entry: String,
}

/// Parses the `allowed_hosts` setting: host names separated by commas (spaces allowed), each
/// of letters, digits, `-` and `.`; an empty setting names none.
pub fn parse_allowed_hosts(setting: &str) -> Result<Vec<String>, BadHostEntry> {
    setting
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            let valid = entry.len() <= 253
                && entry
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
                && !entry.starts_with(['.', '-']);
            if valid {
                Ok(entry.to_ascii_lowercase())
            } else {
                Err(BadHostEntry {
                    entry: entry.to_owned(),
                })
            }
        })
        .collect()
}

impl AllowedHosts {
    /// The hosts of a server bound to `listen`, plus `extra` (from [`parse_allowed_hosts`]).
    pub fn new(listen: SocketAddr, extra: &[String]) -> Self {
        let ip = listen.ip();
        let mut names: Vec<String> = vec![ip.to_string()];
        if ip.is_loopback() || ip.is_unspecified() {
            names.extend(["localhost", "127.0.0.1", "::1"].map(str::to_owned));
        }
        names.extend(extra.iter().map(|name| name.to_ascii_lowercase()));
        names.sort();
        names.dedup();
        Self {
            names,
            any_address: ip.is_unspecified(),
        }
    }

    /// Whether a request with this `Host` (or `:authority`) value is for this server.
    pub fn allows(&self, host: &str) -> bool {
        let Some(name) = host_name(host) else {
            return false;
        };
        let name = name.to_ascii_lowercase();
        (self.any_address && name.parse::<IpAddr>().is_ok()) || self.names.contains(&name)
    }

    /// The names, for the error message.
    fn describe(&self) -> String {
        let mut names = self.names.join(", ");
        if self.any_address {
            names.push_str(", any of its addresses");
        }
        names
    }
}

/// The host part of a `Host` value: `name`, `name:port`, `[v6]` or `[v6]:port`.
fn host_name(host: &str) -> Option<&str> {
    if let Some(rest) = host.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        return (after.is_empty() || after.starts_with(':')).then_some(inside);
    }
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        Some(_) => return None,
        None => host,
    };
    (!name.is_empty()).then_some(name)
}

/// Refuses a request whose host this server does not answer to, before anything else runs.
pub async fn check(
    State(allowed): State<Arc<AllowedHosts>>,
    request: Request,
    next: Next,
) -> Response {
    let host = request
        .uri()
        .authority()
        .map(|authority| authority.as_str().to_owned())
        .or_else(|| {
            request
                .headers()
                .get(HOST)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        });
    match host {
        Some(host) if allowed.allows(&host) => next.run(request).await,
        Some(host) => ApiError::invalid(
            "Host",
            format!(
                "{host:?} is not a host this server answers to; it answers to {} and the names in the allowed_hosts setting (LOGWARDEN_ALLOWED_HOSTS)",
                allowed.describe()
            ),
        )
        .into_response(),
        None => ApiError::invalid(
            "Host",
            "the request has no Host header; send the host name of this server",
        )
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loopback() -> AllowedHosts {
        AllowedHosts::new("127.0.0.1:8080".parse().unwrap(), &[])
    }

    #[test]
    fn a_loopback_server_answers_to_its_address_and_localhost_only() {
        let hosts = loopback();
        for host in [
            "127.0.0.1:8080",
            "127.0.0.1",
            "localhost:8080",
            "LOCALHOST",
            "[::1]:8080",
        ] {
            assert!(hosts.allows(host), "{host}");
        }
        for host in [
            "evil.example:8080",
            "localhost.evil.example",
            "10.0.0.1:8080",
            "",
            ":8080",
            "[::1",
            "localhost:http",
        ] {
            assert!(!hosts.allows(host), "{host}");
        }
    }

    #[test]
    fn a_server_on_every_address_answers_to_address_literals_and_the_named_hosts() {
        let extra = parse_allowed_hosts(" logwarden.example.com, Ops.Example ").unwrap();
        let hosts = AllowedHosts::new("0.0.0.0:8080".parse().unwrap(), &extra);
        for host in [
            "192.0.2.7:8080",
            "[2001:db8::1]",
            "localhost",
            "logwarden.example.com",
            "ops.example:443",
        ] {
            assert!(hosts.allows(host), "{host}");
        }
        assert!(!hosts.allows("evil.example"));
    }

    #[test]
    fn an_allowed_hosts_entry_that_is_not_a_name_is_refused_naming_it() {
        let error = parse_allowed_hosts("ok.example, http://bad.example").unwrap_err();
        assert_eq!(error.entry, "http://bad.example");
        assert!(error.to_string().contains("not a host name"));
        assert_eq!(parse_allowed_hosts("").unwrap(), Vec::<String>::new());
    }
}
