//! IPv4, plain IPv6 and TCP by hand: the per-packet fast path. IPv6 extension headers are
//! handed to [`super::lax`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{lax, Segment, SkipReason, TcpFlags};
use crate::net::Endpoint;

const IPPROTO_TCP: u8 = 6;
/// IPv6 extension headers etherparse walks: hop-by-hop, routing, fragment, AH, destination.
const IPV6_EXTENSIONS: [u8; 5] = [0, 43, 44, 51, 60];
const IPV4_MORE_FRAGMENTS_AND_OFFSET: u16 = 0x3FFF;

/// Raw IP of either version, told apart by the version nibble.
pub(super) fn by_version(l3: &[u8]) -> Result<Segment<'_>, SkipReason> {
    match l3.first().map(|b| b >> 4) {
        None => Err(SkipReason::Truncated),
        Some(4) => ipv4(l3),
        Some(6) => ipv6(l3),
        Some(_) => Err(SkipReason::NotIp),
    }
}

#[inline(always)]
pub(super) fn ipv4(l3: &[u8]) -> Result<Segment<'_>, SkipReason> {
    let Some(h) = l3.first_chunk::<20>() else {
        return Err(SkipReason::Truncated);
    };
    if h[0] >> 4 != 4 {
        return Err(SkipReason::Malformed);
    }
    let ihl = usize::from(h[0] & 0x0F) * 4;
    if ihl < 20 {
        return Err(SkipReason::Malformed);
    }
    // TSO/GRO captures carry total length 0: the captured bytes are all we know.
    let total = match usize::from(u16::from_be_bytes([h[2], h[3]])) {
        0 => l3.len(),
        n if n < ihl => return Err(SkipReason::Malformed),
        n => n,
    };
    if h[9] != IPPROTO_TCP {
        return Err(SkipReason::NotTcp);
    }
    if u16::from_be_bytes([h[6], h[7]]) & IPV4_MORE_FRAGMENTS_AND_OFFSET != 0 {
        return Err(SkipReason::IpFragment);
    }
    if l3.len() < ihl {
        return Err(SkipReason::Truncated);
    }
    let src = Ipv4Addr::new(h[12], h[13], h[14], h[15]);
    let dst = Ipv4Addr::new(h[16], h[17], h[18], h[19]);
    // Ethernet pads short frames: bytes past the IP total length are not TCP.
    let captured = &l3[ihl..total.min(l3.len())];
    tcp(src.into(), dst.into(), captured, total - ihl)
}

pub(super) fn ipv6(l3: &[u8]) -> Result<Segment<'_>, SkipReason> {
    let Some(h) = l3.first_chunk::<40>() else {
        return Err(SkipReason::Truncated);
    };
    if h[0] >> 4 != 6 {
        return Err(SkipReason::Malformed);
    }
    let next = h[6];
    if next != IPPROTO_TCP {
        return if IPV6_EXTENSIONS.contains(&next) {
            lax::ip(l3)
        } else {
            Err(SkipReason::NotTcp)
        };
    }
    // Payload length 0 is a jumbogram (or TSO): use what was captured.
    let end = match usize::from(u16::from_be_bytes([h[4], h[5]])) {
        0 => l3.len(),
        n => 40 + n,
    };
    let src = Ipv6Addr::from(addr16(h, 8));
    let dst = Ipv6Addr::from(addr16(h, 24));
    tcp(src.into(), dst.into(), &l3[40..end.min(l3.len())], end - 40)
}

fn addr16(h: &[u8; 40], at: usize) -> [u8; 16] {
    let mut a = [0; 16];
    a.copy_from_slice(&h[at..at + 16]);
    a
}

/// `seg` is the captured TCP bytes (cut at the IP end), `ip_payload_len` what IP says it holds.
#[inline(always)]
pub(super) fn tcp(
    src: IpAddr,
    dst: IpAddr,
    seg: &[u8],
    ip_payload_len: usize,
) -> Result<Segment<'_>, SkipReason> {
    if ip_payload_len < 20 {
        return Err(SkipReason::Malformed);
    }
    let Some(h) = seg.first_chunk::<20>() else {
        return Err(SkipReason::Truncated);
    };
    let header_len = usize::from(h[12] >> 4) * 4;
    if header_len < 20 || ip_payload_len < header_len {
        return Err(SkipReason::Malformed);
    }
    // Snaplen may cut the options (old tcpdump's `-s 68` does so on every SYN): the fixed
    // header holds all a verdict needs, so such a segment still counts, with no payload bytes.
    let payload = seg.get(header_len..).unwrap_or(&[]);
    Ok(Segment {
        src: Endpoint::new(src, u16::from_be_bytes([h[0], h[1]])),
        dst: Endpoint::new(dst, u16::from_be_bytes([h[2], h[3]])),
        seq: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
        ack: u32::from_be_bytes([h[8], h[9], h[10], h[11]]),
        flags: TcpFlags(h[13]),
        window: u16::from_be_bytes([h[14], h[15]]),
        payload_len: u32::try_from(ip_payload_len - header_len).unwrap_or(u32::MAX),
        payload,
    })
}
