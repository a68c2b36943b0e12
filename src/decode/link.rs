//! Link layers: strips the link header and hands the network bytes to [`super::ip`].

use super::linktype as lt;
use super::{ip, lax, Segment, SkipReason};

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86DD;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88A8;
const ETHERTYPE_QINQ_OLD: u16 = 0x9100;
const ETHERTYPE_MACSEC: u16 = 0x88E5;
/// etherparse's limit too; deeper stacks are not seen in practice.
const MAX_VLAN_TAGS: usize = 3;

/// AF_INET6 differs by OS: Linux 10, NetBSD/OpenBSD 24, FreeBSD 28, macOS 30.
const AF_INET: u32 = 2;
const AF_INET6: [u32; 4] = [10, 24, 28, 30];

pub(super) fn decode(linktype: u16, data: &[u8]) -> Result<Segment<'_>, SkipReason> {
    match linktype {
        lt::ETHERNET => ethernet(data),
        lt::LINUX_SLL => {
            let (hdr, l3) = split(data, 16)?;
            ether_type(be16(hdr, 14), l3)
        }
        lt::LINUX_SLL2 => {
            let (hdr, l3) = split(data, 20)?;
            ether_type(be16(hdr, 0), l3)
        }
        // NULL stores the family in the writer's byte order, which the file does not record:
        // the small family values are unambiguous in either order.
        lt::NULL => {
            let (hdr, l3) = split(data, 4)?;
            let raw = [hdr[0], hdr[1], hdr[2], hdr[3]];
            let le = u32::from_le_bytes(raw);
            let af = if is_inet(le) {
                le
            } else {
                u32::from_be_bytes(raw)
            };
            family(af, l3)
        }
        lt::LOOP => {
            let (hdr, l3) = split(data, 4)?;
            family(u32::from_be_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]), l3)
        }
        lt::RAW | lt::DLT_RAW | lt::DLT_RAW_OPENBSD => ip::by_version(data),
        lt::IPV4 => ip::ipv4(data),
        lt::IPV6 => ip::ipv6(data),
        _ => Err(SkipReason::UnsupportedLinkType),
    }
}

#[inline(always)]
fn ethernet(data: &[u8]) -> Result<Segment<'_>, SkipReason> {
    let (hdr, rest) = split(data, 14)?;
    let et = be16(hdr, 12);
    if et == ETHERTYPE_MACSEC {
        return lax::ethernet(data);
    }
    ether_type(et, rest)
}

/// Dispatches on an EtherType, peeling up to [`MAX_VLAN_TAGS`] 802.1Q/802.1ad tags first.
#[inline(always)]
fn ether_type(mut et: u16, mut rest: &[u8]) -> Result<Segment<'_>, SkipReason> {
    let mut tags = 0;
    while matches!(et, ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD) {
        if tags == MAX_VLAN_TAGS {
            return Err(SkipReason::Malformed);
        }
        let (tag, inner) = split(rest, 4)?;
        et = be16(tag, 2);
        rest = inner;
        tags += 1;
    }
    match et {
        ETHERTYPE_IPV4 => ip::ipv4(rest),
        ETHERTYPE_IPV6 => ip::ipv6(rest),
        ETHERTYPE_MACSEC => lax::ether_type(et, rest),
        _ => Err(SkipReason::NotIp),
    }
}

fn is_inet(af: u32) -> bool {
    af == AF_INET || AF_INET6.contains(&af)
}

fn family(af: u32, l3: &[u8]) -> Result<Segment<'_>, SkipReason> {
    if af == AF_INET {
        ip::ipv4(l3)
    } else if AF_INET6.contains(&af) {
        ip::ipv6(l3)
    } else {
        Err(SkipReason::NotIp)
    }
}

/// Splits off a fixed-size header; a frame shorter than it is cut before the TCP header.
fn split(data: &[u8], len: usize) -> Result<(&[u8], &[u8]), SkipReason> {
    if data.len() < len {
        return Err(SkipReason::Truncated);
    }
    Ok(data.split_at(len))
}

/// Callers have checked that `at + 2 <= b.len()`.
fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}
