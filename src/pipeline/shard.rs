//! The multi-threaded run: a reader thread decodes and deals segments out by connection hash to
//! `threads` workers, each owning a flow table; the calling thread merges their records back
//! into the single-threaded order and numbers streams as one tracker would.
//!
//! ```text
//! reader ──batch k──▶ worker 0 ──records of batch k──▶ merger (calling thread) ──▶ records
//!        ──batch k──▶ worker 1 ──records of batch k──▶
//! ```
//!
//! Every worker gets every batch (maybe empty), so the merger takes exactly one reply per
//! worker per batch. A record's place is (frame that released it, released at the batch end or
//! not, frame that started the connection); one tracker emits in that order too. Stream numbers
//! are the ranks of the frames that started connections: workers report those frames per
//! batch, and the merger counts them in frame order.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread;

use crate::analysis::FastMap;
use crate::decode::{Segment, TcpFlags};
use crate::http::{HttpConn, HttpStreams, HttpSummary};
use crate::net::Endpoint;
use crate::tcp::{ConnRecord, RecordSink, Tracker, TrackerConfig, TrackerStats};
use crate::time::Timestamp;

use super::{Back, Config, Input, Inputs, Opening, PipelineError, RecordFn, RunStats};

/// Batches in flight per worker, each way: bounds memory, keeps every thread busy.
const QUEUE: usize = 4;

/// One segment, owned, for a worker.
struct Packet {
    src: Endpoint,
    dst: Endpoint,
    seq: u32,
    ack: u32,
    flags: TcpFlags,
    window: u16,
    payload_len: u32,
    /// Where the captured payload sits in the batch's `bytes`.
    at: u32,
    captured: u32,
    ts: Timestamp,
    frame: u64,
}

/// A worker's share of one batch of frames.
#[derive(Default)]
struct Batch {
    packets: Vec<Packet>,
    bytes: Vec<u8>,
    /// The frame that ended the batch and the clock then; `None` for the last, partial batch.
    end: Option<(u64, Timestamp)>,
}

enum Work {
    Batch(Batch),
    /// The input is over: emit everything still held.
    Finish,
}

/// A record and where it goes in the output.
struct Shipped {
    /// (frame that released it, 0 during a segment / 1 at a batch end / 2 at the end,
    /// frame that started the connection).
    place: (u64, u8, u64),
    rec: ConnRecord,
    http: HttpSummary,
}

/// A worker's reply for one batch.
struct Reply {
    /// Frames that started a connection, in order.
    started: Vec<u64>,
    /// In `place` order.
    records: Vec<Shipped>,
    /// Connections held at the batch end, before finished ones went.
    held: u64,
    /// The worker's counters, with the last reply.
    last: Option<TrackerStats>,
}

pub(super) fn run(
    readers: Vec<Input>,
    opening: Opening,
    config: &Config,
    records: &mut RecordFn<'_>,
    progress: &mut dyn FnMut(u64),
) -> Result<RunStats, PipelineError> {
    let n = config.threads;
    let read_bytes = AtomicU64::new(0);
    thread::scope(|scope| {
        let mut to_workers = Vec::with_capacity(n);
        let mut from_workers = Vec::with_capacity(n);
        let mut emptied = Vec::with_capacity(n);
        let mut read_out = Vec::with_capacity(n);
        for i in 0..n {
            let (work_tx, work_rx) = sync_channel::<Work>(QUEUE);
            let (reply_tx, reply_rx) = sync_channel::<Reply>(QUEUE);
            // One more than can be in flight, so a worker never waits to hand one back.
            let (empty_tx, empty_rx) = sync_channel::<Batch>(QUEUE + 1);
            let (read_tx, read_rx) = sync_channel::<Vec<Shipped>>(QUEUE + 1);
            let tracker_config = config.tracker();
            thread::Builder::new()
                .name(format!("finscope-work{i}"))
                .spawn_scoped(scope, move || {
                    work(tracker_config, work_rx, reply_tx, empty_tx, read_rx)
                })
                .map_err(PipelineError::Thread)?;
            to_workers.push(work_tx);
            from_workers.push(reply_rx);
            emptied.push(empty_rx);
            read_out.push(read_tx);
        }
        let read_bytes = &read_bytes;
        let inputs = Inputs::new(config);
        let reader = thread::Builder::new()
            .name("finscope-read".into())
            .spawn_scoped(scope, move || {
                read(readers, opening, inputs, to_workers, emptied, read_bytes)
            })
            .map_err(PipelineError::Thread)?;
        let merged = merge(&from_workers, &read_out, records, &mut || {
            progress(read_bytes.load(Ordering::Relaxed))
        });
        // Dropping the receivers stops workers and then the reader if the merge ended early.
        drop(from_workers);
        let inputs = reader.join().expect("reader thread panicked")?;
        let tracker = merged?;
        Ok(inputs.into_stats(tracker))
    })
}

/// The reader thread: reads every input, deals segments to the workers, and tells them to
/// finish when all are read.
fn read(
    readers: Vec<Input>,
    opening: Opening,
    mut inputs: Inputs,
    workers: Vec<SyncSender<Work>>,
    emptied: Vec<Receiver<Batch>>,
    read_bytes: &AtomicU64,
) -> Result<Inputs, PipelineError> {
    let mut deal = Deal {
        batches: workers.iter().map(|_| Batch::default()).collect(),
        workers,
        emptied,
        gone: false,
    };
    for input in readers {
        let mut reader = input.open(opening)?;
        let counts = inputs.read(&mut reader, &mut deal, &mut |b| {
            read_bytes.store(b, Ordering::Relaxed)
        })?;
        inputs.done(reader.info().clone(), counts);
        if deal.gone {
            return Ok(inputs);
        }
    }
    deal.send(None);
    for w in &deal.workers {
        let _ = w.send(Work::Finish);
    }
    Ok(inputs)
}

/// Deals segments out by connection: both directions of a 4-tuple hash alike.
struct Deal {
    workers: Vec<SyncSender<Work>>,
    /// Batches the workers are done with, to fill again: no allocation per batch.
    emptied: Vec<Receiver<Batch>>,
    batches: Vec<Batch>,
    /// A worker is gone (the merge stopped): stop reading.
    gone: bool,
}

impl Deal {
    fn send(&mut self, end: Option<(u64, Timestamp)>) {
        let queues = self.workers.iter().zip(&self.emptied);
        for ((worker, emptied), batch) in queues.zip(&mut self.batches) {
            let next = emptied.try_recv().unwrap_or_else(|_| Batch {
                packets: Vec::with_capacity(batch.packets.capacity()),
                bytes: Vec::with_capacity(batch.bytes.capacity()),
                end: None,
            });
            let mut full = std::mem::replace(batch, next);
            full.end = end;
            if worker.send(Work::Batch(full)).is_err() {
                self.gone = true;
            }
        }
    }
}

impl Back for Deal {
    fn segment(&mut self, seg: &Segment<'_>, ts: Timestamp, frame: u64) {
        let w = worker_of(seg.src, seg.dst, self.batches.len());
        let batch = &mut self.batches[w];
        let at = batch.bytes.len() as u32;
        batch.bytes.extend_from_slice(seg.payload);
        batch.packets.push(Packet {
            src: seg.src,
            dst: seg.dst,
            seq: seg.seq,
            ack: seg.ack,
            flags: seg.flags,
            window: seg.window,
            payload_len: seg.payload_len,
            at,
            captured: seg.payload.len() as u32,
            ts,
            frame,
        });
    }

    fn end_batch(&mut self, frame: u64, now: Timestamp) {
        self.send(Some((frame, now)));
    }

    fn stopped(&self) -> bool {
        self.gone
    }
}

/// The worker that owns the connection between `a` and `b`: the same both ways (the two ends'
/// words are combined by XOR). A cheap mix, one per segment, since this runs on the one reader
/// thread for every segment; a crafted capture can at worst load one worker more than the
/// others, and each worker's flow table has its own seeded hash.
fn worker_of(a: Endpoint, b: Endpoint, workers: usize) -> usize {
    /// MurmurHash3's 64-bit finalizer: every input bit reaches every output bit.
    fn fmix(mut x: u64) -> u64 {
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 33;
        x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        x ^ (x >> 33)
    }
    fn word(e: Endpoint) -> u64 {
        match e.ip {
            IpAddr::V4(v4) => u64::from(u32::from(v4)) << 16 | u64::from(e.port),
            IpAddr::V6(v6) => {
                let x = u128::from(v6);
                fmix(x as u64) ^ ((x >> 64) as u64) ^ u64::from(e.port)
            }
        }
    }
    // The hash scaled to `0..workers` by a multiplication, not a division.
    ((u128::from(fmix(word(a) ^ word(b))) * workers as u128) >> 64) as usize
}

/// A worker: tracks its share of the connections, batch by batch. `read_out` brings back
/// the record vectors of its replies once the merger has read them, to be filled again.
fn work(
    config: TrackerConfig,
    work: Receiver<Work>,
    replies: SyncSender<Reply>,
    emptied: SyncSender<Batch>,
    read_out: Receiver<Vec<Shipped>>,
) {
    let mut tracker = Tracker::with_handler(config, HttpStreams::default());
    let mut out = Collect::default();
    while let Ok(job) = work.recv() {
        let mut started = Vec::new();
        let (held, last) = match job {
            Work::Batch(mut batch) => {
                for p in &batch.packets {
                    let seg = Segment {
                        src: p.src,
                        dst: p.dst,
                        seq: p.seq,
                        ack: p.ack,
                        flags: p.flags,
                        window: p.window,
                        payload_len: p.payload_len,
                        payload: &batch.bytes[p.at as usize..(p.at + p.captured) as usize],
                    };
                    let before = tracker.stats().connections;
                    out.place = (p.frame, 0);
                    tracker.segment(&seg, p.ts, p.frame, &mut out);
                    if tracker.stats().connections != before {
                        started.push(p.frame);
                    }
                }
                let held = tracker.tracked() as u64;
                if let Some((frame, now)) = batch.end {
                    out.place = (frame, 1);
                    tracker.advance(now, &mut out);
                }
                batch.packets.clear();
                batch.bytes.clear();
                // The reader allocates a new one if the queue back is full or gone.
                let _ = emptied.try_send(batch);
                (held, None)
            }
            Work::Finish => {
                let held = tracker.tracked() as u64;
                out.place = (u64::MAX, 2);
                tracker.finish(&mut out);
                (held, Some(tracker.stats()))
            }
        };
        let reply = Reply {
            started,
            // The next batch's records go to a vector the merger is done with, whose memory
            // has been written before (a new vector's pages would each fault on their first
            // write: 60 % of a two-thread run's page faults on the real capture), or else to a
            // new one as large as this one, so that it does not grow (and copy its records).
            records: {
                let next = read_out
                    .try_recv()
                    .unwrap_or_else(|_| Vec::with_capacity(out.records.capacity()));
                std::mem::replace(&mut out.records, next)
            },
            held,
            last,
        };
        if replies.send(reply).is_err() {
            return;
        }
    }
}

/// A worker's record sink: keeps each record with its place in the output.
#[derive(Default)]
struct Collect {
    place: (u64, u8),
    records: Vec<Shipped>,
}

impl RecordSink<HttpConn> for Collect {
    fn record(&mut self, rec: &ConnRecord, http: &mut HttpConn) {
        self.records.push(Shipped {
            place: (self.place.0, self.place.1, rec.first_frame),
            rec: rec.clone(),
            http: http.take_summary(rec.client_end),
        });
    }
}

/// The merger: one reply per worker per batch, records in output order with their stream
/// numbers, until every worker has sent its last reply (or one is gone: the reader failed).
fn merge(
    workers: &[Receiver<Reply>],
    read_out: &[SyncSender<Vec<Shipped>>],
    records: &mut RecordFn<'_>,
    progress: &mut dyn FnMut(),
) -> Result<TrackerStats, PipelineError> {
    let mut stats = TrackerStats::default();
    let mut peak_held = 0u64;
    let mut next_stream = 0u64;
    // Frame that started a connection → its stream number, until its record goes out.
    let mut streams: FastMap<u64, u64> = FastMap::default();
    let mut started = Vec::new();
    // This batch's records, as each worker sent them (emptied and given back at the batch's
    // end), and their order: records are large, so only their places are sorted, and the
    // records are read where they are.
    let mut batch: Vec<Vec<Shipped>> = Vec::with_capacity(workers.len());
    let mut order: Vec<((u64, u8, u64), u32, u32)> = Vec::new();
    let mut finished = 0;
    while finished < workers.len() {
        let mut held = 0;
        for w in workers {
            let Ok(reply) = w.recv() else {
                return Ok(stats); // the reader failed; it reports why
            };
            started.extend(reply.started);
            let from = batch.len() as u32;
            order.extend(
                reply
                    .records
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (s.place, from, i as u32)),
            );
            batch.push(reply.records);
            held += reply.held;
            if let Some(s) = reply.last {
                stats.segments += s.segments;
                stats.connections += s.connections;
                stats.tuple_reuses += s.tuple_reuses;
                stats.evicted += s.evicted;
                stats.peak_tracked = stats.peak_tracked.max(s.peak_tracked);
                finished += 1;
            }
        }
        peak_held = peak_held.max(held);
        started.sort_unstable();
        for frame in started.drain(..) {
            streams.insert(frame, next_stream);
            next_stream += 1;
        }
        // Places are unique (a frame starts at most one connection), so the order is total.
        order.sort_unstable();
        for (_, w, i) in order.drain(..) {
            let s = &mut batch[w as usize][i as usize];
            s.rec.stream = streams
                .remove(&s.rec.first_frame)
                .expect("a record's connection was started in this batch or before");
            records(&s.rec, &s.http).map_err(PipelineError::Output)?;
        }
        // Each worker's vector goes back to it, emptied, to be filled again.
        for (w, mut read) in batch.drain(..).enumerate() {
            read.clear();
            let _ = read_out[w].try_send(read);
        }
        progress();
    }
    stats.peak_tracked = stats.peak_tracked.max(peak_held);
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_directions_go_to_one_worker_and_ports_spread_the_load() {
        let server = Endpoint::new("127.0.0.1".parse().unwrap(), 8080);
        let v6 = Endpoint::new("::1".parse().unwrap(), 443);
        let mut load = [0usize; 4];
        for port in 32768..36864u16 {
            let client = Endpoint::new("127.0.0.1".parse().unwrap(), port);
            let w = worker_of(client, server, 4);
            assert_eq!(w, worker_of(server, client, 4));
            load[w] += 1;
            let c6 = Endpoint::new("::1".parse().unwrap(), port);
            assert_eq!(worker_of(c6, v6, 3), worker_of(v6, c6, 3));
        }
        // 4096 connections from one host: each worker gets a fair share.
        assert!(load.iter().all(|&n| (768..=1280).contains(&n)), "{load:?}");
    }
}
