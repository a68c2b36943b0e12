//! The flow table: finds each segment's connection, starts new connections (including on a
//! reused 4-tuple), and lets go of finished ones after a linger time, emitting their records.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::hash::BuildHasher;

use hashbrown::hash_table::{self, HashTable};

use crate::decode::Segment;
use crate::net::{Dir, FlowKey};
use crate::time::{Duration, Timestamp};

use super::conn::{Connection, Seen};
use super::record::{Anomaly, ConnRecord, EndReason};
use super::stream::{NoPayload, StreamHandler, MAX_HELD_TOTAL};

/// Receives each connection's record, with the stream handler's state for it, when the
/// tracker lets go of the connection. The state is dropped afterwards, so the sink may take
/// what it wants out of it rather than copy it.
pub trait RecordSink<A = ()> {
    fn record(&mut self, rec: &ConnRecord, app: &mut A);
}

impl<A, F: FnMut(&ConnRecord, &mut A)> RecordSink<A> for F {
    fn record(&mut self, rec: &ConnRecord, app: &mut A) {
        self(rec, app)
    }
}

/// Settings for a [`Tracker`].
#[derive(Clone, Copy, Debug)]
pub struct TrackerConfig {
    /// How long (capture time) a finished connection is kept for trailing segments (the last
    /// ACK, a retransmitted FIN, a RST) before its record is emitted.
    pub linger: Duration,
    /// Recognises the start of a client request in a payload, for telling roles apart when the
    /// handshake was not captured. The HTTP layer supplies it; `tcp` knows no HTTP.
    pub looks_like_request: fn(&[u8]) -> bool,
    /// Most connections held at once. When the table is full, the longest-idle tenth is
    /// evicted: their records go out (as `evicted`) with what was known.
    pub max_connections: usize,
    /// Out-of-order payload bytes that may be held over all connections (see
    /// [`MAX_HELD_TOTAL`]); a share of it when the work is split over several trackers.
    pub held_budget: usize,
}

/// Default flow-table limit: about 2 GB at most (about 2.1 KB per held connection), sized for a
/// laptop.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1_000_000;

impl Default for TrackerConfig {
    fn default() -> Self {
        TrackerConfig {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            linger: Duration::from_secs(5),
            looks_like_request: |_| false,
            held_budget: MAX_HELD_TOTAL,
        }
    }
}

/// Counters the tracker keeps for the data-quality section.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrackerStats {
    pub segments: u64,
    pub connections: u64,
    /// Connections that started on a 4-tuple an earlier connection in the capture used.
    pub tuple_reuses: u64,
    /// Most connections held at once (counted when time advances, before finished ones go).
    pub peak_tracked: u64,
    /// Connections let go early because the table was full.
    pub evicted: u64,
}

/// Follows every TCP connection in a stream of segments, handing payload to `H`.
pub struct Tracker<H: StreamHandler = NoPayload> {
    config: TrackerConfig,
    handler: H,
    /// Out-of-order bytes that may still be held, over all connections.
    held_budget: usize,
    flows: Flows<H::Conn>,
    /// Finished connections by linger deadline.
    finished: Finished,
    next_stream: u64,
    now: Timestamp,
    stats: TrackerStats,
    /// Boxes of connections let go of, for new connections: just read, so in the cache, and
    /// no trip through the allocator.
    spare: Vec<Box<Connection<H::Conn>>>,
}

/// Most spare boxes kept.
const SPARE_BOXES: usize = 256;

impl Tracker<NoPayload> {
    /// A tracker that looks at headers only.
    pub fn new(config: TrackerConfig) -> Self {
        Tracker::with_handler(config, NoPayload)
    }
}

impl<H: StreamHandler> Tracker<H> {
    /// A tracker that delivers each direction's payload, in order, to `handler`.
    pub fn with_handler(config: TrackerConfig, handler: H) -> Self {
        Tracker {
            config,
            handler,
            held_budget: config.held_budget,
            flows: Flows::default(),
            finished: Finished::default(),
            next_stream: 0,
            now: Timestamp(i64::MIN),
            stats: TrackerStats::default(),
            spare: Vec::new(),
        }
    }

    pub fn stats(&self) -> TrackerStats {
        self.stats
    }

    /// Connections currently held.
    pub fn tracked(&self) -> usize {
        self.flows.len()
    }

    /// Connections held as open, and as closed (waiting out the linger time).
    #[cfg(test)]
    pub(crate) fn held(&self) -> (usize, usize) {
        (self.flows.open.len(), self.flows.closed.len())
    }

    /// Takes in one segment seen at `ts` in frame `frame` (frame numbers increase in file order).
    /// Records go to `sink` only when the segment starts a connection on a 4-tuple still held
    /// (the old one ends `reused`) or the table is full (`evicted`); finished connections go
    /// when [`Tracker::advance`] moves time past their linger.
    pub fn segment(
        &mut self,
        seg: &Segment<'_>,
        ts: Timestamp,
        frame: u64,
        sink: &mut dyn RecordSink<H::Conn>,
    ) {
        self.stats.segments += 1;
        let (key, dir) = FlowKey::of(seg.src, seg.dst);
        let from = match dir {
            Dir::LoToHi => 0,
            Dir::HiToLo => 1,
        };
        let seen = Seen { ts, frame };
        if self.flows.len() >= self.config.max_connections.max(1) && self.flows.get(&key).is_none()
        {
            self.evict(sink);
        }
        let Flows {
            open,
            closed,
            hasher,
        } = &mut self.flows;
        let hash = hasher.hash_one(key);
        let (conn, held) = match open.entry(hash, |c| c.has_key(&key), |c| hasher.hash_one(c.key()))
        {
            hash_table::Entry::Occupied(e) => (e.into_mut(), Held::Open),
            hash_table::Entry::Vacant(e) => match closed.find_mut(hash, |c| c.has_key(&key)) {
                Some(conn) => (conn, Held::Closed),
                None => {
                    let app = self.handler.open();
                    let conn = Connection::new(self.next_stream, [key.lo, key.hi], from, seen, app);
                    self.next_stream += 1;
                    self.stats.connections += 1;
                    let boxed = match self.spare.pop() {
                        Some(mut b) => {
                            *b = conn;
                            b
                        }
                        None => Box::new(conn),
                    };
                    (e.insert(boxed).into_mut(), Held::New)
                }
            },
        };
        let was_complete = if held == Held::New {
            false
        } else {
            // Closed connections, and only they, have completed their close: a connection
            // moves to the closed table with the segment that completes it.
            debug_assert_eq!(conn.complete(), held == Held::Closed);
            if seg.flags.syn() && held == Held::Closed {
                // Most often a new connection on the 4-tuple of this finished one, which
                // is read now for the first time since its close, and then emitted.
                conn.touch::<H>();
            }
            if seg.flags.syn() && conn.is_new_connection(from, seg) {
                let reused_while_open = conn.was_open_with_traffic();
                emit(
                    &mut self.handler,
                    &mut self.held_budget,
                    conn,
                    EndReason::Reused,
                    Some(ts),
                    sink,
                );
                // The new connection takes the old one's box: no allocation, and memory
                // just read rather than a cold block.
                let app = self.handler.open();
                **conn = Connection::new(self.next_stream, [key.lo, key.hi], from, seen, app);
                if reused_while_open {
                    conn.anomalies.insert(Anomaly::ReusedWhileOpen);
                }
                self.next_stream += 1;
                self.stats.connections += 1;
                self.stats.tuple_reuses += 1;
                false
            } else {
                held == Held::Closed
            }
        };
        conn.on_segment(
            from,
            seg,
            seen,
            self.config.looks_like_request,
            &mut self.handler,
            &mut self.held_budget,
        );
        let complete = conn.complete();
        if !was_complete && complete {
            self.finished.push(Due {
                deadline: ts.plus(self.config.linger),
                stream: conn.stream,
                key,
            });
        }
        // A connection whose close completed leaves the table of open ones, which stays small
        // and in cache; a new connection on a closed one's tuple comes back to it.
        match (held, complete) {
            (Held::Open | Held::New, true) => self.flows.close(hash, &key),
            (Held::Closed, false) => self.flows.reopen(hash, &key),
            _ => {}
        }
    }

    /// Moves the tracker's clock to `now` (a no-op unless it is later) and emits, in stream
    /// order, the records of finished connections whose linger time has passed: their close
    /// completed, and they saw no segment, more than the linger time before `now`.
    ///
    /// Which connections go depends only on `now` and each connection's own segments, so
    /// trackers that split a capture's connections between them let go of the same ones.
    pub fn advance(&mut self, now: Timestamp, sink: &mut dyn RecordSink<H::Conn>) {
        if now <= self.now {
            return;
        }
        self.now = now;
        self.stats.peak_tracked = self.stats.peak_tracked.max(self.flows.len() as u64);
        let mut popped = Vec::new();
        while let Some(d) = self.finished.pop_before(now) {
            popped.push(d);
        }
        // A pass that changes nothing in the table (it reads each connection's stream, last
        // segment and every part: `touch`), so that the cache misses of the due connections,
        // last used the linger time ago, overlap; then a pass that takes them out of it.
        popped.retain(|d| {
            let Some(conn) = self.flows.get(&d.key) else {
                return false;
            };
            if conn.stream != d.stream {
                return false; // the tuple was taken over; that record went out already
            }
            let quiet_until = conn.last.ts.plus(self.config.linger);
            if quiet_until >= now {
                // Still receiving trailing segments: wait again.
                self.finished.push(Due {
                    deadline: quiet_until,
                    ..*d
                });
                return false;
            }
            conn.touch::<H>();
            true
        });
        let mut due: Vec<_> = popped
            .into_iter()
            .filter_map(|d| Some((d.stream, self.flows.remove(&d.key)?)))
            .collect();
        // Stream numbers are unique within a tracker: they alone give the order.
        due.sort_unstable_by_key(|&(stream, _)| stream);
        for (_, mut conn) in due {
            emit(
                &mut self.handler,
                &mut self.held_budget,
                &mut conn,
                EndReason::Closed,
                None,
                sink,
            );
            if self.spare.len() < SPARE_BOXES {
                self.spare.push(conn);
            }
        }
    }

    /// Lets go of the longest-idle tenth of the table (at least one connection), emitting
    /// their records as `evicted`, in stream order. A scan per tenth of the limit keeps this
    /// O(1) per segment.
    fn evict(&mut self, sink: &mut dyn RecordSink<H::Conn>) {
        self.stats.peak_tracked = self.stats.peak_tracked.max(self.flows.len() as u64);
        let n = (self.flows.len() / 10).max(1);
        let mut idle: Vec<(Timestamp, u64, FlowKey)> = self
            .flows
            .iter()
            .map(|c| (c.last.ts, c.stream, c.key()))
            .collect();
        if n < idle.len() {
            idle.select_nth_unstable(n - 1);
            idle.truncate(n);
        }
        idle.sort_unstable_by_key(|&(_, stream, _)| stream);
        for (_, _, key) in idle {
            if let Some(mut conn) = self.flows.remove(&key) {
                let end = unless_closed(&conn, EndReason::Evicted);
                self.stats.evicted += u64::from(end == EndReason::Evicted);
                emit(
                    &mut self.handler,
                    &mut self.held_budget,
                    &mut conn,
                    end,
                    None,
                    sink,
                );
            }
        }
    }

    /// Ends the input: emits every connection still held, in stream order.
    pub fn finish(&mut self, sink: &mut dyn RecordSink<H::Conn>) {
        self.finished.clear();
        self.stats.peak_tracked = self.stats.peak_tracked.max(self.flows.len() as u64);
        // Sort small keys, not the connections themselves.
        let mut order: Vec<(u64, FlowKey)> =
            self.flows.iter().map(|c| (c.stream, c.key())).collect();
        order.sort_unstable_by_key(|&(stream, _)| stream);
        for (_, key) in order {
            if let Some(mut conn) = self.flows.remove(&key) {
                let end = unless_closed(&conn, EndReason::EndOfCapture);
                emit(
                    &mut self.handler,
                    &mut self.held_budget,
                    &mut conn,
                    end,
                    None,
                    sink,
                );
            }
        }
    }
}

/// Connections by 4-tuple, in two tables: those still open, and those whose close completed
/// (both FINs, or a RST), which wait out the linger time. Nearly every segment belongs to an
/// open connection, and there are few of those at a time (hundreds where the closed ones
/// number tens of thousands), so the table they are looked up in stays in the cache. A
/// connection is in one table or the other, never both; the first segment of a connection, and
/// the few that come after its close, look in both.
///
/// The tables hold only the boxes, and each key is read from its connection's two ends: a
/// lookup reaches the connection through one small slot (8 bytes) rather than an entry holding
/// the key (48), and a segment of a connection last used long ago waits for one miss, not two
/// in a row.
struct Flows<A> {
    open: HashTable<Box<Connection<A>>>,
    closed: HashTable<Box<Connection<A>>>,
    hasher: foldhash::fast::RandomState,
}

/// Where a segment found its connection.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Held {
    Open,
    Closed,
    /// Nowhere: the segment started it, in the open table.
    New,
}

impl<A> Default for Flows<A> {
    fn default() -> Self {
        Flows {
            open: HashTable::new(),
            closed: HashTable::new(),
            hasher: foldhash::fast::RandomState::default(),
        }
    }
}

impl<A> Flows<A> {
    fn len(&self) -> usize {
        self.open.len() + self.closed.len()
    }

    /// Looks in the closed table first: the callers that look up a key outside
    /// [`Tracker::segment`] mostly look for a connection whose linger time is over.
    fn get(&self, key: &FlowKey) -> Option<&Connection<A>> {
        let hash = self.hasher.hash_one(key);
        find(&self.closed, hash, key).or_else(|| find(&self.open, hash, key))
    }

    fn remove(&mut self, key: &FlowKey) -> Option<Box<Connection<A>>> {
        let hash = self.hasher.hash_one(key);
        take(&mut self.closed, hash, key).or_else(|| take(&mut self.open, hash, key))
    }

    /// Moves the connection of `key` (with `hash`) from the open table to the closed one.
    fn close(&mut self, hash: u64, key: &FlowKey) {
        if let Some(conn) = take(&mut self.open, hash, key) {
            let hasher = &self.hasher;
            self.closed
                .insert_unique(hash, conn, |c| hasher.hash_one(c.key()));
        }
    }

    /// Moves the connection of `key` (with `hash`) from the closed table to the open one.
    fn reopen(&mut self, hash: u64, key: &FlowKey) {
        if let Some(conn) = take(&mut self.closed, hash, key) {
            let hasher = &self.hasher;
            self.open
                .insert_unique(hash, conn, |c| hasher.hash_one(c.key()));
        }
    }

    fn iter(&self) -> impl Iterator<Item = &Connection<A>> {
        self.open.iter().chain(self.closed.iter()).map(|c| &**c)
    }
}

/// The connection of `key` (with `hash`) in `table`.
fn find<'t, A>(
    table: &'t HashTable<Box<Connection<A>>>,
    hash: u64,
    key: &FlowKey,
) -> Option<&'t Connection<A>> {
    table.find(hash, |c| c.has_key(key)).map(|c| &**c)
}

/// Takes the connection of `key` (with `hash`) out of `table`.
fn take<A>(
    table: &mut HashTable<Box<Connection<A>>>,
    hash: u64,
    key: &FlowKey,
) -> Option<Box<Connection<A>>> {
    let found = table.find_entry(hash, |c| c.has_key(key)).ok()?;
    Some(found.remove().0)
}

/// A finished connection waiting for its linger time to pass. Ordered by deadline, then
/// stream, so that the heap's order does not depend on what else it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Due {
    deadline: Timestamp,
    stream: u64,
    key: FlowKey,
}

/// Finished connections waiting for their linger deadline. Deadlines are the capture times of
/// closing segments plus a constant, so they nearly always come in order: those go to a
/// queue, whose front is the earliest, and the few that come earlier than the queue's back go
/// to a heap. Popping compares the two fronts, so the order is the heap's alone would give,
/// without a heap's cache misses for every connection.
#[derive(Default)]
struct Finished {
    in_order: VecDeque<Due>,
    late: BinaryHeap<Reverse<Due>>,
}

impl Finished {
    fn push(&mut self, d: Due) {
        match self.in_order.back() {
            Some(back) if d < *back => self.late.push(Reverse(d)),
            _ => self.in_order.push_back(d),
        }
    }

    /// The earliest entry whose deadline is before `now`, taken out.
    fn pop_before(&mut self, now: Timestamp) -> Option<Due> {
        let queued = self.in_order.front().filter(|d| d.deadline < now);
        let late = self.late.peek().map(|r| &r.0).filter(|d| d.deadline < now);
        match (queued, late) {
            (Some(q), Some(l)) if l < q => self.late.pop().map(|r| r.0),
            (Some(_), _) => self.in_order.pop_front(),
            (None, Some(_)) => self.late.pop().map(|r| r.0),
            (None, None) => None,
        }
    }

    fn clear(&mut self) {
        self.in_order.clear();
        self.late.clear();
    }
}

/// `Closed` for a connection whose close is over, else `other`.
fn unless_closed<A>(conn: &Connection<A>, other: EndReason) -> EndReason {
    if conn.complete() {
        EndReason::Closed
    } else {
        other
    }
}

/// Lets go of a connection: delivers what its streams still hold, then hands its record to
/// the sink. Every way a connection leaves the table goes through here. The caller drops the
/// connection afterwards; it is borrowed, not moved out of its box, which would copy it whole.
fn emit<H: StreamHandler>(
    handler: &mut H,
    budget: &mut usize,
    conn: &mut Connection<H::Conn>,
    end: EndReason,
    reused_at: Option<Timestamp>,
    sink: &mut dyn RecordSink<H::Conn>,
) {
    conn.flush_streams(handler, budget);
    let mut rec = conn.record(end);
    rec.reused_at = reused_at;
    sink.record(&rec, &mut conn.app);
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::net::Endpoint;

    fn due(deadline: i64, stream: u64) -> Due {
        let ep = Endpoint::new("10.0.0.1".parse().unwrap(), 80);
        Due {
            deadline: Timestamp(deadline),
            stream,
            key: FlowKey { lo: ep, hi: ep },
        }
    }

    proptest! {
        /// The queue and heap give what one heap gives: every entry before `now`, earliest
        /// first, whatever the disorder of the pushes.
        #[test]
        fn finished_pops_as_a_heap_does(
            steps in prop::collection::vec((0i64..50, prop::bool::ANY), 1..200)
        ) {
            let mut finished = Finished::default();
            let mut heap = BinaryHeap::new();
            let mut clock = 0;
            for (stream, (offset, advance)) in steps.into_iter().enumerate() {
                // Mostly rising, sometimes a step back.
                let deadline = clock + offset - 10;
                finished.push(due(deadline, stream as u64));
                heap.push(Reverse(due(deadline, stream as u64)));
                clock += offset / 8;
                if advance {
                    let now = Timestamp(clock);
                    let mut got = Vec::new();
                    while let Some(d) = finished.pop_before(now) {
                        got.push(d);
                    }
                    let mut want = Vec::new();
                    while heap.peek().is_some_and(|r| r.0.deadline < now) {
                        want.push(heap.pop().unwrap().0);
                    }
                    prop_assert_eq!(got, want);
                }
            }
        }
    }
}
