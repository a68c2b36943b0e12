//! Criterion micro-benchmarks of finscope's stages (issue 6), in bytes of capture per second.
//!
//! ```text
//! cargo bench --bench stages                 # all stages on a generated 32 MB capture
//! cargo bench --bench stages -- tcp/         # only the tracker benchmarks
//! FINSCOPE_BENCH_CAPTURE=/work/bench-data/real-nginx-wrk.pcap FINSCOPE_BENCH_SIZE=50M \
//!     cargo bench --bench stages             # the first 50 MB of a real capture instead
//! ```
//!
//! Input: by default the `gencap` example's `default` mix (seed 42, Ethernet), generated in
//! memory at start-up by the same code (`examples/gencap/generate.rs`, included below by path:
//! the library carries no benchmark code and there is still one generator). With
//! `FINSCOPE_BENCH_CAPTURE`, the first `FINSCOPE_BENCH_SIZE` bytes (default 32M; K, M, G are
//! decimal) of a pcap or pcapng file are used instead (a record cut at the end is dropped, as
//! finscope drops a truncated last record). Only `pipeline` reads a file while measuring, and
//! that one is in the page cache.
//!
//! Stages, each measured alone on the same packets:
//! - `capture`: [`CaptureReader`] over the file's bytes (an in-memory `Read`), frames counted;
//! - `decode`: [`decode::decode`] on every frame;
//! - `tcp/headers`: [`Tracker::new`] (no payload handler) on the decoded segments, to the end;
//! - `tcp/http`: [`Tracker::with_handler`] with [`HttpStreams`], each record's HTTP summary made;
//! - `analysis`: [`Aggregator::add`] for every record, then [`Summary::new`];
//! - `pipeline`: `pipeline::analyze` on a temporary file with the same bytes, end to end.
//!
//! The tracker keeps a finished connection for 5 s of capture time (the linger) before it lets
//! go of it. 32 MB of the default mix span about 1.6 s, so the tracker holds every connection
//! (about 6,000) until the end, in a table that fits in cache; on gigabyte captures it holds
//! about 30,000 at a time. `FINSCOPE_BENCH_SIZE=200M` (about 8 s of capture) gives the steady
//! state, at about 0.8 GB of memory.
//!
//! Every stage reports the capture's size as its throughput, so the per-byte costs add up:
//! `1 / pipeline ≈ 1 / capture + 1 / decode + 1 / (tcp/http) + 1 / analysis`.

use std::io::{Cursor, Read, Write};
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use criterion::{black_box, criterion_group, criterion_main, Criterion, SamplingMode, Throughput};

use finscope::analysis::{Aggregator, Summary, TimeWaitConfig};
use finscope::capture::{CaptureReader, Frame, FrameSink};
use finscope::decode::{self, Segment};
use finscope::http::{HttpConn, HttpStreams, HttpSummary};
use finscope::pipeline;
use finscope::tcp::{ConnRecord, RecordSink, StreamHandler, Tracker, TrackerConfig, TrackerStats};
use finscope::time::Timestamp;

#[path = "../examples/gencap/generate.rs"]
#[allow(dead_code)] // the command line's helpers are not used here
mod generate;

const DEFAULT_SIZE: u64 = 32_000_000;

/// The captured packets, copied out of the reader's buffer into one allocation.
struct Frames {
    data: Vec<u8>,
    meta: Vec<Meta>,
}

struct Meta {
    start: usize,
    len: usize,
    ts: Timestamp,
    linktype: u16,
    number: u64,
}

impl FrameSink for Frames {
    fn frame(&mut self, f: &Frame<'_>) -> ControlFlow<()> {
        self.meta.push(Meta {
            start: self.data.len(),
            len: f.data.len(),
            ts: f.ts,
            linktype: f.linktype,
            number: f.number,
        });
        self.data.extend_from_slice(f.data);
        ControlFlow::Continue(())
    }
}

/// Counts frames and their bytes, so that reading cannot be optimised away.
#[derive(Default)]
struct CountFrames {
    packets: u64,
    bytes: u64,
}

impl FrameSink for CountFrames {
    fn frame(&mut self, f: &Frame<'_>) -> ControlFlow<()> {
        self.packets += 1;
        self.bytes += f.data.len() as u64;
        ControlFlow::Continue(())
    }
}

/// `8M`, `1G`, `500K` or a byte count; decimal units.
fn parse_size(s: &str) -> Option<u64> {
    let (num, mult) = match s.as_bytes().last()? {
        b'K' | b'k' => (&s[..s.len() - 1], 1_000),
        b'M' | b'm' => (&s[..s.len() - 1], 1_000_000),
        b'G' | b'g' => (&s[..s.len() - 1], 1_000_000_000),
        _ => (s, 1),
    };
    let n: f64 = num.parse().ok()?;
    Some((n * mult as f64) as u64)
}

/// The capture the benchmarks run on, a description, and a short label for the benchmark
/// group (so that criterion compares runs on the same input only).
fn input() -> (Vec<u8>, String, String) {
    let size = std::env::var("FINSCOPE_BENCH_SIZE")
        .ok()
        .map(|s| parse_size(&s).expect("FINSCOPE_BENCH_SIZE: a size such as 8M"))
        .unwrap_or(DEFAULT_SIZE);
    match std::env::var("FINSCOPE_BENCH_CAPTURE") {
        Ok(path) => {
            // A record cut at the end is a truncation warning for finscope, not an error.
            let mut head = Vec::new();
            std::fs::File::open(&path)
                .and_then(|f| f.take(size).read_to_end(&mut head))
                .expect("FINSCOPE_BENCH_CAPTURE: a readable file");
            let name = std::path::Path::new(&path)
                .file_name()
                .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
            let label = format!("{name}-{}M", size / 1_000_000);
            (head, format!("{path} (first {size} bytes)"), label)
        }
        Err(_) => {
            let mut out = Vec::with_capacity(size as usize + (1 << 20));
            let spec = generate::Spec::new(size);
            generate::generate(&spec, &mut out).expect("writing to memory cannot fail");
            let label = format!("gencap-{}M", size / 1_000_000);
            (
                out,
                format!("gencap default mix, seed {}", spec.seed),
                label,
            )
        }
    }
}

fn frames_of(capture: &Arc<[u8]>) -> Frames {
    let mut frames = Frames {
        data: Vec::with_capacity(capture.len()),
        meta: Vec::new(),
    };
    let mut reader = CaptureReader::from_read("bench", Cursor::new(Arc::clone(capture)))
        .expect("the benchmark input is a capture");
    reader.run(&mut frames).expect("the benchmark input reads");
    frames
}

fn tracker_config() -> TrackerConfig {
    TrackerConfig {
        looks_like_request: finscope::http::looks_like_request,
        ..TrackerConfig::default()
    }
}

fn stages(c: &mut Criterion) {
    let (capture, source, label) = input();
    let capture: Arc<[u8]> = capture.into();
    let frames = frames_of(&capture);
    let segments: Vec<(Segment<'_>, Timestamp, u64)> = frames
        .meta
        .iter()
        .filter_map(|m| {
            let data = &frames.data[m.start..m.start + m.len];
            decode::decode(m.linktype, data)
                .ok()
                .map(|s| (s, m.ts, m.number))
        })
        .collect();
    let (records, tracker_stats) = records_of(&segments);
    eprintln!(
        "stages: {source}: {} bytes, {} packets, {} TCP segments, {} connections",
        capture.len(),
        frames.meta.len(),
        segments.len(),
        records.len()
    );

    let mut g = c.benchmark_group(format!("stages/{label}"));
    // Each iteration is a whole capture (milliseconds): few, flat samples are enough.
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::BytesDecimal(capture.len() as u64));

    g.bench_function("capture", |b| {
        b.iter(|| {
            let mut reader = CaptureReader::from_read("bench", Cursor::new(Arc::clone(&capture)))
                .expect("the benchmark input is a capture");
            let mut count = CountFrames::default();
            reader.run(&mut count).expect("the benchmark input reads");
            black_box((count.packets, count.bytes))
        })
    });

    g.bench_function("decode", |b| {
        b.iter(|| {
            let (mut tcp, mut payload) = (0u64, 0u64);
            for m in &frames.meta {
                let data = &frames.data[m.start..m.start + m.len];
                if let Ok(seg) = decode::decode(m.linktype, black_box(data)) {
                    tcp += 1;
                    payload += u64::from(seg.payload_len);
                }
            }
            black_box((tcp, payload))
        })
    });

    g.bench_function("tcp/headers", |b| {
        b.iter(|| {
            let mut tracker = Tracker::new(tracker_config());
            let mut n = 0u64;
            let mut sink = |r: &ConnRecord, _: &mut ()| n += u64::from(r.client_end == 0);
            track(&mut tracker, &segments, &mut sink);
            black_box(n)
        })
    });

    g.bench_function("tcp/http", |b| {
        b.iter(|| {
            let mut tracker = Tracker::with_handler(tracker_config(), HttpStreams::default());
            let mut n = 0u64;
            let mut sink = |r: &ConnRecord, h: &mut HttpConn| {
                n += u64::from(black_box(h.take_summary(r.client_end)).requests);
            };
            track(&mut tracker, &segments, &mut sink);
            black_box(n)
        })
    });

    g.bench_function("analysis", |b| {
        b.iter(|| {
            let mut agg = Aggregator::with_time_wait(TimeWaitConfig::default());
            for (r, h) in &records {
                agg.add(r, h);
            }
            let summary = Summary::new(agg, Vec::new(), tracker_stats, Vec::new());
            black_box(summary.totals.counts.connections)
        })
    });

    let mut file = tempfile::NamedTempFile::new().expect("a temporary file");
    file.write_all(&capture)
        .expect("writing the temporary file");
    let paths = [file.path().to_string_lossy().into_owned()];
    g.bench_function("pipeline", |b| {
        b.iter(|| {
            let summary = pipeline::analyze(&paths, &pipeline::Config::default(), &mut |_| {})
                .expect("the benchmark input analyses");
            black_box(summary.totals.counts.connections)
        })
    });
    g.finish();
}

/// Every connection record with its HTTP summary, as the pipeline hands them to the analysis.
fn records_of(
    segments: &[(Segment<'_>, Timestamp, u64)],
) -> (Vec<(ConnRecord, HttpSummary)>, TrackerStats) {
    let mut tracker = Tracker::with_handler(tracker_config(), HttpStreams::default());
    let mut records = Vec::new();
    let mut sink =
        |r: &ConnRecord, h: &mut HttpConn| records.push((r.clone(), h.take_summary(r.client_end)));
    track(&mut tracker, segments, &mut sink);
    (records, tracker.stats())
}

/// Feeds every segment to the tracker as the pipeline does: time advances (and finished
/// connections go) at the end of every batch of frames; everything left goes at the end.
fn track<H: StreamHandler>(
    tracker: &mut Tracker<H>,
    segments: &[(Segment<'_>, Timestamp, u64)],
    sink: &mut dyn RecordSink<H::Conn>,
) {
    let mut now = Timestamp(i64::MIN);
    for (seg, ts, frame) in segments {
        now = now.max(*ts);
        tracker.segment(seg, *ts, *frame, sink);
        if frame % pipeline::BATCH_FRAMES == 0 {
            tracker.advance(now, sink);
        }
    }
    tracker.finish(sink);
}

criterion_group!(benches, stages);
criterion_main!(benches);
