//! Which Compliance API base URLs an integration may point at. The API key is sent to that
//! address, so the server refuses plain HTTP (except to loopback hosts, for the fake API, when
//! allowed) and private, link-local and other internal addresses (unless allowed), checked
//! on every address the host resolves to. The client applies the same rules again to every
//! address it connects to and follows no redirect off the base URL's origin, so neither a
//! later DNS answer nor a redirect can carry the key elsewhere.

use std::net::IpAddr;

use logwarden_compliance::NetworkRules;

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
        let rules = NetworkRules {
            allow_loopback_http,
            allow_private_networks,
        };
        rules
            .check_scheme(&url)
            .map_err(|reason| Error::invalid("base_url", reason))?;
        for ip in addresses {
            rules.permits(url.scheme(), ip).map_err(|reason| {
                Error::invalid("base_url", format!("the host {host:?}: {reason}"))
            })?;
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
