//! How often one key (a checkout, a client) may do something: at most `limit` times in any
//! sliding window, in memory. Each server limits the requests it receives. Which client a
//! request comes from: [`client_key`].

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::str::FromStr;

pub struct SlidingWindow {
    limit: usize,
    window_ms: u64,
    recent: HashMap<String, VecDeque<u64>>,
}

/// Keys held at most before those whose every use is old are forgotten.
const KEYS_KEPT: usize = 10_000;

impl SlidingWindow {
    pub fn new(limit: usize, window_ms: u64) -> Self {
        Self {
            limit,
            window_ms,
            recent: HashMap::new(),
        }
    }

    /// Counts a use by `key` at `now`, or says in how many milliseconds one is allowed.
    pub fn allow(&mut self, key: &str, now: u64) -> Result<(), u64> {
        let since = now.saturating_sub(self.window_ms);
        if self.recent.len() > KEYS_KEPT {
            self.recent
                .retain(|_, times| times.back().is_some_and(|t| *t > since));
        }
        let times = self.recent.entry(key.to_owned()).or_default();
        while times.front().is_some_and(|t| *t <= since) {
            times.pop_front();
        }
        if times.len() >= self.limit {
            let oldest = times.front().copied().unwrap_or(now);
            return Err((oldest + self.window_ms).saturating_sub(now).max(1));
        }
        times.push_back(now);
        Ok(())
    }
}

/// An address, or a network of them (`10.0.0.0/8`, `fd00::/8`, `192.0.2.7`): what
/// `trusted_proxies` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    base: IpAddr,
    prefix: u8,
}

impl Network {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.base, ip.to_canonical()) {
            (IpAddr::V4(base), IpAddr::V4(ip)) => {
                masked(u32::from(ip).into(), 32, self.prefix) == u32::from(base).into()
            }
            (IpAddr::V6(base), IpAddr::V6(ip)) => {
                masked(u128::from(ip), 128, self.prefix) == u128::from(base)
            }
            _ => false,
        }
    }
}

/// As written in `trusted_proxies`: `10.0.0.0/8`, or an address alone.
impl std::fmt::Display for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let bits = if self.base.is_ipv4() { 32 } else { 128 };
        if self.prefix == bits {
            write!(f, "{}", self.base)
        } else {
            write!(f, "{}/{}", self.base, self.prefix)
        }
    }
}

/// The first `prefix` of `bits` bits of `value`, the rest zero.
fn masked(value: u128, bits: u8, prefix: u8) -> u128 {
    match bits - prefix.min(bits) {
        0 => value,
        host if host >= 128 => 0,
        host => value >> host << host,
    }
}

impl FromStr for Network {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let refused = || format!("{text:?} is not an address or a network such as 10.0.0.0/8");
        let (address, prefix) = match text.trim().split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text.trim(), None),
        };
        let base = address
            .parse::<IpAddr>()
            .map_err(|_| refused())?
            .to_canonical();
        let bits = if base.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => bits,
            Some(digits) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
                match digits.parse::<u8>() {
                    Ok(prefix) if prefix <= bits => prefix,
                    _ => return Err(refused()),
                }
            }
            Some(_) => return Err(refused()),
        };
        let base = match base {
            IpAddr::V4(v4) => IpAddr::V4((masked(u32::from(v4).into(), 32, prefix) as u32).into()),
            IpAddr::V6(v6) => IpAddr::V6(masked(u128::from(v6), 128, prefix).into()),
        };
        Ok(Self { base, prefix })
    }
}

/// The per-client limit's key for a request that came over a connection from `peer`, with
/// `forwarded_for` the entries of its `X-Forwarded-For` headers, in order.
///
/// Only a peer in `trusted` (a balancer of the merchant's own) is believed about who it forwards:
/// the client is then the rightmost forwarded address that is not itself a trusted proxy (each
/// proxy appends the address it got the request from, so what lies to the left of that was
/// written by the client, and is ignored). An entry that is not an address ends the walk at the
/// last address reached. From any other peer, `X-Forwarded-For` is ignored.
///
/// An IPv4 address is a client; an IPv6 address is keyed by its /64, which is what one
/// subscriber gets (every address in it is theirs to use).
pub fn client_key<'a>(
    peer: IpAddr,
    forwarded_for: impl IntoIterator<Item = &'a str>,
    trusted: &[Network],
) -> String {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|n| n.contains(ip));
    let mut client = peer.to_canonical();
    if is_trusted(client) {
        let hops: Vec<&str> = forwarded_for
            .into_iter()
            .flat_map(|header| header.split(','))
            .map(str::trim)
            .filter(|hop| !hop.is_empty())
            .collect();
        for hop in hops.iter().rev() {
            let Some(ip) = forwarded_address(hop) else {
                break;
            };
            client = ip.to_canonical();
            if !is_trusted(client) {
                break;
            }
        }
    }
    match client {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let network = std::net::Ipv6Addr::from(masked(u128::from(v6), 128, 64));
            format!("{network}/64")
        }
    }
}

/// An `X-Forwarded-For` entry's address: bare, or with a port (`192.0.2.1:4711`,
/// `[2001:db8::1]:4711`), or in brackets.
fn forwarded_address(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| hop.strip_prefix('[')?.strip_suffix(']')?.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_may_act_so_often_in_any_window() {
        let mut limiter = SlidingWindow::new(5, 60_000);
        for i in 0..5 {
            assert_eq!(limiter.allow("co_1", 1_000 + i), Ok(()));
        }
        assert_eq!(limiter.allow("co_1", 2_000), Err(59_000));
        assert_eq!(limiter.allow("co_2", 2_000), Ok(()), "each key its own");
        assert_eq!(limiter.allow("co_1", 61_000), Ok(()));
    }

    #[test]
    fn networks_are_read_and_hold_their_addresses() {
        let net = |text: &str| text.parse::<Network>().unwrap();
        let ip = |text: &str| text.parse::<IpAddr>().unwrap();
        assert!(net("10.0.0.0/8").contains(ip("10.255.0.1")));
        assert!(!net("10.0.0.0/8").contains(ip("11.0.0.1")));
        assert!(
            net("10.1.2.3/8").contains(ip("10.9.9.9")),
            "host bits ignored"
        );
        assert!(net("192.0.2.7").contains(ip("192.0.2.7")));
        assert!(!net("192.0.2.7").contains(ip("192.0.2.8")));
        assert!(net("192.0.2.7").contains(ip("::ffff:192.0.2.7")), "mapped");
        assert!(net("0.0.0.0/0").contains(ip("203.0.113.1")));
        assert!(!net("0.0.0.0/0").contains(ip("2001:db8::1")));
        assert!(net("fd00::/8").contains(ip("fdff::1")));
        assert!(!net("fd00::/8").contains(ip("fe80::1")));
        assert!(net("::/0").contains(ip("2001:db8::1")));
        assert!(net("::1").contains(ip("::1")));
        for bad in [
            "",
            "10.0.0.0/33",
            "fd00::/129",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "ten",
            "10.0.0/8",
        ] {
            let error = bad.parse::<Network>().unwrap_err();
            assert!(error.contains("10.0.0.0/8"), "{bad}: {error}");
        }
    }

    #[test]
    fn a_client_is_its_ipv4_address_or_its_ipv6_64() {
        let key = |peer: &str, forwarded: &[&str], trusted: &[&str]| {
            let trusted: Vec<Network> = trusted.iter().map(|t| t.parse().unwrap()).collect();
            client_key(peer.parse().unwrap(), forwarded.iter().copied(), &trusted)
        };
        assert_eq!(key("192.0.2.1", &[], &[]), "192.0.2.1");
        assert_eq!(key("::ffff:192.0.2.1", &[], &[]), "192.0.2.1");
        assert_eq!(key("2001:db8:1:2:3:4:5:6", &[], &[]), "2001:db8:1:2::/64");
        assert_eq!(key("2001:db8:1:2::9", &[], &[]), "2001:db8:1:2::/64");
        let proxies = ["10.0.0.0/8", "fd00::/8"];
        assert_eq!(
            key("198.51.100.7", &["203.0.113.1"], &proxies),
            "198.51.100.7"
        );
        assert_eq!(key("10.0.0.1", &["203.0.113.1"], &proxies), "203.0.113.1");
        assert_eq!(
            key("10.0.0.1", &["1.1.1.1, 203.0.113.1, 10.0.0.2"], &proxies),
            "203.0.113.1"
        );
        assert_eq!(
            key("10.0.0.1", &["1.1.1.1", "203.0.113.1,10.0.0.2"], &proxies),
            "203.0.113.1",
            "several headers are one list"
        );
        assert_eq!(
            key("10.0.0.1", &["10.0.0.3, 10.0.0.2"], &proxies),
            "10.0.0.3"
        );
        assert_eq!(key("10.0.0.1", &[], &proxies), "10.0.0.1");
        assert_eq!(
            key("fd00::5", &["[2001:db8:7::1]:443"], &proxies),
            "2001:db8:7::/64"
        );
        assert_eq!(key("fd00::5", &["192.0.2.9:4711"], &proxies), "192.0.2.9");
        assert_eq!(
            key("fd00::5", &["[2001:db8:7::1]"], &proxies),
            "2001:db8:7::/64"
        );
        assert_eq!(
            key("10.0.0.1", &["203.0.113.1, unknown"], &proxies),
            "10.0.0.1",
            "what is not an address stops the walk"
        );
    }

    #[test]
    fn old_keys_are_forgotten_past_the_keys_kept() {
        let mut limiter = SlidingWindow::new(1, 1_000);
        for i in 0..=KEYS_KEPT {
            limiter.allow(&format!("k{i}"), 0).unwrap();
        }
        limiter.allow("late", 5_000).unwrap();
        assert_eq!(limiter.recent.len(), 1);
    }
}
