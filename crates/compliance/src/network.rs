//! Where the client may send the API key: `https` to public addresses, plain `http` only to
//! loopback hosts (the fake API) when allowed, private, link-local and other internal
//! addresses only when allowed. The rules are checked on the base URL when the client is
//! built and on every address a host name resolves to when a connection is made (the
//! client's DNS resolver drops refused addresses), so a name that resolves to a public
//! address when saved and to an internal one later (DNS rebinding) still cannot reach it.

use std::error::Error as StdError;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use url::Url;

/// Which addresses beyond public `https` ones the client may reach.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetworkRules {
    /// `http://` to a loopback host (the fake Compliance API). Setting `allow_loopback_http`.
    pub allow_loopback_http: bool,
    /// Private (RFC 1918, unique-local), link-local and other internal addresses. Setting
    /// `allow_private_networks`.
    pub allow_private_networks: bool,
}

impl NetworkRules {
    /// Checks the scheme of `base_url`: `https`, or `http` when loopback http is allowed (the
    /// host must then resolve to loopback addresses only, see [`NetworkRules::permits`]).
    pub fn check_scheme(self, base_url: &Url) -> Result<(), String> {
        match base_url.scheme() {
            "https" => Ok(()),
            "http" if self.allow_loopback_http => Ok(()),
            "http" => Err(
                "must be https (plain http is accepted only for a loopback host, with setting allow_loopback_http)"
                    .to_owned(),
            ),
            other => Err(format!("has the scheme {other:?}: expected https")),
        }
    }

    /// Whether the client may connect to `ip` for a base URL of scheme `scheme`; the error
    /// says why not and which setting allows it.
    pub fn permits(self, scheme: &str, ip: IpAddr) -> Result<(), String> {
        let loopback = is_loopback(ip);
        if scheme == "http" && !(self.allow_loopback_http && loopback) {
            return Err(format!(
                "must be https: plain http is accepted only to a loopback address (setting allow_loopback_http), and {ip} is not one"
            ));
        }
        if loopback && self.allow_loopback_http {
            return Ok(());
        }
        if is_internal(ip) && !self.allow_private_networks {
            return Err(format!(
                "{ip} is a private, loopback or link-local address, refused (setting allow_private_networks)"
            ));
        }
        Ok(())
    }
}

/// Loopback, private, link-local, shared, documentation, unspecified and broadcast addresses.
pub fn is_internal(ip: IpAddr) -> bool {
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

/// `127.0.0.0/8`, `::1` and their IPv4-mapped forms.
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// A host name none of whose addresses the rules permit.
#[derive(Debug)]
pub(crate) struct RefusedHost {
    pub(crate) message: String,
}

impl fmt::Display for RefusedHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for RefusedHost {}

/// The client's DNS resolver: the system's, keeping only the addresses the rules permit.
pub(crate) struct GuardedResolver {
    pub(crate) rules: NetworkRules,
    /// The base URL's scheme (`http` allows loopback addresses only).
    pub(crate) scheme: String,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let rules = self.rules;
        let scheme = self.scheme.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refusal = None;
            let permitted: Vec<SocketAddr> = found
                .into_iter()
                .filter(|address| match rules.permits(&scheme, address.ip()) {
                    Ok(()) => true,
                    Err(reason) => {
                        refusal.get_or_insert(reason);
                        false
                    }
                })
                .collect();
            if permitted.is_empty() {
                let reason = refusal.unwrap_or_else(|| "no address".to_owned());
                let refused: Box<dyn StdError + Send + Sync> = Box::new(RefusedHost {
                    message: format!(
                        "the host {host:?} resolves to no permitted address: {reason}"
                    ),
                });
                return Err(refused);
            }
            let addresses: reqwest::dns::Addrs = Box::new(permitted.into_iter());
            Ok(addresses)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: NetworkRules = NetworkRules {
        allow_loopback_http: false,
        allow_private_networks: false,
    };

    #[test]
    fn internal_addresses_are_refused_naming_the_setting_unless_allowed() {
        for ip in [
            "10.0.0.5",
            "192.168.1.1",
            "172.16.0.1",
            "169.254.169.254",
            "fe80::1",
            "fd00::1",
            "127.0.0.1",
            "::ffff:10.0.0.1",
            "100.64.0.1",
        ] {
            let ip: IpAddr = ip.parse().expect("ip");
            let err = STRICT.permits("https", ip).expect_err("internal");
            assert!(err.contains("allow_private_networks"), "{ip}: {err}");
            let open = NetworkRules {
                allow_private_networks: true,
                ..STRICT
            };
            open.permits("https", ip).expect("allowed");
        }
        STRICT
            .permits("https", "93.184.216.34".parse().expect("ip"))
            .expect("public");
    }

    #[test]
    fn plain_http_reaches_only_loopback_and_only_when_allowed() {
        let fake = NetworkRules {
            allow_loopback_http: true,
            ..STRICT
        };
        let http = Url::parse("http://127.0.0.1:8181").expect("url");
        assert!(STRICT
            .check_scheme(&http)
            .expect_err("http")
            .contains("allow_loopback_http"));
        fake.check_scheme(&http).expect("allowed");
        fake.permits("http", "127.0.0.1".parse().expect("ip"))
            .expect("loopback");
        fake.permits("http", "::1".parse().expect("ip"))
            .expect("loopback v6");
        let err = fake
            .permits("http", "93.184.216.34".parse().expect("ip"))
            .expect_err("public over http");
        assert!(err.contains("allow_loopback_http"), "{err}");
        let ftp = Url::parse("ftp://example.com").expect("url");
        assert!(fake
            .check_scheme(&ftp)
            .expect_err("ftp")
            .contains("\"ftp\""));
    }
}
