//! The close verdict: replays what each side was seen to do through the RFC 9293 transition
//! function, in causal order, and turns a [`Connection`] into a [`ConnRecord`].
//!
//! Causal order comes from sequence and acknowledgment numbers, not from timestamps: a FIN
//! whose segment acknowledges the peer's FIN was sent after receiving it (passive); a FIN that
//! does not was sent before (active). Two active FINs are a simultaneous close.

use crate::net::Side;

use super::conn::{Connection, Peer, Seen};
use super::record::{
    Anomalies, Anomaly, CloseKind, ConnRecord, EndReason, Mark, Party, RolesBasis,
};
use super::state::{transition, Event, TcpState};

/// The outcome of replaying one side.
struct Replay {
    state: TcpState,
    /// When and in which frame the side entered TIME-WAIT.
    time_wait: Option<Seen>,
    unexpected: Option<(TcpState, Event)>,
}

/// Applies events to one side's state, remembering the first edge the diagram lacks.
struct Machine<'a> {
    state: TcpState,
    unexpected: Option<(TcpState, Event)>,
    anomalies: &'a mut Anomalies,
}

impl Machine<'_> {
    fn step(&mut self, event: Event) {
        match transition(self.state, event) {
            Some(next) => self.state = next,
            None => {
                self.anomalies.insert(Anomaly::UnexpectedTransition);
                self.unexpected.get_or_insert((self.state, event));
            }
        }
    }
}

fn later(a: Seen, b: Option<Seen>) -> Seen {
    match b {
        Some(b) if b.frame > a.frame => b,
        _ => a,
    }
}

/// Replays side `me` (whose peer is `peer`) from its handshake through its close.
fn replay(me: &Peer, peer: &Peer, anomalies: &mut Anomalies) -> Replay {
    let mut m = Machine {
        state: TcpState::Established,
        unexpected: None,
        anomalies,
    };

    // Opening.
    let peer_syn_acked_by_me = |p: &Peer| p.isn.is_some_and(|isn| me.has_acked(isn.plus(1)));
    if me.isn.is_some() && !me.sent_syn_ack {
        m.state = TcpState::Closed;
        m.step(Event::SendSyn);
        if peer.sent_syn_ack && peer_syn_acked_by_me(peer) {
            m.step(Event::RcvSynAck);
        }
    } else if me.sent_syn_ack {
        m.state = TcpState::Listen;
        m.step(Event::RcvSyn);
        if me.isn.is_some_and(|isn| peer.has_acked(isn.plus(1))) {
            m.step(Event::RcvAckOfSyn);
        }
    } else if peer.isn.is_some() && !peer.sent_syn_ack {
        m.state = TcpState::Listen;
    } else if peer.sent_syn_ack {
        // Our SYN was not captured, the peer's answer was.
        m.state = TcpState::SynSent;
        if peer_syn_acked_by_me(peer) {
            m.step(Event::RcvSynAck);
        }
    }

    // Closing.
    let received_fin = me.acked_peer_fin.is_some();
    let fin_acked = peer.acked_peer_fin.is_some();
    let rst_seen = me.rst.is_some() || peer.rst.is_some();
    let mut time_wait = None;
    match (&me.fin, &peer.fin) {
        (Some(mine), Some(theirs)) if mine.acknowledges(theirs) => {
            // rcv FIN, then CLOSE: the passive close.
            m.step(Event::RcvFin);
            m.step(Event::Close);
            if fin_acked {
                m.step(Event::RcvAckOfFin);
            }
        }
        (Some(_), theirs) => {
            m.step(Event::Close);
            let infer_fin = theirs.is_some() && !received_fin && !rst_seen;
            if infer_fin {
                m.anomalies.insert(Anomaly::FinalAckNotSeen);
            }
            let rcv_fin = received_fin || infer_fin;
            let peer_answered = theirs.is_some_and(|t| me.fin.is_some_and(|f| t.acknowledges(&f)));
            if peer_answered {
                // The peer's FIN acknowledged ours: FIN-WAIT-2 first, then its FIN.
                if fin_acked {
                    m.step(Event::RcvAckOfFin);
                }
                if rcv_fin {
                    m.step(Event::RcvFin);
                }
            } else {
                // FINs crossed (or the peer has not closed): CLOSING, or FIN-WAIT-2 only.
                if rcv_fin {
                    m.step(Event::RcvFin);
                }
                if fin_acked {
                    m.step(Event::RcvAckOfFin);
                }
            }
            if m.state == TcpState::TimeWait {
                if let Some(t) = theirs {
                    // TIME-WAIT begins on receipt of the peer's FIN, or on the ACK of our
                    // own FIN if that comes later (CLOSING).
                    time_wait = Some(later(t.seen, peer.acked_peer_fin));
                }
            }
        }
        (None, Some(_)) if received_fin => m.step(Event::RcvFin),
        (None, _) => {}
    }

    // Reset: a RST from the peer ends any state; our own RST ends ours unless we were already
    // in TIME-WAIT (a TIME-WAIT socket answering a stray segment).
    if peer.rst.is_some() {
        m.step(Event::Reset);
    } else if let Some(r) = me.rst {
        match time_wait {
            Some(tw) if m.state == TcpState::TimeWait && r.frame > tw.frame => {
                m.anomalies.insert(Anomaly::RstFromTimeWait);
            }
            _ => m.step(Event::Reset),
        }
    }
    if m.state != TcpState::TimeWait {
        time_wait = None;
    }
    Replay {
        state: m.state,
        time_wait,
        unexpected: m.unexpected,
    }
}

/// Which end (0 or 1) is the server when no handshake or request showed it.
fn server_by_port(ports: [u16; 2]) -> Option<usize> {
    let well_known = |p: u16| p < 1024;
    let ephemeral = |p: u16| p >= 32768;
    if well_known(ports[0]) != well_known(ports[1]) {
        return Some(if well_known(ports[0]) { 0 } else { 1 });
    }
    if ephemeral(ports[0]) != ephemeral(ports[1]) {
        return Some(if ephemeral(ports[0]) { 1 } else { 0 });
    }
    None
}

/// Zeek's per-endpoint state, as its `conn_state` reads it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ZeekEndpoint {
    Inactive,
    SynSent,
    SynAckSent,
    Partial,
    Established,
    Closed,
    Reset,
}

/// Zeek's `conn_state` (base/protocols/conn/main.zeek) from the originator's (client's) and
/// responder's endpoint states.
fn zeek_conn_state(
    o: ZeekEndpoint,
    r: ZeekEndpoint,
    o_syn_then_rst_only: bool,
    no_payload: bool,
) -> &'static str {
    use ZeekEndpoint::*;
    let o_inactive = matches!(o, Inactive | Partial);
    let r_inactive = matches!(r, Inactive | Partial);
    if r == Reset {
        if matches!(o, SynSent | SynAckSent) || (o == Reset && no_payload) {
            "REJ"
        } else if o_inactive {
            "RSTRH"
        } else {
            "RSTR"
        }
    } else if o == Reset {
        if r_inactive {
            if o_syn_then_rst_only {
                "RSTOS0"
            } else {
                "OTH"
            }
        } else {
            "RSTO"
        }
    } else if r == Closed && o == Closed {
        "SF"
    } else if o == Closed {
        if r_inactive {
            "SH"
        } else {
            "S2"
        }
    } else if r == Closed {
        if o_inactive {
            "SHR"
        } else {
            "S3"
        }
    } else if o == SynSent && r == Inactive {
        "S0"
    } else if o == Established && r == Established {
        "S1"
    } else {
        "OTH"
    }
}

fn zeek_endpoint(me: &Peer, peer: &Peer, handshake_done: bool) -> ZeekEndpoint {
    let both_fins_before_rst = match (me.fin, peer.fin) {
        (Some(a), Some(b)) => [me.rst, peer.rst]
            .iter()
            .flatten()
            .all(|r| r.frame > a.seen.frame.max(b.seen.frame)),
        _ => false,
    };
    if me.rst.is_some() && !both_fins_before_rst {
        ZeekEndpoint::Reset
    } else if me.fin.is_some() {
        ZeekEndpoint::Closed
    } else if handshake_done {
        ZeekEndpoint::Established
    } else if me.isn.is_some() && me.sent_syn_ack {
        ZeekEndpoint::SynAckSent
    } else if me.isn.is_some() {
        ZeekEndpoint::SynSent
    } else if me.stats.packets > 0 {
        ZeekEndpoint::Partial
    } else {
        ZeekEndpoint::Inactive
    }
}

impl<A> Connection<A> {
    /// The record of this connection as it stands, ended for `end`.
    pub fn record(&self, end: EndReason) -> ConnRecord {
        let mut anomalies = self.anomalies;
        let (c, basis) = self.client.unwrap_or_else(|| {
            let ports = [self.peers[0].ep.port, self.peers[1].ep.port];
            match server_by_port(ports) {
                Some(s) => (1 - s, RolesBasis::Port),
                None => (1 - self.first_dst, RolesBasis::FirstPacket),
            }
        });
        let s = 1 - c;
        let (cp, sp) = (&self.peers[c], &self.peers[s]);
        if cp.isn.is_none() && sp.isn.is_none() {
            anomalies.insert(Anomaly::NoSynSeen);
        }

        let rc = replay(cp, sp, &mut anomalies);
        let rs = replay(sp, cp, &mut anomalies);

        let first_fin_frame = [cp.fin, sp.fin]
            .iter()
            .flatten()
            .map(|f| f.seen.frame)
            .min();
        let rsts = [(Side::Client, cp.rst), (Side::Server, sp.rst)];
        let first_rst = rsts
            .iter()
            .filter_map(|(side, r)| r.map(|r| (*side, r)))
            .min_by_key(|(_, r)| r.frame)
            .map(|(side, r)| Mark {
                side,
                ts: r.ts,
                frame: r.frame,
            });
        let reset_by = Party::of(cp.rst.is_some(), sp.rst.is_some());

        // Active FINs: those whose segment did not acknowledge the peer's FIN.
        let active = |me: &Peer, peer: &Peer| match (me.fin, peer.fin) {
            (Some(a), Some(b)) => !a.acknowledges(&b),
            (Some(_), None) => true,
            _ => false,
        };
        let (mut ca, mut sa) = (active(cp, sp), active(sp, cp));
        if !ca && !sa {
            if let (Some(a), Some(b)) = (cp.fin, sp.fin) {
                anomalies.insert(Anomaly::FinsAcknowledgeEachOther);
                if a.seen.frame <= b.seen.frame {
                    ca = true;
                } else {
                    sa = true;
                }
            }
        }
        let first_fin = [(Side::Client, cp.fin, ca), (Side::Server, sp.fin, sa)]
            .iter()
            .filter_map(|(side, f, act)| f.filter(|_| *act).map(|f| (*side, f.seen)))
            .min_by_key(|(_, s)| s.frame)
            .map(|(side, s)| Mark {
                side,
                ts: s.ts,
                frame: s.frame,
            });

        // A RST that acknowledges the peer's FIN was sent after it, whatever the capture's
        // order says.
        let rst_after_fin = |me: &Peer, peer: &Peer| match (me.rst_ack, peer.fin) {
            (Some(a), Some(f)) => a.at_or_after(f.seq.plus(1)),
            _ => false,
        };
        let rst_first = match (first_rst, first_fin_frame) {
            (Some(r), Some(f)) => {
                let (me, peer) = match r.side {
                    Side::Client => (cp, sp),
                    Side::Server => (sp, cp),
                };
                r.frame < f && !rst_after_fin(me, peer)
            }
            (Some(_), None) => true,
            _ => false,
        };
        let (close, closer) = if rst_first {
            (
                CloseKind::Rst,
                first_rst.map(|r| match r.side {
                    Side::Client => Party::Client,
                    Side::Server => Party::Server,
                }),
            )
        } else if first_fin_frame.is_some() {
            let kind = if first_rst.is_some() {
                CloseKind::FinRst
            } else if cp.fin.is_some() && sp.fin.is_some() {
                CloseKind::Fin
            } else {
                CloseKind::Half
            };
            (kind, Party::of(ca, sa))
        } else {
            (CloseKind::Open, None)
        };

        let time_wait = Party::of(rc.time_wait.is_some(), rs.time_wait.is_some());
        let time_wait_start = [rc.time_wait, rs.time_wait]
            .iter()
            .flatten()
            .map(|s| s.ts)
            .min();

        let handshake_done = cp.isn.is_some()
            && !cp.sent_syn_ack
            && sp.sent_syn_ack
            && rc.state != TcpState::SynSent;
        let zo = zeek_endpoint(cp, sp, handshake_done);
        let zr = zeek_endpoint(sp, cp, handshake_done);
        let conn_state = zeek_conn_state(
            zo,
            zr,
            cp.isn.is_some() && sp.stats.packets == 0,
            cp.stats.payload_bytes == 0 && sp.stats.payload_bytes == 0,
        );

        ConnRecord {
            stream: self.stream,
            client_end: c,
            client: cp.ep,
            server: sp.ep,
            roles_basis: basis,
            first_ts: self.first.ts,
            last_ts: self.last.ts,
            first_frame: self.first.frame,
            last_frame: self.last.frame,
            sides: [cp.stats, sp.stats],
            close,
            closer,
            reset_by,
            time_wait,
            time_wait_start,
            first_fin,
            first_rst,
            sent_fin: [cp.fin.is_some(), sp.fin.is_some()],
            final_state: [rc.state, rs.state],
            unexpected: rc.unexpected.or(rs.unexpected),
            conn_state,
            fin_retransmits: self.fin_retransmits,
            anomalies,
            end,
            reused_at: None,
        }
    }
}
