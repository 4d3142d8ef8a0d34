//! The client's address behind reverse proxies.
//!
//! Failed sign-ins and client authentications are counted per client address
//! ([`crate::limits`]). Behind a reverse proxy every request comes from the proxy's address, so
//! by default every user would share one counter and anyone could lock everyone out. With
//! [`TrustedProxies`] set, a request whose TCP peer is a trusted proxy is counted under the
//! address that proxy forwarded: the right-most entry of the forwarding header that is not
//! itself a trusted proxy. Entries to the left of it were written by the client (or by proxies
//! no one vouches for) and are never believed, so a client cannot pick its own address by
//! sending the header. A request from any other peer is counted under the peer: its forwarding
//! headers are ignored.
//!
//! Which header the proxy writes is configured, not guessed ([`ProxyHeader`]): a proxy that
//! appends to `X-Forwarded-For` passes a client's own `Forwarded` header through untouched, and
//! the other way round, so reading whichever is present would let a client choose.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use axum::http::HeaderMap;
use ipnet::IpNet;

/// Forwarding entries read from the right, at most: more than any real chain of proxies.
const MAX_HOPS: usize = 32;

/// The header trusted proxies write the client's address into.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ProxyHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (nginx's `$proxy_add_x_forwarded_for`,
    /// HAProxy's `option forwardfor`, Caddy, Traefik, Envoy, cloud load balancers). The default.
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1` (its `for` parameters).
    Forwarded,
}

impl FromStr for ProxyHeader {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "x-forwarded-for" => Ok(ProxyHeader::XForwardedFor),
            "forwarded" => Ok(ProxyHeader::Forwarded),
            other => Err(format!(
                "unknown proxy header {other:?}: expected x-forwarded-for or forwarded"
            )),
        }
    }
}

/// The reverse proxies whose forwarding header is believed. Empty (the default): none, and
/// the client address is always the TCP peer.
///
/// ```
/// use portcullis_server::proxies::{ProxyHeader, TrustedProxies};
///
/// let proxies: TrustedProxies = "10.0.0.0/8, 192.168.1.7".parse()?;
/// let proxies = proxies.header(ProxyHeader::XForwardedFor);
/// assert!(!proxies.is_empty());
/// # Ok::<(), String>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
    header: ProxyHeader,
}

impl FromStr for TrustedProxies {
    type Err = String;

    /// Comma-separated CIDR blocks or single addresses (`10.0.0.0/8, ::1`); blank trusts none.
    fn from_str(s: &str) -> Result<Self, String> {
        let nets = s
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map(|net| net.trunc())
                    .map_err(|_| {
                        format!("trusted proxy {entry:?} is not an IP address or CIDR block")
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TrustedProxies {
            nets,
            header: ProxyHeader::default(),
        })
    }
}

impl TrustedProxies {
    /// Trusts no proxy: the client address is the TCP peer.
    pub fn none() -> Self {
        TrustedProxies::default()
    }

    /// Reads the client address from `header` (default `X-Forwarded-For`).
    pub fn header(mut self, header: ProxyHeader) -> Self {
        self.header = header;
        self
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.nets.iter().any(|net| net.contains(&ip))
    }

    /// The client address of a request from `peer` with `headers` (see the module docs).
    pub fn client_addr(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return peer;
        }
        let name = match self.header {
            ProxyHeader::XForwardedFor => "x-forwarded-for",
            ProxyHeader::Forwarded => "forwarded",
        };
        // The header's entries in order, over every line of it (a proxy may add a line).
        let mut entries: Vec<&str> = Vec::new();
        for value in headers.get_all(name) {
            let Ok(value) = value.to_str() else {
                // Not visible ASCII: nothing in it can be believed, nor anything left of it.
                entries.clear();
                entries.push("");
                continue;
            };
            entries.extend(value.split(','));
        }
        let mut client = peer;
        for entry in entries.iter().rev().take(MAX_HOPS) {
            let parsed = match self.header {
                ProxyHeader::XForwardedFor => parse_node(entry.trim()),
                ProxyHeader::Forwarded => forwarded_for(entry),
            };
            // An entry that is not an address (garbage, `unknown`, an obfuscated name): what is
            // left of it cannot be traced, so the last address believed stands.
            let Some(ip) = parsed else {
                return client;
            };
            client = ip;
            if !self.trusts(ip) {
                return ip;
            }
        }
        client
    }
}

/// An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`, what a dual-stack socket reports) as the
/// IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// An address as forwarding headers write it: `192.0.2.1`, `2001:db8::1`, with a port
/// `192.0.2.1:4711` or `[2001:db8::1]:4711`, or bracketed `[2001:db8::1]`.
fn parse_node(s: &str) -> Option<IpAddr> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Some(canonical(addr.ip()));
    }
    s.strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .and_then(|inner| inner.parse::<std::net::Ipv6Addr>().ok())
        .map(|v6| canonical(IpAddr::V6(v6)))
}

/// The address in the `for` parameter of one RFC 7239 `Forwarded` element
/// (`for=192.0.2.60;proto=http;by=203.0.113.43`, `for="[2001:db8:cafe::17]:4711"`).
fn forwarded_for(element: &str) -> Option<IpAddr> {
    element.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("for") {
            return None;
        }
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        parse_node(value)
    })
}

/// The client's address: the TCP peer, or the address a trusted reverse proxy forwarded.
/// `None` when the server was started without connection info (e.g. a router driven directly
/// in tests).
pub(crate) struct Peer(pub(crate) Option<IpAddr>);

impl axum::extract::FromRequestParts<crate::AppState> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &crate::AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Peer(client_addr(state, parts)))
    }
}

/// See [`Peer`].
pub(crate) fn client_addr(
    state: &crate::AppState,
    parts: &axum::http::request::Parts,
) -> Option<IpAddr> {
    let peer = parts
        .extensions
        .get::<axum::extract::ConnectInfo<SocketAddr>>()?
        .0
        .ip();
    Some(
        state
            .inner
            .settings
            .trusted_proxies
            .client_addr(peer, &parts.headers),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(name: &'static str, values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(name, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_lists_of_blocks_and_addresses() {
        let p: TrustedProxies = " 10.0.0.0/8 ,192.168.1.7, ::1, 2001:db8::/32 "
            .parse()
            .unwrap();
        assert!(p.trusts(ip("10.1.2.3")));
        assert!(p.trusts(ip("192.168.1.7")));
        assert!(!p.trusts(ip("192.168.1.8")));
        assert!(p.trusts(ip("::1")));
        assert!(p.trusts(ip("2001:db8::5")));
        assert!(p.trusts(ip("::ffff:10.9.9.9")), "IPv4-mapped peers");
        assert!("".parse::<TrustedProxies>().unwrap().is_empty());
        for bad in ["10.0.0.0/33", "proxy.local", "10.0.0.1/8/2", "*"] {
            assert!(bad.parse::<TrustedProxies>().is_err(), "{bad}");
        }
        assert_eq!(
            "Forwarded".parse::<ProxyHeader>(),
            Ok(ProxyHeader::Forwarded)
        );
        assert!("x-real-ip".parse::<ProxyHeader>().is_err());
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_sends() {
        let p: TrustedProxies = "10.0.0.0/8".parse().unwrap();
        let h = headers("x-forwarded-for", &["1.2.3.4"]);
        assert_eq!(p.client_addr(ip("203.0.113.9"), &h), ip("203.0.113.9"));
        assert_eq!(
            TrustedProxies::none().client_addr(ip("10.0.0.1"), &h),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn the_right_most_untrusted_entry_is_the_client() {
        let p: TrustedProxies = "10.0.0.0/8".parse().unwrap();
        let peer = ip("10.0.0.1");
        let cases: &[(&[&str], &str)] = &[
            (&["198.51.100.7"], "198.51.100.7"),
            // A spoofed left-most entry: the proxy appended the real address.
            (&["6.6.6.6, 198.51.100.7"], "198.51.100.7"),
            (&["6.6.6.6", "198.51.100.7"], "198.51.100.7"),
            // A chain of trusted proxies.
            (&["198.51.100.7, 10.0.0.2, 10.0.0.3"], "198.51.100.7"),
            // Ports and IPv6 forms.
            (&["198.51.100.7:4711"], "198.51.100.7"),
            (&["[2001:db8::7]:4711"], "2001:db8::7"),
            (&["2001:db8::7"], "2001:db8::7"),
            // Nothing forwarded, or only trusted hops: the left-most trusted one.
            (&[], "10.0.0.1"),
            (&["10.0.0.9"], "10.0.0.9"),
            // Garbage where the client address should be: the last address believed.
            (&["198.51.100.7, garbage, 10.0.0.2"], "10.0.0.2"),
            (&["unknown"], "10.0.0.1"),
        ];
        for (values, want) in cases {
            let h = headers("x-forwarded-for", values);
            assert_eq!(p.client_addr(peer, &h), ip(want), "{values:?}");
        }
        // The other header is not read.
        let h = headers("forwarded", &["for=198.51.100.7"]);
        assert_eq!(p.client_addr(peer, &h), peer);
    }

    #[test]
    fn forwarded_elements() {
        let p = "10.0.0.0/8"
            .parse::<TrustedProxies>()
            .unwrap()
            .header(ProxyHeader::Forwarded);
        let peer = ip("10.0.0.1");
        let cases: &[(&[&str], &str)] = &[
            (&["for=198.51.100.7"], "198.51.100.7"),
            (&["For=\"198.51.100.7:80\";proto=https"], "198.51.100.7"),
            (&["for=\"[2001:db8:cafe::17]:4711\""], "2001:db8:cafe::17"),
            (
                &["for=6.6.6.6, for=198.51.100.7;by=10.0.0.1"],
                "198.51.100.7",
            ),
            (&["for=198.51.100.7, for=10.0.0.2"], "198.51.100.7"),
            (&["for=_hidden, for=10.0.0.2"], "10.0.0.2"),
            (&["proto=https"], "10.0.0.1"),
        ];
        for (values, want) in cases {
            let h = headers("forwarded", values);
            assert_eq!(p.client_addr(peer, &h), ip(want), "{values:?}");
        }
        let h = headers("x-forwarded-for", &["198.51.100.7"]);
        assert_eq!(p.client_addr(peer, &h), peer);
    }
}
