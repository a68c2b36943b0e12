//! Drives the road for a set of inputs: capture → decode → tcp (+http) → records, and on to
//! analysis for `analyze`. Several inputs are read one after the other in order of their first
//! packet, as one stream (a rotated capture set). Reports progress through a callback; never
//! prints.
//!
//! Work is cut into batches of [`BATCH_FRAMES`] frames. The tracker's clock moves, and finished
//! connections are let go, only at the end of a batch; records leave in the order of the frame
//! that released them, then by the frame that started them. That makes the output independent
//! of how the connections are split between threads: with `threads > 1` a reader decodes and
//! hands each segment, by connection hash, to one of several workers that each own a flow
//! table (module `shard`), and the calling thread merges their records back into that order,
//! numbering streams as one tracker would have.

use std::io;
use std::ops::ControlFlow;

use thiserror::Error;

use crate::analysis::{Aggregator, CaptureSummary, Summary, TimeWaitConfig};
use crate::capture::cache::{self, Residency};
use crate::capture::{CaptureError, CaptureInfo, CaptureReader, Frame, FrameSink};
use crate::decode::{self, Segment, SkipReason};
use crate::http::{HttpConn, HttpStreams, HttpSummary};
use crate::tcp::{ConnRecord, RecordSink, Tracker, TrackerConfig, TrackerStats, MAX_HELD_TOTAL};
use crate::time::{Duration, Timestamp};

mod shard;

/// Default frames per batch ([`Config::batch_frames`]).
pub const BATCH_FRAMES: u64 = 8192;

/// Settings for a run.
#[derive(Clone, Debug)]
pub struct Config {
    /// See [`TrackerConfig::linger`].
    pub linger: Duration,
    /// TIME-WAIT hold times and the ephemeral port range, for the timeline.
    pub time_wait: TimeWaitConfig,
    /// See [`TrackerConfig::max_connections`]; split evenly between workers.
    pub max_connections: usize,
    /// Workers that track connections. 1 runs everything on the calling thread; more adds a
    /// reader thread and this many workers, with the same output.
    pub threads: usize,
    /// Finished connections are let go (their linger having passed) only at the end of each
    /// batch of this many frames, counted over all inputs, whatever the thread count.
    pub batch_frames: u64,
    /// Threads that read the input ahead in blocks, for the reader thread of a run with several
    /// workers (0: the reader reads it itself). Inputs that are regular files, each while it is
    /// read.
    pub read_ahead: usize,
    /// Whether capture files are read with direct I/O (see [`CaptureReader::open_read_ahead`]),
    /// ahead by `read_ahead` threads, at least 1, whatever the number of workers.
    pub direct_io: DirectIo,
}

/// Whether capture files are read with direct I/O.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DirectIo {
    /// Through the page cache.
    #[default]
    Off,
    /// With direct I/O, as asked: an input read through the page cache instead gets a warning
    /// that says why.
    On,
    /// With direct I/O, as [`DirectIo::auto`] chose: an input that cannot be read so is read
    /// through the page cache, without a warning.
    Chosen,
}

impl DirectIo {
    /// Inputs of fewer bytes than this are read through the page cache by [`DirectIo::auto`]:
    /// reading is a small part of their run either way.
    pub const AUTO_MIN_BYTES: u64 = 64 << 20;

    /// [`DirectIo::Chosen`] when most of the inputs' bytes are out of the page cache and can be
    /// read with direct I/O from a local disk, and there are at least
    /// [`DirectIo::AUTO_MIN_BYTES`] of them; otherwise [`DirectIo::Off`]. Standard input, pipes
    /// and files the kernel cannot probe count for nothing. A file that has to come from the
    /// disk anyway is read with less CPU, and no more time, with direct I/O, which also leaves
    /// the host's page cache alone. Each file is probed once: a probe brings the
    /// pages it misses into the page cache (see [`cache`]).
    pub fn auto<'a>(paths: impl IntoIterator<Item = &'a String>) -> DirectIo {
        DirectIo::choose(paths.into_iter().filter_map(|p| cache::residency(p)))
    }

    fn choose(files: impl Iterator<Item = Residency>) -> DirectIo {
        let (mut bytes, mut cold) = (0u64, 0u64);
        for f in files {
            bytes += f.bytes;
            if f.direct_io && f.local_disk {
                cold += f.cold_bytes();
            }
        }
        if bytes >= DirectIo::AUTO_MIN_BYTES && cold >= bytes - cold {
            DirectIo::Chosen
        } else {
            DirectIo::Off
        }
    }

    /// Files are read with direct I/O where they can be.
    pub fn used(self) -> bool {
        self != DirectIo::Off
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            linger: Duration::from_secs(5),
            time_wait: TimeWaitConfig::default(),
            max_connections: crate::tcp::DEFAULT_MAX_CONNECTIONS,
            threads: 1,
            batch_frames: BATCH_FRAMES,
            read_ahead: 0,
            direct_io: DirectIo::Off,
        }
    }
}

impl Config {
    /// The settings of each of `threads` trackers: the connection limit and the out-of-order
    /// budget are shared out between them.
    fn tracker(&self) -> TrackerConfig {
        let n = self.threads.max(1);
        TrackerConfig {
            linger: self.linger,
            looks_like_request: crate::http::looks_like_request,
            max_connections: self.max_connections.div_ceil(n).max(1),
            held_budget: MAX_HELD_TOTAL / n,
        }
    }
}

#[derive(Debug, Error)]
pub enum PipelineError {
    #[error(transparent)]
    Capture(#[from] CaptureError),
    /// Writing records failed (for example a closed pipe).
    #[error("writing output: {0}")]
    Output(#[source] io::Error),
    /// The system refused another thread.
    #[error("starting a thread: {0}")]
    Thread(#[source] io::Error),
}

/// What a run saw besides the records.
#[derive(Clone, Debug, Default)]
pub struct RunStats {
    /// In the order they were read.
    pub captures: Vec<CaptureSummary>,
    pub tracker: TrackerStats,
    pub warnings: Vec<String>,
}

/// Where finished connections go: the TCP record and what HTTP saw on it.
pub type RecordFn<'a> = dyn FnMut(&ConnRecord, &HttpSummary) -> io::Result<()> + 'a;

/// Reads `paths` and hands every connection record to `records` as soon as the tracker lets go
/// of it. `progress` gets the number of capture bytes read so far, once per buffer (once per
/// batch with several threads).
pub fn run(
    paths: &[String],
    config: &Config,
    records: &mut RecordFn<'_>,
    progress: &mut dyn FnMut(u64),
) -> Result<RunStats, PipelineError> {
    let opening = Opening::of(config);
    let readers = open_in_time_order(paths, opening)?;
    if config.threads > 1 {
        return shard::run(readers, opening, config, records, progress);
    }
    let mut back = Inline {
        tracker: Tracker::with_handler(config.tracker(), HttpStreams::default()),
        out: Forward::new(records),
        peak: 0,
    };
    let mut inputs = Inputs::new(config);
    for input in readers {
        let mut reader = input.open(opening)?;
        let counts = inputs.read(&mut reader, &mut back, progress)?;
        if let Some(e) = back.out.error.take() {
            return Err(PipelineError::Output(e));
        }
        inputs.done(reader.info().clone(), counts);
    }
    back.peak = back.peak.max(back.tracker.tracked() as u64);
    back.tracker.finish(&mut back.out);
    if let Some(e) = back.out.error {
        return Err(PipelineError::Output(e));
    }
    let mut tracker = back.tracker.stats();
    tracker.peak_tracked = tracker.peak_tracked.max(back.peak);
    Ok(inputs.into_stats(tracker))
}

/// Reads `paths` and folds every connection into a [`Summary`].
pub fn analyze(
    paths: &[String],
    config: &Config,
    progress: &mut dyn FnMut(u64),
) -> Result<Summary, PipelineError> {
    let mut agg = Aggregator::with_time_wait(config.time_wait.clone());
    let stats = run(
        paths,
        config,
        &mut |r, http| {
            agg.add(r, http);
            Ok(())
        },
        progress,
    )?;
    Ok(Summary::new(
        agg,
        stats.captures,
        stats.tracker,
        stats.warnings,
    ))
}

/// How the run opens its input files: read ahead by `ahead` threads, with direct I/O if
/// `direct` (see [`CaptureReader::open_read_ahead`]).
#[derive(Clone, Copy)]
struct Opening {
    ahead: usize,
    direct: bool,
}

impl Opening {
    /// Read-ahead serves the reader thread of several workers, and direct I/O, which needs a
    /// thread to wait on the disk, whatever the number of workers.
    fn of(config: &Config) -> Self {
        let ahead = if config.direct_io.used() {
            config.read_ahead.max(1)
        } else if config.threads > 1 {
            config.read_ahead
        } else {
            0
        };
        Opening {
            ahead,
            direct: config.direct_io.used(),
        }
    }
}

/// One input, in the order the run reads them: a reader already open, or a file opened when
/// its turn comes, so that only one input's buffers and read-ahead threads are alive at a time.
enum Input {
    Open(Box<CaptureReader>),
    Later(String),
}

impl Input {
    fn open(self, how: Opening) -> Result<CaptureReader, CaptureError> {
        match self {
            Input::Open(reader) => Ok(*reader),
            Input::Later(path) => CaptureReader::open_read_ahead(&path, how.ahead, how.direct),
        }
    }
}

/// Opens every input, learns its first timestamp, and returns the inputs sorted by it. Files
/// are opened again when their turn comes, as `how` says; standard input and named pipes
/// cannot be reopened, so their readers are kept. A single input is opened at once.
fn open_in_time_order(paths: &[String], how: Opening) -> Result<Vec<Input>, CaptureError> {
    if paths.len() == 1 {
        return Ok(vec![Input::Open(Box::new(CaptureReader::open_read_ahead(
            &paths[0], how.ahead, how.direct,
        )?))]);
    }
    let mut order = Vec::with_capacity(paths.len());
    for (i, p) in paths.iter().enumerate() {
        // Standard input and named pipes can be read only once: they are kept, opened as the
        // run opens files (so that they say they are not read with direct I/O); regular files
        // are opened again when their turn comes.
        let stream = p == "-" || std::fs::metadata(p).is_ok_and(|m| !m.is_file());
        let (first, keep) = if stream {
            let mut r = CaptureReader::open_read_ahead(p, how.ahead, how.direct)?;
            (r.first_timestamp()?, Some(r))
        } else {
            (CaptureReader::open(p)?.first_timestamp()?, None)
        };
        order.push((first.unwrap_or(Timestamp(i64::MAX)), i, keep));
    }
    order.sort_by_key(|(ts, i, _)| (*ts, *i));
    order
        .into_iter()
        .map(|(_, i, kept)| match kept {
            Some(r) => Ok(Input::Open(Box::new(r))),
            None => Ok(Input::Later(paths[i].clone())),
        })
        .collect()
}

/// Hands finished connections, with their HTTP summary, to the caller's function; keeps the
/// first write error and drops everything after it.
struct Forward<'a, 'b> {
    records: &'a mut RecordFn<'b>,
    error: Option<io::Error>,
}

impl<'a, 'b> Forward<'a, 'b> {
    fn new(records: &'a mut RecordFn<'b>) -> Self {
        Forward {
            records,
            error: None,
        }
    }
}

impl RecordSink<HttpConn> for Forward<'_, '_> {
    fn record(&mut self, r: &ConnRecord, http: &mut HttpConn) {
        if self.error.is_none() {
            if let Err(e) = (self.records)(r, &http.take_summary(r.client_end)) {
                self.error = Some(e);
            }
        }
    }
}

/// Where decoded segments go: a tracker on this thread, or the workers.
trait Back {
    fn segment(&mut self, seg: &Segment<'_>, ts: Timestamp, frame: u64);
    /// Frame `frame` ended a batch; the latest segment time so far is `now`.
    fn end_batch(&mut self, frame: u64, now: Timestamp);
    /// Stop reading (the output failed or nobody listens any more).
    fn stopped(&self) -> bool;
}

/// The single-threaded back: one tracker, records straight to the caller.
struct Inline<'a, 'b> {
    tracker: Tracker<HttpStreams>,
    out: Forward<'a, 'b>,
    /// Most connections held at the end of a batch.
    peak: u64,
}

impl Back for Inline<'_, '_> {
    fn segment(&mut self, seg: &Segment<'_>, ts: Timestamp, frame: u64) {
        self.tracker.segment(seg, ts, frame, &mut self.out);
    }

    fn end_batch(&mut self, _frame: u64, now: Timestamp) {
        self.peak = self.peak.max(self.tracker.tracked() as u64);
        self.tracker.advance(now, &mut self.out);
    }

    fn stopped(&self) -> bool {
        self.out.error.is_some()
    }
}

/// What was counted while reading one input.
#[derive(Clone, Copy)]
struct Counts {
    skipped: [u64; SkipReason::ALL.len()],
    tcp_segments: u64,
}

/// Bookkeeping over the inputs, read one after the other: frame numbers and the clock run on
/// across them; each gets its summary and warnings when it is done.
struct Inputs {
    batch_frames: u64,
    frames_before: u64,
    bytes_before: u64,
    /// Latest segment time so far.
    now: Option<Timestamp>,
    prev_last: Option<(String, Timestamp)>,
    captures: Vec<CaptureSummary>,
    warnings: Vec<String>,
    /// Say when an input is not read with direct I/O (it was asked for).
    direct_io_asked: bool,
}

impl Inputs {
    fn new(config: &Config) -> Self {
        Inputs {
            batch_frames: config.batch_frames.max(1),
            frames_before: 0,
            bytes_before: 0,
            now: None,
            prev_last: None,
            captures: Vec::new(),
            warnings: Vec::new(),
            direct_io_asked: config.direct_io == DirectIo::On,
        }
    }

    /// Reads one input to its end, decoding every frame and handing segments to `back`.
    fn read<B: Back>(
        &mut self,
        reader: &mut CaptureReader,
        back: &mut B,
        progress: &mut dyn FnMut(u64),
    ) -> Result<Counts, CaptureError> {
        let mut front = Front {
            back,
            batch_frames: self.batch_frames,
            next_cut: (self.frames_before / self.batch_frames + 1) * self.batch_frames,
            progress,
            frames_before: self.frames_before,
            bytes_before: self.bytes_before,
            now: self.now.unwrap_or(Timestamp(i64::MIN)),
            counts: Counts {
                skipped: [0; SkipReason::ALL.len()],
                tcp_segments: 0,
            },
        };
        let read = reader.run(&mut front);
        self.now = Some(front.now);
        read.map(|()| front.counts)
    }

    /// Records what one input held once it is read to its end.
    fn done(&mut self, info: CaptureInfo, counts: Counts) {
        self.frames_before += info.packets;
        self.bytes_before += info.stream_bytes;
        if let Some(off) = info.truncated_at {
            self.warnings.push(format!(
                "{}: capture ends inside a record at byte {off} (cut off mid-write?); results cover the packets before it",
                info.path
            ));
        }
        if let Some(why) = info
            .direct_io_refused
            .as_ref()
            .filter(|_| self.direct_io_asked)
        {
            self.warnings.push(format!(
                "{}: read through the page cache, not with --direct-io: {why}",
                info.path
            ));
        }
        if info.bad_records > 0 {
            self.warnings.push(format!(
                "{}: {} packet record(s) name an interface their pcapng section does not describe; they were skipped",
                info.path, info.bad_records
            ));
        }
        if let (Some((prev, prev_end)), Some(first)) = (&self.prev_last, info.first_ts) {
            if first < *prev_end {
                self.warnings.push(format!(
                    "{}: starts before {prev} ends; inputs are read one after the other, so merge overlapping captures with mergecap first",
                    info.path
                ));
            }
        }
        if let Some(last) = info.last_ts {
            self.prev_last = Some((info.path.clone(), last));
        }
        self.captures.push(CaptureSummary {
            info,
            skipped: SkipReason::ALL
                .iter()
                .zip(counts.skipped)
                .filter(|(_, n)| *n > 0)
                .map(|(r, n)| (*r, n))
                .collect(),
            tcp_segments: counts.tcp_segments,
        });
    }

    fn into_stats(self, tracker: TrackerStats) -> RunStats {
        RunStats {
            captures: self.captures,
            tracker,
            warnings: self.warnings,
        }
    }
}

/// Per-frame work for one input: number, decode, count skips, keep the clock, cut batches.
struct Front<'a, B> {
    back: &'a mut B,
    batch_frames: u64,
    /// The frame number that ends the current batch (the next multiple of `batch_frames`):
    /// frame numbers rise one by one, so no division per frame is needed to find it.
    next_cut: u64,
    progress: &'a mut dyn FnMut(u64),
    frames_before: u64,
    bytes_before: u64,
    now: Timestamp,
    counts: Counts,
}

impl<B: Back> FrameSink for Front<'_, B> {
    fn frame(&mut self, frame: &Frame<'_>) -> ControlFlow<()> {
        let number = self.frames_before + frame.number;
        match decode::decode(frame.linktype, frame.data) {
            Ok(seg) => {
                self.counts.tcp_segments += 1;
                self.now = self.now.max(frame.ts);
                self.back.segment(&seg, frame.ts, number);
            }
            Err(reason) => self.counts.skipped[reason as usize] += 1,
        }
        if number == self.next_cut {
            self.back.end_batch(number, self.now);
            self.next_cut += self.batch_frames;
        }
        if self.back.stopped() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }

    fn progress(&mut self, stream_bytes: u64) {
        (self.progress)(self.bytes_before + stream_bytes);
    }
}

#[cfg(test)]
mod tests {
    use std::mem::size_of;

    use super::DirectIo;
    use crate::capture::cache::Residency;
    use crate::http::HttpConn;
    use crate::tcp::Connection;

    const MIB: u64 = 1 << 20;

    fn file(mib: u64, cached: u32, direct_io: bool) -> Residency {
        Residency {
            bytes: mib * MIB,
            probed: 16,
            cached,
            direct_io,
            local_disk: true,
        }
    }

    /// `auto` chooses direct I/O for inputs mostly out of the page cache, counted in bytes, that
    /// are large enough to matter and that the file system lets be read so.
    #[test]
    fn direct_io_is_chosen_for_large_inputs_out_of_the_page_cache() {
        let choose = |files: &[Residency]| DirectIo::choose(files.iter().copied());
        assert_eq!(choose(&[]), DirectIo::Off);
        assert_eq!(choose(&[file(1800, 0, true)]), DirectIo::Chosen);
        assert_eq!(choose(&[file(1800, 16, true)]), DirectIo::Off);
        // Half out of the cache is enough; less is not.
        assert_eq!(choose(&[file(1800, 8, true)]), DirectIo::Chosen);
        assert_eq!(choose(&[file(1800, 9, true)]), DirectIo::Off);
        // Too small to matter, alone; enough with another.
        assert_eq!(choose(&[file(40, 0, true)]), DirectIo::Off);
        assert_eq!(
            choose(&[file(40, 0, true), file(40, 0, true)]),
            DirectIo::Chosen
        );
        // The file system refuses O_DIRECT: its cold bytes do not count, its bytes do.
        assert_eq!(choose(&[file(1800, 0, false)]), DirectIo::Off);
        assert_eq!(
            choose(&[file(100, 0, true), file(300, 0, false)]),
            DirectIo::Off
        );
        assert_eq!(
            choose(&[file(300, 0, true), file(100, 0, false)]),
            DirectIo::Chosen
        );
        // A network file system: read through the page cache, with the kernel's read-ahead.
        let nfs = Residency {
            local_disk: false,
            ..file(1800, 0, true)
        };
        assert_eq!(choose(&[nfs]), DirectIo::Off);
        // A cached large file outweighs a cold small one.
        assert_eq!(
            choose(&[file(1000, 16, true), file(100, 0, true)]),
            DirectIo::Off
        );
    }

    /// What one live connection costs in the flow table: its slot (the box pointer; the key is
    /// read from the connection), and the boxed connection with both ends' facts, reassembly
    /// state and HTTP parsing state. Memory, and the cache misses per segment, follow this;
    /// raise the bound only on purpose.
    #[test]
    fn bytes_per_connection_stay_bounded() {
        let entry = size_of::<Box<Connection<HttpConn>>>();
        let conn = size_of::<Connection<HttpConn>>();
        let total = entry + conn;
        assert!(
            total <= 880,
            "{entry} + {conn} = {total} bytes per connection"
        );
    }
}
