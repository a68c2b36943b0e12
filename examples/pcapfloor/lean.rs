//! `pcapfloor --lean`: the four answers for each connection with as little state as they need,
//! to measure what a design built for speed first would cost (issue 6).
//!
//! For Ethernet/IPv4/TCP frames of a legacy pcap file, each 4-tuple has one slot in a hash
//! table holding 32 bytes of facts about its current connection, in the slot itself (48 bytes
//! with the key): the opener (the end that sent the SYN), each end's FIN sequence number and
//! whether the other end acknowledged it, the first close (FIN or RST, and by which end), the
//! next expected sequence number of each end, and the number of requests (client segments at
//! or past the next expected sequence number whose first four bytes start an HTTP method). A
//! SYN on a 4-tuple whose connection has closed ends that connection and starts the next in
//! the same slot; a sweep every 65,536 segments lets go of connections closed more than 5 s
//! earlier. A connection's end is folded at once into totals, per server endpoint counts and a
//! per-second count of TIME-WAIT entries.
//!
//! With `--heads` it also parses, with httparse, the head of each request and of each response
//! (a server segment at or past the next expected sequence number that starts with `HTTP`),
//! for the requests' HTTP version and whether each end sent `Connection: close`: the HTTP
//! facts behind finscope's diagnosis of the two incidents.
//!
//! What it leaves out, against `finscope analyze`: reassembly (so a head split over segments
//! is not read, and pipelined requests in one segment count as one), bodies and message
//! framing, health checks, close reasons, idle times, statistics per end, anomalies,
//! retransmission and mid-stream handling beyond "the first segment's sender opened it",
//! every link type but Ethernet, IPv6, pcapng, records, and the report. So it is a lower
//! bound for a design that keeps the verdicts' facts small and in the table, not a finscope.
//!
//! With `--boxed`, each slot holds instead a box of [`CONNECTION_BYTES`] (the size of
//! finscope's boxed connection) with the same facts at its start: the same work on the same
//! facts, laid out as finscope lays out its connections. With `--split`, the facts stay in the
//! slot and the rest of such a box is made at the connection's first payload, written on each
//! payload segment and read (a byte of each cache line) when the connection ends: a layout
//! with only what every segment needs in the table. `--split --early` reads and frees the box
//! when the close completes (both FINs acknowledged, or a RST first) instead, while it is
//! still in the cache: the layout of a design that builds each record then, and keeps only the
//! slot's facts for the 5 s linger.

use std::collections::HashMap;
use std::io::{self, Write};

use foldhash::fast::RandomState;

/// `size_of::<Connection<HttpConn>>()` in finscope (`src/pipeline/mod.rs` bounds it).
pub const CONNECTION_BYTES: usize = 864;

/// A closed connection stays this long for late segments before it goes.
const LINGER_MS: u32 = 5_000;

/// Bits of [`Conn::bits`]; `<< end` picks the end (0: the key's low end, 1: its high end).
const LIVE: u32 = 1;
const OPENER_HI: u32 = 1 << 1;
const SAW_SYN: u32 = 1 << 2;
const FIN: u32 = 1 << 3;
/// This end's FIN was acknowledged by the other end.
const FIN_ACKED: u32 = 1 << 5;
const RST: u32 = 1 << 7;
const FIRST_BY_HI: u32 = 1 << 9;
const FIRST_IS_RST: u32 = 1 << 10;
const CLOSED: u32 = 1 << 11;
/// The second FIN did not acknowledge the first: the FINs crossed.
const CROSSED: u32 = 1 << 12;
/// `--heads`: the client sent `Connection: close`.
const CLIENT_SAID_CLOSE: u32 = 1 << 13;
/// `--heads`: the server sent `Connection: close`.
const SERVER_SAID_CLOSE: u32 = 1 << 14;
/// The end's `next_seq` has been set.
const NEXT_SET: u32 = 1 << 15;

/// One connection's facts.
#[derive(Clone, Copy, Default)]
pub struct Conn {
    bits: u32,
    requests: u16,
    /// `--heads`: requests that said HTTP/1.0.
    requests_http10: u16,
    fin_seq: [u32; 2],
    next_seq: [u32; 2],
    /// When a FIN was last acknowledged: when the last end to enter TIME-WAIT did
    /// (milliseconds from the first segment).
    time_wait_ms: u32,
    last_ms: u32,
}

/// The bytes of a finscope connection beyond [`Conn`].
type Rest = [u8; CONNECTION_BYTES - size_of::<Conn>()];

/// Where a slot keeps its [`Conn`]: in the slot (`Conn` itself), in a box the size of a
/// finscope connection ([`Boxed`]), or in the slot with the rest of such a box beside it
/// ([`Split`]).
pub trait Slot: Default {
    fn conn(&self) -> &Conn;
    fn conn_mut(&mut self) -> &mut Conn;
    /// A segment with payload: `--split` writes to the connection's box, made at the first.
    fn payload(&mut self) {}
    /// The connection ends: `--split` reads every cache line of its box, as building a record
    /// from it would.
    fn ended(&self) -> u8 {
        0
    }
    /// `--split --early`: the connection has closed (both FINs acknowledged, or a RST first):
    /// its box is read and freed now, while it is still in the cache, as a record built when
    /// the close completes would be.
    fn closed(&mut self) {}
}

impl Slot for Conn {
    fn conn(&self) -> &Conn {
        self
    }
    fn conn_mut(&mut self) -> &mut Conn {
        self
    }
}

/// The facts at the start of a box the size of a finscope connection.
pub struct Boxed(Box<Padded>);

/// `repr(C)`: the facts first, as the doc says.
#[repr(C)]
pub struct Padded {
    conn: Conn,
    rest: Rest,
}

impl Default for Boxed {
    fn default() -> Self {
        Boxed(Box::new(Padded {
            conn: Conn::default(),
            rest: [0; _],
        }))
    }
}

impl Slot for Boxed {
    fn conn(&self) -> &Conn {
        &self.0.conn
    }
    fn conn_mut(&mut self) -> &mut Conn {
        &mut self.0.conn
    }
}

/// The facts in the table's slot, and the rest of a finscope connection in a box of its own,
/// made at the first payload: the layout of a design that keeps what every segment needs in
/// the table and what only payload and the record need (reassembly, HTTP state, statistics)
/// behind a pointer.
#[derive(Default)]
pub struct Split {
    conn: Conn,
    rest: Option<Box<Rest>>,
}

impl Slot for Split {
    fn conn(&self) -> &Conn {
        &self.conn
    }
    fn conn_mut(&mut self) -> &mut Conn {
        &mut self.conn
    }
    fn payload(&mut self) {
        let rest = self.rest.get_or_insert_with(|| Box::new([0; _]));
        rest[0] = rest[0].wrapping_add(1);
    }
    fn closed(&mut self) {
        std::hint::black_box(self.ended());
        self.rest = None;
    }
    fn ended(&self) -> u8 {
        self.rest.as_ref().map_or(0, |rest| {
            rest.iter()
                .step_by(64)
                .fold(0, |sum: u8, &b| sum.wrapping_add(b))
        })
    }
}

/// What ended connections add up to.
#[derive(Default)]
struct Totals {
    connections: u64,
    without_syn: u64,
    reuses: u64,
    closed_by_client: u64,
    closed_by_server: u64,
    closed_simultaneously: u64,
    first_close_rst: u64,
    time_wait_on_client: u64,
    time_wait_on_server: u64,
    requests: u64,
    requests_http10: u64,
    connection_close_by_client: u64,
    connection_close_by_server: u64,
    /// Per server endpoint: closes by the client, by the server, TIME-WAIT on the client, on
    /// the server.
    endpoints: HashMap<u64, [u32; 4], RandomState>,
    /// TIME-WAIT entries begun in each second.
    time_wait_per_s: Vec<u32>,
}

impl Totals {
    /// Folds in one connection that has ended.
    fn end(&mut self, key: (u64, u64), slot: &impl Slot) {
        std::hint::black_box(slot.ended());
        let c = slot.conn();
        self.connections += 1;
        self.requests += u64::from(c.requests);
        self.requests_http10 += u64::from(c.requests_http10);
        self.connection_close_by_client += u64::from(c.bits & CLIENT_SAID_CLOSE != 0);
        self.connection_close_by_server += u64::from(c.bits & SERVER_SAID_CLOSE != 0);
        if c.bits & SAW_SYN == 0 {
            self.without_syn += 1;
        }
        if c.bits & CLOSED == 0 {
            return;
        }
        let client = usize::from(c.bits & OPENER_HI != 0);
        let server = if client == 0 { key.1 } else { key.0 };
        let counts = self.endpoints.entry(server).or_default();
        let first = usize::from(c.bits & FIRST_BY_HI != 0);
        if c.bits & FIRST_IS_RST != 0 {
            self.first_close_rst += 1;
        }
        let crossed = c.bits & CROSSED != 0;
        if crossed {
            self.closed_simultaneously += 1;
        } else if first == client {
            self.closed_by_client += 1;
            counts[0] += 1;
        } else {
            self.closed_by_server += 1;
            counts[1] += 1;
        }
        if c.bits & FIRST_IS_RST != 0 {
            return;
        }
        // An end holds TIME-WAIT once it has acknowledged the other's FIN, if it closed first
        // or the FINs crossed.
        let mut entered = false;
        for end in 0..2 {
            let acked_other = c.bits & (FIN_ACKED << (1 - end)) != 0;
            if acked_other && c.bits & (FIN << end) != 0 && (crossed || end == first) {
                entered = true;
                if end == client {
                    self.time_wait_on_client += 1;
                    counts[2] += 1;
                } else {
                    self.time_wait_on_server += 1;
                    counts[3] += 1;
                }
            }
        }
        if entered {
            let s = (c.time_wait_ms / 1000) as usize;
            if s >= self.time_wait_per_s.len() {
                self.time_wait_per_s.resize(s + 1, 0);
            }
            self.time_wait_per_s[s] += 1;
        }
    }
}

/// A TCP segment's fields that the answers need.
pub struct Segment<'a> {
    pub src: u64,
    pub dst: u64,
    pub flags: u8,
    pub seq: u32,
    pub ack: u32,
    pub payload: &'a [u8],
}

/// `--heads`: the request's version and `Connection: close`, by httparse.
fn request_head(c: &mut Conn, payload: &[u8]) {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut request = httparse::Request::new(&mut headers);
    if request.parse(payload).is_err() {
        return;
    }
    if request.version == Some(0) {
        c.requests_http10 = c.requests_http10.saturating_add(1);
    }
    if says_close(request.headers) {
        c.bits |= CLIENT_SAID_CLOSE;
    }
}

/// `--heads`: the response's `Connection: close`, by httparse.
fn response_head(c: &mut Conn, payload: &[u8]) {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    if response.parse(payload).is_ok() && says_close(response.headers) {
        c.bits |= SERVER_SAID_CLOSE;
    }
}

/// A `Connection` header with the `close` option, among the headers parsed so far (httparse
/// leaves the rest empty).
fn says_close(headers: &[httparse::Header]) -> bool {
    headers.iter().any(|h| {
        h.name.eq_ignore_ascii_case("connection")
            && h.value
                .split(|&b| b == b',')
                .any(|o| o.trim_ascii().eq_ignore_ascii_case(b"close"))
    })
}

/// `a` is at or after `b`, in sequence space.
fn at_or_after(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) >= 0
}

pub struct Lean<S> {
    /// `--early`: tell the slot when a connection's close completes.
    early: bool,
    /// `--heads`: parse each request's and response's head.
    heads: bool,
    slots: HashMap<(u64, u64), S, RandomState>,
    totals: Totals,
    first_s: Option<u32>,
    now_ms: u32,
    segments: u64,
    peak_slots: usize,
}

impl<S: Slot> Lean<S> {
    pub fn new(heads: bool, early: bool) -> Self {
        Lean {
            early,
            heads,
            slots: HashMap::default(),
            totals: Totals::default(),
            first_s: None,
            now_ms: 0,
            segments: 0,
            peak_slots: 0,
        }
    }

    pub fn segment(&mut self, (ts_s, ts_us): (u32, u32), s: &Segment) {
        let first_s = *self.first_s.get_or_insert(ts_s);
        let ms = ts_s.wrapping_sub(first_s).wrapping_mul(1000) + ts_us / 1000;
        self.now_ms = ms;
        let (key, end) = if s.src <= s.dst {
            ((s.src, s.dst), 0)
        } else {
            ((s.dst, s.src), 1)
        };
        let (syn, fin, rst, has_ack) = (
            s.flags & 0x02 != 0,
            s.flags & 0x01 != 0,
            s.flags & 0x04 != 0,
            s.flags & 0x10 != 0,
        );
        let early = self.early;
        let slot = self.slots.entry(key).or_default();
        if syn && !has_ack && slot.conn().bits & CLOSED != 0 {
            self.totals.end(key, slot);
            self.totals.reuses += 1;
            *slot = S::default();
        }
        let c = slot.conn_mut();
        if c.bits & LIVE == 0 {
            c.bits = LIVE;
            // The SYN's sender opened it, or the SYN,ACK's receiver; else the first sender.
            let opener = if syn && has_ack { 1 - end } else { end };
            if syn {
                c.bits |= SAW_SYN;
            }
            if opener == 1 {
                c.bits |= OPENER_HI;
            }
        }
        if c.bits & (NEXT_SET << end) == 0 {
            c.bits |= NEXT_SET << end;
            c.next_seq[end] = s.seq;
        }
        let len = s.payload.len() as u32;
        if len > 0 {
            slot.payload();
        }
        let c = slot.conn_mut();
        let client = usize::from(c.bits & OPENER_HI != 0);
        if len > 0 && at_or_after(s.seq, c.next_seq[end]) {
            let start = s.payload.get(..4).unwrap_or(s.payload);
            if end == client
                && matches!(
                    start,
                    b"GET " | b"POST" | b"HEAD" | b"PUT " | b"DELE" | b"OPTI" | b"PATC" | b"CONN"
                )
            {
                c.requests = c.requests.saturating_add(1);
                if self.heads {
                    request_head(c, s.payload);
                }
            } else if end != client && self.heads && start == b"HTTP" {
                response_head(c, s.payload);
            }
        }
        let next = s
            .seq
            .wrapping_add(len)
            .wrapping_add(u32::from(syn) + u32::from(fin));
        if !at_or_after(c.next_seq[end], next) {
            c.next_seq[end] = next;
        }
        let other = 1 - end;
        if has_ack
            && c.bits & (FIN << other) != 0
            && c.bits & (FIN_ACKED << other) == 0
            && at_or_after(s.ack, c.fin_seq[other].wrapping_add(1))
        {
            c.bits |= FIN_ACKED << other;
            c.time_wait_ms = ms;
        }
        if fin && c.bits & (FIN << end) == 0 {
            c.bits |= FIN << end;
            c.fin_seq[end] = s.seq.wrapping_add(len);
            if c.bits & CLOSED == 0 {
                c.bits |= CLOSED | if end == 1 { FIRST_BY_HI } else { 0 };
            } else if c.bits & FIRST_IS_RST == 0
                && !(has_ack && at_or_after(s.ack, c.fin_seq[other].wrapping_add(1)))
            {
                c.bits |= CROSSED;
            }
        }
        if rst && c.bits & (RST << end) == 0 {
            c.bits |= RST << end;
            if c.bits & CLOSED == 0 {
                c.bits |= CLOSED | FIRST_IS_RST | if end == 1 { FIRST_BY_HI } else { 0 };
            }
        }
        c.last_ms = ms;
        let both_acked = FIN_ACKED | FIN_ACKED << 1;
        if early && (c.bits & both_acked == both_acked || c.bits & FIRST_IS_RST != 0) {
            slot.closed();
        }
        self.segments += 1;
        if self.segments % 65_536 == 0 {
            self.sweep();
        }
    }

    /// Lets go of connections closed more than [`LINGER_MS`] ago, folding them in first.
    fn sweep(&mut self) {
        self.peak_slots = self.peak_slots.max(self.slots.len());
        let (totals, now) = (&mut self.totals, self.now_ms);
        self.slots.retain(|key, slot| {
            let c = slot.conn();
            let done = c.bits & CLOSED != 0 && now.wrapping_sub(c.last_ms) > LINGER_MS;
            if done {
                totals.end(*key, slot);
            }
            !done
        });
    }

    /// Folds in every connection still held, and prints `key=value` lines.
    pub fn finish(&mut self, o: &mut dyn Write) -> io::Result<()> {
        self.peak_slots = self.peak_slots.max(self.slots.len());
        for (key, c) in self.slots.drain() {
            self.totals.end(key, &c);
        }
        let t = &self.totals;
        writeln!(o, "connections={}", t.connections)?;
        writeln!(o, "without_syn={}", t.without_syn)?;
        writeln!(o, "tuple_reuses={}", t.reuses)?;
        writeln!(o, "closed_by_client={}", t.closed_by_client)?;
        writeln!(o, "closed_by_server={}", t.closed_by_server)?;
        writeln!(o, "closed_simultaneously={}", t.closed_simultaneously)?;
        writeln!(o, "first_close_rst={}", t.first_close_rst)?;
        writeln!(o, "time_wait_on_client={}", t.time_wait_on_client)?;
        writeln!(o, "time_wait_on_server={}", t.time_wait_on_server)?;
        writeln!(o, "requests={}", t.requests)?;
        if self.heads {
            writeln!(o, "requests_http10={}", t.requests_http10)?;
            writeln!(
                o,
                "connection_close_by_client={}",
                t.connection_close_by_client
            )?;
            writeln!(
                o,
                "connection_close_by_server={}",
                t.connection_close_by_server
            )?;
        }
        writeln!(o, "server_endpoints={}", t.endpoints.len())?;
        let peak = t.time_wait_per_s.iter().max().copied().unwrap_or(0);
        writeln!(o, "time_wait_entries_peak_per_s={peak}")?;
        writeln!(o, "peak_slots={}", self.peak_slots)?;
        writeln!(o, "slot_bytes={}", size_of::<((u64, u64), S)>())
    }
}
