//! Scripted exchanges, one per edge of the teardown diagram and per trap seen in captures.
//!
//! A script line is `C|S FLAGS [len=N] [data=TEXT] [stale] [rtx] [isn=N] [t=MS]`:
//! sequence numbers follow each side's sent bytes; the acknowledgment covers everything the
//! peer has sent so far, unless `stale` keeps the sender's previous acknowledgment (it has not
//! received the peer's latest segment, as when FINs cross). `rtx` resends the sender's previous
//! segment with its sequence number. `t=` sets the timestamp (ms), else 1 ms per line.

use super::*;
use crate::decode::{Segment, TcpFlags};
use crate::net::Endpoint;
use crate::time::{Duration, Timestamp};

#[derive(Clone, Copy, Default)]
struct Host {
    snd_nxt: u32,
    last_ack: u32,
    last_seq: u32,
    started: bool,
}

struct Script {
    ends: [Endpoint; 2],
    hosts: [Host; 2],
    tracker: Tracker,
    records: Vec<ConnRecord>,
    line: i64,
    frame: u64,
}

fn looks_like_get(p: &[u8]) -> bool {
    p.starts_with(b"GET ")
}

impl Script {
    fn new() -> Self {
        Self::with_ports(40000, 80)
    }

    fn with_ports(cport: u16, sport: u16) -> Self {
        let config = TrackerConfig {
            linger: Duration::from_secs(5),
            looks_like_request: looks_like_get,
            ..TrackerConfig::default()
        };
        Script {
            ends: [
                Endpoint::new("10.0.0.1".parse().unwrap(), cport),
                Endpoint::new("10.0.0.2".parse().unwrap(), sport),
            ],
            hosts: [
                Host {
                    snd_nxt: 1000,
                    ..Host::default()
                },
                Host {
                    snd_nxt: 5000,
                    ..Host::default()
                },
            ],
            tracker: Tracker::new(config),
            records: Vec::new(),
            line: 0,
            frame: 0,
        }
    }

    fn run(mut self, script: &str) -> Vec<ConnRecord> {
        for line in script.split(';').map(str::trim).filter(|l| !l.is_empty()) {
            self.step(line);
        }
        let mut sink = |r: &ConnRecord, _: &mut ()| self.records.push(r.clone());
        self.tracker.finish(&mut sink);
        self.records
    }

    fn step(&mut self, line: &str) {
        let mut words = line.split_whitespace();
        let who = match words.next() {
            Some("C") => 0,
            Some("S") => 1,
            other => panic!("bad side {other:?} in {line}"),
        };
        let mut flags = 0u8;
        for f in words.next().expect("flags").split('|') {
            flags |= match f {
                "SYN" => TcpFlags::SYN,
                "ACK" => TcpFlags::ACK,
                "FIN" => TcpFlags::FIN,
                "RST" => TcpFlags::RST,
                "PSH" => TcpFlags::PSH,
                other => panic!("bad flag {other}"),
            };
        }
        let (mut len, mut data, mut stale, mut rtx) = (0u32, "", false, false);
        self.line += 1;
        let mut ts_ms = self.line;
        for w in words {
            match w.split_once('=') {
                Some(("len", n)) => len = n.parse().unwrap(),
                Some(("data", d)) => data = d,
                Some(("isn", n)) => self.hosts[who].snd_nxt = n.parse().unwrap(),
                Some(("t", n)) => ts_ms = n.parse().unwrap(),
                None if w == "stale" => stale = true,
                None if w == "rtx" => rtx = true,
                _ => panic!("bad word {w}"),
            }
        }
        let data = data.replace('_', " ");
        if !data.is_empty() {
            len = data.len() as u32;
        }
        let peer_nxt = self.hosts[1 - who].snd_nxt;
        let h = &mut self.hosts[who];
        let seq = if rtx { h.last_seq } else { h.snd_nxt };
        let ack = if stale { h.last_ack } else { peer_nxt };
        if flags & TcpFlags::ACK != 0 {
            h.last_ack = ack;
        }
        if !rtx {
            h.last_seq = seq;
            let syn = u32::from(flags & TcpFlags::SYN != 0);
            let fin = u32::from(flags & TcpFlags::FIN != 0);
            h.snd_nxt = seq.wrapping_add(len + syn + fin);
        }
        h.started = true;
        let zeros = [0u8; 256];
        let payload: &[u8] = if data.is_empty() {
            &zeros[..(len as usize).min(256)]
        } else {
            data.as_bytes()
        };
        let seg = Segment {
            src: self.ends[who],
            dst: self.ends[1 - who],
            seq,
            ack: if flags & TcpFlags::ACK != 0 { ack } else { 0 },
            flags: TcpFlags(flags),
            window: 65535,
            payload_len: len,
            payload,
        };
        self.frame += 1;
        let records = &mut self.records;
        let mut sink = |r: &ConnRecord, _: &mut ()| records.push(r.clone());
        // Time advances with every segment, as if each were its own batch.
        let ts = Timestamp(ts_ms * 1_000_000);
        self.tracker.advance(ts, &mut sink);
        self.tracker.segment(&seg, ts, self.frame, &mut sink);
    }
}

fn one(script: &str) -> ConnRecord {
    let recs = Script::new().run(script);
    assert_eq!(recs.len(), 1, "expected one connection, got {recs:#?}");
    recs.into_iter().next().unwrap()
}

const OPEN: &str = "C SYN; S SYN|ACK; C ACK; C ACK|PSH len=100; S ACK|PSH len=300;";

fn states(r: &ConnRecord) -> [&'static str; 2] {
    [r.final_state[0].as_str(), r.final_state[1].as_str()]
}

#[test]
fn established_client_close_client_holds_time_wait() {
    let r = one(&format!("{OPEN} C FIN|ACK; S ACK; S FIN|ACK; C ACK"));
    assert_eq!(r.close, CloseKind::Fin);
    assert_eq!(r.closer, Some(Party::Client));
    assert_eq!(r.time_wait, Some(Party::Client));
    assert_eq!(r.reset_by, None);
    assert_eq!(states(&r), ["TIME-WAIT", "CLOSED"]);
    assert_eq!(r.conn_state, "SF");
    assert_eq!(r.roles_basis, RolesBasis::Syn);
    assert_eq!(r.first_fin.map(|m| m.frame), Some(6));
    assert!(r.anomalies.is_empty(), "{:?}", r.anomalies);
}

#[test]
fn established_server_close_server_holds_time_wait() {
    let r = one(&format!("{OPEN} S FIN|ACK; C ACK; C FIN|ACK; S ACK"));
    assert_eq!(r.closer, Some(Party::Server));
    assert_eq!(r.time_wait, Some(Party::Server));
    assert_eq!(states(&r), ["CLOSED", "TIME-WAIT"]);
    // TIME-WAIT starts when the server receives the client's FIN (line 8, 8 ms).
    assert_eq!(r.time_wait_start, Some(Timestamp(8_000_000)));
}

#[test]
fn close_wait_fin_piggybacked_on_ack_is_passive() {
    // The server's FIN|ACK both acknowledges the client's FIN and closes: three-way close.
    let r = one(&format!("{OPEN} C FIN|ACK; S FIN|ACK; C ACK"));
    assert_eq!(r.closer, Some(Party::Client));
    assert_eq!(r.time_wait, Some(Party::Client));
    assert_eq!(states(&r), ["TIME-WAIT", "CLOSED"]);
}

#[test]
fn close_wait_fin_with_data_is_passive() {
    let r = one(&format!("{OPEN} C FIN|ACK; S FIN|ACK|PSH len=50; C ACK"));
    assert_eq!(r.closer, Some(Party::Client));
    assert_eq!(r.time_wait, Some(Party::Client));
    assert_eq!(r.side(crate::net::Side::Server).payload_bytes, 350);
}

#[test]
fn established_fin_with_data_is_active() {
    let r = one(&format!(
        "{OPEN} S FIN|ACK|PSH len=40; C ACK; C FIN|ACK; S ACK"
    ));
    assert_eq!(r.closer, Some(Party::Server));
    assert_eq!(r.time_wait, Some(Party::Server));
}

#[test]
fn fin_wait_1_crossing_fins_simultaneous_close_both_time_wait() {
    let r = one(&format!("{OPEN} C FIN|ACK; S FIN|ACK stale; C ACK; S ACK"));
    assert_eq!(r.close, CloseKind::Fin);
    assert_eq!(r.closer, Some(Party::Both));
    assert_eq!(r.time_wait, Some(Party::Both));
    assert_eq!(states(&r), ["TIME-WAIT", "TIME-WAIT"]);
    assert!(r.anomalies.is_empty(), "{:?}", r.anomalies);
}

#[test]
fn fin_wait_1_fin_retransmit_is_not_a_new_event() {
    let r = one(&format!(
        "{OPEN} C FIN|ACK; C FIN|ACK rtx; S ACK; S FIN|ACK; C ACK; S FIN|ACK rtx; C ACK"
    ));
    assert_eq!(r.closer, Some(Party::Client));
    assert_eq!(r.time_wait, Some(Party::Client));
    assert_eq!(r.fin_retransmits, 2);
    assert!(r.anomalies.contains(Anomaly::FinRetransmitted));
    assert!(!r.anomalies.contains(Anomaly::UnexpectedTransition));
}

#[test]
fn last_ack_rst_after_both_fins_leaves_no_time_wait() {
    let r = one(&format!("{OPEN} C FIN|ACK; S ACK; S FIN|ACK; C RST"));
    assert_eq!(r.close, CloseKind::FinRst);
    assert_eq!(r.closer, Some(Party::Client));
    assert_eq!(r.reset_by, Some(Party::Client));
    assert_eq!(r.time_wait, None);
    assert_eq!(r.conn_state, "SF");
}

#[test]
fn time_wait_rst_from_peer_ends_it() {
    let r = one(&format!("{OPEN} C FIN|ACK; S ACK; S FIN|ACK; C ACK; S RST"));
    assert_eq!(r.close, CloseKind::FinRst);
    assert_eq!(r.reset_by, Some(Party::Server));
    assert_eq!(r.time_wait, None);
}

#[test]
fn time_wait_own_rst_keeps_it() {
    let r = one(&format!("{OPEN} C FIN|ACK; S ACK; S FIN|ACK; C ACK; C RST"));
    assert_eq!(r.time_wait, Some(Party::Client));
    assert!(r.anomalies.contains(Anomaly::RstFromTimeWait));
}

#[test]
fn fin_wait_2_rst_after_one_fin_ends_close_early() {
    let r = one(&format!("{OPEN} C FIN|ACK; S ACK; S RST|ACK"));
    assert_eq!(r.close, CloseKind::FinRst);
    assert_eq!(r.closer, Some(Party::Client));
    assert_eq!(r.reset_by, Some(Party::Server));
    assert_eq!(r.time_wait, None);
    assert_eq!(states(&r), ["CLOSED", "CLOSED"]);
}

#[test]
fn established_rst_before_fin_is_abort_by_sender() {
    let r = one(&format!("{OPEN} C RST|ACK"));
    assert_eq!(r.close, CloseKind::Rst);
    assert_eq!(r.closer, Some(Party::Client));
    assert_eq!(r.reset_by, Some(Party::Client));
    assert_eq!(r.time_wait, None);
    assert_eq!(r.conn_state, "RSTO");
    let r = one(&format!("{OPEN} S RST|ACK"));
    assert_eq!(r.closer, Some(Party::Server));
    assert_eq!(r.conn_state, "RSTR");
}

#[test]
fn syn_sent_rst_is_rejected() {
    let r = one("C SYN; S RST|ACK");
    assert_eq!(r.close, CloseKind::Rst);
    assert_eq!(r.conn_state, "REJ");
    assert_eq!(r.closer, Some(Party::Server));
}

#[test]
fn syn_sent_no_answer_is_s0_and_open() {
    let r = one("C SYN; C SYN rtx");
    assert_eq!(r.close, CloseKind::Open);
    assert_eq!(r.conn_state, "S0");
    assert_eq!(r.sides[0].packets, 2);
    assert_eq!(states(&r), ["SYN-SENT", "LISTEN"]);
}

#[test]
fn established_no_close_is_open_s1() {
    let r = one(OPEN);
    assert_eq!(r.close, CloseKind::Open);
    assert_eq!(r.conn_state, "S1");
    assert_eq!(r.end, EndReason::EndOfCapture);
    assert_eq!(states(&r), ["ESTABLISHED", "ESTABLISHED"]);
}

#[test]
fn fin_wait_2_peer_never_closes_is_half() {
    let r = one(&format!("{OPEN} C FIN|ACK; S ACK"));
    assert_eq!(r.close, CloseKind::Half);
    assert_eq!(r.closer, Some(Party::Client));
    assert_eq!(r.time_wait, None);
    assert_eq!(states(&r), ["FIN-WAIT-2", "CLOSE-WAIT"]);
    assert_eq!(r.conn_state, "S2");
}

#[test]
fn fin_wait_2_no_final_ack_time_wait_is_inferred() {
    let r = one(&format!("{OPEN} C FIN|ACK; S FIN|ACK"));
    assert_eq!(r.close, CloseKind::Fin);
    assert_eq!(r.time_wait, Some(Party::Client));
    assert!(r.anomalies.contains(Anomaly::FinalAckNotSeen));
    assert_eq!(states(&r), ["TIME-WAIT", "LAST-ACK"]);
}

#[test]
fn no_syn_seen_roles_inferred_from_ports() {
    let r = one("S ACK|PSH len=10; C ACK; C FIN|ACK; S FIN|ACK; C ACK");
    assert_eq!(r.roles_basis, RolesBasis::Port);
    assert_eq!(r.client.port, 40000);
    assert_eq!(r.closer, Some(Party::Client));
    assert_eq!(r.time_wait, Some(Party::Client));
    assert!(r.anomalies.contains(Anomaly::NoSynSeen));
    assert_eq!(r.conn_state, "SF");
}

#[test]
fn no_syn_seen_roles_inferred_from_request_line() {
    // Both ports ephemeral and the first packet goes client-ward: only the request tells.
    let r = Script::with_ports(45000, 50000)
        .run("S ACK len=5; C ACK|PSH data=GET_/_HTTP/1.1; S FIN|ACK; C FIN|ACK; S ACK");
    assert_eq!(r.len(), 1);
    let r = &r[0];
    assert_eq!(r.roles_basis, RolesBasis::HttpRequest);
    assert_eq!(r.client.port, 45000);
    assert_eq!(r.closer, Some(Party::Server));
}

#[test]
fn no_syn_seen_syn_ack_sender_is_server() {
    let r = one("S SYN|ACK; C ACK; C FIN|ACK; S FIN|ACK; C ACK");
    assert_eq!(r.roles_basis, RolesBasis::SynAck);
    assert_eq!(r.server.port, 80);
    assert_eq!(r.time_wait, Some(Party::Client));
}

#[test]
fn time_wait_new_syn_on_same_tuple_starts_new_connection() {
    let recs = Script::new().run(&format!(
        "{OPEN} S FIN|ACK; C FIN|ACK; S ACK; C SYN isn=90000; S SYN|ACK isn=70000; C ACK; C FIN|ACK; S FIN|ACK; C ACK"
    ));
    assert_eq!(recs.len(), 2);
    assert_eq!((recs[0].stream, recs[1].stream), (0, 1));
    assert_eq!(recs[0].end, EndReason::Reused);
    assert_eq!(recs[0].closer, Some(Party::Server));
    assert_eq!(recs[1].closer, Some(Party::Client));
    assert_eq!(recs[1].first_frame, 9);
    assert!(!recs[1].anomalies.contains(Anomaly::ReusedWhileOpen));
}

/// A connection is looked up among the open ones until its close completes, then among the
/// closed ones; a new connection on its tuple is open again. Each is in one table only.
#[test]
fn a_connection_moves_to_the_closed_table_when_its_close_completes_and_back_when_reused() {
    let mut script = Script::new();
    let mut steps = |lines: &str| {
        for line in lines.split(';').map(str::trim).filter(|l| !l.is_empty()) {
            script.step(line);
        }
        script.tracker.held()
    };
    assert_eq!(steps(OPEN), (1, 0));
    assert_eq!(
        steps("S FIN|ACK; C ACK"),
        (1, 0),
        "half closed is still open"
    );
    assert_eq!(steps("C FIN|ACK"), (0, 1));
    assert_eq!(
        steps("S ACK; S ACK rtx"),
        (0, 1),
        "trailing segments find it"
    );
    assert_eq!(
        steps("C SYN isn=90000"),
        (1, 0),
        "a new connection on the tuple"
    );
    assert_eq!(steps("S SYN|ACK isn=70000; C ACK; C RST|ACK"), (0, 1));
    let recs = script.run("");
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0].end, EndReason::Reused);
    assert_eq!(recs[0].side(crate::net::Side::Server).packets, 5);
    assert_eq!(recs[1].reset_by, Some(Party::Client));
}

#[test]
fn syn_sent_retransmitted_syn_is_same_connection() {
    let r = one("C SYN; C SYN rtx; S SYN|ACK; C ACK; C FIN|ACK; S FIN|ACK; C ACK");
    assert_eq!(r.conn_state, "SF");
    assert_eq!(r.time_wait, Some(Party::Client));
}

#[test]
fn established_fin_across_sequence_wrap_is_tracked() {
    let r = one(
        "C SYN isn=4294967200; S SYN|ACK; C ACK; C ACK|PSH len=200; S ACK; C FIN|ACK; S FIN|ACK; C ACK",
    );
    assert_eq!(r.closer, Some(Party::Client));
    assert_eq!(r.time_wait, Some(Party::Client));
    assert!(r.anomalies.is_empty(), "{:?}", r.anomalies);
}

#[test]
fn close_wait_reordered_capture_decides_by_ack_not_time() {
    // The server's passive FIN is captured (and stamped) before the client's FIN it answers,
    // as happens with captures taken on several CPUs.
    let mut s = Script::new();
    for l in ["C SYN", "S SYN|ACK", "C ACK", "C ACK|PSH len=10 t=4"] {
        s.step(l);
    }
    // Pre-compute the client's FIN sequence so the server's FIN|ACK can acknowledge it.
    let c = s.hosts[0];
    s.hosts[0].snd_nxt = c.snd_nxt + 1; // client's FIN consumes one
    s.step("S FIN|ACK t=6");
    s.hosts[0].snd_nxt = c.snd_nxt;
    s.step("C FIN|ACK stale t=5");
    s.step("C ACK t=7");
    let r = s.run("");
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].closer, Some(Party::Client));
    assert_eq!(r[0].time_wait, Some(Party::Client));
    assert_eq!(states(&r[0]), ["TIME-WAIT", "CLOSED"]);
}

#[test]
fn closed_record_is_emitted_after_linger_not_at_end() {
    let mut s = Script::new();
    for l in OPEN.split(';').map(str::trim).filter(|l| !l.is_empty()) {
        s.step(l);
    }
    for l in ["C FIN|ACK", "S FIN|ACK", "C ACK"] {
        s.step(l);
    }
    assert!(s.records.is_empty());
    // A packet of another connection 6 s later moves capture time past the linger.
    s.ends[0].port = 40001;
    s.step("C SYN t=6000");
    assert_eq!(s.records.len(), 1);
    assert_eq!(s.records[0].end, EndReason::Closed);
    assert_eq!(s.tracker.tracked(), 1);
}

#[test]
fn rst_after_linger_trailing_segment_stays_with_connection() {
    let r = one(&format!("{OPEN} C FIN|ACK; S FIN|ACK; C ACK; C RST t=3000"));
    assert_eq!(r.close, CloseKind::FinRst);
    assert_eq!(r.time_wait, Some(Party::Client));
    assert!(r.anomalies.contains(Anomaly::RstFromTimeWait));
}

#[test]
fn full_table_evicts_the_longest_idle_and_reports_it() {
    let mut s = Script::new();
    s.tracker = Tracker::new(TrackerConfig {
        max_connections: 2,
        ..TrackerConfig::default()
    });
    // Three connections from three client ports; the first is idle longest.
    for port in [40000, 40001, 40002] {
        s.ends[0].port = port;
        s.hosts = Script::new().hosts;
        s.step("C SYN");
        s.step("S SYN|ACK");
    }
    assert_eq!(s.records.len(), 1);
    assert_eq!(s.records[0].end, EndReason::Evicted);
    assert_eq!(s.records[0].client.port, 40000);
    assert_eq!(s.tracker.stats().evicted, 1);
    assert_eq!(s.tracker.tracked(), 2);
}
