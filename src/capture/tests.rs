//! Captures written byte by byte: every container variant, slow and compressed input, cut
//! and hostile files.

use std::io::{self, Read, Write};
use std::ops::ControlFlow;

use super::{CaptureError, CaptureInfo, CaptureReader, Format, Frame, FrameSink};
use crate::time::Timestamp;

// ---- writers ---------------------------------------------------------------------------

fn u16b(v: u16, be: bool) -> [u8; 2] {
    if be {
        v.to_be_bytes()
    } else {
        v.to_le_bytes()
    }
}

fn u32b(v: u32, be: bool) -> [u8; 4] {
    if be {
        v.to_be_bytes()
    } else {
        v.to_le_bytes()
    }
}

fn pcap_header(be: bool, nanos: bool, linktype: u32) -> Vec<u8> {
    let magic = if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 };
    let mut h = u32b(magic, be).to_vec();
    h.extend_from_slice(&u16b(2, be));
    h.extend_from_slice(&u16b(4, be));
    h.extend_from_slice(&[0; 8]);
    h.extend_from_slice(&u32b(262_144, be));
    h.extend_from_slice(&u32b(linktype, be));
    h
}

fn pcap_record(be: bool, sec: u32, frac: u32, data: &[u8], orig_len: u32) -> Vec<u8> {
    let mut r = u32b(sec, be).to_vec();
    r.extend_from_slice(&u32b(frac, be));
    r.extend_from_slice(&u32b(data.len() as u32, be));
    r.extend_from_slice(&u32b(orig_len, be));
    r.extend_from_slice(data);
    r
}

fn ng_block(be: bool, block_type: u32, body: &[u8]) -> Vec<u8> {
    let mut body = body.to_vec();
    while body.len() % 4 != 0 {
        body.push(0);
    }
    let len = 12 + body.len() as u32;
    let mut b = u32b(block_type, be).to_vec();
    b.extend_from_slice(&u32b(len, be));
    b.extend_from_slice(&body);
    b.extend_from_slice(&u32b(len, be));
    b
}

fn shb(be: bool) -> Vec<u8> {
    let mut body = u32b(0x1a2b_3c4d, be).to_vec();
    body.extend_from_slice(&u16b(1, be));
    body.extend_from_slice(&u16b(0, be));
    body.extend_from_slice(&[0xff; 8]);
    ng_block(be, 0x0a0d_0d0a, &body)
}

fn idb(be: bool, linktype: u16, snaplen: u32, options: &[(u16, &[u8])]) -> Vec<u8> {
    let mut body = u16b(linktype, be).to_vec();
    body.extend_from_slice(&[0, 0]);
    body.extend_from_slice(&u32b(snaplen, be));
    if !options.is_empty() {
        for (code, value) in options {
            body.extend_from_slice(&u16b(*code, be));
            body.extend_from_slice(&u16b(value.len() as u16, be));
            body.extend_from_slice(value);
            while body.len() % 4 != 0 {
                body.push(0);
            }
        }
        body.extend_from_slice(&[0; 4]);
    }
    ng_block(be, 1, &body)
}

fn epb(be: bool, if_id: u32, units: u64, data: &[u8], orig_len: u32) -> Vec<u8> {
    let mut body = u32b(if_id, be).to_vec();
    body.extend_from_slice(&u32b((units >> 32) as u32, be));
    body.extend_from_slice(&u32b(units as u32, be));
    body.extend_from_slice(&u32b(data.len() as u32, be));
    body.extend_from_slice(&u32b(orig_len, be));
    body.extend_from_slice(data);
    ng_block(be, 6, &body)
}

fn spb(be: bool, orig_len: u32, data: &[u8]) -> Vec<u8> {
    let mut body = u32b(orig_len, be).to_vec();
    body.extend_from_slice(data);
    ng_block(be, 3, &body)
}

fn gzip(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for part in parts {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(part).unwrap();
        out.extend_from_slice(&enc.finish().unwrap());
    }
    out
}

// ---- readers and sinks -----------------------------------------------------------------

/// Hands out 1, 2, 3, 1, 2, 3... bytes per `read()`, like a slow pipe.
struct Trickle {
    data: Vec<u8>,
    pos: usize,
    turn: usize,
}

impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.turn += 1;
        let n = (self.turn % 3 + 1)
            .min(buf.len())
            .min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    number: u64,
    ts: i64,
    linktype: u16,
    data: Vec<u8>,
    orig_len: u32,
}

#[derive(Default)]
struct Collect {
    frames: Vec<Seen>,
    progress: Vec<u64>,
    stop_after: Option<usize>,
}

impl FrameSink for Collect {
    fn frame(&mut self, f: &Frame<'_>) -> ControlFlow<()> {
        self.frames.push(Seen {
            number: f.number,
            ts: f.ts.nanos(),
            linktype: f.linktype,
            data: f.data.to_vec(),
            orig_len: f.orig_len,
        });
        match self.stop_after {
            Some(n) if self.frames.len() >= n => ControlFlow::Break(()),
            _ => ControlFlow::Continue(()),
        }
    }

    fn progress(&mut self, stream_bytes: u64) {
        self.progress.push(stream_bytes);
    }
}

fn read_all(bytes: Vec<u8>) -> (Vec<Seen>, CaptureInfo) {
    let mut r = CaptureReader::from_read("test", io::Cursor::new(bytes)).unwrap();
    let mut sink = Collect::default();
    r.run(&mut sink).unwrap();
    (sink.frames, r.info().clone())
}

fn read_trickled(bytes: Vec<u8>) -> (Vec<Seen>, CaptureInfo) {
    let t = Trickle {
        data: bytes,
        pos: 0,
        turn: 0,
    };
    let mut r = CaptureReader::from_read("test", t).unwrap();
    let mut sink = Collect::default();
    r.run(&mut sink).unwrap();
    (sink.frames, r.info().clone())
}

fn open_err(bytes: Vec<u8>) -> CaptureError {
    match CaptureReader::from_read("bad", io::Cursor::new(bytes)) {
        Ok(_) => panic!("opened"),
        Err(e) => e,
    }
}

fn run_err(bytes: Vec<u8>) -> CaptureError {
    let mut r = CaptureReader::from_read("bad", io::Cursor::new(bytes)).unwrap();
    r.run(&mut Collect::default()).unwrap_err()
}

fn not_a_capture_detail(e: CaptureError) -> String {
    match e {
        CaptureError::NotACapture { path, detail } => {
            assert_eq!(path, "bad");
            detail
        }
        other => panic!("expected NotACapture, got {other:?}"),
    }
}

// ---- fixtures --------------------------------------------------------------------------

const SEC: u32 = 1_700_000_000;

fn pcap_file(be: bool, nanos: bool) -> Vec<u8> {
    let mut f = pcap_header(be, nanos, 1);
    f.extend(pcap_record(be, SEC, 123_456, b"first packet", 60));
    f.extend(pcap_record(be, SEC + 1, 999_999, b"second", 6));
    f.extend(pcap_record(be, SEC + 2, 0, b"", 0));
    f
}

/// Section 1 (little-endian): interface 0 Ethernet at ns resolution, interface 1 raw IP at
/// 2^-6 s with a -10 s offset, an unknown block between packets. Section 2 (big-endian):
/// one SLL interface with default µs resolution, an SPB, and an EPB naming interface 1,
/// which this section does not have.
fn pcapng_file() -> Vec<u8> {
    let mut f = shb(false);
    f.extend(idb(false, 1, 0, &[(9, &[9])]));
    f.extend(idb(
        false,
        101,
        0,
        &[(9, &[0x86]), (14, &(-10i64).to_le_bytes())],
    ));
    f.extend(epb(false, 0, 1_700_000_000_000_000_123, b"eth", 3));
    f.extend(ng_block(false, 0x0000_0BAD, b"unknown block body"));
    f.extend(epb(false, 1, 64 * 1_700_000_000 + 32, b"raw ip!", 1500));
    f.extend(shb(true));
    f.extend(idb(true, 113, 4, &[(14, &1i64.to_be_bytes())]));
    f.extend(epb(true, 0, 1_700_000_005_000_001, b"sll frame", 9));
    f.extend(spb(true, 9, b"simple pk"));
    f.extend(epb(true, 1, 0, b"orphan", 6));
    f
}

fn pcapng_expected() -> Vec<Seen> {
    let s = |number, ts, linktype, data: &[u8], orig_len| Seen {
        number,
        ts,
        linktype,
        data: data.to_vec(),
        orig_len,
    };
    vec![
        s(1, 1_700_000_000_000_000_123, 1, b"eth", 3),
        s(2, 1_699_999_990_500_000_000, 101, b"raw ip!", 1500),
        s(3, 1_700_000_006_000_001_000, 113, b"sll frame", 9),
        // SPB: no timestamp of its own, snaplen 4 of interface 0
        s(4, 1_700_000_006_000_001_000, 113, b"simp", 9),
    ]
}

// ---- tests -----------------------------------------------------------------------------

#[test]
fn pcap_both_byte_orders_and_resolutions() {
    for be in [false, true] {
        for nanos in [false, true] {
            let (frames, info) = read_all(pcap_file(be, nanos));
            let unit = if nanos { 1 } else { 1000 };
            let ts: Vec<i64> = frames.iter().map(|f| f.ts).collect();
            let base = i64::from(SEC) * 1_000_000_000;
            assert_eq!(
                ts,
                [
                    base + 123_456 * unit,
                    base + 1_000_000_000 + 999_999 * unit,
                    base + 2_000_000_000
                ]
            );
            assert_eq!(frames[0].data, b"first packet");
            assert_eq!(frames[0].orig_len, 60);
            assert_eq!(
                frames.iter().map(|f| f.number).collect::<Vec<_>>(),
                [1, 2, 3]
            );
            assert_eq!(
                info.format,
                Some(Format::Pcap {
                    nanosecond: nanos,
                    big_endian: be
                })
            );
            assert_eq!(info.packets, 3);
            assert_eq!(info.packet_bytes, 18);
            assert_eq!(info.stream_bytes, pcap_file(be, nanos).len() as u64);
            assert_eq!(info.first_ts, Some(Timestamp(ts[0])));
            assert_eq!(info.last_ts, Some(Timestamp(ts[2])));
            assert_eq!(info.truncated_at, None);
            assert!(!info.gzip);
            assert_eq!(info.linktypes.iter().copied().collect::<Vec<_>>(), [1]);
        }
    }
}

#[test]
fn pcap_linktype_fcs_bits_are_masked() {
    let mut f = pcap_header(false, false, 0x1000_0000 | 113);
    f.extend(pcap_record(false, 1, 2, b"x", 1));
    let (frames, _) = read_all(f);
    assert_eq!(frames[0].linktype, 113);
}

#[test]
fn pcapng_sections_interfaces_and_resolutions() {
    let (frames, info) = read_all(pcapng_file());
    assert_eq!(frames, pcapng_expected());
    assert_eq!(info.format, Some(Format::PcapNg));
    assert_eq!(info.packets, 4);
    assert_eq!(info.bad_records, 1);
    assert_eq!(
        info.linktypes.iter().copied().collect::<Vec<_>>(),
        [1, 101, 113]
    );
    assert_eq!(info.stream_bytes, pcapng_file().len() as u64);
    assert_eq!(info.truncated_at, None);
}

#[test]
fn gzip_with_two_members() {
    let plain = pcapng_file();
    let (a, b) = plain.split_at(100);
    let (frames, info) = read_all(gzip(&[a, b]));
    assert_eq!(frames, pcapng_expected());
    assert!(info.gzip);
    assert_eq!(info.stream_bytes, plain.len() as u64);

    let plain = pcap_file(true, true);
    let (gz_frames, info) = read_all(gzip(&[&plain[..10], &plain[10..]]));
    assert_eq!(gz_frames, read_all(plain).0);
    assert!(info.gzip);
}

#[test]
fn gzip_cut_mid_member_keeps_earlier_packets() {
    let plain = pcap_file(false, false);
    let gz = gzip(&[&plain]);
    let (frames, info) = read_all(gz[..gz.len() - 12].to_vec());
    assert!(frames.len() <= 3);
    assert!(info.truncated_at.is_some());
}

#[test]
fn slow_reader_gives_identical_results() {
    for bytes in [
        pcap_file(false, false),
        pcap_file(true, true),
        pcapng_file(),
        gzip(&[&pcapng_file()[..50], &pcapng_file()[50..]]),
    ] {
        let (fast, fast_info) = read_all(bytes.clone());
        let (slow, slow_info) = read_trickled(bytes);
        assert_eq!(fast, slow);
        assert_eq!(fast_info.packets, slow_info.packets);
        assert_eq!(fast_info.stream_bytes, slow_info.stream_bytes);
        assert_eq!(fast_info.truncated_at, slow_info.truncated_at);
    }
}

#[test]
fn truncated_last_record_is_reported_not_an_error() {
    let full = pcap_file(false, false);
    let last = full.len() as u64 - 16; // the last record is a bare 16-byte header
    let (frames, info) = read_all(full[..full.len() - 3].to_vec());
    assert_eq!(frames.len(), 2);
    assert_eq!(info.packets, 2);
    assert_eq!(info.truncated_at, Some(last));

    let (frames, info) = read_trickled(full[..full.len() - 19].to_vec());
    assert_eq!(frames.len(), 1);
    assert_eq!(info.truncated_at, Some(last - 22));

    let ng = pcapng_file();
    let last = epb(true, 1, 0, b"orphan", 6).len();
    let spb_len = spb(true, 9, b"simple pk").len();
    let (frames, info) = read_all(ng[..ng.len() - last - 5].to_vec());
    assert_eq!(frames.len(), 3);
    assert_eq!(info.truncated_at, Some((ng.len() - last - spb_len) as u64));
}

#[test]
fn not_a_capture() {
    assert_eq!(not_a_capture_detail(open_err(Vec::new())), "empty file");
    assert_eq!(
        not_a_capture_detail(open_err(b"<html><body>hello</body></html>\n".to_vec())),
        "unknown magic 0x3c68746d"
    );
    assert_eq!(
        not_a_capture_detail(open_err(pcap_header(false, false, 1)[..10].to_vec())),
        "file ends inside the 24-byte pcap header"
    );
    assert_eq!(
        not_a_capture_detail(open_err(vec![0xd4, 0xc3])),
        "file ends inside the 4-byte magic number"
    );
    assert_eq!(
        not_a_capture_detail(open_err(shb(false)[..20].to_vec())),
        "file ends inside the pcapng section header block"
    );
    let text = gzip(&[b"just some text, gzipped"]);
    assert_eq!(
        not_a_capture_detail(open_err(text)),
        "unknown magic 0x6a757374"
    );
}

#[test]
fn header_only_capture_has_no_packets() {
    let (frames, info) = read_all(pcap_header(false, false, 1));
    assert!(frames.is_empty());
    assert_eq!(info.truncated_at, None);
    assert_eq!(info.stream_bytes, 24);
    let (frames, info) = read_all(shb(false));
    assert!(frames.is_empty());
    assert_eq!(info.truncated_at, None);
}

#[test]
fn pcap_parser_block_length_underflow_is_malformed() {
    let hex = "0a0d0d0a1c0000004d3c2b1a01000000ffffffffffffffff1c00000001000080080000000065fd4000000000000000000000500200000100064254";
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    assert_eq!(bytes.len(), 59);
    match run_err(bytes) {
        CaptureError::Malformed { offset, detail, .. } => {
            assert_eq!(offset, 28);
            assert!(detail.contains("block length 8"), "{detail}");
        }
        other => panic!("expected Malformed, got {other:?}"),
    }
}

#[test]
fn unaligned_block_length_is_malformed() {
    let mut f = shb(false);
    let mut b = idb(false, 1, 0, &[]);
    b[4] = 22;
    f.extend(b);
    assert!(matches!(
        run_err(f),
        CaptureError::Malformed { offset: 28, .. }
    ));
}

#[test]
fn epb_length_beyond_its_block_is_malformed() {
    let mut f = shb(false);
    f.extend(idb(false, 1, 0, &[]));
    let mut e = epb(false, 0, 0, b"abcd", 4);
    e[20..24].copy_from_slice(&1000u32.to_le_bytes());
    f.extend(e);
    assert!(matches!(run_err(f), CaptureError::Malformed { .. }));
}

#[test]
fn huge_legacy_record_is_malformed() {
    let mut f = pcap_header(false, false, 1);
    let mut r = pcap_record(false, 1, 0, b"abcd", 4);
    r[8..12].copy_from_slice(&0x7000_0000u32.to_le_bytes());
    f.extend(r);
    match run_err(f) {
        CaptureError::Malformed { offset, .. } => assert_eq!(offset, 24),
        other => panic!("expected Malformed, got {other:?}"),
    }
}

#[test]
fn records_larger_than_a_small_buffer_grow_it() {
    let mut f = pcap_header(false, false, 1);
    for i in 0..50u32 {
        f.extend(pcap_record(
            false,
            i,
            0,
            &vec![i as u8; 100 + 37 * i as usize],
            9000,
        ));
    }
    let input = Trickle {
        data: f.clone(),
        pos: 0,
        turn: 0,
    };
    let mut r = CaptureReader::with_capacity("t", Box::new(input), 64).unwrap();
    let mut sink = Collect::default();
    r.run(&mut sink).unwrap();
    assert_eq!(sink.frames, read_all(f).0);
    assert_eq!(sink.frames.len(), 50);
}

#[test]
fn records_larger_than_the_initial_buffer_grow_it() {
    let big = vec![0xAB; 3 << 20];
    let mut f = pcap_header(false, false, 1);
    f.extend(pcap_record(false, 1, 0, b"small", 5));
    f.extend(pcap_record(false, 2, 0, &big, big.len() as u32));
    f.extend(pcap_record(false, 3, 0, b"after", 5));
    let (frames, info) = read_all(f);
    assert_eq!(frames.len(), 3);
    assert_eq!(frames[1].data.len(), big.len());
    assert_eq!(frames[2].data, b"after");
    assert_eq!(info.truncated_at, None);
}

#[test]
fn first_timestamp_does_not_consume() {
    for bytes in [pcap_file(false, true), pcapng_file()] {
        let (expected, _) = read_all(bytes.clone());
        let mut r = CaptureReader::from_read("t", io::Cursor::new(bytes)).unwrap();
        assert_eq!(
            r.first_timestamp().unwrap(),
            Some(Timestamp(expected[0].ts))
        );
        assert_eq!(
            r.first_timestamp().unwrap(),
            Some(Timestamp(expected[0].ts))
        );
        let mut sink = Collect::default();
        r.run(&mut sink).unwrap();
        assert_eq!(sink.frames, expected);
    }
    let mut r = CaptureReader::from_read("t", io::Cursor::new(shb(true))).unwrap();
    assert_eq!(r.first_timestamp().unwrap(), None);
}

#[test]
fn break_stops_reading() {
    let mut r = CaptureReader::from_read("t", io::Cursor::new(pcapng_file())).unwrap();
    let mut sink = Collect {
        stop_after: Some(2),
        ..Collect::default()
    };
    r.run(&mut sink).unwrap();
    assert_eq!(sink.frames.len(), 2);
    assert_eq!(r.info().packets, 2);
}

#[test]
fn progress_is_reported() {
    let mut r = CaptureReader::from_read("t", io::Cursor::new(pcap_file(false, false))).unwrap();
    let mut sink = Collect::default();
    r.run(&mut sink).unwrap();
    assert!(!sink.progress.is_empty());
}

#[test]
fn open_reads_files_and_reports_missing_ones() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.pcapng.whatever");
    std::fs::write(&path, gzip(&[&pcapng_file()])).unwrap();
    let path = path.to_str().unwrap();
    let mut r = CaptureReader::open(path).unwrap();
    let mut sink = Collect::default();
    r.run(&mut sink).unwrap();
    assert_eq!(sink.frames, pcapng_expected());
    assert_eq!(r.info().path, path);

    let missing = dir.path().join("missing.pcap");
    let err = CaptureReader::open(missing.to_str().unwrap())
        .err()
        .unwrap();
    assert!(matches!(err, CaptureError::Io { .. }), "{err:?}");
}

#[test]
fn corrupted_captures_never_panic() {
    for base in [
        pcap_file(false, false),
        pcap_file(true, true),
        pcapng_file(),
    ] {
        for i in 0..base.len() {
            for v in [0x00, 0x01, 0x07, 0x0c, 0x80, 0xff] {
                let mut bytes = base.clone();
                bytes[i] = v;
                for cut in [bytes.len(), i + 1] {
                    let input = io::Cursor::new(bytes[..cut].to_vec());
                    if let Ok(mut r) = CaptureReader::with_capacity("f", Box::new(input), 256) {
                        let _ = r.first_timestamp();
                        let _ = r.run(&mut Collect::default());
                    }
                }
            }
        }
    }
}

#[test]
fn modified_pcap_records_carry_eight_more_header_bytes() {
    // Kuznetzov's format: little-endian fields, and an interface index, protocol and packet
    // type after the usual 16 bytes of record header.
    let mut f = pcap_header(false, false, 1);
    f[..4].copy_from_slice(&[0x34, 0xcd, 0xb2, 0xa1]);
    for (sec, data) in [(SEC, &b"first packet"[..]), (SEC + 1, b"second")] {
        let mut r = pcap_record(false, sec, 5, data, 60);
        r.splice(16..16, [0xEE; 8]);
        f.extend(r);
    }
    let (frames, info) = read_all(f.clone());
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[0].data, b"first packet");
    assert_eq!(frames[1].data, b"second");
    assert_eq!(frames[1].ts, i64::from(SEC + 1) * 1_000_000_000 + 5_000);
    assert_eq!(info.stream_bytes, f.len() as u64);
    assert_eq!(read_trickled(f).0, frames);
}

#[test]
fn records_straddling_the_buffer_end_are_whole() {
    let mut f = pcap_header(true, true, 1);
    for i in 0..40u32 {
        f.extend(pcap_record(
            true,
            i,
            i,
            &vec![i as u8; 1 + 7 * i as usize],
            300,
        ));
    }
    let expected = read_all(f.clone()).0;
    assert_eq!(expected.len(), 40);
    for capacity in [16, 28, 40, 41, 64, 100, 333] {
        for cut in [f.len(), f.len() - 3] {
            let input = io::Cursor::new(f[..cut].to_vec());
            let mut r = CaptureReader::with_capacity("t", Box::new(input), capacity).unwrap();
            let mut sink = Collect::default();
            r.run(&mut sink).unwrap();
            let whole = if cut == f.len() { 40 } else { 39 };
            assert_eq!(
                sink.frames,
                expected[..whole],
                "capacity {capacity}, cut {cut}"
            );
            assert_eq!(r.info().truncated_at.is_some(), cut != f.len());
        }
    }
}

/// Read ahead, legacy records are cut from the blocks in place: a record cut by a block's
/// start is put together in the room in front of the block, or in a buffer of its own when it
/// is longer. The frames, the stream offsets and the truncation are those of a plain read,
/// whatever the block size, room and number of threads, and with direct I/O (blocks read at
/// aligned offsets, the global header left out of the first).
#[test]
fn records_cut_from_read_ahead_blocks_are_whole() {
    let dir = tempfile::tempdir().unwrap();
    let mut modified = pcap_header(false, false, 1);
    modified[..4].copy_from_slice(&[0x34, 0xcd, 0xb2, 0xa1]);
    for (be, mut f) in [
        (true, pcap_header(true, true, 1)),
        (false, pcap_header(false, false, 113)),
        (false, modified),
    ] {
        let extra = if f[..4] == [0x34, 0xcd, 0xb2, 0xa1] {
            8
        } else {
            0
        };
        for i in 0..40u32 {
            let mut r = pcap_record(be, i, i, &vec![i as u8; 1 + 7 * i as usize], 300);
            r.splice(16..16, std::iter::repeat_n(0xEE, extra));
            f.extend(r);
        }
        for cut in [f.len(), f.len() - 3, 24, 30] {
            let path = dir.path().join("blocks.pcap");
            std::fs::write(&path, &f[..cut]).unwrap();
            let path = path.to_str().unwrap();
            let mut plain = CaptureReader::open(path).unwrap();
            let mut expected = Collect::default();
            plain.run(&mut expected).unwrap();
            for (threads, block, headroom, direct) in [
                (1, 1, 0, false),
                (2, 7, 16, false),
                (3, 16, 300, false),
                (2, 64, 40, false),
                (1, 300, 8, false),
                (2, 4096, 300, false),
                (1, 4096, 0, true),
                (2, 4096, 300, true),
                (3, 8192, 16, true),
            ] {
                let mut r =
                    CaptureReader::read_ahead_with(path, threads, block, headroom, direct).unwrap();
                // Direct I/O is used, or the file system refused it and said why.
                assert_eq!(
                    r.info().direct_io || r.info().direct_io_refused.is_some(),
                    direct
                );
                assert_eq!(r.first_timestamp().unwrap(), plain.info().first_ts);
                let mut sink = Collect::default();
                r.run(&mut sink).unwrap();
                let what = format!(
                    "cut {cut}, {threads} threads, block {block}, room {headroom}, direct {direct}"
                );
                assert_eq!(sink.frames, expected.frames, "{what}");
                assert_eq!(r.info().stream_bytes, plain.info().stream_bytes, "{what}");
                assert_eq!(r.info().truncated_at, plain.info().truncated_at, "{what}");
                assert_eq!(r.info().packets, plain.info().packets, "{what}");
                assert_eq!(r.info().format, plain.info().format, "{what}");
                assert_eq!(r.info().linktypes, plain.info().linktypes, "{what}");
            }
        }
    }
}
