//! [`ConnRecord`]: everything finscope says about one connection once it is over. This is the
//! contract between the tracker and everything after it.

use crate::net::{Endpoint, Side};
use crate::time::{Duration, Timestamp};

use super::state::{Event, TcpState};

/// How a connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CloseKind {
    /// Both sides sent FIN and no RST followed.
    Fin,
    /// At least one FIN, then a RST: the close ended early, no TIME-WAIT survives it.
    FinRst,
    /// A RST before any FIN: an abort.
    Rst,
    /// Only one side sent FIN before the capture (or the record) ended.
    Half,
    /// Neither FIN nor RST seen.
    Open,
}

impl CloseKind {
    pub const ALL: [CloseKind; 5] = [
        CloseKind::Fin,
        CloseKind::FinRst,
        CloseKind::Rst,
        CloseKind::Half,
        CloseKind::Open,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CloseKind::Fin => "fin",
            CloseKind::FinRst => "fin_rst",
            CloseKind::Rst => "rst",
            CloseKind::Half => "half",
            CloseKind::Open => "open",
        }
    }
}

/// One side or both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Party {
    Client,
    Server,
    Both,
}

impl Party {
    pub fn as_str(self) -> &'static str {
        match self {
            Party::Client => "client",
            Party::Server => "server",
            Party::Both => "both",
        }
    }

    pub fn of(client: bool, server: bool) -> Option<Party> {
        match (client, server) {
            (true, true) => Some(Party::Both),
            (true, false) => Some(Party::Client),
            (false, true) => Some(Party::Server),
            (false, false) => None,
        }
    }

    pub fn includes(self, side: Side) -> bool {
        matches!(
            (self, side),
            (Party::Both, _) | (Party::Client, Side::Client) | (Party::Server, Side::Server)
        )
    }
}

/// How client and server were told apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RolesBasis {
    /// The client sent the first SYN (without ACK).
    Syn,
    /// No SYN seen; the server sent the SYN,ACK.
    SynAck,
    /// No handshake seen; the client sent what looks like an HTTP request line.
    HttpRequest,
    /// No handshake or request seen; the server has the well-known (or non-ephemeral) port.
    Port,
    /// Nothing else helped; the first packet seen went to the server.
    FirstPacket,
}

impl RolesBasis {
    pub fn as_str(self) -> &'static str {
        match self {
            RolesBasis::Syn => "syn",
            RolesBasis::SynAck => "syn_ack",
            RolesBasis::HttpRequest => "http_request",
            RolesBasis::Port => "port",
            RolesBasis::FirstPacket => "first_packet",
        }
    }

    /// `"syn"` when the handshake showed the roles, `"inferred"` otherwise.
    pub fn roles(self) -> &'static str {
        match self {
            RolesBasis::Syn => "syn",
            _ => "inferred",
        }
    }
}

/// Why the tracker let go of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EndReason {
    /// The close completed and nothing more came for the linger time.
    Closed,
    /// A new connection (new SYN) took over its 4-tuple.
    Reused,
    /// The input ended.
    EndOfCapture,
    /// The flow table was full (`--max-connections`) and this was among the longest idle.
    Evicted,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Closed => "closed",
            EndReason::Reused => "reused",
            EndReason::EndOfCapture => "end_of_capture",
            EndReason::Evicted => "evicted",
        }
    }
}

/// Named oddities seen on one connection; counted in the data-quality section.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Anomaly {
    /// The capture started after the handshake.
    NoSynSeen,
    /// A FIN was sent again with the same sequence number (not a new event).
    FinRetransmitted,
    /// A second FIN from the same side carried a different sequence number.
    FinSeqChanged,
    /// Both FINs seen, but the closer's acknowledgment of the peer's FIN was not: TIME-WAIT
    /// is inferred from the peer's FIN.
    FinalAckNotSeen,
    /// Each FIN acknowledges the other, which no real exchange does.
    FinsAcknowledgeEachOther,
    /// The observed events have no edge in the RFC 9293 diagram.
    UnexpectedTransition,
    /// The side in TIME-WAIT sent a RST; its TIME-WAIT survives.
    RstFromTimeWait,
    /// A new SYN reused the 4-tuple before any close of the previous connection was seen.
    ReusedWhileOpen,
}

impl Anomaly {
    pub const ALL: [Anomaly; 8] = [
        Anomaly::NoSynSeen,
        Anomaly::FinRetransmitted,
        Anomaly::FinSeqChanged,
        Anomaly::FinalAckNotSeen,
        Anomaly::FinsAcknowledgeEachOther,
        Anomaly::UnexpectedTransition,
        Anomaly::RstFromTimeWait,
        Anomaly::ReusedWhileOpen,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Anomaly::NoSynSeen => "no_syn_seen",
            Anomaly::FinRetransmitted => "fin_retransmitted",
            Anomaly::FinSeqChanged => "fin_seq_changed",
            Anomaly::FinalAckNotSeen => "final_ack_not_seen",
            Anomaly::FinsAcknowledgeEachOther => "fins_acknowledge_each_other",
            Anomaly::UnexpectedTransition => "unexpected_transition",
            Anomaly::RstFromTimeWait => "rst_from_time_wait",
            Anomaly::ReusedWhileOpen => "reused_while_open",
        }
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// A small set of [`Anomaly`] values (a bit set, so records stay `Copy`-cheap).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Anomalies(u16);

impl Anomalies {
    pub fn insert(&mut self, a: Anomaly) {
        self.0 |= a.bit();
    }

    pub fn contains(self, a: Anomaly) -> bool {
        self.0 & a.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Anomaly> {
        Anomaly::ALL.into_iter().filter(move |a| self.contains(*a))
    }
}

/// A FIN or RST as it was seen: who sent it, when, in which frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mark {
    pub side: Side,
    pub ts: Timestamp,
    pub frame: u64,
}

/// Per-side counters, indexed by [`Side::idx`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SideStats {
    pub packets: u64,
    pub payload_bytes: u64,
    /// Time of the last segment carrying payload.
    pub last_payload_ts: Option<Timestamp>,
}

/// What finscope knows about one connection when the tracker lets go of it.
#[derive(Clone, Debug, PartialEq)]
pub struct ConnRecord {
    /// 0-based, in order of first packet; matches Wireshark's `tcp.stream`.
    pub stream: u64,
    /// Which end (0 or 1, in flow-key order) is the client, in the numbering a
    /// [`StreamHandler`](super::StreamHandler) saw.
    pub client_end: usize,
    pub client: Endpoint,
    pub server: Endpoint,
    pub roles_basis: RolesBasis,
    pub first_ts: Timestamp,
    pub last_ts: Timestamp,
    pub first_frame: u64,
    pub last_frame: u64,
    /// Client first, then server.
    pub sides: [SideStats; 2],
    pub close: CloseKind,
    /// The side whose FIN was active, or the RST sender when a RST came before any FIN.
    pub closer: Option<Party>,
    pub reset_by: Option<Party>,
    /// Who is left holding TIME-WAIT.
    pub time_wait: Option<Party>,
    pub time_wait_start: Option<Timestamp>,
    /// The first FIN seen (in sequence terms: the active one; the earlier frame if both were).
    pub first_fin: Option<Mark>,
    /// The first RST seen.
    pub first_rst: Option<Mark>,
    /// Whether client and server each sent a FIN.
    pub sent_fin: [bool; 2],
    /// Final observed RFC 9293 state of client and server.
    pub final_state: [TcpState; 2],
    /// The first observed (state, event) pair the RFC diagram has no edge for.
    pub unexpected: Option<(TcpState, Event)>,
    /// Zeek's `conn_state` code (SF, S0, REJ, RSTO, ...).
    pub conn_state: &'static str,
    pub fin_retransmits: u32,
    pub anomalies: Anomalies,
    pub end: EndReason,
    /// When a new connection's SYN took over this 4-tuple (`end` is `Reused`): any TIME-WAIT on
    /// it ended then.
    pub reused_at: Option<Timestamp>,
}

impl ConnRecord {
    pub fn side(&self, side: Side) -> &SideStats {
        &self.sides[side.idx()]
    }

    pub fn endpoint(&self, side: Side) -> Endpoint {
        match side {
            Side::Client => self.client,
            Side::Server => self.server,
        }
    }

    pub fn duration(&self) -> Duration {
        self.last_ts.since(self.first_ts)
    }
}

#[cfg(test)]
impl ConnRecord {
    /// A connection from `client` to `server` seen at `ts` only, closed by both ends' FINs with
    /// the client first, and no TIME-WAIT: for tests to adjust.
    pub(crate) fn for_tests(client: Endpoint, server: Endpoint, ts: Timestamp) -> ConnRecord {
        ConnRecord {
            stream: 0,
            client_end: 0,
            client,
            server,
            roles_basis: RolesBasis::Syn,
            first_ts: ts,
            last_ts: ts,
            first_frame: 1,
            last_frame: 1,
            sides: [SideStats::default(); 2],
            close: CloseKind::Fin,
            closer: Some(Party::Client),
            reset_by: None,
            time_wait: None,
            time_wait_start: None,
            first_fin: None,
            first_rst: None,
            sent_fin: [true; 2],
            final_state: [TcpState::Closed; 2],
            unexpected: None,
            conn_state: "SF",
            fin_retransmits: 0,
            anomalies: Anomalies::default(),
            end: EndReason::Closed,
            reused_at: None,
        }
    }
}
