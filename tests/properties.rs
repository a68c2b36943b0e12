//! Property tests on generated conversations: what a capture's accidents (duplicates, a
//! retransmitted FIN, reordering within a window, rotation into several files, a start in the
//! middle) must not change. Each conversation is written as an Ethernet/IPv4/TCP pcap and read
//! through [`finscope::pipeline::run`], as the CLI does.

use std::collections::BTreeMap;
use std::path::Path;

use finscope::pipeline::{self, Config};
use finscope::tcp::{CloseKind, ConnRecord, Party};
use proptest::prelude::*;
use proptest::sample::Index;

const CLIENT: [u8; 4] = [10, 0, 0, 1];
const SERVER: [u8; 4] = [10, 0, 0, 2];
const SERVER_PORT: u16 = 80;
const T0_NS: i64 = 1_700_000_000_000_000_000;
const STEP_NS: i64 = 1_000_000;

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;

#[derive(Clone, Debug)]
struct Packet {
    from_client: bool,
    cport: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    payload: Vec<u8>,
    ts_ns: i64,
}

/// How a generated connection ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Close {
    ClientFin,
    ServerFin,
    /// Both FINs cross: neither acknowledges the other.
    Simultaneous,
    ClientRst,
    ServerRst,
    /// The client's FIN, acknowledged, then a RST from the server.
    FinThenRst,
}

const CLOSES: [Close; 6] = [
    Close::ClientFin,
    Close::ServerFin,
    Close::Simultaneous,
    Close::ClientRst,
    Close::ServerRst,
    Close::FinThenRst,
];

#[derive(Clone, Debug)]
struct ConnSpec {
    /// Request/response exchanges before the close; each request in one or two segments.
    exchanges: Vec<bool>,
    /// Extra data segments the server sends unasked (not HTTP), 0..=2.
    server_extra: usize,
    close: Close,
}

fn conn_spec() -> impl Strategy<Value = ConnSpec> {
    (
        prop::collection::vec(any::<bool>(), 0..=3),
        0usize..=2,
        0usize..CLOSES.len(),
    )
        .prop_map(|(exchanges, server_extra, c)| ConnSpec {
            exchanges,
            server_extra,
            close: CLOSES[c],
        })
}

fn conversation() -> impl Strategy<Value = Vec<ConnSpec>> {
    prop::collection::vec(conn_spec(), 1..=3)
}

/// Both sides' next sequence numbers while a connection is written.
struct Writer<'a> {
    out: &'a mut Vec<Packet>,
    cport: u16,
    /// Next sequence number of the client, then of the server.
    nxt: [u32; 2],
}

impl Writer<'_> {
    /// Sends from one side with its current sequence number and an ACK of everything the
    /// peer has sent (unless `ack` says otherwise).
    fn send(&mut self, from_client: bool, flags: u8, payload: &[u8], ack: Option<u32>) {
        let (me, peer) = if from_client { (0, 1) } else { (1, 0) };
        let seq = self.nxt[me];
        let ack_no = ack.unwrap_or(self.nxt[peer]);
        self.out.push(Packet {
            from_client,
            cport: self.cport,
            seq,
            ack: if flags & ACK != 0 { ack_no } else { 0 },
            flags,
            payload: payload.to_vec(),
            ts_ns: 0,
        });
        let len = payload.len() as u32 + u32::from(flags & (SYN | FIN) != 0);
        self.nxt[me] = seq.wrapping_add(len);
    }
}

/// The packets of a conversation, connections one after the other, 1 ms apart.
fn packets(specs: &[ConnSpec]) -> Vec<Packet> {
    let mut out = Vec::new();
    for (k, spec) in specs.iter().enumerate() {
        let k32 = k as u32;
        let mut w = Writer {
            out: &mut out,
            cport: 40000 + k as u16,
            // The client's numbers wrap around zero in the third connection.
            nxt: [[1000, 2000, 0xffff_fff0][k], 50_000 * (k32 + 1)],
        };
        w.send(true, SYN, b"", None);
        w.send(false, SYN | ACK, b"", None);
        w.send(true, ACK, b"", None);
        for (i, split) in spec.exchanges.iter().enumerate() {
            let req = format!("GET /{i} HTTP/1.1\r\nHost: example\r\n\r\n");
            if *split {
                let (a, b) = req.as_bytes().split_at(7);
                w.send(true, ACK, a, None);
                w.send(true, ACK | PSH, b, None);
            } else {
                w.send(true, ACK | PSH, req.as_bytes(), None);
            }
            w.send(false, ACK, b"", None);
            w.send(
                false,
                ACK | PSH,
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
                None,
            );
            w.send(true, ACK, b"", None);
        }
        if spec.exchanges.is_empty() {
            for _ in 0..spec.server_extra {
                w.send(false, ACK | PSH, b"hello", None);
                w.send(true, ACK, b"", None);
            }
        }
        match spec.close {
            Close::ClientFin => {
                w.send(true, FIN | ACK, b"", None);
                w.send(false, ACK, b"", None);
                w.send(false, FIN | ACK, b"", None);
                w.send(true, ACK, b"", None);
            }
            Close::ServerFin => {
                w.send(false, FIN | ACK, b"", None);
                w.send(true, ACK, b"", None);
                w.send(true, FIN | ACK, b"", None);
                w.send(false, ACK, b"", None);
            }
            Close::Simultaneous => {
                let client_before_fin = w.nxt[0];
                w.send(true, FIN | ACK, b"", None);
                w.send(false, FIN | ACK, b"", Some(client_before_fin));
                w.send(true, ACK, b"", None);
                w.send(false, ACK, b"", None);
            }
            Close::ClientRst => w.send(true, RST | ACK, b"", None),
            Close::ServerRst => w.send(false, RST | ACK, b"", None),
            Close::FinThenRst => {
                w.send(true, FIN | ACK, b"", None);
                w.send(false, ACK, b"", None);
                w.send(false, RST | ACK, b"", None);
            }
        }
    }
    retime(&mut out);
    out
}

/// Timestamps in file order, 1 ms apart.
fn retime(packets: &mut [Packet]) {
    for (i, p) in packets.iter_mut().enumerate() {
        p.ts_ns = T0_NS + i as i64 * STEP_NS;
    }
}

// ---------------------------------------------------------------------------------------------
// pcap bytes

fn pcap(packets: &[Packet]) -> Vec<u8> {
    // Nanosecond pcap, little-endian.
    let mut out = 0xa1b2_3c4du32.to_le_bytes().to_vec();
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    for p in packets {
        let frame = frame(p);
        let secs = p.ts_ns.div_euclid(1_000_000_000) as u32;
        let nanos = p.ts_ns.rem_euclid(1_000_000_000) as u32;
        for v in [secs, nanos, frame.len() as u32, frame.len() as u32] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&frame);
    }
    out
}

fn frame(p: &Packet) -> Vec<u8> {
    let (src, dst, sport, dport) = if p.from_client {
        (CLIENT, SERVER, p.cport, SERVER_PORT)
    } else {
        (SERVER, CLIENT, SERVER_PORT, p.cport)
    };
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00];
    let total = (40 + p.payload.len()) as u16;
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0x40, 0, 64, 6, 0, 0]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&p.seq.to_be_bytes());
    f.extend_from_slice(&p.ack.to_be_bytes());
    f.extend_from_slice(&[0x50, p.flags]);
    f.extend_from_slice(&65535u16.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0, 0]);
    f.extend_from_slice(&p.payload);
    f
}

// ---------------------------------------------------------------------------------------------
// Reading and comparing

/// What must not change, per connection (keyed by client port).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Verdict {
    close: CloseKind,
    closer: Option<Party>,
    time_wait: Option<Party>,
    reset_by: Option<Party>,
    requests: u32,
}

struct Run {
    records: Vec<(ConnRecord, u32)>,
}

impl Run {
    /// Verdicts by client port; a port seen in two records is a test failure.
    fn verdicts(&self) -> BTreeMap<u16, Verdict> {
        let mut out = BTreeMap::new();
        for (r, requests) in &self.records {
            let v = Verdict {
                close: r.close,
                closer: r.closer,
                time_wait: r.time_wait,
                reset_by: r.reset_by,
                requests: *requests,
            };
            let port = client_port(r);
            assert!(out.insert(port, v).is_none(), "two records for port {port}");
        }
        out
    }
}

/// The generated client's port, whichever end the tracker took for the client.
fn client_port(r: &ConnRecord) -> u16 {
    if r.client.port == SERVER_PORT {
        r.server.port
    } else {
        r.client.port
    }
}

fn run_files(dir: &Path, files: &[Vec<Packet>]) -> Run {
    let mut paths = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let p = dir.join(format!("part{i}.pcap"));
        std::fs::write(&p, pcap(f)).unwrap();
        paths.push(p.to_string_lossy().into_owned());
    }
    let mut records = Vec::new();
    pipeline::run(
        &paths,
        &Config::default(),
        &mut |r, http| {
            records.push((r.clone(), http.requests));
            Ok(())
        },
        &mut |_| {},
    )
    .expect("generated captures read");
    Run { records }
}

fn run_one(packets: &[Packet]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    run_files(dir.path(), &[packets.to_vec()])
}

/// The verdicts the generator means, checked once on the untouched capture.
fn expected(spec: &ConnSpec) -> (CloseKind, Option<Party>, Option<Party>, Option<Party>) {
    use Party::*;
    match spec.close {
        Close::ClientFin => (CloseKind::Fin, Some(Client), Some(Client), None),
        Close::ServerFin => (CloseKind::Fin, Some(Server), Some(Server), None),
        Close::Simultaneous => (CloseKind::Fin, Some(Both), Some(Both), None),
        Close::ClientRst => (CloseKind::Rst, Some(Client), None, Some(Client)),
        Close::ServerRst => (CloseKind::Rst, Some(Server), None, Some(Server)),
        Close::FinThenRst => (CloseKind::FinRst, Some(Client), None, Some(Server)),
    }
}

fn baseline(specs: &[ConnSpec], packets: &[Packet]) -> BTreeMap<u16, Verdict> {
    let v = run_one(packets).verdicts();
    assert_eq!(v.len(), specs.len(), "{v:?}");
    for (k, spec) in specs.iter().enumerate() {
        let got = &v[&(40000 + k as u16)];
        let (close, closer, time_wait, reset_by) = expected(spec);
        assert_eq!(
            (got.close, got.closer, got.time_wait, got.reset_by),
            (close, closer, time_wait, reset_by),
            "connection {k} ({spec:?})"
        );
        assert_eq!(
            got.requests as usize,
            spec.exchanges.len(),
            "connection {k}"
        );
    }
    v
}

/// Swaps left out of the reordering property, each for a known reason.
fn swap_allowed(a: &Packet, b: &Packet) -> bool {
    let has = |p: &Packet, f: u8| p.flags & f != 0;
    // An acknowledgment moved ahead of the data it covers: the tracker takes the hole as
    // lost for good (the receiver has moved on), so the late data is not delivered to HTTP.
    let data_end = a.seq.wrapping_add(a.payload.len() as u32);
    let ack_before_its_data = !a.payload.is_empty()
        && a.from_client != b.from_client
        && has(b, ACK)
        && b.ack.wrapping_sub(data_end) as i32 >= 0;
    // Anything else moved ahead of the connection's first SYN starts a connection of its own
    // (a capture starting mid-stream), which the SYN then replaces.
    let before_its_syn = has(a, SYN) && !has(a, ACK) && !has(b, SYN) && a.cport == b.cport;
    !(ack_before_its_data || before_its_syn)
}

/// 64 cases keep the suite fast; `PROPTEST_CASES=2000` searches harder.
fn config() -> ProptestConfig {
    let default = ProptestConfig::default();
    ProptestConfig {
        cases: if std::env::var_os("PROPTEST_CASES").is_some() {
            default.cases
        } else {
            64
        },
        failure_persistence: None,
        ..default
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn duplicated_packets_change_no_verdict(
        specs in conversation(),
        picks in prop::collection::vec((any::<Index>(), 0usize..3), 1..6),
    ) {
        let original = packets(&specs);
        let want = baseline(&specs, &original);
        let mut pkts = original.clone();
        for (i, later) in picks {
            let i = i.index(pkts.len());
            let copy = pkts[i].clone();
            let at = (i + 1 + later).min(pkts.len());
            pkts.insert(at, copy);
        }
        retime(&mut pkts);
        prop_assert_eq!(run_one(&pkts).verdicts(), want);
    }

    #[test]
    fn retransmitted_fin_changes_no_verdict(
        specs in conversation(),
        pick in any::<Index>(),
        delay in 1usize..4,
    ) {
        let original = packets(&specs);
        let want = baseline(&specs, &original);
        let fins: Vec<usize> = (0..original.len())
            .filter(|&i| original[i].flags & FIN != 0)
            .collect();
        prop_assume!(!fins.is_empty());
        let i = fins[pick.index(fins.len())];
        let mut pkts = original.clone();
        let at = (i + delay).min(pkts.len());
        pkts.insert(at, original[i].clone());
        retime(&mut pkts);
        prop_assert_eq!(run_one(&pkts).verdicts(), want);
    }

    #[test]
    fn swapping_adjacent_segments_changes_no_verdict(
        specs in conversation(),
        swaps in prop::collection::vec(any::<Index>(), 1..4),
        keep_file_order_times in any::<bool>(),
    ) {
        let original = packets(&specs);
        let want = baseline(&specs, &original);
        let mut pkts = original.clone();
        for s in swaps {
            let i = s.index(pkts.len() - 1);
            if swap_allowed(&pkts[i], &pkts[i + 1]) {
                pkts.swap(i, i + 1);
            }
        }
        if keep_file_order_times {
            retime(&mut pkts);
        }
        prop_assert_eq!(run_one(&pkts).verdicts(), want);
    }

    #[test]
    fn splitting_into_a_rotated_set_changes_no_verdict(
        specs in conversation(),
        cut in any::<Index>(),
        reversed in any::<bool>(),
    ) {
        let original = packets(&specs);
        let want = baseline(&specs, &original);
        let k = cut.index(original.len() + 1);
        let (a, b) = original.split_at(k);
        let files = if reversed {
            vec![b.to_vec(), a.to_vec()]
        } else {
            vec![a.to_vec(), b.to_vec()]
        };
        let dir = tempfile::tempdir().unwrap();
        prop_assert_eq!(run_files(dir.path(), &files).verdicts(), want);
    }

    #[test]
    fn mid_stream_start_always_yields_a_record(
        specs in conversation(),
        drop in any::<Index>(),
    ) {
        let original = packets(&specs);
        let k = drop.index(original.len());
        let rest = &original[k..];
        let got = run_one(rest);
        // Every remaining packet belongs to exactly one record, and every connection with a
        // packet left has a record.
        let counted: u64 = got
            .records
            .iter()
            .map(|(r, _)| r.sides[0].packets + r.sides[1].packets)
            .sum();
        prop_assert_eq!(counted, rest.len() as u64);
        let mut ports: Vec<u16> = rest.iter().map(|p| p.cport).collect();
        ports.dedup();
        let mut seen: Vec<u16> = got
            .records
            .iter()
            .map(|(r, _)| client_port(r))
            .collect();
        seen.sort_unstable();
        seen.dedup();
        prop_assert_eq!(seen, ports);
    }

    #[test]
    fn the_thread_count_changes_nothing(
        a in conversation(),
        b in conversation(),
        picks in prop::collection::vec(any::<bool>(), 0..120),
        same_port in any::<bool>(),
        batch_frames in 1u64..9,
        linger_ms in 0i64..4,
    ) {
        // Two conversations interleaved; with `same_port`, the connections of each one reuse
        // a single 4-tuple one after the other.
        let mut first = packets(&a);
        let mut second = packets(&b);
        for p in &mut second {
            p.cport += 100;
        }
        if same_port {
            for p in first.iter_mut().chain(&mut second) {
                p.cport = if p.cport < 40100 { 40000 } else { 40100 };
            }
        }
        let mut pkts = Vec::new();
        let (mut i, mut j) = (0, 0);
        for take_first in picks.into_iter().chain(std::iter::repeat_n(true, first.len())) {
            if take_first && i < first.len() {
                pkts.push(first[i].clone());
                i += 1;
            } else if j < second.len() {
                pkts.push(second[j].clone());
                j += 1;
            }
        }
        pkts.extend(second[j..].iter().cloned());
        retime(&mut pkts);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mixed.pcap");
        std::fs::write(&path, pcap(&pkts)).unwrap();
        let paths = [path.to_string_lossy().into_owned()];
        let run = |threads| {
            let config = Config {
                threads,
                batch_frames,
                linger: finscope::time::Duration::from_millis(linger_ms),
                ..Config::default()
            };
            let mut out = Vec::new();
            let stats = pipeline::run(&paths, &config, &mut |r, h| {
                out.push(format!("{r:?} {h:?}"));
                Ok(())
            }, &mut |_| {}).expect("generated capture reads");
            (out, format!("{:?}", stats.tracker))
        };
        let one = run(1);
        prop_assert_eq!(&one, &run(2));
        prop_assert_eq!(&one, &run(3));
    }
}
