//! The slow path: etherparse's lax slicer for IPv6 extension headers and MACsec. Lax slicing
//! keeps the TCP header of a snaplen-cut packet, which the strict slicer would reject.

use std::net::IpAddr;

use etherparse::err::packet::SliceError;
use etherparse::err::Layer;
use etherparse::{EtherType, IpNumber, LaxNetSlice, LaxSlicedPacket, TransportSlice};

use super::{Segment, SkipReason, TcpFlags};
use crate::net::Endpoint;

pub(super) fn ethernet(data: &[u8]) -> Result<Segment<'_>, SkipReason> {
    match LaxSlicedPacket::from_ethernet(data) {
        Ok(p) => segment(&p),
        Err(_) => Err(SkipReason::Truncated),
    }
}

pub(super) fn ether_type(et: u16, rest: &[u8]) -> Result<Segment<'_>, SkipReason> {
    segment(&LaxSlicedPacket::from_ether_type(EtherType(et), rest))
}

pub(super) fn ip(l3: &[u8]) -> Result<Segment<'_>, SkipReason> {
    use etherparse::err::ip::LaxHeaderSliceError;
    match LaxSlicedPacket::from_ip(l3) {
        Ok(p) => segment(&p),
        Err(LaxHeaderSliceError::Len(_)) => Err(SkipReason::Truncated),
        Err(LaxHeaderSliceError::Content(_)) => Err(SkipReason::Malformed),
    }
}

/// Where the IP header starts in memory, its addresses, and where IP says the packet ends
/// (relative to the header start; `None` when the length field is 0).
struct IpView {
    start: usize,
    src: IpAddr,
    dst: IpAddr,
    declared_end: Option<usize>,
}

fn segment<'a>(p: &LaxSlicedPacket<'a>) -> Result<Segment<'a>, SkipReason> {
    let (view, payload) = match &p.net {
        None | Some(LaxNetSlice::Arp(_)) => {
            return Err(match &p.stop_err {
                Some((SliceError::Len(_), _)) => SkipReason::Truncated,
                Some((SliceError::Ip(_) | SliceError::Ipv4(_) | SliceError::Ipv6(_), _)) => {
                    SkipReason::Malformed
                }
                _ => SkipReason::NotIp,
            });
        }
        Some(LaxNetSlice::Ipv4(s)) => {
            let h = s.header();
            let total = usize::from(h.total_len());
            let view = IpView {
                start: h.slice().as_ptr() as usize,
                src: h.source_addr().into(),
                dst: h.destination_addr().into(),
                declared_end: (total != 0).then_some(total),
            };
            (view, s.payload())
        }
        Some(LaxNetSlice::Ipv6(s)) => {
            let h = s.header();
            let len = usize::from(h.payload_length());
            let view = IpView {
                start: h.slice().as_ptr() as usize,
                src: h.source_addr().into(),
                dst: h.destination_addr().into(),
                declared_end: (len != 0).then_some(40 + len),
            };
            (view, s.payload())
        }
    };
    if payload.fragmented {
        return Err(if payload.ip_number == IpNumber::TCP {
            SkipReason::IpFragment
        } else {
            SkipReason::NotTcp
        });
    }
    match &p.transport {
        Some(TransportSlice::Tcp(t)) => {
            let h = t.header_slice();
            let tcp_start = t.slice().as_ptr() as usize;
            let Some(tcp_offset) = tcp_start.checked_sub(view.start) else {
                return Err(SkipReason::Malformed);
            };
            let header_len = h.len();
            let payload_len = match view.declared_end {
                Some(end) => end
                    .checked_sub(tcp_offset + header_len)
                    .ok_or(SkipReason::Malformed)?,
                None => t.payload().len(),
            };
            let captured = t.payload();
            let captured = &captured[..captured.len().min(payload_len)];
            Ok(Segment {
                src: Endpoint::new(view.src, t.source_port()),
                dst: Endpoint::new(view.dst, t.destination_port()),
                seq: t.sequence_number(),
                ack: t.acknowledgment_number(),
                flags: TcpFlags(h.get(13).copied().unwrap_or(0)),
                window: t.window_size(),
                payload_len: u32::try_from(payload_len).unwrap_or(u32::MAX),
                payload: captured,
            })
        }
        Some(_) => Err(SkipReason::NotTcp),
        None => Err(match &p.stop_err {
            Some((err, layer)) if payload.ip_number == IpNumber::TCP || is_ip_ext(*layer) => {
                match err {
                    SliceError::Len(_) => SkipReason::Truncated,
                    _ => SkipReason::Malformed,
                }
            }
            _ if payload.ip_number == IpNumber::TCP => SkipReason::Truncated,
            _ => SkipReason::NotTcp,
        }),
    }
}

fn is_ip_ext(layer: Layer) -> bool {
    matches!(
        layer,
        Layer::IpAuthHeader
            | Layer::Ipv6ExtHeader
            | Layer::Ipv6HopByHopHeader
            | Layer::Ipv6DestOptionsHeader
            | Layer::Ipv6RouteHeader
            | Layer::Ipv6FragHeader
    )
}
