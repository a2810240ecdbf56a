//! Which Compliance API base URLs an integration may point at. The API key is sent to that
//! address, so the server refuses plain HTTP (except to loopback hosts, for the fake API, when
//! allowed) and private, link-local and other internal addresses (unless allowed), checked
//! on every address the host resolves to. The client itself never follows a redirect, so a
//! redirect cannot carry the key elsewhere either.

use std::net::{IpAddr, Ipv4Addr};

use super::Error;

/// The rules a base URL is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BaseUrlRules {
    /// No check: the operator at the command line names the URL themselves.
    #[default]
    Trusted,
    /// The API's rules.
    Checked {
        /// `http://` to a loopback host (the built-in fake Compliance API).
        allow_loopback_http: bool,
        /// Private (RFC 1918, unique-local), link-local and other non-public addresses.
        allow_private_networks: bool,
    },
}

/// Loopback, private, link-local, shared, documentation, unspecified and broadcast addresses.
fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal_v4(v4);
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (first & 0xffc0) == 0xfec0 // site-local fec0::/10
                || v6.is_multicast()
                || (first == 0x2001 && v6.segments()[1] == 0xdb8) // documentation
        }
    }
}

fn is_internal_v4(v4: Ipv4Addr) -> bool {
    let [a, b, ..] = v4.octets();
    v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_broadcast()
        || v4.is_documentation()
        || v4.is_multicast()
        || (a == 100 && (64..128).contains(&b)) // shared address space 100.64.0.0/10
        || a == 0
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

impl BaseUrlRules {
    /// Refuses `base_url` unless the rules allow it, naming the reason.
    pub async fn check(self, base_url: &str) -> Result<(), Error> {
        let Self::Checked {
            allow_loopback_http,
            allow_private_networks,
        } = self
        else {
            return Ok(());
        };
        let url = url::Url::parse(base_url).map_err(|err| {
            Error::invalid(
                "base_url",
                format!("{base_url:?} is not a URL ({err}): expected https://host[/path]"),
            )
        })?;
        let host = url
            .host_str()
            .ok_or_else(|| Error::invalid("base_url", format!("{base_url:?} has no host")))?;
        let port = url.port_or_known_default().unwrap_or(443);
        let addresses: Vec<IpAddr> = match url.host() {
            Some(url::Host::Ipv4(ip)) => vec![IpAddr::V4(ip)],
            Some(url::Host::Ipv6(ip)) => vec![IpAddr::V6(ip)],
            _ => tokio::net::lookup_host((host, port))
                .await
                .map_err(|_| {
                    Error::invalid("base_url", format!("the host {host:?} does not resolve"))
                })?
                .map(|addr| addr.ip())
                .collect(),
        };
        if addresses.is_empty() {
            return Err(Error::invalid(
                "base_url",
                format!("the host {host:?} does not resolve"),
            ));
        }
        let all_loopback = addresses.iter().all(|ip| is_loopback(*ip));
        match url.scheme() {
            "https" => {}
            "http" if allow_loopback_http && all_loopback => {}
            "http" => {
                return Err(Error::invalid(
                    "base_url",
                    if allow_loopback_http {
                        "must be https (plain http is accepted only for loopback hosts)"
                    } else {
                        "must be https"
                    },
                ))
            }
            other => {
                return Err(Error::invalid(
                    "base_url",
                    format!("has the scheme {other:?}: expected https"),
                ))
            }
        }
        let loopback_allowed = allow_loopback_http && all_loopback;
        if !allow_private_networks && !loopback_allowed {
            if let Some(ip) = addresses.iter().find(|ip| is_internal(**ip)) {
                return Err(Error::invalid(
                    "base_url",
                    format!(
                        "the host {host:?} is the private, loopback or link-local address {ip}, which this server refuses (setting allow_private_networks)"
                    ),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: BaseUrlRules = BaseUrlRules::Checked {
        allow_loopback_http: false,
        allow_private_networks: false,
    };
    const FAKE: BaseUrlRules = BaseUrlRules::Checked {
        allow_loopback_http: true,
        allow_private_networks: false,
    };

    #[tokio::test]
    async fn plain_http_is_refused_unless_loopback_http_is_allowed_for_a_loopback_host() {
        let err = STRICT.check("http://127.0.0.1:8181").await.unwrap_err();
        assert_eq!(err.field(), Some("base_url"));
        assert!(err.to_string().contains("https"), "{err}");
        FAKE.check("http://127.0.0.1:8181").await.unwrap();
        FAKE.check("http://[::1]:8181").await.unwrap();
        let err = FAKE.check("http://93.184.216.34").await.unwrap_err();
        assert!(err.to_string().contains("loopback"), "{err}");
        let err = STRICT.check("ftp://93.184.216.34").await.unwrap_err();
        assert!(err.to_string().contains("\"ftp\""), "{err}");
    }

    #[tokio::test]
    async fn private_and_link_local_addresses_are_refused_unless_allowed() {
        for url in [
            "https://10.0.0.5",
            "https://192.168.1.1",
            "https://172.16.0.1",
            "https://169.254.169.254",
            "https://[fe80::1]",
            "https://[fd00::1]",
            "https://127.0.0.1",
            "https://[::ffff:10.0.0.1]",
            "https://100.64.0.1",
        ] {
            let err = STRICT.check(url).await.unwrap_err();
            assert!(
                err.to_string().contains("allow_private_networks"),
                "{url}: {err}"
            );
        }
        let open = BaseUrlRules::Checked {
            allow_loopback_http: false,
            allow_private_networks: true,
        };
        open.check("https://10.0.0.5").await.unwrap();
        STRICT.check("https://93.184.216.34").await.unwrap();
        BaseUrlRules::Trusted
            .check("http://10.0.0.5")
            .await
            .unwrap();
    }
}
