//! Drives the road for a set of inputs: capture → decode → tcp (+http) → records, and on to
//! analysis for `analyze`. Several inputs are read one after the other in order of their first
//! packet, as one stream (a rotated capture set). Reports progress through a callback; never
//! prints.

use std::io;
use std::ops::ControlFlow;

use thiserror::Error;

use crate::analysis::{Aggregator, CaptureSummary, Summary, TimeWaitConfig};
use crate::capture::{CaptureError, CaptureReader, Frame, FrameSink};
use crate::decode::{self, SkipReason};
use crate::http::{HttpConn, HttpStreams, HttpSummary};
use crate::tcp::{ConnRecord, RecordSink, Tracker, TrackerConfig, TrackerStats};
use crate::time::{Duration, Timestamp};

/// Settings for a run.
#[derive(Clone, Debug)]
pub struct Config {
    /// See [`TrackerConfig::linger`].
    pub linger: Duration,
    /// TIME-WAIT hold times and the ephemeral port range, for the timeline.
    pub time_wait: TimeWaitConfig,
    /// See [`TrackerConfig::max_connections`].
    pub max_connections: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            linger: Duration::from_secs(5),
            time_wait: TimeWaitConfig::default(),
            max_connections: crate::tcp::DEFAULT_MAX_CONNECTIONS,
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
/// of it. `progress` gets the number of capture bytes read so far, once per buffer.
pub fn run(
    paths: &[String],
    config: &Config,
    records: &mut RecordFn<'_>,
    progress: &mut dyn FnMut(u64),
) -> Result<RunStats, PipelineError> {
    let mut tracker = Tracker::with_handler(
        TrackerConfig {
            linger: config.linger,
            looks_like_request: crate::http::looks_like_request,
            max_connections: config.max_connections,
        },
        HttpStreams,
    );
    let mut stats = RunStats::default();
    let mut frames_before = 0u64;
    let mut bytes_before = 0u64;
    let mut prev_last: Option<(String, Timestamp)> = None;

    for mut reader in open_in_time_order(paths)? {
        let mut driver = Driver {
            tracker: &mut tracker,
            out: Forward::new(&mut *records),
            progress: &mut *progress,
            frames_before,
            bytes_before,
            skipped: [0; SkipReason::ALL.len()],
            tcp_segments: 0,
        };
        reader.run(&mut driver)?;
        let (skipped, tcp_segments, error) =
            (driver.skipped, driver.tcp_segments, driver.out.error);
        if let Some(e) = error {
            return Err(PipelineError::Output(e));
        }
        let info = reader.info().clone();
        frames_before += info.packets;
        bytes_before += info.stream_bytes;
        if let Some(off) = info.truncated_at {
            stats.warnings.push(format!(
                "{}: capture ends inside a record at byte {off} (cut off mid-write?); results cover the packets before it",
                info.path
            ));
        }
        if info.bad_records > 0 {
            stats.warnings.push(format!(
                "{}: {} packet record(s) name an interface their pcapng section does not describe; they were skipped",
                info.path, info.bad_records
            ));
        }
        if let (Some((prev, prev_end)), Some(first)) = (&prev_last, info.first_ts) {
            if first < *prev_end {
                stats.warnings.push(format!(
                    "{}: starts before {prev} ends; inputs are read one after the other, so merge overlapping captures with mergecap first",
                    info.path
                ));
            }
        }
        if let Some(last) = info.last_ts {
            prev_last = Some((info.path.clone(), last));
        }
        stats.captures.push(CaptureSummary {
            info,
            skipped: SkipReason::ALL
                .iter()
                .zip(skipped)
                .filter(|(_, n)| *n > 0)
                .map(|(r, n)| (*r, n))
                .collect(),
            tcp_segments,
        });
    }

    let mut out = Forward::new(records);
    tracker.finish(&mut out);
    if let Some(e) = out.error {
        return Err(PipelineError::Output(e));
    }
    stats.tracker = tracker.stats();
    Ok(stats)
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

/// Opens every input, learns its first timestamp, and returns the readers sorted by it.
/// Files are reopened afterwards so that only one read buffer is alive at a time; standard
/// input cannot be reopened, so its reader is kept.
fn open_in_time_order(paths: &[String]) -> Result<Vec<CaptureReader>, CaptureError> {
    if paths.len() == 1 {
        return Ok(vec![CaptureReader::open(&paths[0])?]);
    }
    let mut order = Vec::with_capacity(paths.len());
    for (i, p) in paths.iter().enumerate() {
        let mut r = CaptureReader::open(p)?;
        let first = r.first_timestamp()?;
        let keep = (p == "-").then_some(r);
        order.push((first.unwrap_or(Timestamp(i64::MAX)), i, keep));
    }
    order.sort_by_key(|(ts, i, _)| (*ts, *i));
    order
        .into_iter()
        .map(|(_, i, kept)| match kept {
            Some(r) => Ok(r),
            None => CaptureReader::open(&paths[i]),
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
    fn record(&mut self, r: &ConnRecord, http: &HttpConn) {
        if self.error.is_none() {
            if let Err(e) = (self.records)(r, &http.summary(r.client_end)) {
                self.error = Some(e);
            }
        }
    }
}

/// Per-frame work for one input: decode, count, track.
struct Driver<'a, 'b> {
    tracker: &'a mut Tracker<HttpStreams>,
    out: Forward<'a, 'b>,
    progress: &'a mut dyn FnMut(u64),
    frames_before: u64,
    bytes_before: u64,
    skipped: [u64; SkipReason::ALL.len()],
    tcp_segments: u64,
}

impl FrameSink for Driver<'_, '_> {
    fn frame(&mut self, frame: &Frame<'_>) -> ControlFlow<()> {
        match decode::decode(frame.linktype, frame.data) {
            Ok(seg) => {
                self.tcp_segments += 1;
                self.tracker.segment(
                    &seg,
                    frame.ts,
                    self.frames_before + frame.number,
                    &mut self.out,
                );
            }
            Err(reason) => self.skipped[reason as usize] += 1,
        }
        if self.out.error.is_some() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }

    fn progress(&mut self, stream_bytes: u64) {
        (self.progress)(self.bytes_before + stream_bytes);
    }
}
