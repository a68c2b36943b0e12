//! One live connection: the facts seen for each of its two ends, updated per segment.
//!
//! Nothing here depends on the order of timestamps: a FIN's role is decided from sequence and
//! acknowledgment numbers, so captures taken on several CPUs (whose packets are not strictly
//! time-ordered) give the same verdicts.

use crate::decode::Segment;
use crate::net::{Endpoint, FlowKey};
use crate::time::Timestamp;

use super::record::{Anomalies, Anomaly, RolesBasis, SideStats};
use super::seq::SeqNumber;
use super::stream::{Out, Reassembly, StreamHandler};

/// When and where something was seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Seen {
    pub ts: Timestamp,
    pub frame: u64,
}

/// A side's FIN: its sequence number and the acknowledgment it carried.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FinFact {
    /// Sequence number of the FIN itself (segment seq + payload length).
    pub seq: SeqNumber,
    /// Acknowledgment number carried by the FIN segment, if it had ACK set.
    pub ack: Option<SeqNumber>,
    pub seen: Seen,
}

impl FinFact {
    /// This FIN's segment acknowledged `other` FIN: it was sent after its sender had received
    /// the peer's FIN, so it is a passive close.
    pub fn acknowledges(&self, other: &FinFact) -> bool {
        self.ack.is_some_and(|a| a.at_or_after(other.seq.plus(1)))
    }
}

/// What was seen of one end of the connection.
#[derive(Clone, Debug)]
pub(crate) struct Peer {
    pub ep: Endpoint,
    /// Initial sequence number from this end's SYN or SYN,ACK.
    pub isn: Option<SeqNumber>,
    /// `isn` came from a SYN,ACK.
    pub sent_syn_ack: bool,
    /// Highest acknowledgment number this end sent.
    pub max_ack: Option<SeqNumber>,
    pub fin: Option<FinFact>,
    /// First segment from this end whose acknowledgment covers the peer's FIN.
    pub acked_peer_fin: Option<Seen>,
    /// First RST from this end.
    pub rst: Option<Seen>,
    /// Acknowledgment number carried by that RST, if it had ACK set.
    pub rst_ack: Option<SeqNumber>,
    pub stats: SideStats,
    /// The first payload from this end has been looked at for role inference.
    payload_checked: bool,
}

impl Peer {
    fn new(ep: Endpoint) -> Self {
        Peer {
            ep,
            isn: None,
            sent_syn_ack: false,
            max_ack: None,
            fin: None,
            acked_peer_fin: None,
            rst: None,
            rst_ack: None,
            stats: SideStats::default(),
            payload_checked: false,
        }
    }

    /// This end's acknowledgments have covered sequence number `seq` (exclusive end).
    pub fn has_acked(&self, through: SeqNumber) -> bool {
        self.max_ack.is_some_and(|a| a.at_or_after(through))
    }
}

/// A connection being tracked. Its two ends are indexed 0 and 1 in [`FlowKey`] order
/// (`lo`, `hi`); roles are decided from what is seen and may be settled late. `A` is the
/// stream handler's per-connection state.
///
/// [`FlowKey`]: crate::net::FlowKey
#[derive(Debug)]
pub struct Connection<A = ()> {
    pub(crate) stream: u64,
    pub(crate) peers: [Peer; 2],
    pub(crate) first: Seen,
    pub(crate) last: Seen,
    /// Index of the end the first seen packet was sent to.
    pub(crate) first_dst: usize,
    /// Index of the client end, and how it was decided.
    pub(crate) client: Option<(usize, RolesBasis)>,
    pub(crate) anomalies: Anomalies,
    pub(crate) fin_retransmits: u32,
    streams: [Reassembly; 2],
    pub(crate) app: A,
}

impl<A> Connection<A> {
    pub(crate) fn new(stream: u64, ends: [Endpoint; 2], from: usize, seen: Seen, app: A) -> Self {
        Connection {
            stream,
            peers: [Peer::new(ends[0]), Peer::new(ends[1])],
            first: seen,
            last: seen,
            first_dst: 1 - from,
            client: None,
            anomalies: Anomalies::default(),
            fin_retransmits: 0,
            streams: Default::default(),
            app,
        }
    }

    /// Delivers what both directions still hold, reporting holes; called before the record
    /// is emitted.
    pub(crate) fn flush_streams<H: StreamHandler<Conn = A>>(
        &mut self,
        handler: &mut H,
        budget: &mut usize,
    ) {
        for end in 0..2 {
            let mut out = Out {
                handler: &mut *handler,
                conn: &mut self.app,
                end,
                budget: &mut *budget,
            };
            self.streams[end].flush(&mut out);
        }
    }

    /// Reads a word from each part of the connection, together; see [`StreamHandler::touch`].
    pub(crate) fn touch<H: StreamHandler<Conn = A>>(&self) {
        let [a, b] = &self.peers;
        let peer = |p: &Peer| {
            p.stats.packets ^ p.max_ack.map_or(0, |s| u64::from(s.0)) ^ p.rst.map_or(0, |r| r.frame)
        };
        std::hint::black_box(
            peer(a)
                ^ peer(b)
                ^ self.first.frame
                ^ self.last.frame
                ^ self.streams[0].touch()
                ^ self.streams[1].touch()
                ^ H::touch(&self.app),
        );
    }

    /// A FIN or RST has been seen.
    pub(crate) fn closing(&self) -> bool {
        self.peers
            .iter()
            .any(|p| p.fin.is_some() || p.rst.is_some())
    }

    /// The connection's 4-tuple, as the flow table keys it.
    #[inline]
    pub(crate) fn key(&self) -> FlowKey {
        FlowKey {
            lo: self.peers[0].ep,
            hi: self.peers[1].ep,
        }
    }

    #[inline]
    pub(crate) fn has_key(&self, key: &FlowKey) -> bool {
        self.peers[0].ep == key.lo && self.peers[1].ep == key.hi
    }

    /// The close is over on the wire: both FINs, or a RST. What follows (the last ACK, a
    /// retransmission, a late RST) still belongs here during the linger time.
    pub(crate) fn complete(&self) -> bool {
        let [a, b] = &self.peers;
        a.rst.is_some() || b.rst.is_some() || (a.fin.is_some() && b.fin.is_some())
    }

    /// Whether a SYN or SYN,ACK from end `from` opens a new connection on this 4-tuple rather
    /// than repeating this one's handshake.
    pub(crate) fn is_new_connection(&self, from: usize, seg: &Segment<'_>) -> bool {
        let me = &self.peers[from];
        let peer = &self.peers[1 - from];
        let seq = SeqNumber(seg.seq);
        if !seg.flags.ack() {
            // A SYN,ACK already seen answers this SYN: the capture shows them out of order.
            if me.isn.is_none()
                && peer.sent_syn_ack
                && peer.max_ack == Some(seq.plus(1))
                && !self.closing()
            {
                return false;
            }
            // A pure SYN starts a connection unless it retransmits this one's SYN.
            return me.isn != Some(seq) || me.sent_syn_ack;
        }
        if me.isn == Some(seq) {
            return false;
        }
        // A SYN,ACK answering the SYN we hold belongs here; one arriving after a close (its
        // SYN not captured) opens the next connection.
        let answers_our_syn = me.isn.is_none() && peer.isn.is_some() && !peer.sent_syn_ack;
        !answers_our_syn && self.closing()
    }

    /// Whether the previous connection looked alive when its tuple was taken over.
    pub(crate) fn was_open_with_traffic(&self) -> bool {
        !self.closing() && self.peers.iter().all(|p| p.stats.packets > 0)
    }

    /// Takes in one segment from end `from`, handing its payload to `handler` in order.
    pub(crate) fn on_segment<H: StreamHandler<Conn = A>>(
        &mut self,
        from: usize,
        seg: &Segment<'_>,
        seen: Seen,
        looks_like_request: fn(&[u8]) -> bool,
        handler: &mut H,
        budget: &mut usize,
    ) {
        self.track(from, seg, seen, looks_like_request);
        self.stream(from, seg, seen, handler, budget);
    }

    /// Payload delivery: data in sequence order, the peer's ACK closing holes, the FIN.
    fn stream<H: StreamHandler<Conn = A>>(
        &mut self,
        from: usize,
        seg: &Segment<'_>,
        seen: Seen,
        handler: &mut H,
        budget: &mut usize,
    ) {
        let flags = seg.flags;
        let seq = SeqNumber(seg.seq);
        let to = 1 - from;
        if flags.rst() {
            return;
        }
        if flags.syn() {
            self.streams[from].start_after_syn(seq);
        }
        let data_seq = seq.plus(u32::from(flags.syn()));
        let mut out = Out {
            handler,
            conn: &mut self.app,
            end: from,
            budget,
        };
        if seg.payload_len > 0 {
            self.streams[from].segment(&mut out, data_seq, seg.payload_len, seg.payload, seen.ts);
        }
        if flags.fin() {
            self.streams[from].fin(&mut out, data_seq.plus(seg.payload_len), seen.ts);
        }
        if flags.ack() {
            out.end = to;
            self.streams[to].peer_acked(&mut out, SeqNumber(seg.ack));
        }
    }

    /// The close-verdict facts of one segment.
    fn track(
        &mut self,
        from: usize,
        seg: &Segment<'_>,
        seen: Seen,
        looks_like_request: fn(&[u8]) -> bool,
    ) {
        if seen.frame >= self.last.frame {
            self.last = seen;
        }
        let to = 1 - from;
        let flags = seg.flags;
        let seq = SeqNumber(seg.seq);

        {
            let me = &mut self.peers[from];
            me.stats.packets += 1;
            if seg.payload_len > 0 {
                me.stats.payload_bytes += u64::from(seg.payload_len);
                me.stats.last_payload_ts = Some(match me.stats.last_payload_ts {
                    Some(t) if t > seen.ts => t,
                    _ => seen.ts,
                });
            }
        }

        if flags.syn() {
            let me = &mut self.peers[from];
            if me.isn.is_none() {
                me.isn = Some(seq);
                me.sent_syn_ack = flags.ack();
            }
            if flags.ack() {
                if !matches!(self.client, Some((_, RolesBasis::Syn))) {
                    self.client = Some((to, RolesBasis::SynAck));
                }
            } else if !matches!(self.client, Some((_, RolesBasis::Syn))) {
                self.client = Some((from, RolesBasis::Syn));
            }
        }

        if flags.ack() {
            let ack = SeqNumber(seg.ack);
            let peer_fin = self.peers[to].fin;
            let me = &mut self.peers[from];
            me.max_ack = Some(me.max_ack.map_or(ack, |m| m.max(ack)));
            if let Some(f) = peer_fin {
                if me.acked_peer_fin.is_none() && ack.at_or_after(f.seq.plus(1)) {
                    me.acked_peer_fin = Some(seen);
                }
            }
        }

        if flags.rst() && self.peers[from].rst.is_none() {
            self.peers[from].rst = Some(seen);
            self.peers[from].rst_ack = flags.ack().then_some(SeqNumber(seg.ack));
        }

        if flags.fin() {
            let fin_seq = seq.plus(seg.payload_len).plus(u32::from(flags.syn()));
            match self.peers[from].fin {
                None => {
                    self.peers[from].fin = Some(FinFact {
                        seq: fin_seq,
                        ack: flags.ack().then_some(SeqNumber(seg.ack)),
                        seen,
                    });
                    // Captured out of order: the peer's acknowledgment of this FIN passed first.
                    let peer = &mut self.peers[to];
                    if peer.acked_peer_fin.is_none() && peer.has_acked(fin_seq.plus(1)) {
                        peer.acked_peer_fin = Some(seen);
                    }
                }
                Some(f) if f.seq == fin_seq => {
                    self.fin_retransmits += 1;
                    self.anomalies.insert(Anomaly::FinRetransmitted);
                }
                Some(_) => self.anomalies.insert(Anomaly::FinSeqChanged),
            }
        }

        if !seg.payload.is_empty() && !self.peers[from].payload_checked {
            self.peers[from].payload_checked = true;
            let decided = matches!(
                self.client,
                Some((
                    _,
                    RolesBasis::Syn | RolesBasis::SynAck | RolesBasis::HttpRequest
                ))
            );
            if !decided && looks_like_request(seg.payload) {
                self.client = Some((from, RolesBasis::HttpRequest));
            }
        }
    }
}
