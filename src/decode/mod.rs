//! Link, IP and TCP headers: turns a captured [`Frame`](crate::capture::Frame)'s bytes into a
//! TCP [`Segment`] borrowing them, or a [`SkipReason`]. Uses [`crate::net`].
//!
//! Link types: Ethernet (802.1Q, QinQ), Linux SLL and SLL2, BSD NULL and LOOP, raw IPv4/IPv6.
//! A packet that is not TCP, or that cannot be decoded, is skipped and counted, never an error.
//!
//! The common shapes (Ethernet/SLL/SLL2/NULL/raw, optional VLAN tags, IPv4 or plain IPv6, TCP)
//! are parsed by hand without allocation; IPv6 extension headers and MACsec go through
//! etherparse's lax slicer, which keeps snaplen-cut packets.

use crate::net::Endpoint;

mod ip;
mod lax;
mod link;
#[cfg(test)]
mod tests;

/// LINKTYPE_* values [`decode`] understands (see tcpdump.org/linktypes.html).
pub mod linktype {
    /// BSD loopback: 4-byte address family in the writer's byte order.
    pub const NULL: u16 = 0;
    pub const ETHERNET: u16 = 1;
    /// DLT_RAW as most systems number it.
    pub const DLT_RAW: u16 = 12;
    /// DLT_RAW as OpenBSD numbers it.
    pub const DLT_RAW_OPENBSD: u16 = 14;
    pub const RAW: u16 = 101;
    /// OpenBSD loopback: 4-byte address family, big-endian.
    pub const LOOP: u16 = 108;
    pub const LINUX_SLL: u16 = 113;
    pub const IPV4: u16 = 228;
    pub const IPV6: u16 = 229;
    pub const LINUX_SLL2: u16 = 276;
}

/// TCP header flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;

    pub fn fin(self) -> bool {
        self.0 & Self::FIN != 0
    }
    pub fn syn(self) -> bool {
        self.0 & Self::SYN != 0
    }
    pub fn rst(self) -> bool {
        self.0 & Self::RST != 0
    }
    pub fn ack(self) -> bool {
        self.0 & Self::ACK != 0
    }
}

/// The TCP view of one packet.
#[derive(Clone, Copy, Debug)]
pub struct Segment<'a> {
    pub src: Endpoint,
    pub dst: Endpoint,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub window: u16,
    /// TCP payload length on the wire, from the IP length fields (not the captured length).
    pub payload_len: u32,
    /// The captured payload bytes: shorter than `payload_len` when snaplen cut the packet.
    pub payload: &'a [u8],
}

/// Why a packet was not turned into a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SkipReason {
    /// Link type finscope does not decode.
    UnsupportedLinkType,
    /// Not IPv4 or IPv6 (ARP, LLDP, ...).
    NotIp,
    /// IP but not TCP (UDP, ICMP, ...).
    NotTcp,
    /// A TCP packet carried in IP fragments.
    IpFragment,
    /// Captured bytes end before the TCP header does.
    Truncated,
    /// Header fields that contradict each other.
    Malformed,
}

impl SkipReason {
    pub const ALL: [SkipReason; 6] = [
        SkipReason::UnsupportedLinkType,
        SkipReason::NotIp,
        SkipReason::NotTcp,
        SkipReason::IpFragment,
        SkipReason::Truncated,
        SkipReason::Malformed,
    ];

    /// Stable snake_case name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::UnsupportedLinkType => "unsupported_link_type",
            SkipReason::NotIp => "not_ip",
            SkipReason::NotTcp => "not_tcp",
            SkipReason::IpFragment => "ip_fragment",
            SkipReason::Truncated => "truncated",
            SkipReason::Malformed => "malformed",
        }
    }
}

/// Decodes one frame of link type `linktype`.
pub fn decode(linktype: u16, data: &[u8]) -> Result<Segment<'_>, SkipReason> {
    link::decode(linktype, data)
}
