//! [`HttpConn`]: one connection's HTTP/1.x tracker, fed with each end's in-order stream bytes.
//!
//! Each end's stream runs through [`Phase`]s: its first bytes are classified, then message heads
//! are parsed (strict reader, else httparse) straight from the caller's slice and bodies are
//! skipped by arithmetic. Only the unparsed tail of a head (or chunk-size line, or candidate
//! line while resynchronising) split across calls is copied, into a buffer capped at
//! [`PENDING_MAX`].

use std::mem;

use httparse::Status;

use super::head::{parse_request, parse_response, HeadMemo};
use super::scan::{self, Class, Resync, Want};
use super::summary::{App, HttpSummary, Method, RequestLine};
use crate::time::Timestamp;

/// Most bytes kept for a message head (or line) split across calls. A head that needs more is a
/// parse error and the stream resynchronises.
pub const PENDING_MAX: usize = 64 * 1024;
/// Capacity a connection keeps in its pending buffer between split heads; more is freed.
const PENDING_KEEP: usize = 4 * 1024;
/// Bytes added to the pending buffer per attempt when a head is split, at least.
const PENDING_STEP: usize = 2048;

/// Per-connection HTTP/1.x tracker. See the module docs of [`crate::http`].
///
/// The parsing state is held in place, not boxed: set up at the first payload byte and let go
/// as soon as the connection turns out not to be HTTP. A box would cost an allocation per
/// connection and, when a finished connection is read again after the linger time, one more
/// cache miss in a chain of them (tracker entry, connection, parsing state, first target).
/// Only the tail of a message head split across segments goes on the heap.
#[derive(Debug, Default)]
pub struct HttpConn {
    app: App,
    gaps: u32,
    inner: Option<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    ends: [End; 2],
    /// Counters in summary form; `app`, `gaps`, `unanswered_requests` and
    /// `requests_from_server` are filled in by [`HttpConn::summary`].
    acc: HttpSummary,
    requests_by: [u32; 2],
    seen_payload: bool,
}

/// One direction of the connection.
#[derive(Debug, Default)]
struct End {
    role: Role,
    phase: Phase,
    /// The unparsed tail of a split head; empty almost always.
    pending: Vec<u8>,
    /// Requests this end sent that await a final response from the other end.
    queue: Queue,
    /// Time of the last data from this end, for messages that a gap completes.
    last_ts: Timestamp,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Role {
    #[default]
    Unknown,
    Requests,
    Responses,
}

/// Where a stream is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Phase {
    /// Nothing from this end yet: its first bytes say what it speaks.
    #[default]
    Start,
    /// At a message boundary: a head comes next.
    Head,
    /// This many body bytes are left.
    Body(u64),
    /// A chunk-size line comes next.
    ChunkSize,
    /// This many chunk-data bytes are left.
    ChunkData(u64),
    /// The CRLF after chunk data; `cr` once the CR was seen.
    ChunkEnd { cr: bool },
    /// Trailer lines after the last chunk, until an empty line; `line_empty` while the current
    /// line has had nothing but CR.
    Trailers { line_empty: bool },
    /// A response body that ends when the server closes its direction.
    UntilClose,
    /// Out of sync: looking for a request or status line. `line_start` says whether the next
    /// byte starts a line (after a newline or a gap).
    Lost { line_start: bool },
    /// No more HTTP on this stream (upgrade, tunnel, end of stream).
    Done,
}

/// What the response to a request depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ReqKind {
    Normal,
    Head,
    Connect,
}

/// FIFO of requests awaiting a final response, without allocation: the first 64 are remembered
/// exactly; beyond that only the count is kept and the extra ones count as [`ReqKind::Normal`].
#[derive(Clone, Copy, Debug, Default)]
struct Queue {
    len: u32,
    start: u32,
    head: u64,
    connect: u64,
}

impl Queue {
    fn push(&mut self, kind: ReqKind) {
        if self.len < 64 {
            let bit = 1u64 << ((self.start + self.len) % 64);
            match kind {
                ReqKind::Head => self.head |= bit,
                ReqKind::Connect => self.connect |= bit,
                ReqKind::Normal => {}
            }
        }
        self.len = self.len.saturating_add(1);
    }

    fn pop(&mut self) -> Option<ReqKind> {
        if self.len == 0 {
            return None;
        }
        let bit = 1u64 << self.start;
        let kind = if self.head & bit != 0 {
            ReqKind::Head
        } else if self.connect & bit != 0 {
            ReqKind::Connect
        } else {
            ReqKind::Normal
        };
        self.head &= !bit;
        self.connect &= !bit;
        self.start = (self.start + 1) % 64;
        self.len -= 1;
        Some(kind)
    }
}

/// The outcome of parsing at a message boundary.
enum HeadStep {
    /// The head took this many bytes; the phase says what follows.
    Parsed(usize),
    Partial,
    Error,
}

impl HttpConn {
    /// A tracker for a connection with no payload yet. Allocates nothing.
    pub fn new() -> Self {
        HttpConn::default()
    }

    /// In-order payload bytes sent by end `end` (0 or 1) at capture time `ts`.
    pub fn data(&mut self, end: usize, ts: Timestamp, bytes: &[u8]) {
        self.data_with(end, ts, bytes, &mut HeadMemo::default());
    }

    /// [`data`](Self::data), answering heads seen lately from `memo` (shared by the
    /// connections of one tracker).
    pub(crate) fn data_with(
        &mut self,
        end: usize,
        ts: Timestamp,
        bytes: &[u8],
        memo: &mut HeadMemo,
    ) {
        if bytes.is_empty() || end > 1 || self.stopped() {
            return;
        }
        let inner = self.inner.get_or_insert_with(Inner::default);
        inner.seen_payload = true;
        inner.ends[end].last_ts = ts;
        let pending = mem::take(&mut inner.ends[end].pending);
        let pending = self.feed(end, ts, pending, bytes, memo);
        self.put_back(end, pending);
    }

    /// `len` bytes of end `end`'s stream are missing (lost segment, capture drop, snaplen cut).
    ///
    /// A gap inside a body only shortens what is left to skip; anywhere else the stream loses
    /// its place and resynchronises on the next request or status line. `gap(end, 0)` before
    /// any data from `end` says that the start of its stream was not captured (the connection
    /// was already open): its first bytes are then not classified but searched for a line to
    /// start from. Otherwise a zero-length gap is ignored.
    pub fn gap(&mut self, end: usize, len: u64) {
        if end > 1 {
            return;
        }
        if len > 0 {
            self.gaps = self.gaps.saturating_add(1);
        }
        if self.stopped() {
            return;
        }
        let inner = self.inner.get_or_insert_with(Inner::default);
        let e = &mut inner.ends[end];
        e.pending.clear();
        let last_ts = e.last_ts;
        match e.phase {
            Phase::Start => e.phase = Phase::Lost { line_start: true },
            _ if len == 0 => {}
            Phase::Body(n) if len < n => e.phase = Phase::Body(n - len),
            Phase::Body(n) if len == n => inner.message_done(end, last_ts),
            Phase::ChunkData(n) if len < n => e.phase = Phase::ChunkData(n - len),
            Phase::ChunkData(n) if len == n => e.phase = Phase::ChunkEnd { cr: false },
            Phase::UntilClose | Phase::Done => {}
            _ => e.phase = Phase::Lost { line_start: true },
        }
    }

    /// End `end` closed its direction (FIN): ends a close-delimited response body.
    pub fn end_of_stream(&mut self, end: usize, ts: Timestamp) {
        if end > 1 {
            return;
        }
        if let Some(inner) = self.inner.as_mut() {
            if inner.ends[end].phase == Phase::UntilClose {
                inner.message_done(end, ts);
            }
            let e = &mut inner.ends[end];
            e.phase = Phase::Done;
            e.pending = Vec::new();
        }
    }

    /// What was seen, with `client_end` (0 or 1) saying which end is the client.
    pub fn summary(&self, client_end: usize) -> HttpSummary {
        let acc = self.inner.as_ref().map(|i| i.acc.clone());
        self.complete(acc, client_end)
    }

    /// [`summary`](Self::summary) for a connection that is done: the counters are moved out
    /// of the parsing state, not copied (the first request's target with them).
    pub fn take_summary(&mut self, client_end: usize) -> HttpSummary {
        let acc = self.inner.as_mut().map(|i| std::mem::take(&mut i.acc));
        self.complete(acc, client_end)
    }

    /// The counters `acc` with what only the connection knows filled in.
    fn complete(&self, acc: Option<HttpSummary>, client_end: usize) -> HttpSummary {
        let (Some(mut s), Some(inner)) = (acc, self.inner.as_ref()) else {
            return HttpSummary {
                app: self.app,
                gaps: self.gaps,
                ..HttpSummary::default()
            };
        };
        s.app = match self.app {
            App::None if inner.seen_payload => App::Other,
            app => app,
        };
        s.gaps = self.gaps;
        s.unanswered_requests = inner.ends[0]
            .queue
            .len
            .saturating_add(inner.ends[1].queue.len);
        s.requests_from_server = inner.requests_by[1 - client_end.min(1)];
        s
    }

    /// A word from each part of the state (both ends, the counters spread over several cache
    /// lines), combined; see [`crate::tcp::StreamHandler::touch`].
    pub(crate) fn touch(&self) -> u64 {
        let Some(i) = &self.inner else {
            return u64::from(self.gaps);
        };
        let [a, b] = &i.ends;
        u64::from(a.queue.len)
            ^ u64::from(b.queue.len)
            ^ a.last_ts.0 as u64
            ^ b.last_ts.0 as u64
            ^ u64::from(i.acc.requests)
            ^ u64::from(i.acc.methods[5])
            ^ u64::from(i.acc.status_classes[2])
            ^ u64::from(i.acc.client_conn_close)
            ^ i.acc.last_response_ts.map_or(0, |t| t.0 as u64)
            ^ u64::from(i.acc.gaps)
            ^ u64::from(i.requests_by[1])
    }

    /// Whether the connection turned out not to be HTTP, so nothing more is looked at.
    fn stopped(&self) -> bool {
        matches!(self.app, App::Tls | App::Http2 | App::Other)
    }

    /// Runs `bytes` through end `end`, after what is pending, and returns what is pending then.
    fn feed(
        &mut self,
        end: usize,
        ts: Timestamp,
        mut pending: Vec<u8>,
        bytes: &[u8],
        memo: &mut HeadMemo,
    ) -> Vec<u8> {
        let mut off = 0;
        loop {
            let Some(inner) = self.inner.as_mut() else {
                return pending;
            };
            if pending.is_empty() {
                let rest = &bytes[off..];
                match inner.run(end, ts, rest, &mut self.app, memo) {
                    None => break,
                    Some(at) if rest.len() - at <= PENDING_MAX => {
                        pending.extend_from_slice(&rest[at..]);
                        break;
                    }
                    Some(at) => {
                        // Longer than any head may be: give up on it and look further on.
                        inner.overflow(end, &mut self.app);
                        off += at;
                    }
                }
            } else if off == bytes.len() {
                break;
            } else {
                let room = PENDING_MAX - pending.len();
                if room == 0 {
                    inner.overflow(end, &mut self.app);
                } else {
                    let take = pending.len().max(PENDING_STEP).min(room);
                    let take = take.min(bytes.len() - off);
                    pending.extend_from_slice(&bytes[off..off + take]);
                    off += take;
                }
                let Some(inner) = self.inner.as_mut() else {
                    return pending;
                };
                match inner.run(end, ts, &pending, &mut self.app, memo) {
                    None => pending.clear(),
                    Some(at) => drop(pending.drain(..at)),
                }
            }
            if self.stopped() {
                self.inner = None;
                return pending;
            }
        }
        if self.stopped() {
            self.inner = None;
        }
        pending
    }

    fn put_back(&mut self, end: usize, mut pending: Vec<u8>) {
        if let Some(inner) = self.inner.as_mut() {
            if pending.is_empty() && pending.capacity() > PENDING_KEEP {
                pending = Vec::new();
            }
            inner.ends[end].pending = pending;
        }
    }
}

impl Inner {
    /// Runs `input` through end `end`'s phases. Returns `None` when every byte was used, or
    /// the offset from which the bytes must be kept and offered again with more after them.
    /// Sets `app` when the first bytes of the connection decide it.
    fn run(
        &mut self,
        end: usize,
        ts: Timestamp,
        input: &[u8],
        app: &mut App,
        memo: &mut HeadMemo,
    ) -> Option<usize> {
        let mut pos = 0;
        loop {
            let rest = &input[pos..];
            match self.ends[end].phase {
                Phase::Start => match scan::classify(rest) {
                    None => return Some(pos),
                    Some(class) => {
                        if !self.first_bytes(end, class, app) {
                            return None;
                        }
                    }
                },
                Phase::Head => {
                    if rest.is_empty() {
                        return None;
                    }
                    let step = match self.ends[end].role {
                        Role::Requests => self.request_head(end, ts, rest, memo),
                        Role::Responses => self.response_head(end, ts, rest, memo),
                        Role::Unknown => HeadStep::Error,
                    };
                    match step {
                        HeadStep::Parsed(n) => pos += n,
                        HeadStep::Partial => return Some(pos),
                        HeadStep::Error => self.lose_sync(end, false),
                    }
                }
                Phase::Body(n) => {
                    let take = n.min(rest.len() as u64);
                    pos += take as usize;
                    if take == n {
                        self.message_done(end, ts);
                    } else {
                        self.ends[end].phase = Phase::Body(n - take);
                        return None;
                    }
                }
                Phase::ChunkSize => {
                    if rest.is_empty() {
                        return None;
                    }
                    match httparse::parse_chunk_size(rest) {
                        Ok(Status::Complete((n, 0))) => {
                            pos += n;
                            self.ends[end].phase = Phase::Trailers { line_empty: true };
                        }
                        Ok(Status::Complete((n, size))) => {
                            pos += n;
                            self.ends[end].phase = Phase::ChunkData(size);
                        }
                        Ok(Status::Partial) => return Some(pos),
                        Err(_) => self.lose_sync(end, false),
                    }
                }
                Phase::ChunkData(n) => {
                    let take = n.min(rest.len() as u64);
                    pos += take as usize;
                    self.ends[end].phase = if take == n {
                        Phase::ChunkEnd { cr: false }
                    } else {
                        Phase::ChunkData(n - take)
                    };
                    if take < n {
                        return None;
                    }
                }
                Phase::ChunkEnd { cr } => match rest.first() {
                    None => return None,
                    Some(b'\r') if !cr => {
                        pos += 1;
                        self.ends[end].phase = Phase::ChunkEnd { cr: true };
                    }
                    Some(b'\n') => {
                        pos += 1;
                        self.ends[end].phase = Phase::ChunkSize;
                    }
                    Some(_) => self.lose_sync(end, false),
                },
                Phase::Trailers { mut line_empty } => {
                    let mut done = None;
                    for (i, &b) in rest.iter().enumerate() {
                        match b {
                            b'\n' if line_empty => {
                                done = Some(i + 1);
                                break;
                            }
                            b'\n' => line_empty = true,
                            b'\r' => {}
                            _ => line_empty = false,
                        }
                    }
                    match done {
                        Some(n) => {
                            pos += n;
                            self.message_done(end, ts);
                        }
                        None => {
                            self.ends[end].phase = Phase::Trailers { line_empty };
                            return None;
                        }
                    }
                }
                Phase::UntilClose | Phase::Done => return None,
                Phase::Lost { line_start } => {
                    let want = self.want(end);
                    match scan::resync(rest, line_start, want) {
                        Resync::Found(p, is_request) => {
                            pos += p;
                            self.resynced(end, is_request, app);
                        }
                        Resync::NeedMore(p) => {
                            self.ends[end].phase = Phase::Lost { line_start: true };
                            return Some(pos + p);
                        }
                        Resync::NotFound => {
                            let line_start = rest.last().map_or(line_start, |&b| b == b'\n');
                            self.ends[end].phase = Phase::Lost { line_start };
                            return None;
                        }
                    }
                }
            }
        }
    }

    /// Sets end `end`'s role from its first bytes. Returns false when they end HTTP parsing for
    /// the whole connection (the first sender speaks TLS, h2c or something else).
    fn first_bytes(&mut self, end: usize, class: Class, app: &mut App) -> bool {
        let role = match class {
            Class::Requests => Role::Requests,
            Class::Responses => Role::Responses,
            Class::Tls | Class::Http2 | Class::Other => {
                if *app == App::None {
                    *app = match class {
                        Class::Tls => App::Tls,
                        Class::Http2 => App::Http2,
                        _ => App::Other,
                    };
                    return false;
                }
                // The peer speaks HTTP; this end does not start as it should.
                self.acc.parse_errors = self.acc.parse_errors.saturating_add(1);
                self.ends[end].phase = Phase::Lost { line_start: false };
                return true;
            }
        };
        if *app == App::None {
            *app = App::Http;
        }
        let e = &mut self.ends[end];
        e.role = role;
        e.phase = Phase::Head;
        true
    }

    /// What a stream that lost its place looks for.
    fn want(&self, end: usize) -> Want {
        match (self.ends[end].role, self.ends[1 - end].role) {
            (Role::Requests, _) | (Role::Unknown, Role::Responses) => Want::Requests,
            (Role::Responses, _) | (Role::Unknown, Role::Requests) => Want::Responses,
            (Role::Unknown, Role::Unknown) => Want::Either,
        }
    }

    fn resynced(&mut self, end: usize, is_request: bool, app: &mut App) {
        self.acc.resyncs = self.acc.resyncs.saturating_add(1);
        if *app == App::None {
            *app = App::Http;
        }
        let e = &mut self.ends[end];
        if e.role == Role::Unknown {
            e.role = if is_request {
                Role::Requests
            } else {
                Role::Responses
            };
        }
        e.phase = Phase::Head;
        if !is_request {
            // The gap swallowed an unknown number of responses. Clients rarely pipeline, so
            // the response found now most likely answers the newest request: the older ones
            // were answered inside the gap.
            let q = &mut self.ends[1 - end].queue;
            while q.len > 1 {
                q.pop();
            }
        }
    }

    /// Bytes that cannot be where they are: count a parse error and look for the next line.
    fn lose_sync(&mut self, end: usize, line_start: bool) {
        self.acc.parse_errors = self.acc.parse_errors.saturating_add(1);
        self.ends[end].phase = Phase::Lost { line_start };
    }

    /// The pending buffer is full and the phase still wants more.
    fn overflow(&mut self, end: usize, app: &mut App) {
        match self.ends[end].phase {
            Phase::Start if *app == App::None => *app = App::Other,
            Phase::Lost { .. } => self.ends[end].phase = Phase::Lost { line_start: false },
            _ => self.lose_sync(end, false),
        }
    }

    /// A message from end `end` is complete at `ts`.
    fn message_done(&mut self, end: usize, ts: Timestamp) {
        let e = &mut self.ends[end];
        e.phase = Phase::Head;
        if e.role == Role::Responses {
            self.acc.last_response_ts = Some(ts);
        }
    }

    fn request_head(
        &mut self,
        end: usize,
        ts: Timestamp,
        buf: &[u8],
        memo: &mut HeadMemo,
    ) -> HeadStep {
        let want_target = self.acc.first_request.is_none();
        let (n, head) = match parse_request(buf, want_target, memo) {
            Some(Status::Complete(x)) => x,
            Some(Status::Partial) => return HeadStep::Partial,
            None => return HeadStep::Error,
        };
        let (h, v) = (head.info, head.version);
        let a = &mut self.acc;
        a.requests = a.requests.saturating_add(1);
        self.requests_by[end] = self.requests_by[end].saturating_add(1);
        let inc = |x: &mut u32| *x = x.saturating_add(1);
        inc(&mut a.methods[head.method.idx()]);
        inc(&mut a.request_versions[usize::from(v)]);
        if !h.has_host {
            inc(&mut a.requests_without_host);
        }
        if h.conn_close {
            inc(&mut a.client_conn_close);
        }
        if h.keep_alive {
            inc(&mut a.client_keep_alive);
        }
        if let Some(target) = head.target {
            a.first_request = Some(RequestLine {
                method: head.method,
                target,
                version: v,
                has_host: h.has_host,
            });
        }
        a.last_request_ts = Some(ts);
        a.last_request_wants_close = h.wants_close(v);
        let e = &mut self.ends[end];
        e.queue.push(match head.method {
            Method::Head => ReqKind::Head,
            Method::Connect => ReqKind::Connect,
            _ => ReqKind::Normal,
        });
        // A request has a body only if it says so (RFC 9112 section 6.3).
        e.phase = if h.chunked {
            Phase::ChunkSize
        } else if h.bad_length || h.other_coding {
            return self.head_then_lost(end, n);
        } else {
            match h.content_length {
                Some(len) if len > 0 => Phase::Body(len),
                _ => Phase::Head,
            }
        };
        HeadStep::Parsed(n)
    }

    fn response_head(
        &mut self,
        end: usize,
        ts: Timestamp,
        buf: &[u8],
        memo: &mut HeadMemo,
    ) -> HeadStep {
        let (n, head) = match parse_response(buf, memo) {
            Some(Status::Complete(x)) => x,
            Some(Status::Partial) => return HeadStep::Partial,
            None => return HeadStep::Error,
        };
        let (h, v, code) = (head.info, head.version, head.code);
        let a = &mut self.acc;
        let inc = |x: &mut u32| *x = x.saturating_add(1);
        if (100..600).contains(&code) {
            inc(&mut a.status_classes[usize::from(code / 100 - 1)]);
        }
        if (100..200).contains(&code) {
            inc(&mut a.interim_responses);
            if code == 101 {
                // The request is answered; what follows on both streams is another protocol.
                self.ends[1 - end].queue.pop();
                self.upgraded();
            }
            return HeadStep::Parsed(n);
        }
        inc(&mut a.responses);
        inc(&mut a.response_versions[usize::from(v)]);
        if h.conn_close {
            inc(&mut a.server_conn_close);
        }
        if h.keep_alive {
            inc(&mut a.server_keep_alive);
        }
        if h.keep_alive_timeout.is_some() {
            a.keep_alive_timeout_s = h.keep_alive_timeout;
        }
        a.last_response_close = h.wants_close(v);
        let request = self.ends[1 - end].queue.pop().unwrap_or(ReqKind::Normal);
        if request == ReqKind::Connect && (200..300).contains(&code) {
            self.acc.last_response_ts = Some(ts);
            self.upgraded();
            return HeadStep::Parsed(n);
        }
        // RFC 9112 section 6.3: no body after HEAD, 1xx, 204 and 304.
        let no_body = request == ReqKind::Head || code == 204 || code == 304;
        let phase = if no_body {
            Phase::Head
        } else if h.chunked {
            Phase::ChunkSize
        } else if h.bad_length {
            return self.head_then_lost(end, n);
        } else if h.other_coding {
            Phase::UntilClose
        } else {
            match h.content_length {
                Some(0) => Phase::Head,
                Some(len) => Phase::Body(len),
                None => Phase::UntilClose,
            }
        };
        self.ends[end].phase = phase;
        if phase == Phase::Head {
            self.message_done(end, ts);
        }
        HeadStep::Parsed(n)
    }

    /// A head was counted but its body cannot be delimited.
    fn head_then_lost(&mut self, end: usize, n: usize) -> HeadStep {
        self.lose_sync(end, true);
        HeadStep::Parsed(n)
    }

    fn upgraded(&mut self) {
        self.acc.upgraded = true;
        for e in &mut self.ends {
            e.phase = Phase::Done;
        }
    }
}

#[cfg(test)]
impl HttpConn {
    pub(super) fn inner_is_freed(&self) -> bool {
        self.inner.is_none()
    }

    pub(super) fn pending_capacity(&self, end: usize) -> usize {
        self.inner
            .as_ref()
            .map_or(0, |i| i.ends[end].pending.capacity())
    }
}
