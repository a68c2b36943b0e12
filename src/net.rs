//! Addresses and directions: [`Endpoint`], the canonical [`FlowKey`], [`Side`] and [`Dir`].
//! Uses nothing else in the crate.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr};

/// One end of a TCP connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Endpoint {
    pub ip: IpAddr,
    pub port: u16,
}

impl Endpoint {
    pub fn new(ip: IpAddr, port: u16) -> Self {
        Endpoint { ip, port }
    }

    /// The endpoint as two words that order as `Endpoint`'s `Ord` does (IPv4 before IPv6, then
    /// the address, then the port): the high word holds the family and the address's upper
    /// bits, the low word the rest and the port.
    #[inline]
    fn words(&self) -> (u64, u128) {
        match self.ip {
            IpAddr::V4(a) => (0, u128::from(v4_word(a, self.port))),
            IpAddr::V6(a) => {
                let bits = a.to_bits();
                (
                    1 << 63 | (bits >> 80) as u64,
                    (bits & ((1 << 80) - 1)) << 16 | u128::from(self.port),
                )
            }
        }
    }

    /// An IPv4 endpoint's address and port in one word (`words().1` for it), which orders as
    /// the endpoints do; `None` for IPv6. Most keys are two of these, and comparing and hashing
    /// one word each is cheaper.
    #[inline]
    pub fn v4_word(&self) -> Option<u64> {
        match self.ip {
            IpAddr::V4(a) => Some(v4_word(a, self.port)),
            IpAddr::V6(_) => None,
        }
    }
}

#[inline]
fn v4_word(a: Ipv4Addr, port: u16) -> u64 {
    u64::from(a.to_bits()) << 16 | u64::from(port)
}

impl fmt::Display for Endpoint {
    /// `ip:port`, IPv6 as `[addr]:port`, as in URLs and `ss`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ip {
            IpAddr::V4(a) => write!(f, "{a}:{}", self.port),
            IpAddr::V6(a) => write!(f, "[{a}]:{}", self.port),
        }
    }
}

/// A connection's 4-tuple in canonical order (`lo <= hi`), so both directions of a connection
/// map to the same key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FlowKey {
    pub lo: Endpoint,
    pub hi: Endpoint,
}

/// Hashes fixed-width words rather than the derived walk over each address's enum and bytes:
/// the flow table hashes a key per segment.
impl Hash for FlowKey {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        if let (Some(lo), Some(hi)) = (self.lo.v4_word(), self.hi.v4_word()) {
            state.write_u128(u128::from(lo) << 64 | u128::from(hi));
            return;
        }
        let (lo_high, lo_low) = self.lo.words();
        let (hi_high, hi_low) = self.hi.words();
        state.write_u128(lo_low);
        state.write_u128(hi_low);
        // Zero for IPv4 keys, whose address fits in the low words.
        state.write_u64(lo_high ^ hi_high.rotate_left(32));
    }
}

impl FlowKey {
    /// The key of a segment from `src` to `dst`, and whether `src` is the key's `lo`.
    #[inline]
    pub fn of(src: Endpoint, dst: Endpoint) -> (FlowKey, Dir) {
        let in_order = match (src.v4_word(), dst.v4_word()) {
            (Some(s), Some(d)) => s <= d,
            _ => src.words() <= dst.words(),
        };
        if in_order {
            (FlowKey { lo: src, hi: dst }, Dir::LoToHi)
        } else {
            (FlowKey { lo: dst, hi: src }, Dir::HiToLo)
        }
    }
}

/// Direction of a segment relative to its [`FlowKey`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dir {
    LoToHi,
    HiToLo,
}

/// The role of one end of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Side {
    Client,
    Server,
}

impl Side {
    pub fn peer(self) -> Side {
        match self {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Side::Client => "client",
            Side::Server => "server",
        }
    }

    /// Index into two-element per-side arrays: client 0, server 1.
    pub fn idx(self) -> usize {
        match self {
            Side::Client => 0,
            Side::Server => 1,
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_directions_share_a_key() {
        let a = Endpoint::new("10.0.0.1".parse().unwrap(), 40000);
        let b = Endpoint::new("10.0.0.2".parse().unwrap(), 80);
        let (k1, d1) = FlowKey::of(a, b);
        let (k2, d2) = FlowKey::of(b, a);
        assert_eq!(k1, k2);
        assert_ne!(d1, d2);
    }

    #[test]
    fn words_order_as_endpoints_do() {
        let eps: Vec<Endpoint> = [
            "0.0.0.0",
            "10.0.0.1",
            "10.0.0.2",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:10.0.0.1",
            "fe80::1",
            "fe80::1:0:0:0",
            "ffff::",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        ]
        .iter()
        .flat_map(|ip| [0, 1, 80, 65535].map(|port| Endpoint::new(ip.parse().unwrap(), port)))
        .collect();
        for a in &eps {
            for b in &eps {
                assert_eq!(a.words().cmp(&b.words()), a.cmp(b), "{a} {b}");
                assert_eq!(a.words() == b.words(), a == b, "{a} {b}");
                if let (Some(x), Some(y)) = (a.v4_word(), b.v4_word()) {
                    assert_eq!(x.cmp(&y), a.cmp(b), "{a} {b}");
                }
                // The key's order of its ends follows the endpoints' order.
                let (key, dir) = FlowKey::of(*a, *b);
                assert_eq!(key.lo, *a.min(b), "{a} {b}");
                assert_eq!(dir == Dir::LoToHi, a <= b, "{a} {b}");
            }
        }
    }

    #[test]
    fn ipv6_endpoints_are_bracketed() {
        let e = Endpoint::new("::1".parse().unwrap(), 8080);
        assert_eq!(e.to_string(), "[::1]:8080");
    }
}
