//! The connection states of RFC 9293 §3.3.2 as one side is observed to pass through them, and
//! the one transition function that moves between them.
//!
//! A capture sees segments pass, not arrive, so events are observed facts: a side "receives"
//! its peer's FIN when its own acknowledgment covers that FIN, and its own FIN "is acknowledged"
//! when the peer's acknowledgment covers it.

use std::fmt;

/// A side's TCP state, with the RFC's names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TcpState {
    Closed,
    Listen,
    SynSent,
    SynReceived,
    Established,
    FinWait1,
    FinWait2,
    CloseWait,
    Closing,
    LastAck,
    TimeWait,
}

impl TcpState {
    /// The RFC's spelling: `FIN-WAIT-1`, `TIME-WAIT`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            TcpState::Closed => "CLOSED",
            TcpState::Listen => "LISTEN",
            TcpState::SynSent => "SYN-SENT",
            TcpState::SynReceived => "SYN-RECEIVED",
            TcpState::Established => "ESTABLISHED",
            TcpState::FinWait1 => "FIN-WAIT-1",
            TcpState::FinWait2 => "FIN-WAIT-2",
            TcpState::CloseWait => "CLOSE-WAIT",
            TcpState::Closing => "CLOSING",
            TcpState::LastAck => "LAST-ACK",
            TcpState::TimeWait => "TIME-WAIT",
        }
    }
}

impl fmt::Display for TcpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happened to one side, as seen on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Event {
    /// The side sent a SYN (active OPEN).
    SendSyn,
    /// The side answered a SYN with SYN,ACK.
    RcvSyn,
    /// The side acknowledged the peer's SYN,ACK.
    RcvSynAck,
    /// The peer acknowledged the side's SYN,ACK.
    RcvAckOfSyn,
    /// The side sent its FIN (CLOSE).
    Close,
    /// The side's acknowledgment covers the peer's FIN.
    RcvFin,
    /// The peer's acknowledgment covers the side's FIN.
    RcvAckOfFin,
    /// A reset was sent or received by the side.
    Reset,
}

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Event::SendSyn => "send SYN",
            Event::RcvSyn => "rcv SYN",
            Event::RcvSynAck => "rcv SYN,ACK",
            Event::RcvAckOfSyn => "rcv ACK of SYN",
            Event::Close => "CLOSE, snd FIN",
            Event::RcvFin => "rcv FIN",
            Event::RcvAckOfFin => "rcv ACK of FIN",
            Event::Reset => "RST",
        }
    }
}

/// One edge of the RFC 9293 state diagram; `None` when the diagram has no such edge.
pub fn transition(state: TcpState, event: Event) -> Option<TcpState> {
    use Event::*;
    use TcpState::*;
    match (state, event) {
        // CLOSED --active OPEN / snd SYN--> SYN-SENT
        (Closed, SendSyn) => Some(SynSent),
        // LISTEN --rcv SYN / snd SYN,ACK--> SYN-RECEIVED
        (Listen, RcvSyn) => Some(SynReceived),
        // SYN-SENT --rcv SYN,ACK / snd ACK--> ESTABLISHED
        (SynSent, RcvSynAck) => Some(Established),
        // SYN-RECEIVED --rcv ACK of SYN--> ESTABLISHED
        (SynReceived, RcvAckOfSyn) => Some(Established),
        // SYN-SENT --CLOSE / delete TCB--> CLOSED
        (SynSent, Close) => Some(Closed),
        // SYN-RECEIVED --CLOSE / snd FIN--> FIN-WAIT-1
        (SynReceived, Close) => Some(FinWait1),
        // SYN-RECEIVED --rcv FIN / snd ACK--> CLOSE-WAIT (§3.10.7.4, eighth step)
        (SynReceived, RcvFin) => Some(CloseWait),
        // ESTABLISHED --CLOSE / snd FIN--> FIN-WAIT-1
        (Established, Close) => Some(FinWait1),
        // ESTABLISHED --rcv FIN / snd ACK--> CLOSE-WAIT
        (Established, RcvFin) => Some(CloseWait),
        // FIN-WAIT-1 --rcv ACK of FIN--> FIN-WAIT-2
        (FinWait1, RcvAckOfFin) => Some(FinWait2),
        // FIN-WAIT-1 --rcv FIN / snd ACK--> CLOSING
        (FinWait1, RcvFin) => Some(Closing),
        // FIN-WAIT-2 --rcv FIN / snd ACK--> TIME-WAIT
        (FinWait2, RcvFin) => Some(TimeWait),
        // CLOSE-WAIT --CLOSE / snd FIN--> LAST-ACK
        (CloseWait, Close) => Some(LastAck),
        // CLOSING --rcv ACK of FIN--> TIME-WAIT
        (Closing, RcvAckOfFin) => Some(TimeWait),
        // LAST-ACK --rcv ACK of FIN--> CLOSED
        (LastAck, RcvAckOfFin) => Some(Closed),
        // Any synchronized state --RST--> CLOSED (§3.5.3). Linux's default
        // (tcp_rfc1337 = 0) lets a RST end TIME-WAIT early too.
        (_, Reset) => Some(Closed),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Event::*;
    use TcpState::*;

    fn run(start: TcpState, events: &[Event]) -> Option<TcpState> {
        events.iter().try_fold(start, |s, &e| transition(s, e))
    }

    #[test]
    fn established_close_then_ack_then_fin_reaches_time_wait() {
        assert_eq!(
            run(Established, &[Close, RcvAckOfFin, RcvFin]),
            Some(TimeWait)
        );
    }

    #[test]
    fn established_rcv_fin_then_close_then_ack_is_closed() {
        assert_eq!(
            run(Established, &[RcvFin, Close, RcvAckOfFin]),
            Some(Closed)
        );
    }

    #[test]
    fn fin_wait_1_rcv_fin_goes_through_closing() {
        assert_eq!(transition(FinWait1, RcvFin), Some(Closing));
        assert_eq!(
            run(Established, &[Close, RcvFin, RcvAckOfFin]),
            Some(TimeWait)
        );
    }

    #[test]
    fn handshake_edges() {
        assert_eq!(run(Closed, &[SendSyn, RcvSynAck]), Some(Established));
        assert_eq!(run(Listen, &[RcvSyn, RcvAckOfSyn]), Some(Established));
        assert_eq!(transition(SynSent, Close), Some(Closed));
        assert_eq!(transition(SynReceived, Close), Some(FinWait1));
    }

    #[test]
    fn unexpected_pairs_have_no_edge() {
        assert_eq!(transition(TimeWait, Close), None);
        assert_eq!(transition(CloseWait, RcvFin), None);
        assert_eq!(transition(Established, RcvAckOfFin), None);
        assert_eq!(transition(Listen, Close), None);
    }

    #[test]
    fn reset_closes_any_state() {
        for s in [Established, FinWait2, TimeWait, LastAck, SynSent] {
            assert_eq!(transition(s, Reset), Some(Closed));
        }
    }

    #[test]
    fn states_display_with_rfc_names() {
        assert_eq!(FinWait1.to_string(), "FIN-WAIT-1");
        assert_eq!(TimeWait.to_string(), "TIME-WAIT");
    }
}
