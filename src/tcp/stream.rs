//! In-order delivery of one direction's payload to a [`StreamHandler`]: retransmissions and
//! overlaps are trimmed, out-of-order segments are held (bounded), and a hole that will not be
//! filled (the receiver acknowledged past it, the buffer is full, or the stream ended) is
//! reported as a gap so the handler can resynchronise.

use crate::time::Timestamp;

use super::seq::SeqNumber;

/// Receives each direction's payload bytes in sequence order. `tcp` knows no HTTP: the HTTP
/// layer implements this (ripgrep's sink idea). Ends are numbered 0 and 1 in flow-key order;
/// [`ConnRecord::client_end`](super::ConnRecord::client_end) says which one is the client.
pub trait StreamHandler {
    /// Per-connection state, created when a connection starts and handed to the record sink.
    type Conn;
    fn open(&mut self) -> Self::Conn;
    /// In-order payload bytes sent by `end`, from a segment seen at `ts`.
    fn data(&mut self, conn: &mut Self::Conn, end: usize, ts: Timestamp, bytes: &[u8]);
    /// `len` bytes of `end`'s stream are missing (not captured, or cut by snaplen).
    fn gap(&mut self, conn: &mut Self::Conn, end: usize, len: u64);
    /// `end` sent its FIN and every byte before it has been delivered (or reported missing).
    fn end_of_stream(&mut self, conn: &mut Self::Conn, end: usize, ts: Timestamp);
    /// Reads a word from each part of `conn` and combines them. The tracker calls it when it
    /// reads a connection again long after its last segment (a finished connection when its
    /// linger time is over, or when a SYN takes over its 4-tuple), so that the cache misses
    /// come at once rather than one after another as the record is built.
    fn touch(_conn: &Self::Conn) -> u64 {
        0
    }
}

/// A handler that ignores payload, for callers that want only the close verdicts.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoPayload;

impl StreamHandler for NoPayload {
    type Conn = ();
    fn open(&mut self) {}
    fn data(&mut self, _: &mut (), _: usize, _: Timestamp, _: &[u8]) {}
    fn gap(&mut self, _: &mut (), _: usize, _: u64) {}
    fn end_of_stream(&mut self, _: &mut (), _: usize, _: Timestamp) {}
}

/// Most bytes held out of order per direction before a hole is declared a gap.
const MAX_HELD_BYTES: usize = 256 * 1024;
/// Most segments held out of order per direction.
const MAX_HELD_SEGMENTS: usize = 64;
/// Most bytes held out of order over all connections together.
pub const MAX_HELD_TOTAL: usize = 64 * 1024 * 1024;

struct Held {
    seq: SeqNumber,
    /// Length on the wire (may exceed `bytes.len()` when snaplen cut it).
    len: u32,
    bytes: Vec<u8>,
    ts: Timestamp,
}

/// Segments held out of order, in sequence order, and their captured bytes.
#[derive(Default)]
struct HeldQueue {
    segs: Vec<Held>,
    bytes: usize,
}

/// One direction's reassembly state: 40 bytes, every connection has two. What is held out of
/// order lives in a box that exists only while something is held.
#[derive(Default)]
pub(crate) struct Reassembly {
    /// Next sequence number to deliver; unset until the first SYN or payload.
    next: Option<SeqNumber>,
    /// Sequence number of this direction's FIN, once seen, and when it was seen.
    fin: Option<SeqNumber>,
    fin_ts: Timestamp,
    held: Option<Box<HeldQueue>>,
    ended: bool,
}

impl std::fmt::Debug for Reassembly {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reassembly")
            .field("next", &self.next)
            .field("held", &self.held.as_ref().map_or(0, |q| q.segs.len()))
            .field("fin", &self.fin)
            .field("ended", &self.ended)
            .finish()
    }
}

/// Where delivery goes: the handler, its connection state, and which end this is.
pub(crate) struct Out<'a, H: StreamHandler> {
    pub handler: &'a mut H,
    pub conn: &'a mut H::Conn,
    pub end: usize,
    /// Bytes that may still be held out of order, over all connections.
    pub budget: &'a mut usize,
}

impl<H: StreamHandler> Out<'_, H> {
    /// Delivers the part of a segment at or after `next`, returning the new `next`.
    fn deliver(
        &mut self,
        next: SeqNumber,
        seq: SeqNumber,
        len: u32,
        bytes: &[u8],
        ts: Timestamp,
    ) -> SeqNumber {
        let end = seq.plus(len);
        let skip = next.diff(seq).max(0) as u32;
        if skip >= len {
            return next;
        }
        let captured = bytes.len() as u32;
        if skip < captured {
            self.handler
                .data(self.conn, self.end, ts, &bytes[skip as usize..]);
        }
        let missing = len - skip.max(captured);
        if missing > 0 {
            self.handler.gap(self.conn, self.end, u64::from(missing));
        }
        end
    }
}

impl Reassembly {
    /// A word of the state, for [`StreamHandler::touch`].
    pub fn touch(&self) -> u64 {
        self.next.map_or(0, |s| u64::from(s.0)) ^ u64::from(self.ended)
    }

    /// The stream's first byte follows the SYN with initial sequence number `isn`.
    pub fn start_after_syn(&mut self, isn: SeqNumber) {
        if self.next.is_none() {
            self.next = Some(isn.plus(1));
        }
    }

    /// Takes in a segment's payload: `len` bytes on the wire starting at `seq`, of which
    /// `bytes` were captured.
    pub fn segment<H: StreamHandler>(
        &mut self,
        out: &mut Out<'_, H>,
        seq: SeqNumber,
        len: u32,
        bytes: &[u8],
        ts: Timestamp,
    ) {
        if self.ended || len == 0 {
            return;
        }
        let next = *self.next.get_or_insert(seq);
        if seq.diff(next) <= 0 {
            let new_next = out.deliver(next, seq, len, bytes, ts);
            self.next = Some(new_next);
            self.drain(out);
        } else {
            self.hold(out, seq, len, bytes, ts);
        }
        self.maybe_end(out);
    }

    fn hold<H: StreamHandler>(
        &mut self,
        out: &mut Out<'_, H>,
        seq: SeqNumber,
        len: u32,
        bytes: &[u8],
        ts: Timestamp,
    ) {
        let (held_segs, held_bytes) = self
            .held
            .as_ref()
            .map_or((0, 0), |q| (q.segs.len(), q.bytes));
        let full = held_bytes + bytes.len() > MAX_HELD_BYTES
            || held_segs >= MAX_HELD_SEGMENTS
            || bytes.len() > *out.budget;
        if full {
            // Give up on the hole: report it, deliver what is held, then this segment.
            self.skip_to_first_held(out);
            if let Some(next) = self.next {
                if seq.diff(next) > 0 {
                    out.handler
                        .gap(out.conn, out.end, u64::from(seq.diff(next) as u32));
                    self.next = Some(seq);
                }
            }
            let next = self.next.unwrap_or(seq);
            self.next = Some(out.deliver(next, seq, len, bytes, ts));
            self.drain(out);
            return;
        }
        let held = self.held.get_or_insert_with(Box::default);
        let at = held.segs.partition_point(|h| h.seq.diff(seq) < 0);
        held.segs.insert(
            at,
            Held {
                seq,
                len,
                bytes: bytes.to_vec(),
                ts,
            },
        );
        held.bytes += bytes.len();
        *out.budget -= bytes.len();
    }

    /// Sequence number of the first segment held.
    fn first_held(&self) -> Option<SeqNumber> {
        self.held.as_ref()?.segs.first().map(|h| h.seq)
    }

    /// Delivers held segments that now connect to `next`.
    fn drain<H: StreamHandler>(&mut self, out: &mut Out<'_, H>) {
        let Some(held) = self.held.as_mut() else {
            return;
        };
        while let (Some(first), Some(next)) = (held.segs.first(), self.next) {
            if first.seq.diff(next) > 0 {
                break;
            }
            let h = held.segs.remove(0);
            held.bytes -= h.bytes.len();
            *out.budget += h.bytes.len();
            self.next = Some(out.deliver(next, h.seq, h.len, &h.bytes, h.ts));
        }
        if held.segs.is_empty() {
            self.held = None; // give the memory back
        }
    }

    /// Declares the hole before the first held segment a gap and delivers from there on.
    fn skip_to_first_held<H: StreamHandler>(&mut self, out: &mut Out<'_, H>) {
        if let (Some(first), Some(next)) = (self.first_held(), self.next) {
            let hole = first.diff(next);
            if hole > 0 {
                out.handler.gap(out.conn, out.end, u64::from(hole as u32));
                self.next = Some(first);
            }
            self.drain(out);
        }
    }

    /// The peer acknowledged up to `ack`: it has received everything before it, so a hole
    /// before `ack` will not be filled by a retransmission the capture could still show.
    pub fn peer_acked<H: StreamHandler>(&mut self, out: &mut Out<'_, H>, ack: SeqNumber) {
        if let (Some(first), Some(next)) = (self.first_held(), self.next) {
            if first.diff(next) > 0 && ack.diff(first) >= 0 {
                self.skip_to_first_held(out);
                self.maybe_end(out);
            }
        }
    }

    /// This direction's FIN, at sequence number `seq`.
    pub fn fin<H: StreamHandler>(&mut self, out: &mut Out<'_, H>, seq: SeqNumber, ts: Timestamp) {
        if self.fin.is_none() {
            self.fin = Some(seq);
            self.fin_ts = ts;
        }
        self.next.get_or_insert(seq);
        self.maybe_end(out);
    }

    fn maybe_end<H: StreamHandler>(&mut self, out: &mut Out<'_, H>) {
        if let (Some(fin), Some(next), false) = (self.fin, self.next, self.ended) {
            if next.diff(fin) >= 0 {
                self.ended = true;
                out.handler.end_of_stream(out.conn, out.end, self.fin_ts);
            }
        }
    }

    /// The connection is over: deliver whatever is held, reporting holes, and end the stream
    /// if its FIN was seen.
    pub fn flush<H: StreamHandler>(&mut self, out: &mut Out<'_, H>) {
        while self.held.is_some() {
            self.skip_to_first_held(out);
        }
        if let (Some(fin), Some(next)) = (self.fin, self.next) {
            let hole = fin.diff(next);
            if hole > 0 && !self.ended {
                out.handler.gap(out.conn, out.end, u64::from(hole as u32));
                self.next = Some(fin);
            }
        }
        self.maybe_end(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records what it is told, as short strings: `d0:abc`, `g0:5`, `e0`.
    #[derive(Default)]
    struct Log;

    impl StreamHandler for Log {
        type Conn = Vec<String>;
        fn open(&mut self) -> Vec<String> {
            Vec::new()
        }
        fn data(&mut self, c: &mut Vec<String>, end: usize, _: Timestamp, b: &[u8]) {
            c.push(format!("d{end}:{}", String::from_utf8_lossy(b)));
        }
        fn gap(&mut self, c: &mut Vec<String>, end: usize, len: u64) {
            c.push(format!("g{end}:{len}"));
        }
        fn end_of_stream(&mut self, c: &mut Vec<String>, end: usize, _: Timestamp) {
            c.push(format!("e{end}"));
        }
    }

    struct Rig {
        r: Reassembly,
        h: Log,
        log: Vec<String>,
        budget: usize,
    }

    impl Rig {
        fn new(isn: u32) -> Self {
            let mut r = Reassembly::default();
            r.start_after_syn(SeqNumber(isn));
            Rig {
                r,
                h: Log,
                log: Vec::new(),
                budget: MAX_HELD_TOTAL,
            }
        }
        fn seg(&mut self, seq: u32, data: &str) -> &mut Self {
            self.cut(seq, data.len() as u32, data)
        }
        fn cut(&mut self, seq: u32, wire_len: u32, captured: &str) -> &mut Self {
            let mut out = Out {
                handler: &mut self.h,
                conn: &mut self.log,
                end: 0,
                budget: &mut self.budget,
            };
            self.r.segment(
                &mut out,
                SeqNumber(seq),
                wire_len,
                captured.as_bytes(),
                Timestamp(0),
            );
            self
        }
        fn ack(&mut self, ack: u32) -> &mut Self {
            let mut out = Out {
                handler: &mut self.h,
                conn: &mut self.log,
                end: 0,
                budget: &mut self.budget,
            };
            self.r.peer_acked(&mut out, SeqNumber(ack));
            self
        }
        fn fin(&mut self, seq: u32) -> &mut Self {
            let mut out = Out {
                handler: &mut self.h,
                conn: &mut self.log,
                end: 0,
                budget: &mut self.budget,
            };
            self.r.fin(&mut out, SeqNumber(seq), Timestamp(0));
            self
        }
        fn flush(&mut self) -> &mut Self {
            let mut out = Out {
                handler: &mut self.h,
                conn: &mut self.log,
                end: 0,
                budget: &mut self.budget,
            };
            self.r.flush(&mut out);
            self
        }
        fn log(&self) -> Vec<&str> {
            self.log.iter().map(String::as_str).collect()
        }
    }

    #[test]
    fn in_order_segments_are_delivered_and_fin_ends_the_stream() {
        let mut r = Rig::new(99);
        r.seg(100, "GET ").seg(104, "/ ").fin(106);
        assert_eq!(r.log(), ["d0:GET ", "d0:/ ", "e0"]);
    }

    #[test]
    fn retransmission_and_overlap_are_not_delivered_twice() {
        let mut r = Rig::new(99);
        r.seg(100, "abcd")
            .seg(100, "abcd")
            .seg(102, "cdef")
            .seg(101, "b");
        assert_eq!(r.log(), ["d0:abcd", "d0:ef"]);
    }

    #[test]
    fn out_of_order_segments_are_held_and_delivered_in_order() {
        let mut r = Rig::new(99);
        r.seg(104, "efgh").fin(108).seg(100, "abcd");
        assert_eq!(r.log(), ["d0:abcd", "d0:efgh", "e0"]);
    }

    #[test]
    fn hole_acknowledged_by_the_peer_is_a_gap() {
        let mut r = Rig::new(99);
        r.seg(100, "ab").seg(105, "fg").ack(104);
        assert_eq!(r.log(), ["d0:ab"]);
        r.ack(107);
        assert_eq!(r.log(), ["d0:ab", "g0:3", "d0:fg"]);
    }

    #[test]
    fn snaplen_cut_payload_is_data_then_gap() {
        let mut r = Rig::new(99);
        r.cut(100, 10, "abc").seg(110, "k");
        assert_eq!(r.log(), ["d0:abc", "g0:7", "d0:k"]);
    }

    #[test]
    fn flush_reports_holes_before_fin() {
        let mut r = Rig::new(99);
        r.seg(100, "ab").seg(104, "ef").fin(106);
        assert_eq!(r.log(), ["d0:ab"]);
        r.flush();
        assert_eq!(r.log(), ["d0:ab", "g0:2", "d0:ef", "e0"]);
        let mut r = Rig::new(99);
        r.seg(100, "ab").fin(110).flush();
        assert_eq!(r.log(), ["d0:ab", "g0:8", "e0"]);
    }

    #[test]
    fn full_hold_buffer_gives_up_on_the_hole() {
        let mut r = Rig::new(99);
        r.seg(100, "a");
        for i in 0..MAX_HELD_SEGMENTS as u32 {
            r.seg(200 + i, "x");
        }
        assert_eq!(r.log().len(), 1);
        r.seg(200 + MAX_HELD_SEGMENTS as u32, "y");
        let log = r.log();
        assert_eq!(log[1], "g0:99");
        assert_eq!(log.len(), 2 + MAX_HELD_SEGMENTS + 1);
        assert_eq!(*log.last().unwrap(), "d0:y");
    }

    #[test]
    fn shared_budget_bounds_what_all_connections_hold() {
        let mut r = Rig::new(99);
        r.budget = 3;
        r.seg(100, "a").seg(102, "cd");
        assert_eq!(r.budget, 1);
        r.seg(105, "fg");
        assert_eq!(r.log(), ["d0:a", "g0:1", "d0:cd", "g0:1", "d0:fg"]);
        assert_eq!(r.budget, 3);
    }

    #[test]
    fn delivery_survives_sequence_wrap() {
        let mut r = Rig::new(u32::MAX - 2);
        r.seg(u32::MAX - 1, "ab").seg(0, "cd").fin(2);
        assert_eq!(r.log(), ["d0:ab", "d0:cd", "e0"]);
    }

    #[test]
    fn mid_stream_start_takes_the_first_segment_as_the_start() {
        let mut r = Rig {
            r: Reassembly::default(),
            h: Log,
            log: Vec::new(),
            budget: MAX_HELD_TOTAL,
        };
        r.seg(5000, "xy").seg(5002, "z");
        assert_eq!(r.log(), ["d0:xy", "d0:z"]);
    }
}
