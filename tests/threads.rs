//! `--threads`: the same records, in the same order with the same stream numbers, and the same
//! summary, whatever the number of workers. Small batches and no linger make connections leave
//! the flow tables in the middle of the capture, so the merge of the workers' records is what
//! is tested, not only the end-of-input flush.

mod common;

use common::{capture, NamedPipe};
use finscope::pipeline::{self, Config, DirectIo, RunStats};
use finscope::report::summary_json;
use finscope::time::Duration;

/// Every record as it came out of the pipeline, and the run's other figures.
fn run(paths: &[String], config: &Config) -> (Vec<String>, String) {
    let (out, stats) = run_stats(paths, config);
    (out, format!("{:?} {:?}", stats.tracker, stats.warnings))
}

/// Every record as it came out of the pipeline, and what the run saw besides.
fn run_stats(paths: &[String], config: &Config) -> (Vec<String>, RunStats) {
    let mut out = Vec::new();
    let stats = pipeline::run(
        paths,
        config,
        &mut |r, h| {
            out.push(format!("{r:?} {h:?}"));
            Ok(())
        },
        &mut |_| {},
    )
    .expect("capture reads");
    (out, stats)
}

fn shipped() -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(format!("{}/captures", env!("CARGO_MANIFEST_DIR")))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| {
                (n.ends_with(".pcap") || n.ends_with(".pcapng")) && n != "not-a-capture.pcap"
            })
            .collect();
    names.sort();
    names
}

#[test]
fn records_are_the_same_with_any_number_of_threads() {
    let mut inputs: Vec<Vec<String>> = shipped().iter().map(|n| vec![capture(n)]).collect();
    // A run over several inputs: frame numbers and batches run on across them.
    inputs.push(vec![
        capture("nginx-default-upstream.pcap"),
        capture("nginx-upstream-keepalive.pcap"),
        capture("tuple-reuse.pcap"),
    ]);
    let mut out_of_stream_order = 0;
    for paths in &inputs {
        for (batch_frames, linger) in [(3, 0), (64, 0), (5, 50), (8192, 5000)] {
            let config = |threads| Config {
                threads,
                batch_frames,
                linger: Duration::from_millis(linger),
                ..Config::default()
            };
            let (one, one_stats) = run(paths, &config(1));
            let streams: Vec<u64> = one
                .iter()
                .map(|r| {
                    let at = r.find("stream: ").unwrap() + 8;
                    r[at..r[at..].find(',').unwrap() + at].parse().unwrap()
                })
                .collect();
            out_of_stream_order += streams.windows(2).filter(|w| w[0] > w[1]).count();
            for threads in [2, 3, 4] {
                // With 0, 1 and 2 threads reading the file ahead.
                let (many, many_stats) = run(
                    paths,
                    &Config {
                        read_ahead: threads - 2,
                        ..config(threads)
                    },
                );
                assert_eq!(one.len(), many.len(), "{paths:?} {threads} threads");
                for (i, (a, b)) in one.iter().zip(&many).enumerate() {
                    assert_eq!(
                        a, b,
                        "{paths:?}, batches of {batch_frames}, {threads} threads: record {i}"
                    );
                }
                assert_eq!(one_stats, many_stats, "{paths:?} {threads} threads");
            }
        }
    }
    // Connections did leave out of stream order, so the merge had something to order.
    assert!(out_of_stream_order > 10, "{out_of_stream_order}");
}

#[test]
fn summaries_are_the_same_with_any_number_of_threads() {
    for name in shipped() {
        let paths = [capture(&name)];
        let json = |threads| {
            let config = Config {
                threads,
                batch_frames: 4,
                ..Config::default()
            };
            summary_json(&pipeline::analyze(&paths, &config, &mut |_| {}).unwrap())
        };
        let one = json(1);
        assert_eq!(one, json(2), "{name}");
        assert_eq!(one, json(5), "{name}");
    }
}

#[test]
fn a_bad_input_fails_the_same_way_with_threads() {
    let bad = [capture("not-a-capture.pcap")];
    let config = Config {
        threads: 3,
        ..Config::default()
    };
    let err = pipeline::run(&bad, &config, &mut |_, _| Ok(()), &mut |_| {}).unwrap_err();
    let err1 =
        pipeline::run(&bad, &Config::default(), &mut |_, _| Ok(()), &mut |_| {}).unwrap_err();
    assert_eq!(err.to_string(), err1.to_string());
}

#[test]
fn a_failing_output_stops_every_thread() {
    let paths = [capture("nginx-default-upstream.pcap")];
    let config = Config {
        threads: 3,
        batch_frames: 2,
        linger: Duration::from_millis(0),
        ..Config::default()
    };
    let mut seen = 0;
    let err = pipeline::run(
        &paths,
        &config,
        &mut |_, _| {
            seen += 1;
            Err(std::io::Error::new(std::io::ErrorKind::BrokenPipe, "gone"))
        },
        &mut |_| {},
    )
    .unwrap_err();
    assert_eq!(seen, 1);
    assert!(err.to_string().contains("gone"), "{err}");
}

/// What `config` gives for the shipped capture `name` written into a named pipe, and what the
/// same capture gives read as a file with the default settings.
fn through_a_named_pipe(name: &str, config: &Config) -> ((Vec<String>, String), Vec<String>) {
    let pipe = NamedPipe::of(name);
    let piped = run(&[pipe.path().to_string()], config);
    pipe.finish();
    let source = capture(name);
    let (file, _) = run(&[source], &Config::default());
    assert!(!file.is_empty());
    (piped, file)
}

/// Read-ahead needs positioned reads: a named pipe (or a shell's `/dev/fd/N`) is read as a
/// stream instead, with the same records as the file.
#[test]
fn read_ahead_reads_a_named_pipe_as_a_stream() {
    let config = Config {
        threads: 2,
        read_ahead: 2,
        ..Config::default()
    };
    let ((piped, _), file) = through_a_named_pipe("nginx-default-upstream.pcap", &config);
    assert_eq!(piped, file);
}

/// `--direct-io`: the blocks read with direct I/O give the same records, with one worker and
/// with several. Where the file system refuses it (tmpfs before Linux 6.6), the file is read
/// through the page cache, with a warning saying so.
#[test]
fn direct_io_gives_the_same_records() {
    for name in shipped() {
        let paths = [capture(&name)];
        for threads in [1, 2] {
            let config = Config {
                threads,
                batch_frames: 64,
                ..Config::default()
            };
            let (plain, plain_stats) = run(&paths, &config);
            let direct = Config {
                direct_io: DirectIo::On,
                ..config.clone()
            };
            let (out, stats) = run_stats(&paths, &direct);
            assert_eq!(out, plain, "{name}, {threads} threads");
            let refused = stats
                .warnings
                .iter()
                .filter(|w| w.contains("read through the page cache, not with --direct-io"))
                .count();
            if refused == 0 {
                assert_eq!(
                    format!("{:?} {:?}", stats.tracker, stats.warnings),
                    plain_stats
                );
            }
        }
    }
}

/// Direct I/O reads regular files, several of them one after the other (a rotated set); a
/// named pipe is read through the page cache, and the run says so.
#[test]
fn direct_io_says_when_it_is_not_used() {
    let config = Config {
        direct_io: DirectIo::On,
        ..Config::default()
    };
    let three = [
        capture("nginx-default-upstream.pcap"),
        capture("tuple-reuse.pcap"),
        capture("nginx-upstream-keepalive.pcap"),
    ];
    for threads in [1, 2] {
        let config = Config {
            threads,
            ..config.clone()
        };
        let (records, read) = run_stats(&three, &config);
        assert_eq!(records, run(&three, &Config::default()).0);
        let stats = format!("{:?}", read.warnings);
        // Each file read with direct I/O, or the file system said why not.
        assert_eq!(read.captures.len(), 3);
        for c in &read.captures {
            assert!(
                c.info.direct_io != c.info.direct_io_refused.is_some(),
                "{stats}"
            );
        }
        if read.captures.iter().all(|c| c.info.direct_io) {
            assert!(!stats.contains("--direct-io"), "{stats}");
        }
    }

    let ((piped, stats), file) = through_a_named_pipe("nginx-default-upstream.pcap", &config);
    assert_eq!(piped, file);
    assert!(
        stats.contains("read through the page cache, not with --direct-io: not a regular file"),
        "{stats}"
    );
    // Chosen by `auto` rather than asked for: the pipe is read all the same, without a word.
    let chosen = Config {
        direct_io: DirectIo::Chosen,
        ..config
    };
    let ((piped, stats), file) = through_a_named_pipe("nginx-default-upstream.pcap", &chosen);
    assert_eq!(piped, file);
    assert!(!stats.contains("--direct-io"), "{stats}");
}
