//! A sequence of small segments between a handful of endpoints, through the tracker with the
//! HTTP handler. Every connection started must come out as exactly one record.
#![no_main]

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};

use finscope::decode::{Segment, TcpFlags};
use finscope::http::{HttpConn, HttpStreams};
use finscope::net::Endpoint;
use finscope::tcp::{ConnRecord, Tracker, TrackerConfig};
use finscope::time::{Duration, Timestamp};
use libfuzzer_sys::fuzz_target;

const PORTS: [u16; 4] = [80, 8080, 40000, 40001];
const PAYLOADS: [&[u8]; 8] = [
    b"",
    b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
    b"POST /x HTTP/1.1\r\nContent-Length: 4\r\n\r\n",
    b"abcd",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
    b"lo\r\n0\r\n\r\n",
    b"\x16\x03\x01\x00\x05hello",
];

struct Peer {
    seq: u32,
    ack: u32,
}

fuzz_target!(|data: &[u8]| {
    let small = data.first().is_some_and(|b| b & 1 == 1);
    let config = TrackerConfig {
        linger: Duration::from_millis(if small { 3 } else { 5000 }),
        looks_like_request: finscope::http::looks_like_request,
        max_connections: if small { 3 } else { 1000 },
        held_budget: if small { 4096 } else { 1 << 20 },
    };
    let mut tracker = Tracker::with_handler(config, HttpStreams);
    let addrs = [
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
    ];
    // Sequence state per (address, port) pair, so deltas stay near the real stream.
    let mut peers: Vec<Peer> = (0..8)
        .map(|i| Peer {
            seq: 1000 * (i + 1),
            ack: 0,
        })
        .collect();
    let mut records: Vec<ConnRecord> = Vec::new();
    let mut ts = 1_000_000_000i64;
    let mut frame = 0u64;
    let mut payload_buf = [0u8; 64];

    // Each segment: 8 bytes: [src, dst, flags, seq delta, ack delta, payload, time, extra].
    for chunk in data.get(1..).unwrap_or(&[]).chunks_exact(8) {
        let s = usize::from(chunk[0] & 7);
        let d = usize::from(chunk[1] & 7);
        let src = Endpoint::new(addrs[s & 1], PORTS[s >> 1]);
        let dst = Endpoint::new(addrs[d & 1], PORTS[d >> 1]);
        let flags = TcpFlags(chunk[2]);
        // Small signed deltas, and now and then a big jump.
        let seq_delta = if chunk[3] == 0xFF {
            0x8000_0000u32
        } else {
            (i32::from(chunk[3] as i8)) as u32
        };
        let ack_delta = (i32::from(chunk[4] as i8)) as u32;
        peers[s].seq = peers[s].seq.wrapping_add(seq_delta);
        peers[s].ack = peers[d].seq.wrapping_add(ack_delta);
        let (seq, ack) = (peers[s].seq, peers[s].ack);
        let payload: &[u8] = match chunk[5] >> 4 {
            0..=7 => PAYLOADS[usize::from(chunk[5] & 7)],
            n => {
                // Arbitrary bytes from the input, or a snaplen-cut payload.
                let len = usize::from(chunk[5] & 0x3F).min(payload_buf.len());
                for (i, b) in payload_buf[..len].iter_mut().enumerate() {
                    *b = chunk[7].wrapping_mul(i as u8 + n);
                }
                &payload_buf[..len]
            }
        };
        let payload_len = if chunk[7] & 0x80 != 0 {
            payload.len() as u32 + u32::from(chunk[7] & 0x7F)
        } else {
            payload.len() as u32
        };
        let seg = Segment {
            src,
            dst,
            seq,
            ack,
            flags,
            window: 512,
            payload_len,
            payload,
        };
        // Time mostly moves forward, sometimes jumps or steps back.
        ts = match chunk[6] {
            0xFF => ts.wrapping_sub(10_000_000),
            0xFE => ts.saturating_add(60_000_000_000),
            n => ts + i64::from(n) * 100_000,
        };
        frame += 1;
        if !(flags.syn() && !payload.is_empty()) {
            peers[s].seq = peers[s]
                .seq
                .wrapping_add(payload_len)
                .wrapping_add(u32::from(flags.syn()) + u32::from(flags.fin()));
        }
        let mut sink = |r: &ConnRecord, h: &HttpConn| {
            let _ = h.summary(r.client_end);
            records.push(r.clone());
        };
        tracker.advance(Timestamp(ts), &mut sink);
        tracker.segment(&seg, Timestamp(ts), frame, &mut sink);
    }
    let mut sink = |r: &ConnRecord, h: &HttpConn| {
        let _ = h.summary(r.client_end);
        records.push(r.clone());
    };
    tracker.finish(&mut sink);
    assert_eq!(tracker.tracked(), 0);

    let stats = tracker.stats();
    assert_eq!(records.len() as u64, stats.connections);
    let streams: BTreeSet<u64> = records.iter().map(|r| r.stream).collect();
    assert_eq!(streams.len(), records.len(), "a stream reported twice");
    assert!(streams.iter().copied().eq(0..stats.connections));
    for r in &records {
        assert!(r.client_end <= 1);
        assert!(r.first_frame <= r.last_frame);
    }
});
