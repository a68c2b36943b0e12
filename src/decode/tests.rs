//! Packets built byte by byte, one per link type and per skip reason.

use std::net::IpAddr;

use super::linktype as lt;
use super::{decode, Segment, SkipReason, TcpFlags};

const V4_SRC: [u8; 4] = [10, 0, 0, 1];
const V4_DST: [u8; 4] = [10, 0, 0, 2];
const V6_SRC: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const V6_DST: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

fn tcp(payload: &[u8]) -> Vec<u8> {
    tcp_with(5, TcpFlags::FIN | TcpFlags::ACK, payload)
}

fn tcp_with(data_offset: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(&40000u16.to_be_bytes());
    t.extend_from_slice(&80u16.to_be_bytes());
    t.extend_from_slice(&0xDEAD_BEEFu32.to_be_bytes());
    t.extend_from_slice(&0x0102_0304u32.to_be_bytes());
    t.push(data_offset.max(5) << 4);
    t.push(flags);
    t.extend_from_slice(&512u16.to_be_bytes());
    t.extend_from_slice(&[0, 0, 0, 0]);
    // NOP options up to the data offset
    t.resize(usize::from(data_offset.max(5)) * 4, 1);
    if data_offset < 5 {
        t[12] = data_offset << 4;
    }
    t.extend_from_slice(payload);
    t
}

fn ipv4(proto: u8, frag: u16, body: &[u8]) -> Vec<u8> {
    let mut h = vec![0x45, 0];
    h.extend_from_slice(&(20 + body.len() as u16).to_be_bytes());
    h.extend_from_slice(&[0x12, 0x34]);
    h.extend_from_slice(&frag.to_be_bytes());
    h.extend_from_slice(&[64, proto, 0, 0]);
    h.extend_from_slice(&V4_SRC);
    h.extend_from_slice(&V4_DST);
    h.extend_from_slice(body);
    h
}

fn ipv6(next: u8, body: &[u8]) -> Vec<u8> {
    let mut h = vec![0x60, 0, 0, 0];
    h.extend_from_slice(&(body.len() as u16).to_be_bytes());
    h.extend_from_slice(&[next, 64]);
    h.extend_from_slice(&V6_SRC);
    h.extend_from_slice(&V6_DST);
    h.extend_from_slice(body);
    h
}

/// An 8-byte hop-by-hop / destination options header holding one PadN option.
fn ext_opts(next: u8, rest: &[u8]) -> Vec<u8> {
    let mut e = vec![next, 0, 1, 4, 0, 0, 0, 0];
    e.extend_from_slice(rest);
    e
}

fn eth(ether_type: u16, body: &[u8]) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
    f.extend_from_slice(&ether_type.to_be_bytes());
    f.extend_from_slice(body);
    f
}

/// A VLAN tag as it follows its TPID: TCI (VLAN 100), then the inner EtherType.
fn tag(inner: u16, body: &[u8]) -> Vec<u8> {
    let mut f = vec![0x00, 0x64];
    f.extend_from_slice(&inner.to_be_bytes());
    f.extend_from_slice(body);
    f
}

fn sll(protocol: u16, body: &[u8]) -> Vec<u8> {
    let mut f = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0];
    f.extend_from_slice(&protocol.to_be_bytes());
    f.extend_from_slice(body);
    f
}

fn sll2(protocol: u16, body: &[u8]) -> Vec<u8> {
    let mut f = protocol.to_be_bytes().to_vec();
    f.extend_from_slice(&[0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0]);
    f.extend_from_slice(body);
    f
}

fn prefixed(prefix: &[u8], body: &[u8]) -> Vec<u8> {
    let mut f = prefix.to_vec();
    f.extend_from_slice(body);
    f
}

fn assert_v4(s: &Segment<'_>, payload: &[u8]) {
    assert_eq!(s.src.ip, IpAddr::from(V4_SRC));
    assert_eq!(s.dst.ip, IpAddr::from(V4_DST));
    assert_common(s, payload);
}

fn assert_v6(s: &Segment<'_>, payload: &[u8]) {
    assert_eq!(s.src.ip, IpAddr::from(V6_SRC));
    assert_eq!(s.dst.ip, IpAddr::from(V6_DST));
    assert_common(s, payload);
}

fn assert_common(s: &Segment<'_>, payload: &[u8]) {
    assert_eq!((s.src.port, s.dst.port), (40000, 80));
    assert_eq!((s.seq, s.ack), (0xDEAD_BEEF, 0x0102_0304));
    assert!(s.flags.fin() && s.flags.ack() && !s.flags.syn() && !s.flags.rst());
    assert_eq!(s.window, 512);
    assert_eq!(s.payload_len as usize, payload.len());
    assert_eq!(s.payload, payload);
}

const HELLO: &[u8] = b"hello";

#[test]
fn ethernet_ipv4_tcp() {
    let f = eth(0x0800, &ipv4(6, 0x4000, &tcp(HELLO)));
    assert_v4(&decode(lt::ETHERNET, &f).unwrap(), HELLO);
}

#[test]
fn ethernet_ipv6_tcp() {
    let f = eth(0x86DD, &ipv6(6, &tcp(HELLO)));
    assert_v6(&decode(lt::ETHERNET, &f).unwrap(), HELLO);
}

#[test]
fn ethernet_padding_is_not_payload() {
    let mut f = eth(0x0800, &ipv4(6, 0, &tcp(b"")));
    f.extend_from_slice(&[0; 6]);
    assert_v4(&decode(lt::ETHERNET, &f).unwrap(), b"");
}

#[test]
fn tcp_options_are_skipped() {
    let f = eth(0x0800, &ipv4(6, 0, &tcp_with(8, 0x11, HELLO)));
    assert_v4(&decode(lt::ETHERNET, &f).unwrap(), HELLO);
}

#[test]
fn ipv4_options_are_skipped() {
    let mut ip = ipv4(6, 0, &[0, 0, 0, 0]);
    ip.truncate(20);
    ip[0] = 0x46;
    ip.extend_from_slice(&[1, 1, 1, 0]);
    ip.extend_from_slice(&tcp(HELLO));
    let total = ip.len() as u16;
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    assert_v4(&decode(lt::RAW, &ip).unwrap(), HELLO);
}

#[test]
fn single_vlan_tag() {
    let f = eth(0x8100, &tag(0x0800, &ipv4(6, 0, &tcp(HELLO))));
    assert_v4(&decode(lt::ETHERNET, &f).unwrap(), HELLO);
}

#[test]
fn qinq_tags() {
    for outer in [0x88A8, 0x9100] {
        let f = eth(outer, &tag(0x8100, &tag(0x0800, &ipv4(6, 0, &tcp(HELLO)))));
        assert_v4(&decode(lt::ETHERNET, &f).unwrap(), HELLO);
    }
}

#[test]
fn three_vlan_tags_decode_and_four_are_malformed() {
    let mut body = tag(0x0800, &ipv4(6, 0, &tcp(HELLO)));
    for _ in 0..2 {
        body = tag(0x8100, &body);
    }
    assert_v4(&decode(lt::ETHERNET, &eth(0x8100, &body)).unwrap(), HELLO);
    let f = eth(0x8100, &tag(0x8100, &body));
    assert_eq!(decode(lt::ETHERNET, &f).unwrap_err(), SkipReason::Malformed);
}

#[test]
fn linux_sll_and_sll2() {
    let ip = ipv4(6, 0, &tcp(HELLO));
    assert_v4(&decode(lt::LINUX_SLL, &sll(0x0800, &ip)).unwrap(), HELLO);
    assert_v4(&decode(lt::LINUX_SLL2, &sll2(0x0800, &ip)).unwrap(), HELLO);
    let ip6 = ipv6(6, &tcp(HELLO));
    assert_v6(&decode(lt::LINUX_SLL, &sll(0x86DD, &ip6)).unwrap(), HELLO);
    assert_v6(&decode(lt::LINUX_SLL2, &sll2(0x86DD, &ip6)).unwrap(), HELLO);
    let err = decode(lt::LINUX_SLL2, &sll2(0x0806, &[0; 28])).unwrap_err();
    assert_eq!(err, SkipReason::NotIp);
    let err = decode(lt::LINUX_SLL2, &sll2(0x0800, &[])[..19]).unwrap_err();
    assert_eq!(err, SkipReason::Truncated);
}

#[test]
fn null_family_in_either_byte_order() {
    let ip = ipv4(6, 0, &tcp(HELLO));
    let ip6 = ipv6(6, &tcp(HELLO));
    assert_v4(
        &decode(lt::NULL, &prefixed(&[2, 0, 0, 0], &ip)).unwrap(),
        HELLO,
    );
    assert_v4(
        &decode(lt::NULL, &prefixed(&[0, 0, 0, 2], &ip)).unwrap(),
        HELLO,
    );
    for af in [10u32, 24, 28, 30] {
        let le = prefixed(&af.to_le_bytes(), &ip6);
        let be = prefixed(&af.to_be_bytes(), &ip6);
        assert_v6(&decode(lt::NULL, &le).unwrap(), HELLO);
        assert_v6(&decode(lt::NULL, &be).unwrap(), HELLO);
    }
    let err = decode(lt::NULL, &prefixed(&[7, 0, 0, 0], &ip)).unwrap_err();
    assert_eq!(err, SkipReason::NotIp);
}

#[test]
fn loop_family_is_big_endian() {
    let ip = ipv4(6, 0, &tcp(HELLO));
    assert_v4(
        &decode(lt::LOOP, &prefixed(&[0, 0, 0, 2], &ip)).unwrap(),
        HELLO,
    );
    let ip6 = ipv6(6, &tcp(HELLO));
    assert_v6(
        &decode(lt::LOOP, &prefixed(&[0, 0, 0, 24], &ip6)).unwrap(),
        HELLO,
    );
    let err = decode(lt::LOOP, &prefixed(&[2, 0, 0, 0], &ip)).unwrap_err();
    assert_eq!(err, SkipReason::NotIp);
}

#[test]
fn raw_ip_link_types() {
    let ip = ipv4(6, 0, &tcp(HELLO));
    let ip6 = ipv6(6, &tcp(HELLO));
    for l in [lt::RAW, lt::DLT_RAW, lt::DLT_RAW_OPENBSD] {
        assert_v4(&decode(l, &ip).unwrap(), HELLO);
        assert_v6(&decode(l, &ip6).unwrap(), HELLO);
    }
    assert_v4(&decode(lt::IPV4, &ip).unwrap(), HELLO);
    assert_v6(&decode(lt::IPV6, &ip6).unwrap(), HELLO);
    assert_eq!(decode(lt::IPV4, &ip6).unwrap_err(), SkipReason::Malformed);
    assert_eq!(decode(lt::RAW, &[]).unwrap_err(), SkipReason::Truncated);
}

#[test]
fn unsupported_link_type() {
    let err = decode(147, &ipv4(6, 0, &tcp(HELLO))).unwrap_err();
    assert_eq!(err, SkipReason::UnsupportedLinkType);
}

#[test]
fn ipv6_hop_by_hop_then_tcp() {
    let f = eth(0x86DD, &ipv6(0, &ext_opts(6, &tcp(HELLO))));
    assert_v6(&decode(lt::ETHERNET, &f).unwrap(), HELLO);
}

#[test]
fn ipv6_hop_by_hop_routing_and_destination_options() {
    // routing header type 0 with no addresses: next, len 0, type, segments left 0, reserved
    let mut routing = vec![60, 0, 0, 0, 0, 0, 0, 0];
    routing.extend_from_slice(&ext_opts(6, &tcp(HELLO)));
    let f = ipv6(0, &ext_opts(43, &routing));
    assert_v6(&decode(lt::RAW, &f).unwrap(), HELLO);
}

#[test]
fn ipv6_extension_then_snaplen_cut() {
    let f = ipv6(60, &ext_opts(6, &tcp(HELLO)));
    let s = decode(lt::RAW, &f[..f.len() - 3]).unwrap();
    assert_eq!(s.payload_len, 5);
    assert_eq!(s.payload, b"he");
    let err = decode(lt::RAW, &f[..40 + 8 + 19]).unwrap_err();
    assert_eq!(err, SkipReason::Truncated);
}

#[test]
fn ipv6_fragment_header() {
    // fragment header: next TCP, offset 0, more fragments
    let mut frag = vec![6, 0, 0, 1, 0, 0, 0, 7];
    frag.extend_from_slice(&tcp(HELLO));
    let f = ipv6(44, &frag);
    assert_eq!(decode(lt::RAW, &f).unwrap_err(), SkipReason::IpFragment);
}

#[test]
fn ipv6_udp_is_not_tcp() {
    let f = ipv6(17, &[0; 12]);
    assert_eq!(decode(lt::RAW, &f).unwrap_err(), SkipReason::NotTcp);
    let f = ipv6(0, &ext_opts(17, &[0; 12]));
    assert_eq!(decode(lt::RAW, &f).unwrap_err(), SkipReason::NotTcp);
}

#[test]
fn snaplen_cut_payload_keeps_wire_length() {
    let f = eth(0x0800, &ipv4(6, 0, &tcp(HELLO)));
    let s = decode(lt::ETHERNET, &f[..f.len() - 2]).unwrap();
    assert_eq!(s.payload_len, 5);
    assert_eq!(s.payload, b"hel");
    let f = eth(0x86DD, &ipv6(6, &tcp(HELLO)));
    let s = decode(lt::ETHERNET, &f[..f.len() - 5]).unwrap();
    assert_eq!((s.payload_len, s.payload), (5, &b""[..]));
}

#[test]
fn tcp_header_cut_is_truncated() {
    let f = eth(0x0800, &ipv4(6, 0, &tcp(HELLO)));
    let err = decode(lt::ETHERNET, &f[..14 + 20 + 19]).unwrap_err();
    assert_eq!(err, SkipReason::Truncated);
    assert_eq!(
        decode(lt::ETHERNET, &f[..13]).unwrap_err(),
        SkipReason::Truncated
    );
}

#[test]
fn tcp_options_cut_by_snaplen_still_decode() {
    // `-s 68` keeps the fixed TCP header of a SYN but not its options.
    let f = eth(0x0800, &ipv4(6, 0, &tcp_with(8, 0x02, b"")));
    let s = decode(lt::ETHERNET, &f[..f.len() - 1]).unwrap();
    assert_eq!((s.flags.0, s.payload_len, s.payload), (0x02, 0, &b""[..]));
    assert_eq!(
        decode(lt::ETHERNET, &f[..30]).unwrap_err(),
        SkipReason::Truncated
    );
}

#[test]
fn udp_is_not_tcp() {
    let f = eth(0x0800, &ipv4(17, 0, &[0; 12]));
    assert_eq!(decode(lt::ETHERNET, &f).unwrap_err(), SkipReason::NotTcp);
}

#[test]
fn arp_is_not_ip() {
    let f = eth(0x0806, &[0; 28]);
    assert_eq!(decode(lt::ETHERNET, &f).unwrap_err(), SkipReason::NotIp);
    let f = eth(0x8100, &tag(0x0806, &[0; 28]));
    assert_eq!(decode(lt::ETHERNET, &f).unwrap_err(), SkipReason::NotIp);
}

#[test]
fn ipv4_fragments() {
    for frag in [0x2000, 0x0010, 0x2010] {
        let f = eth(0x0800, &ipv4(6, frag, &tcp(HELLO)));
        assert_eq!(
            decode(lt::ETHERNET, &f).unwrap_err(),
            SkipReason::IpFragment
        );
    }
}

#[test]
fn tcp_data_offset_below_five_is_malformed() {
    let f = eth(0x0800, &ipv4(6, 0, &tcp_with(4, 0x10, HELLO)));
    assert_eq!(decode(lt::ETHERNET, &f).unwrap_err(), SkipReason::Malformed);
    let f = ipv6(0, &ext_opts(6, &tcp_with(4, 0x10, HELLO)));
    assert_eq!(decode(lt::RAW, &f).unwrap_err(), SkipReason::Malformed);
}

#[test]
fn ip_lengths_smaller_than_headers_are_malformed() {
    let mut ip = ipv4(6, 0, &tcp(HELLO));
    ip[0] = 0x44;
    assert_eq!(decode(lt::RAW, &ip).unwrap_err(), SkipReason::Malformed);
    let mut ip = ipv4(6, 0, &tcp(HELLO));
    ip[2..4].copy_from_slice(&19u16.to_be_bytes());
    assert_eq!(decode(lt::RAW, &ip).unwrap_err(), SkipReason::Malformed);
    let mut ip = ipv4(6, 0, &tcp(HELLO));
    ip[2..4].copy_from_slice(&30u16.to_be_bytes());
    assert_eq!(decode(lt::RAW, &ip).unwrap_err(), SkipReason::Malformed);
    let mut ip = ipv4(6, 0, &tcp_with(8, 0x10, b""));
    ip[2..4].copy_from_slice(&50u16.to_be_bytes());
    assert_eq!(decode(lt::RAW, &ip).unwrap_err(), SkipReason::Malformed);
    let mut ip6 = ipv6(6, &tcp(HELLO));
    ip6[4..6].copy_from_slice(&10u16.to_be_bytes());
    assert_eq!(decode(lt::RAW, &ip6).unwrap_err(), SkipReason::Malformed);
}

#[test]
fn ipv4_total_length_zero_uses_captured_length() {
    let mut ip = ipv4(6, 0, &tcp(HELLO));
    ip[2..4].copy_from_slice(&[0, 0]);
    assert_v4(&decode(lt::RAW, &ip).unwrap(), HELLO);
}

#[test]
fn fast_path_agrees_with_etherparse() {
    let ip = ipv4(6, 0x4000, &tcp_with(7, 0x18, HELLO));
    let fast = super::ip::ipv4(&ip).unwrap();
    let slow = super::lax::ip(&ip).unwrap();
    assert_eq!((fast.src, fast.dst), (slow.src, slow.dst));
    assert_eq!(
        (fast.seq, fast.ack, fast.flags),
        (slow.seq, slow.ack, slow.flags)
    );
    assert_eq!(
        (fast.window, fast.payload_len),
        (slow.window, slow.payload_len)
    );
    assert_eq!(fast.payload, slow.payload);
}

#[test]
fn garbage_never_panics() {
    let base = eth(0x86DD, &ipv6(0, &ext_opts(6, &tcp(HELLO))));
    let mut buf = base.clone();
    for i in 0..base.len() {
        for v in [0x00, 0x05, 0x06, 0x2C, 0x3C, 0x45, 0x60, 0xFF] {
            buf.copy_from_slice(&base);
            buf[i] = v;
            for cut in [buf.len(), i + 1, i / 2] {
                for l in [0, 1, 12, 14, 101, 108, 113, 228, 229, 276] {
                    let _ = decode(l, &buf[..cut]);
                }
            }
        }
    }
}
