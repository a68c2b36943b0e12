//! The command line as a user meets it: output formats, exit codes, errors, standard input.

use std::io::Write;
use std::process::{Command as StdCommand, Stdio};

use assert_cmd::Command;

mod common;
use common::{capture, NamedPipe};

fn finscope() -> Command {
    Command::new(assert_cmd::cargo::cargo_bin!("finscope"))
}

#[test]
fn analyze_text_leads_with_verdicts() {
    let out = finscope()
        .args(["analyze", &capture("nginx-default-upstream.pcap")])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("finscope: 1 capture, 430 packets, 40 TCP connections"),
        "{text}"
    );
    assert!(
        text.contains("127.0.0.2:8080: the clients closed first in 20 of 20 connections (100%)"),
        "{text}"
    );
    assert!(
        text.contains("127.0.0.3:8887: the server closed first in 14 of 20"),
        "{text}"
    );
    assert!(text.contains("Per host"));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn analyze_json_has_the_documented_top_level_fields() {
    let out = finscope()
        .args([
            "analyze",
            "--format",
            "json",
            &capture("nginx-idle-timeout.pcap"),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["captures"][0]["format"], "pcap");
    assert_eq!(v["captures"][0]["link_types"][0], "ethernet");
    assert_eq!(v["captures"][0]["packets"], 55);
    assert_eq!(v["totals"]["connections"], 5);
    assert_eq!(v["endpoints"][0]["endpoint"], "127.0.0.2:8080");
    assert_eq!(v["endpoints"][0]["closed_by_server"], 5);
    assert_eq!(v["endpoints"][0]["time_wait_on_server"], 5);
    assert_eq!(v["hosts"][0]["host"], "127.0.0.2");
    assert_eq!(v["hosts"][0]["time_wait_entries"], 5);
    assert_eq!(v["data_quality"]["warnings"].as_array().unwrap().len(), 0);
}

#[test]
fn conns_ndjson_one_record_per_connection() {
    let out = finscope()
        .args(["conns", &capture("rst-linger0.pcap")])
        .output()
        .unwrap();
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 10);
    for r in &lines {
        assert_eq!(r["close"], "rst");
        assert_eq!(r["closer"], "client");
        assert_eq!(r["reset_by"], "client");
        assert_eq!(r["time_wait"], serde_json::Value::Null);
        assert_eq!(r["conn_state"], "RSTO");
        assert_eq!(r["roles"], "syn");
        assert_eq!(r["server"], "127.0.0.3:8887");
        assert_eq!(r["first_rst"]["side"], "client");
    }
}

#[test]
fn conns_csv_has_header_and_rows() {
    let out = finscope()
        .args(["conns", "--format", "csv", &capture("ipv6.pcap")])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(header[0], "stream");
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 10);
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    for r in &rows {
        assert_eq!(r.len(), header.len());
        assert_eq!(r[col("server")], "[::1]:8080");
        assert_eq!(r[col("time_wait")], "client");
    }
}

#[test]
fn not_a_capture_is_one_line_error_exit_2() {
    let p = capture("not-a-capture.pcap");
    let out = finscope().args(["analyze", &p]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("finscope: error: "), "{err}");
    assert!(err.contains("not-a-capture.pcap"), "{err}");
    assert!(err.contains("not a pcap or pcapng capture"), "{err}");
}

#[test]
fn missing_file_is_error_exit_2() {
    let out = finscope()
        .args(["analyze", "/nonexistent/x.pcap"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("/nonexistent/x.pcap"), "{err}");
    // One line, the cause said once.
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
}

#[test]
fn truncated_capture_warns_and_succeeds() {
    let out = finscope()
        .args(["analyze", &capture("truncated.pcap")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("warning"), "{err}");
    assert!(
        err.contains("truncated.pcap") && err.contains("15353"),
        "{err}"
    );
}

#[test]
fn standard_input_and_gzip_by_magic() {
    let raw = std::fs::read(capture("nginx-idle-timeout.pcap")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&raw).unwrap();
    let gz = gz.finish().unwrap();
    for input in [raw, gz] {
        let out = finscope()
            .args(["analyze", "--format", "json", "-"])
            .write_stdin(input)
            .output()
            .unwrap();
        assert!(out.status.success());
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["totals"]["connections"], 5);
        assert_eq!(v["totals"]["closed_by_server"], 5);
    }
}

#[test]
fn slow_pipe_on_standard_input() {
    // Bytes trickle in with pauses, as from `tcpdump -w - | finscope analyze -`.
    let raw = std::fs::read(capture("nginx-idle-timeout.pcap")).unwrap();
    let mut child = StdCommand::new(assert_cmd::cargo::cargo_bin!("finscope"))
        .args(["analyze", "--format", "json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for chunk in raw.chunks(1000) {
        stdin.write_all(&chunk[..7.min(chunk.len())]).unwrap();
        stdin.flush().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(5));
        stdin.write_all(&chunk[7.min(chunk.len())..]).unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["totals"]["connections"], 5);
}

#[test]
fn closed_stdout_pipe_ends_quietly() {
    let mut child = StdCommand::new(assert_cmd::cargo::cargo_bin!("finscope"))
        .args(["conns", &capture("nginx-default-upstream.pcap")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn usage_error_exits_2() {
    let out = finscope().args(["analyze"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = finscope()
        .args(["analyze", "--format", "yaml", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn compare_says_improved_and_fail_if_worse_gates() {
    let (a, b) = (
        capture("nginx-default-upstream.pcap"),
        capture("nginx-upstream-keepalive.pcap"),
    );
    let out = finscope()
        .args(["compare", &a, "--fail-if-worse", "--", &b])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("finscope compare: IMPROVED"), "{text}");
    assert!(text.contains("improved   127.0.0.3:8887"), "{text}");

    let out = finscope()
        .args([
            "compare",
            "--format",
            "json",
            &b,
            "--fail-if-worse",
            "--",
            &a,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["overall"], "regressed");
    assert!(v["regressions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["name"] == "127.0.0.3:8887"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("worse: 127.0.0.3:8887"));
}

#[test]
fn compare_map_and_bad_map() {
    let (a, b) = (capture("client-no-pool.pcap"), capture("client-pool.pcap"));
    let out = finscope()
        .args([
            "compare",
            "--format",
            "json",
            "--map",
            "127.0.0.3:8887=127.0.0.4:80",
            &a,
            "--",
            &b,
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let gone = v["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "127.0.0.4:80")
        .unwrap();
    assert_eq!(gone["verdict"], "gone");
    assert_eq!(gone["before_name"], "127.0.0.3:8887");
    let out = finscope()
        .args(["compare", "--map", "nonsense", &a, "--", &b])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// `--direct-io` changes how the file is read, not what is found; on standard input it cannot
/// apply, alone or among files, and the warning says so.
#[test]
fn direct_io_same_report_and_a_warning_on_standard_input() {
    let path = capture("nginx-default-upstream.pcap");
    let plain = finscope()
        .args(["analyze", "--format", "json", &path])
        .output()
        .unwrap();
    let direct = finscope()
        .args(["analyze", "--format", "json", "--direct-io", &path])
        .output()
        .unwrap();
    assert!(direct.status.success());
    // The warnings may say that the file system refused direct I/O.
    let strip = |out: &[u8]| {
        let mut v: serde_json::Value = serde_json::from_slice(out).unwrap();
        v["data_quality"]["warnings"] = serde_json::Value::Null;
        v
    };
    assert_eq!(strip(&direct.stdout), strip(&plain.stdout));
    // `auto` (the default) and `off` spelled out: the same report, and no word of direct I/O.
    for when in ["--direct-io=auto", "--direct-io=off", "--direct-io=on"] {
        let out = finscope()
            .args(["analyze", "--format", "json", when, &path])
            .output()
            .unwrap();
        assert!(out.status.success(), "{when}");
        assert_eq!(strip(&out.stdout), strip(&plain.stdout), "{when}");
    }
    let out = finscope()
        .args(["analyze", "--direct-io=sometimes", &path])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("invalid value 'sometimes' for '--direct-io"),
        "{err}"
    );

    // Alone, or with a file (a set read as one stream).
    let other = capture("tuple-reuse.pcap");
    for args in [vec!["-"], vec![other.as_str(), "-"]] {
        let piped = finscope()
            .args(["analyze", "--format", "json", "--direct-io"])
            .args(&args)
            .write_stdin(std::fs::read(&path).unwrap())
            .output()
            .unwrap();
        assert!(piped.status.success());
        let err = String::from_utf8(piped.stderr).unwrap();
        assert!(
            err.contains(
                "-: read through the page cache, not with --direct-io: standard input is not a file"
            ),
            "{args:?}: {err}"
        );
    }
}

/// A named pipe (`tcpdump -w fifo` in another shell) is read once, as it streams, alone or
/// among files: neither choosing whether to read with direct I/O nor putting the inputs in
/// time order may open it a second time, which would take the writer's bytes or leave it
/// with no reader (the run then waited for ever).
#[test]
fn a_named_pipe_is_opened_once_alone_or_among_files() {
    let path = capture("nginx-default-upstream.pcap");
    let other = capture("tuple-reuse.pcap");
    let totals = |args: &[&str]| {
        let out = finscope()
            .args(["analyze", "--format", "json"])
            .args(args)
            .timeout(std::time::Duration::from_secs(60))
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["totals"].clone()
    };
    let other = other.as_str();
    for (before, after) in [(None, None), (Some(other), None), (None, Some(other))] {
        let pipe = NamedPipe::of("nginx-default-upstream.pcap");
        let piped: Vec<&str> = before
            .into_iter()
            .chain([pipe.path()])
            .chain(after)
            .collect();
        let files: Vec<&str> = before
            .into_iter()
            .chain([path.as_str()])
            .chain(after)
            .collect();
        assert_eq!(totals(&piped), totals(&files), "{piped:?}");
        pipe.finish();
    }
}
