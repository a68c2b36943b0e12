//! Hostile and broken input: every malformed input class gets a clear outcome and no panic.
//! Either one error line (`finscope: error: FILE: ...`) and exit 2, or warnings on stderr and
//! exit 0 with the results that could be had. See `docs/bad-input.md`.
//!
//! The captures are built by hand here; `tests/data/` holds inputs the fuzzers found.

use std::io::{Cursor, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use finscope::capture::{CaptureReader, Frame, FrameSink};
use finscope::decode::{self, linktype, SkipReason};
use finscope::http::HttpConn;
use finscope::pipeline::{self, Config};
use finscope::tcp::{CloseKind, ConnRecord};
use finscope::time::Timestamp;
use serde_json::Value;

// ---------------------------------------------------------------------------------------------
// Hand-made captures

const CLIENT: [u8; 4] = [10, 0, 0, 1];
const SERVER: [u8; 4] = [10, 0, 0, 2];

/// Legacy pcap global header, little-endian, microseconds.
fn pcap_header(snaplen: u32, linktype: u32) -> Vec<u8> {
    let mut h = Vec::with_capacity(24);
    h.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    h.extend_from_slice(&2u16.to_le_bytes());
    h.extend_from_slice(&4u16.to_le_bytes());
    h.extend_from_slice(&0i32.to_le_bytes());
    h.extend_from_slice(&0u32.to_le_bytes());
    h.extend_from_slice(&snaplen.to_le_bytes());
    h.extend_from_slice(&linktype.to_le_bytes());
    h
}

/// A pcap record header claiming `caplen` captured bytes, then `data`.
fn record_with_len(ts_sec: u32, caplen: u32, data: &[u8]) -> Vec<u8> {
    let mut r = Vec::with_capacity(16 + data.len());
    r.extend_from_slice(&ts_sec.to_le_bytes());
    r.extend_from_slice(&0u32.to_le_bytes());
    r.extend_from_slice(&caplen.to_le_bytes());
    r.extend_from_slice(&caplen.to_le_bytes());
    r.extend_from_slice(data);
    r
}

fn record(ts_sec: u32, data: &[u8]) -> Vec<u8> {
    record_with_len(ts_sec, data.len() as u32, data)
}

/// A TCP header (no options) with `data_offset` 32-bit words, then `payload`.
fn tcp(sport: u16, dport: u16, seq: u32, ack: u32, flags: u8, data_offset: u8) -> Vec<u8> {
    let mut t = Vec::with_capacity(20);
    t.extend_from_slice(&sport.to_be_bytes());
    t.extend_from_slice(&dport.to_be_bytes());
    t.extend_from_slice(&seq.to_be_bytes());
    t.extend_from_slice(&ack.to_be_bytes());
    t.push(data_offset << 4);
    t.push(flags);
    t.extend_from_slice(&65535u16.to_be_bytes());
    t.extend_from_slice(&[0, 0, 0, 0]);
    t
}

/// An IPv4 header with the given IHL (words) and total length, then `payload`.
fn ipv4_raw(src: [u8; 4], dst: [u8; 4], ihl: u8, total: u16, payload: &[u8]) -> Vec<u8> {
    let mut h = vec![0x40 | ihl, 0];
    h.extend_from_slice(&total.to_be_bytes());
    h.extend_from_slice(&[0, 0, 0, 0, 64, 6, 0, 0]);
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    h.extend_from_slice(payload);
    h
}

fn ipv4(src: [u8; 4], dst: [u8; 4], payload: &[u8]) -> Vec<u8> {
    ipv4_raw(src, dst, 5, 20 + payload.len() as u16, payload)
}

/// A plain IPv6 header (next header TCP) claiming `payload_len`, then `payload`.
fn ipv6_raw(payload_len: u16, payload: &[u8]) -> Vec<u8> {
    let mut h = vec![0x60, 0, 0, 0];
    h.extend_from_slice(&payload_len.to_be_bytes());
    h.extend_from_slice(&[6, 64]);
    h.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    h.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    h.extend_from_slice(payload);
    h
}

fn ethernet(ether_type: u16, l3: &[u8]) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
    f.extend_from_slice(&ether_type.to_be_bytes());
    f.extend_from_slice(l3);
    f
}

/// One well-formed Ethernet/IPv4/TCP frame from the client (`from_client`) or the server.
fn frame(from_client: bool, cport: u16, seq: u32, ack: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let (src, dst, sp, dp) = if from_client {
        (CLIENT, SERVER, cport, 80)
    } else {
        (SERVER, CLIENT, 80, cport)
    };
    let mut seg = tcp(sp, dp, seq, ack, flags, 5);
    seg.extend_from_slice(payload);
    ethernet(0x0800, &ipv4(src, dst, &seg))
}

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const ACK: u8 = 0x10;

/// A complete connection on client port `cport`: handshake, a request, the client's FIN first.
fn conversation(cport: u16) -> Vec<Vec<u8>> {
    let req = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    let n = req.len() as u32;
    vec![
        frame(true, cport, 100, 0, SYN, b""),
        frame(false, cport, 500, 101, SYN | ACK, b""),
        frame(true, cport, 101, 501, ACK, b""),
        frame(true, cport, 101, 501, ACK, req),
        frame(false, cport, 501, 101 + n, ACK, b""),
        frame(true, cport, 101 + n, 501, FIN | ACK, b""),
        frame(false, cport, 501, 102 + n, FIN | ACK, b""),
        frame(true, cport, 102 + n, 502, ACK, b""),
    ]
}

/// A pcap of `conns` back-to-back connections, one second per packet.
fn good_pcap(conns: u16) -> Vec<u8> {
    let mut out = pcap_header(65535, 1);
    let mut ts = 1;
    for c in 0..conns {
        for f in conversation(40000 + c) {
            out.extend(record(ts, &f));
            ts += 1;
        }
    }
    out
}

fn pcapng_shb(block_len: u32) -> Vec<u8> {
    let mut b = vec![0x0a, 0x0d, 0x0d, 0x0a];
    b.extend_from_slice(&block_len.to_le_bytes());
    b.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&0u16.to_le_bytes());
    b.extend_from_slice(&(-1i64).to_le_bytes());
    b.extend_from_slice(&block_len.to_le_bytes());
    b
}

fn pcapng_idb() -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&20u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&0u16.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&20u32.to_le_bytes());
    b
}

fn pcapng_epb(if_id: u32, ts_us: u64, data: &[u8]) -> Vec<u8> {
    let pad = (4 - data.len() % 4) % 4;
    let len = (32 + data.len() + pad) as u32;
    let mut b = Vec::new();
    for v in [
        6,
        len,
        if_id,
        (ts_us >> 32) as u32,
        ts_us as u32,
        data.len() as u32,
        data.len() as u32,
    ] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b.extend_from_slice(data);
    b.extend(std::iter::repeat_n(0, pad));
    b.extend_from_slice(&len.to_le_bytes());
    b
}

/// Block type and length, then `filler` zero bytes: a block header that lies.
fn pcapng_bad_block(block_len: u32, filler: usize) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&6u32.to_le_bytes());
    b.extend_from_slice(&block_len.to_le_bytes());
    b.extend(std::iter::repeat_n(0, filler));
    b
}

fn good_pcapng() -> Vec<u8> {
    let mut out = pcapng_shb(28);
    out.extend(pcapng_idb());
    for (i, f) in conversation(40000).iter().enumerate() {
        out.extend(pcapng_epb(0, 1_000_000 * (i as u64 + 1), f));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Running it

struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
}

fn write_capture(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write capture");
    path
}

fn finscope(args: &[&str], dir: &Path) -> Outcome {
    let out = Command::new(assert_cmd::cargo::cargo_bin!("finscope"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("finscope runs");
    Outcome {
        code: out.status.code().expect("exit code, not a signal"),
        stdout: String::from_utf8(out.stdout).expect("UTF-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("UTF-8 stderr"),
    }
}

/// Writes `bytes` as `name` in a fresh directory and runs `finscope conns name`.
fn conns(name: &str, bytes: &[u8]) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    write_capture(dir.path(), name, bytes);
    finscope(&["conns", name], dir.path())
}

/// Writes `bytes` as `name` and runs `finscope analyze --format json name`.
fn analyze_json(name: &str, bytes: &[u8]) -> (Outcome, Value) {
    let dir = tempfile::tempdir().unwrap();
    write_capture(dir.path(), name, bytes);
    let out = finscope(&["analyze", "--format", "json", name], dir.path());
    assert_eq!(out.code, 0, "{name}: {}", out.stderr);
    let v = serde_json::from_str(&out.stdout).expect("valid JSON");
    (out, v)
}

/// One line on stderr, `finscope: error: NAME: ...`, exit 2, nothing on stdout.
#[track_caller]
fn assert_error(out: &Outcome, name: &str, detail: &str) {
    assert_eq!(out.code, 2, "{name}: stderr {:?}", out.stderr);
    assert!(out.stdout.is_empty(), "{name}: stdout {:?}", out.stdout);
    assert_eq!(out.stderr.lines().count(), 1, "{name}: {:?}", out.stderr);
    let line = out.stderr.trim_end();
    let prefix = format!("finscope: error: {name}: ");
    assert!(line.starts_with(&prefix), "{line}");
    assert!(line.contains(detail), "{line} lacks {detail:?}");
}

/// Exit 0 and every stderr line a warning naming the file.
#[track_caller]
fn assert_warned(out: &Outcome, name: &str, detail: &str) {
    assert_eq!(out.code, 0, "{name}: {}", out.stderr);
    assert!(!out.stderr.is_empty(), "{name}: no warning");
    for line in out.stderr.lines() {
        assert!(
            line.starts_with(&format!("finscope: warning: {name}: ")),
            "{line}"
        );
    }
    assert!(
        out.stderr.contains(detail),
        "{} lacks {detail:?}",
        out.stderr
    );
}

fn ndjson(out: &Outcome) -> Vec<Value> {
    out.stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON record per line"))
        .collect()
}

/// Every record and the run's warnings, through the library; panics only if the test does.
fn records_of(path: &Path) -> Result<(Vec<ConnRecord>, Vec<String>), String> {
    let mut recs = Vec::new();
    let stats = pipeline::run(
        &[path.to_string_lossy().into_owned()],
        &Config::default(),
        &mut |r, _| {
            recs.push(r.clone());
            Ok(())
        },
        &mut |_| {},
    )
    .map_err(|e| e.to_string())?;
    Ok((recs, stats.warnings))
}

/// Reads `bytes` as a capture through the library, decoding each frame. Returns the frames
/// decoded, or the error's text.
fn read_all(bytes: &[u8]) -> Result<u64, String> {
    struct Count(u64);
    impl FrameSink for Count {
        fn frame(&mut self, f: &Frame<'_>) -> ControlFlow<()> {
            let _ = decode::decode(f.linktype, f.data);
            self.0 += 1;
            ControlFlow::Continue(())
        }
    }
    let mut r = CaptureReader::from_read("input", Cursor::new(bytes.to_vec()))
        .map_err(|e| e.to_string())?;
    let mut sink = Count(0);
    r.run(&mut sink).map_err(|e| e.to_string())?;
    Ok(sink.0)
}

// ---------------------------------------------------------------------------------------------
// Not a capture at all

#[test]
fn empty_file_is_an_error() {
    assert_error(&conns("empty.pcap", b""), "empty.pcap", "empty file");
}

#[test]
fn text_file_is_an_error() {
    let out = conns("notes.pcap", b"GET / HTTP/1.1\r\nHost: example\r\n\r\n");
    assert_error(&out, "notes.pcap", "not a pcap or pcapng capture");
}

#[test]
fn one_to_three_bytes_are_an_error() {
    for n in 1..4 {
        let out = conns("short.pcap", &good_pcap(1)[..n]);
        assert_error(&out, "short.pcap", "not a pcap or pcapng capture");
    }
}

#[test]
fn truncated_pcap_global_header_is_an_error() {
    let whole = good_pcap(1);
    for cut in 4..24 {
        let out = conns("cut.pcap", &whole[..cut]);
        assert_error(&out, "cut.pcap", "file ends inside the 24-byte pcap header");
    }
}

#[test]
fn truncated_pcapng_section_header_is_an_error() {
    let whole = good_pcapng();
    for cut in 4..28 {
        let out = conns("cut.pcapng", &whole[..cut]);
        assert_error(&out, "cut.pcapng", "not a pcap or pcapng capture");
    }
}

#[test]
fn pcapng_section_header_with_a_bad_length_is_an_error() {
    for (len, filler) in [(8u32, 40usize), (13, 40), (4000, 40)] {
        let mut bytes = pcapng_shb(len);
        bytes.extend(std::iter::repeat_n(0, filler));
        let out = conns("shb.pcapng", &bytes);
        assert_error(&out, "shb.pcapng", "not a pcap or pcapng capture");
    }
}

#[test]
fn header_only_captures_are_empty_not_errors() {
    for (name, bytes) in [
        ("header.pcap", pcap_header(65535, 1)),
        ("header.pcapng", pcapng_shb(28)),
    ] {
        let out = conns(name, &bytes);
        assert_eq!(out.code, 0, "{name}: {}", out.stderr);
        assert!(out.stdout.is_empty() && out.stderr.is_empty(), "{name}");
    }
}

// ---------------------------------------------------------------------------------------------
// Records that end early or lie about their length

#[test]
fn truncated_record_warns_and_keeps_the_results_before_it() {
    let whole = good_pcap(3);
    // Cut inside the last record's data, then inside its header.
    for cut in [whole.len() - 10, whole.len() - 54 - 8] {
        let out = conns("cut.pcap", &whole[..cut]);
        assert_warned(&out, "cut.pcap", "capture ends inside a record at byte");
        let recs = ndjson(&out);
        assert_eq!(recs.len(), 3, "{}", out.stdout);
        // The first two connections closed cleanly; the last lost its final ACK only.
        for r in &recs {
            assert_eq!(r["closer"], "client", "{r}");
        }
    }
}

/// Cut points worth trying: every byte up to `dense`, then around each record boundary
/// (inside the next record header, at its end, inside its data). Every cut of every byte
/// would cost a reader each, and a reader's 1 MiB buffer is slow to fill in debug builds.
fn cut_points(dense: usize, boundaries: &[usize], total: usize) -> Vec<usize> {
    let mut cuts: Vec<usize> = (0..=dense).collect();
    for &b in boundaries {
        for d in [-1isize, 0, 1, 4, 8, 12, 15, 16, 17, 30] {
            cuts.push(b.saturating_add_signed(d));
        }
    }
    cuts.push(total);
    cuts.retain(|&c| c <= total);
    cuts.sort_unstable();
    cuts.dedup();
    cuts
}

#[test]
fn every_cut_of_a_pcap_is_handled() {
    let whole = good_pcap(2);
    let mut boundaries = vec![24];
    for f in conversation(40000).iter().chain(&conversation(40001)) {
        boundaries.push(boundaries.last().unwrap() + 16 + f.len());
    }
    let dir = tempfile::tempdir().unwrap();
    for cut in cut_points(40, &boundaries, whole.len()) {
        let path = write_capture(dir.path(), "cut.pcap", &whole[..cut]);
        match records_of(&path) {
            Ok((recs, warnings)) => {
                assert!(cut >= 24, "cut {cut}: header cut accepted");
                let complete = boundaries.contains(&cut);
                assert_eq!(warnings.is_empty(), complete, "cut {cut}: {warnings:?}");
                assert!(recs.len() <= 2);
            }
            Err(e) => {
                assert!(cut < 24, "cut {cut}: {e}");
                assert!(e.contains("cut.pcap"), "{e}");
            }
        }
    }
}

#[test]
fn every_cut_of_a_pcapng_is_handled() {
    let whole = good_pcapng();
    let mut boundaries = vec![28, 48];
    for f in &conversation(40000) {
        boundaries.push(boundaries.last().unwrap() + pcapng_epb(0, 0, f).len());
    }
    assert_eq!(*boundaries.last().unwrap(), whole.len());
    let dir = tempfile::tempdir().unwrap();
    for cut in cut_points(60, &boundaries, whole.len()) {
        let path = write_capture(dir.path(), "cut.pcapng", &whole[..cut]);
        match records_of(&path) {
            Ok((recs, warnings)) => {
                assert!(cut >= 28, "cut {cut}: header cut accepted");
                let complete = boundaries.contains(&cut);
                assert_eq!(warnings.is_empty(), complete, "cut {cut}: {warnings:?}");
                assert!(recs.len() <= 1);
            }
            Err(e) => assert!(cut < 28, "cut {cut}: {e}"),
        }
    }
}

#[test]
fn record_length_past_the_end_of_the_file_is_a_truncated_record() {
    let mut bytes = pcap_header(65535, 1);
    for f in &conversation(40000)[..3] {
        bytes.extend(record(1, f));
    }
    let cut_at = bytes.len();
    bytes.extend(record_with_len(2, 100_000, &[0x55; 50]));
    let out = conns("long.pcap", &bytes);
    assert_warned(&out, "long.pcap", &format!("record at byte {cut_at}"));
    assert_eq!(ndjson(&out).len(), 1);
}

#[test]
fn record_length_over_the_limit_is_an_error() {
    let mut bytes = pcap_header(65535, 1);
    bytes.extend(record(1, &conversation(40000)[0]));
    let at = bytes.len();
    bytes.extend(record_with_len(2, 0x7fff_ffff, &[0x55; 50]));
    let out = conns("huge.pcap", &bytes);
    assert_error(
        &out,
        "huge.pcap",
        &format!("malformed capture at byte {at}: record length 2147483647"),
    );
}

#[test]
fn absurd_snaplen_in_the_header_is_ignored() {
    for snaplen in [0, 1, u32::MAX] {
        let mut bytes = pcap_header(snaplen, 1);
        for (i, f) in conversation(40000).iter().enumerate() {
            bytes.extend(record(i as u32 + 1, f));
        }
        let out = conns("snap.pcap", &bytes);
        assert_eq!(out.code, 0, "snaplen {snaplen}: {}", out.stderr);
        assert!(out.stderr.is_empty(), "{}", out.stderr);
        let recs = ndjson(&out);
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0]["close"], "fin");
        assert_eq!(recs[0]["time_wait"], "client");
    }
}

#[test]
fn record_longer_than_the_snaplen_is_read_as_it_is() {
    let mut bytes = pcap_header(16, 1);
    for (i, f) in conversation(40000).iter().enumerate() {
        bytes.extend(record(i as u32 + 1, f));
    }
    let out = conns("snap16.pcap", &bytes);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(ndjson(&out).len(), 1);
}

// ---------------------------------------------------------------------------------------------
// pcapng blocks that lie

#[test]
fn pcapng_block_length_below_12_or_not_a_multiple_of_4_is_an_error() {
    for len in [0u32, 4, 8, 11, 13, 30, 0xffff_fffe] {
        let mut bytes = pcapng_shb(28);
        bytes.extend(pcapng_idb());
        let at = bytes.len();
        bytes.extend(pcapng_bad_block(len, 40));
        let out = conns("bad.pcapng", &bytes);
        assert_error(
            &out,
            "bad.pcapng",
            &format!("malformed capture at byte {at}: block length {len}"),
        );
    }
}

#[test]
fn pcapng_block_longer_than_the_file_is_a_truncated_record() {
    let mut bytes = pcapng_shb(28);
    bytes.extend(pcapng_idb());
    bytes.extend(pcapng_epb(0, 1, &conversation(40000)[0]));
    let at = bytes.len();
    bytes.extend(pcapng_bad_block(4096, 40));
    let out = conns("long.pcapng", &bytes);
    assert_warned(&out, "long.pcapng", &format!("record at byte {at}"));
    assert_eq!(ndjson(&out).len(), 1);
}

#[test]
fn pcapng_block_length_over_the_limit_is_an_error() {
    let mut bytes = pcapng_shb(28);
    bytes.extend(pcapng_idb());
    bytes.extend(pcapng_bad_block(0x7fff_fff0, 40));
    let out = conns("huge.pcapng", &bytes);
    assert_error(&out, "huge.pcapng", "over the 64 MiB limit");
}

#[test]
fn pcapng_packet_length_beyond_its_block_is_an_error() {
    let mut bytes = pcapng_shb(28);
    bytes.extend(pcapng_idb());
    let mut epb = pcapng_epb(0, 1, &conversation(40000)[0]);
    epb[20..24].copy_from_slice(&4000u32.to_le_bytes());
    bytes.extend(epb);
    let out = conns("caplen.pcapng", &bytes);
    assert_error(&out, "caplen.pcapng", "does not fit its");
}

#[test]
fn pcapng_packet_naming_an_unknown_interface_is_skipped() {
    let mut bytes = pcapng_shb(28);
    bytes.extend(pcapng_idb());
    for (i, f) in conversation(40000).iter().enumerate() {
        // The SYN,ACK names interface 7, which the section never described.
        let if_id = if i == 1 { 7 } else { 0 };
        bytes.extend(pcapng_epb(if_id, 1_000_000 * (i as u64 + 1), f));
    }
    let (out, v) = analyze_json("iface.pcapng", &bytes);
    assert_eq!(v["captures"][0]["packets"], 7, "{}", out.stdout);
    assert_eq!(v["totals"]["connections"], 1);
}

#[test]
fn packet_block_before_any_interface_is_skipped() {
    let mut bytes = pcapng_shb(28);
    bytes.extend(pcapng_epb(0, 1, &conversation(40000)[0]));
    let out = conns("noiface.pcapng", &bytes);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Packets that lie: skipped and counted, never an error

/// One pcap holding `frames` (link type `lt`), analysed; returns the capture's skip counts.
fn skipped_of(lt: u32, frames: &[Vec<u8>]) -> Value {
    let mut bytes = pcap_header(65535, lt);
    for (i, f) in frames.iter().enumerate() {
        bytes.extend(record(i as u32 + 1, f));
    }
    let (out, v) = analyze_json("lies.pcap", &bytes);
    assert!(out.stderr.is_empty(), "{}", out.stderr);
    assert_eq!(v["captures"][0]["packets"], frames.len());
    v["captures"][0]["skipped"].clone()
}

#[test]
fn garbage_link_layer_bytes_are_skipped_and_counted() {
    let frames = vec![
        vec![0xff; 60],
        vec![1, 2],
        vec![],
        ethernet(
            0x8100,
            &[0, 1, 0x81, 0x00, 0, 2, 0x81, 0x00, 0, 3, 0x81, 0x00, 0, 4],
        ),
        ethernet(0x0800, &[0x45]),
    ];
    let skipped = skipped_of(1, &frames);
    assert_eq!(skipped["not_ip"], 1, "{skipped}");
    assert_eq!(skipped["truncated"], 3, "{skipped}");
    assert_eq!(skipped["malformed"], 1, "{skipped}");
}

#[test]
fn unsupported_link_type_is_skipped_and_counted() {
    let skipped = skipped_of(147, &conversation(40000));
    assert_eq!(skipped["unsupported_link_type"], 8, "{skipped}");
}

#[test]
fn garbage_on_every_link_type_is_never_a_segment_it_cannot_be() {
    let lts = [
        linktype::NULL,
        linktype::ETHERNET,
        linktype::DLT_RAW,
        linktype::DLT_RAW_OPENBSD,
        linktype::RAW,
        linktype::LOOP,
        linktype::LINUX_SLL,
        linktype::IPV4,
        linktype::IPV6,
        linktype::LINUX_SLL2,
    ];
    // A cheap deterministic byte stream (xorshift), cut at every length up to 128.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut bytes = [0u8; 128];
    for _ in 0..200 {
        for b in bytes.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        for lt in lts {
            for n in 0..bytes.len() {
                if let Ok(seg) = decode::decode(lt, &bytes[..n]) {
                    assert!(seg.payload.len() as u64 <= u64::from(seg.payload_len));
                }
            }
        }
    }
}

#[test]
fn ip_header_lengths_that_lie_are_skipped_and_counted() {
    let seg = tcp(40000, 80, 1, 0, SYN, 5);
    let frames = vec![
        // IHL 15 (60 bytes) but only 40 bytes captured.
        ethernet(0x0800, &ipv4_raw(CLIENT, SERVER, 15, 80, &seg)),
        // IHL 15 and total length 40: the header does not fit the packet.
        ethernet(0x0800, &ipv4_raw(CLIENT, SERVER, 15, 40, &seg)),
        // Total length 10, below the 20-byte header.
        ethernet(0x0800, &ipv4_raw(CLIENT, SERVER, 5, 10, &seg)),
        // IHL 2: below the minimum of 5.
        ethernet(0x0800, &ipv4_raw(CLIENT, SERVER, 2, 40, &seg)),
        // Total length leaves room for the IP header only, not TCP's 20 bytes.
        ethernet(0x0800, &ipv4_raw(CLIENT, SERVER, 5, 30, &seg)),
        // Version 4 in the EtherType but 6 in the header.
        ethernet(0x0800, &{
            let mut b = ipv4(CLIENT, SERVER, &seg);
            b[0] = 0x65;
            b
        }),
    ];
    let skipped = skipped_of(1, &frames);
    assert_eq!(skipped["truncated"], 1, "{skipped}");
    assert_eq!(skipped["malformed"], 5, "{skipped}");
}

#[test]
fn ip_lengths_beyond_the_captured_bytes_count_as_payload_not_captured() {
    // IPv4 total length and IPv6 payload length both claim 4000 bytes; 20 were captured.
    // Like a snaplen cut, the segment counts and its missing payload is a gap, not data.
    let seg = tcp(40000, 80, 1, 0, SYN, 5);
    for (lt_frame, name) in [
        (
            ethernet(0x0800, &ipv4_raw(CLIENT, SERVER, 5, 4020, &seg)),
            "v4",
        ),
        (ethernet(0x86dd, &ipv6_raw(4000, &seg)), "v6"),
    ] {
        let mut bytes = pcap_header(65535, 1);
        bytes.extend(record(1, &lt_frame));
        let out = conns(&format!("{name}.pcap"), &bytes);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let recs = ndjson(&out);
        assert_eq!(recs.len(), 1, "{name}");
        assert_eq!(recs[0]["client_payload_bytes"], 3980, "{name}");
    }
}

#[test]
fn tcp_data_offset_below_5_or_past_the_segment_is_skipped_and_counted() {
    let mut frames = Vec::new();
    for off in 0..5 {
        frames.push(ethernet(
            0x0800,
            &ipv4(CLIENT, SERVER, &tcp(40000, 80, 1, 0, SYN, off)),
        ));
    }
    // Data offset 15 (60 bytes) in a 20-byte segment.
    frames.push(ethernet(
        0x0800,
        &ipv4(CLIENT, SERVER, &tcp(40000, 80, 1, 0, SYN, 15)),
    ));
    let skipped = skipped_of(1, &frames);
    assert_eq!(skipped["malformed"], 6, "{skipped}");
}

#[test]
fn zero_length_segment_with_fin_syn_rst_gets_a_record() {
    // One such segment alone: a connection opened and reset by the same packet.
    let mut bytes = pcap_header(65535, 1);
    bytes.extend(record(1, &frame(true, 40000, 7, 0, FIN | SYN | RST, b"")));
    let out = conns("xmas.pcap", &bytes);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.is_empty(), "{}", out.stderr);
    let recs = ndjson(&out);
    assert_eq!(recs.len(), 1, "{}", out.stdout);
    assert_eq!(recs[0]["reset_by"], "client");

    // Several in a row, both ways: each SYN may start a connection anew; every one is reported.
    for flags in [FIN | SYN | RST, FIN | SYN | RST | ACK, 0xff, 0] {
        let mut bytes = pcap_header(65535, 1);
        bytes.extend(record(1, &frame(true, 40000, 7, 0, flags, b"")));
        bytes.extend(record(2, &frame(false, 40000, 9, 8, flags, b"")));
        bytes.extend(record(3, &frame(true, 40000, 8, 10, flags, b"")));
        let out = conns("xmas.pcap", &bytes);
        assert_eq!(out.code, 0, "flags {flags:#x}: {}", out.stderr);
        assert!(out.stderr.is_empty(), "{}", out.stderr);
        let recs = ndjson(&out);
        assert!(
            (1..=3).contains(&recs.len()),
            "flags {flags:#x}: {}",
            out.stdout
        );
        let packets: u64 = recs
            .iter()
            .map(|r| r["client_packets"].as_u64().unwrap() + r["server_packets"].as_u64().unwrap())
            .sum();
        assert_eq!(
            packets, 3,
            "flags {flags:#x}: every packet belongs to a record"
        );
    }
}

#[test]
fn rst_and_syn_together_after_a_handshake_do_not_panic() {
    let mut frames = conversation(40000);
    frames.truncate(4);
    frames.push(frame(true, 40000, 200, 501, FIN | SYN | RST | ACK, b"x"));
    frames.push(frame(false, 40000, 501, 201, FIN | SYN | RST | ACK, b"y"));
    let mut bytes = pcap_header(65535, 1);
    for (i, f) in frames.iter().enumerate() {
        bytes.extend(record(i as u32 + 1, f));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = write_capture(dir.path(), "mix.pcap", &bytes);
    let (recs, warnings) = records_of(&path).unwrap();
    assert!(warnings.is_empty());
    assert!(!recs.is_empty());
    assert!(recs
        .iter()
        .all(|r| r.close != CloseKind::Open || r.reset_by.is_none()));
}

// ---------------------------------------------------------------------------------------------
// Compressed input

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::none());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

#[test]
fn gzip_cut_in_the_middle_warns_and_keeps_the_results_before_it() {
    let gz = gzip(&good_pcap(6));
    let out = conns("cut.pcap.gz", &gz[..gz.len() / 2]);
    assert_warned(&out, "cut.pcap.gz", "capture ends inside a record");
    let recs = ndjson(&out);
    assert!((2..=4).contains(&recs.len()), "{}", out.stdout);
    assert_eq!(recs[0]["close"], "fin");
}

#[test]
fn every_cut_of_a_gzip_capture_is_handled() {
    let gz = gzip(&good_pcap(1));
    let dir = tempfile::tempdir().unwrap();
    for cut in (0..gz.len()).step_by(7).chain([gz.len() - 1, gz.len()]) {
        let path = write_capture(dir.path(), "cut.gz", &gz[..cut]);
        if let Err(e) = records_of(&path) {
            assert!(e.contains("cut.gz"), "cut {cut}: {e}");
        }
    }
}

#[test]
fn gzip_of_garbage_is_an_error() {
    let out = conns("junk.gz", &gzip(b"this is not a capture at all"));
    assert_error(&out, "junk.gz", "unknown magic");
}

// ---------------------------------------------------------------------------------------------
// Rotated sets and the error naming the right file

#[test]
fn bad_file_in_a_rotated_set_is_named() {
    let dir = tempfile::tempdir().unwrap();
    write_capture(dir.path(), "a.pcap", &good_pcap(1));
    write_capture(dir.path(), "b.pcap", b"not a capture");
    let out = finscope(&["analyze", "a.pcap", "b.pcap"], dir.path());
    assert_error(&out, "b.pcap", "not a pcap or pcapng capture");
}

// ---------------------------------------------------------------------------------------------
// Inputs found by fuzzing (tests/data/): each is replayed through the library and the CLI.

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// Every file in `tests/data/` is read without a panic, and the CLI gives a clear outcome.
#[test]
fn fuzz_found_inputs_replay_cleanly() {
    let mut seen = 0;
    for entry in std::fs::read_dir(data_dir()).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        assert!(bytes.len() < 4096, "{} is over 4 KB", path.display());
        let _ = read_all(&bytes);
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let out = conns(&name, &bytes);
        match out.code {
            0 => assert!(out
                .stderr
                .lines()
                .all(|l| l.starts_with("finscope: warning: "))),
            2 => assert_error(&out, &name, ""),
            c => panic!("{name}: exit {c}: {}", out.stderr),
        }
        seen += 1;
    }
    assert!(seen > 0);
}

#[test]
fn pcapng_block_shorter_than_its_own_header_is_an_error_not_an_underflow() {
    // pcap-parser 0.17 subtracts 12 from a ProcessInformation block's length of 8.
    let bytes = std::fs::read(data_dir().join("pcapng-block-len-8.pcapng")).unwrap();
    let err = read_all(&bytes).unwrap_err();
    assert!(err.contains("block length 8"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// The HTTP layer on its own: hostile stream chunks

#[test]
fn http_layer_survives_hostile_chunks() {
    let mut conn = HttpConn::new();
    let chunks: [&[u8]; 8] = [
        b"GET / HTTP/1.1\r\nContent-Length: 18446744073709551615\r\n\r\n",
        b"\r\n\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n",
        &[0u8; 300],
        b"GET /x HTTP/1.1\r\nHost: a\r\n",
        b"\xff\xfe\x00\x1b[31m",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
    ];
    for (i, c) in chunks.iter().enumerate() {
        conn.data(i % 2, Timestamp(i as i64), c);
        conn.gap(i % 2, if i == 3 { u64::MAX } else { i as u64 });
        conn.data(i % 2, Timestamp(i as i64), c);
    }
    conn.end_of_stream(0, Timestamp(100));
    conn.end_of_stream(1, Timestamp(100));
    conn.data(0, Timestamp(101), b"GET / HTTP/1.1\r\n\r\n");
    let _ = conn.summary(0);
    let _ = conn.summary(1);
    // Out-of-range ends are ignored, not a panic.
    conn.data(2, Timestamp(0), b"x");
    conn.gap(7, 1);
    conn.end_of_stream(9, Timestamp(0));
}

#[test]
fn skip_reasons_have_names() {
    // The names the JSON above relies on.
    let names: Vec<_> = SkipReason::ALL.iter().map(|r| r.as_str()).collect();
    for n in ["not_ip", "truncated", "malformed", "unsupported_link_type"] {
        assert!(names.contains(&n), "{n}");
    }
}

// a packet block naming an interface its section never described is dropped without a
// word anywhere: CaptureInfo::bad_records is counted but never reported.
#[test]
fn pcapng_packet_naming_an_unknown_interface_is_reported() {
    let mut bytes = pcapng_shb(28);
    bytes.extend(pcapng_idb());
    for (i, f) in conversation(40000).iter().enumerate() {
        let if_id = if i == 1 { 7 } else { 0 };
        bytes.extend(pcapng_epb(if_id, 1_000_000 * (i as u64 + 1), f));
    }
    let (out, v) = analyze_json("iface.pcapng", &bytes);
    assert_warned(&out, "iface.pcapng", "1 packet record(s) name an interface");
    let warnings = v["data_quality"]["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
}

// captured ahead of its SYN (multi-queue capture, merged files) splits the connection in two,
// because the late SYN is taken for a new connection on the tuple.
#[test]
fn syn_ack_captured_before_its_syn_is_one_connection() {
    let mut frames = conversation(40000);
    frames.swap(0, 1);
    let mut bytes = pcap_header(65535, 1);
    for (i, f) in frames.iter().enumerate() {
        bytes.extend(record(i as u32 + 1, f));
    }
    let out = conns("swapped.pcap", &bytes);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let recs = ndjson(&out);
    assert_eq!(recs.len(), 1, "{}", out.stdout);
    assert_eq!(recs[0]["closer"], "client");
    assert_eq!(recs[0]["time_wait"], "client");
    assert_eq!(recs[0]["http"]["requests"], 1);
}

// server's RST acknowledges the client's FIN, so it was sent after it; captured ahead of that
// FIN, it reads as an abort (close "rst", closer "server") instead of "fin_rst" by the client.
#[test]
fn rst_captured_before_the_fin_it_acknowledges_is_fin_then_rst() {
    let req_len = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".len() as u32;
    let mut frames = conversation(40000);
    frames.truncate(5);
    frames.push(frame(false, 40000, 501, 102 + req_len, RST | ACK, b""));
    frames.push(frame(true, 40000, 101 + req_len, 501, FIN | ACK, b""));
    let mut bytes = pcap_header(65535, 1);
    for (i, f) in frames.iter().enumerate() {
        bytes.extend(record(i as u32 + 1, f));
    }
    let out = conns("rst-first.pcap", &bytes);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let recs = ndjson(&out);
    assert_eq!(recs.len(), 1, "{}", out.stdout);
    assert_eq!(recs[0]["close"], "fin_rst", "{}", out.stdout);
    assert_eq!(recs[0]["closer"], "client");
    assert_eq!(recs[0]["reset_by"], "server");
}

/// A server-closed connection carrying `req`, for the output-safety test.
fn server_closed(cport: u16, req: &[u8]) -> Vec<Vec<u8>> {
    let n = req.len() as u32;
    vec![
        frame(true, cport, 100, 0, SYN, b""),
        frame(false, cport, 500, 101, SYN | ACK, b""),
        frame(true, cport, 101, 501, ACK, b""),
        frame(true, cport, 101, 501, ACK, req),
        frame(
            false,
            cport,
            501,
            101 + n,
            FIN | ACK,
            b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n",
        ),
        frame(true, cport, 101 + n, 540, FIN | ACK, b""),
        frame(false, cport, 540, 102 + n, ACK, b""),
    ]
}

#[test]
fn packet_text_in_host_and_path_is_inert_in_every_output() {
    // Health-check-like probes every second whose path and Host carry markup, a table pipe and
    // a spreadsheet formula. (A raw ESC byte cannot reach a parsed request: httparse refuses
    // control characters in the request line and headers, and the report strips them anyway.)
    let req = b"HEAD /<script>alert(1)</script>|table|=cmd() HTTP/1.0\r\nHost: <script>x</script>\r\n\r\n";
    let mut bytes = pcap_header(65535, 1);
    for c in 0..8u16 {
        for (i, f) in server_closed(41000 + c, req).iter().enumerate() {
            bytes.extend(record(10 + u32::from(c) * 2 + (i as u32 / 4), f));
        }
    }
    let dir = tempfile::tempdir().unwrap();
    write_capture(dir.path(), "evil.pcap", &bytes);
    let text = finscope(&["analyze", "evil.pcap"], dir.path());
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert!(text.stdout.contains("health check"), "{}", text.stdout);
    assert!(!text.stdout.contains('\x1b'), "terminal escape neutralised");
    let md = finscope(
        &["analyze", "--format", "markdown", "evil.pcap"],
        dir.path(),
    );
    assert!(
        !md.stdout.contains("<script>")
            && !md.stdout.contains('\x1b')
            && !md.stdout.contains("|table|")
    );
    let html = finscope(&["analyze", "--format", "html", "evil.pcap"], dir.path());
    assert!(
        html.stdout.contains("&lt;script&gt;")
            && !html.stdout.contains("<script")
            && !html.stdout.contains('\x1b')
    );
    let csv = finscope(&["conns", "--format", "csv", "evil.pcap"], dir.path());
    let row = csv.stdout.lines().nth(1).unwrap();
    assert!(
        row.ends_with(",HEAD /<script>alert(1)</script>|table|=cmd()"),
        "{row}"
    );
    let json = finscope(&["conns", "evil.pcap"], dir.path());
    let v: Value = serde_json::from_str(json.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(
        v["http"]["first_request"]["target"],
        "/<script>alert(1)</script>|table|=cmd()"
    );
}
