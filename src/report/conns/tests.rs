//! The hand-written writers against a reference: the record shape as serde structs rendered by
//! serde_json, and the CSV row built with `format!`. Both must match byte for byte, on every
//! shipped capture and on generated records with arbitrary values.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use serde::Serialize;

use super::line::{Line, ESCAPE, LINE_BUF};
use super::*;
use crate::analysis::CloseReason;
use crate::http::{App, RequestLine};
use crate::net::Endpoint;
use crate::report::secs;
use crate::tcp::{
    Anomalies, Anomaly, CloseKind, EndReason, Party, RolesBasis, SideStats, TcpState,
};
use crate::time::{Duration, Timestamp};

#[derive(Serialize)]
struct MarkJson {
    side: &'static str,
    time_s: f64,
    frame: u64,
}

impl From<Mark> for MarkJson {
    fn from(m: Mark) -> Self {
        MarkJson {
            side: m.side.as_str(),
            time_s: secs(m.ts),
            frame: m.frame,
        }
    }
}

#[derive(Serialize)]
struct ConnJson {
    stream: u64,
    client: String,
    server: String,
    roles: &'static str,
    roles_basis: &'static str,
    first_time_s: f64,
    last_time_s: f64,
    duration_ms: f64,
    first_frame: u64,
    last_frame: u64,
    client_packets: u64,
    server_packets: u64,
    client_payload_bytes: u64,
    server_payload_bytes: u64,
    close: &'static str,
    closer: Option<&'static str>,
    reset_by: Option<&'static str>,
    time_wait: Option<&'static str>,
    time_wait_start_s: Option<f64>,
    first_fin: Option<MarkJson>,
    first_rst: Option<MarkJson>,
    client_state: &'static str,
    server_state: &'static str,
    conn_state: &'static str,
    fin_retransmits: u32,
    anomalies: Vec<&'static str>,
    end: &'static str,
    close_reason: &'static str,
    idle_before_close_ms: Option<f64>,
    close_after_request: Option<u32>,
    http: HttpJson,
}

#[derive(Serialize)]
struct RequestJson {
    method: &'static str,
    target: String,
    version: &'static str,
    has_host: bool,
}

#[derive(Serialize)]
struct HttpJson {
    app: &'static str,
    requests: u32,
    responses: u32,
    interim_responses: u32,
    methods: BTreeMap<&'static str, u32>,
    request_versions: BTreeMap<&'static str, u32>,
    response_versions: BTreeMap<&'static str, u32>,
    status_classes: BTreeMap<&'static str, u32>,
    requests_without_host: u32,
    client_connection_close: u32,
    client_keep_alive: u32,
    server_connection_close: u32,
    server_keep_alive: u32,
    keep_alive_timeout_s: Option<u32>,
    first_request: Option<RequestJson>,
    last_request_time_s: Option<f64>,
    last_response_time_s: Option<f64>,
    unanswered_requests: u32,
    gaps: u32,
    resyncs: u32,
    parse_errors: u32,
    upgraded: bool,
}

fn nonzero<const N: usize>(
    names: [&'static str; N],
    counts: &[u32; N],
) -> BTreeMap<&'static str, u32> {
    names
        .into_iter()
        .zip(counts.iter().copied())
        .filter(|(_, n)| *n > 0)
        .collect()
}

fn http_json(h: &HttpSummary) -> HttpJson {
    HttpJson {
        app: h.app.as_str(),
        requests: h.requests,
        responses: h.responses,
        interim_responses: h.interim_responses,
        methods: h.method_counts().map(|(m, n)| (m.as_str(), n)).collect(),
        request_versions: nonzero(VERSIONS, &h.request_versions),
        response_versions: nonzero(VERSIONS, &h.response_versions),
        status_classes: nonzero(CLASSES, &h.status_classes),
        requests_without_host: h.requests_without_host,
        client_connection_close: h.client_conn_close,
        client_keep_alive: h.client_keep_alive,
        server_connection_close: h.server_conn_close,
        server_keep_alive: h.server_keep_alive,
        keep_alive_timeout_s: h.keep_alive_timeout_s,
        first_request: h.first_request.as_ref().map(|q| RequestJson {
            method: q.method.as_str(),
            target: q.target.to_string(),
            version: VERSIONS[usize::from(q.version.min(1))],
            has_host: q.has_host,
        }),
        last_request_time_s: h.last_request_ts.map(secs),
        last_response_time_s: h.last_response_ts.map(secs),
        unanswered_requests: h.unanswered_requests,
        gaps: h.gaps,
        resyncs: h.resyncs,
        parse_errors: h.parse_errors,
        upgraded: h.upgraded,
    }
}

fn conn_json(r: &ConnRecord, h: &HttpSummary) -> ConnJson {
    ConnJson {
        stream: r.stream,
        client: r.client.to_string(),
        server: r.server.to_string(),
        roles: r.roles_basis.roles(),
        roles_basis: r.roles_basis.as_str(),
        first_time_s: secs(r.first_ts),
        last_time_s: secs(r.last_ts),
        duration_ms: (r.duration().as_millis_f64() * 1000.0).round() / 1000.0,
        first_frame: r.first_frame,
        last_frame: r.last_frame,
        client_packets: r.side(Side::Client).packets,
        server_packets: r.side(Side::Server).packets,
        client_payload_bytes: r.side(Side::Client).payload_bytes,
        server_payload_bytes: r.side(Side::Server).payload_bytes,
        close: r.close.as_str(),
        closer: r.closer.map(|p| p.as_str()),
        reset_by: r.reset_by.map(|p| p.as_str()),
        time_wait: r.time_wait.map(|p| p.as_str()),
        time_wait_start_s: r.time_wait_start.map(secs),
        first_fin: r.first_fin.map(MarkJson::from),
        first_rst: r.first_rst.map(MarkJson::from),
        client_state: r.final_state[0].as_str(),
        server_state: r.final_state[1].as_str(),
        conn_state: r.conn_state,
        fin_retransmits: r.fin_retransmits,
        anomalies: r.anomalies.iter().map(|a| a.as_str()).collect(),
        end: r.end.as_str(),
        close_reason: close_reason(r, h).as_str(),
        idle_before_close_ms: idle_before_close(r)
            .map(|d| (d.as_millis_f64() * 1000.0).round() / 1000.0),
        close_after_request: close_after_request(r, h),
        http: http_json(h),
    }
}

/// The reference NDJSON line.
fn reference_ndjson(r: &ConnRecord, h: &HttpSummary) -> Vec<u8> {
    let mut out = serde_json::to_vec(&conn_json(r, h)).unwrap();
    out.push(b'\n');
    out
}

/// The reference CSV cell.
fn cell(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// The reference CSV row.
fn reference_csv(r: &ConnRecord, h: &HttpSummary) -> Vec<u8> {
    let opt = |o: Option<&'static str>| o.unwrap_or("");
    let ts = |t: Option<Timestamp>| t.map(|t| t.to_string()).unwrap_or_default();
    let mark = |m: Option<Mark>| match m {
        Some(m) => format!("{},{},{}", m.side, m.ts, m.frame),
        None => ",,".to_string(),
    };
    let anomalies: Vec<&str> = r.anomalies.iter().map(|a| a.as_str()).collect();
    let idle = idle_before_close(r)
        .map(|d| format!("{:.3}", d.as_millis_f64()))
        .unwrap_or_default();
    let first = h
        .first_request
        .as_ref()
        .map(|q| cell(&format!("{} {}", q.method.as_str(), q.target)))
        .unwrap_or_default();
    let mut out = Vec::new();
    writeln!(
        out,
        "{},{},{},{},{},{},{},{:.3},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
        r.stream,
        r.client,
        r.server,
        r.roles_basis.roles(),
        r.roles_basis.as_str(),
        r.first_ts,
        r.last_ts,
        r.duration().as_millis_f64(),
        r.first_frame,
        r.last_frame,
        r.side(Side::Client).packets,
        r.side(Side::Server).packets,
        r.side(Side::Client).payload_bytes,
        r.side(Side::Server).payload_bytes,
        r.close.as_str(),
        opt(r.closer.map(|p| p.as_str())),
        opt(r.reset_by.map(|p| p.as_str())),
        opt(r.time_wait.map(|p| p.as_str())),
        ts(r.time_wait_start),
        mark(r.first_fin),
        mark(r.first_rst),
        r.final_state[0].as_str(),
        r.final_state[1].as_str(),
        r.conn_state,
        r.fin_retransmits,
        anomalies.join(";"),
        r.end.as_str(),
        close_reason(r, h).as_str(),
        idle,
        h.app.as_str(),
        h.requests,
        h.responses,
        h.request_versions[0],
        h.request_versions[1],
        h.client_conn_close,
        h.server_conn_close,
        first,
    )
    .unwrap();
    out
}

fn ndjson(r: &ConnRecord, h: &HttpSummary) -> Vec<u8> {
    let mut out = Vec::new();
    write_ndjson_record(&mut out, r, h).unwrap();
    out
}

fn csv(r: &ConnRecord, h: &HttpSummary) -> Vec<u8> {
    let mut out = Vec::new();
    write_csv_record(&mut out, r, h).unwrap();
    out
}

/// Fails with both renderings as text, which is easier to read than two byte vectors.
fn assert_same(ours: &[u8], reference: &[u8]) {
    assert_eq!(
        String::from_utf8_lossy(ours),
        String::from_utf8_lossy(reference)
    );
    assert_eq!(ours, reference);
}

#[test]
fn every_shipped_capture_renders_as_the_reference() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/captures");
    let mut paths: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            (name.ends_with(".pcap") || name.ends_with(".pcapng")) && name != "not-a-capture.pcap"
        })
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    paths.sort();
    assert!(paths.len() >= 15, "{paths:?}");
    let mut records = 0;
    for path in &paths {
        crate::pipeline::run(
            std::slice::from_ref(path),
            &crate::pipeline::Config::default(),
            &mut |r, h| {
                assert_same(&ndjson(r, h), &reference_ndjson(r, h));
                assert_same(&csv(r, h), &reference_csv(r, h));
                records += 1;
                Ok(())
            },
            &mut |_| {},
        )
        .unwrap();
    }
    assert!(records > 100, "{records}");
}

#[test]
fn a_dyn_writer_gets_the_same_bytes() {
    let (r, h) = sample();
    let mut out = Vec::new();
    write_ndjson_record(&mut out as &mut dyn Write, &r, &h).unwrap();
    write_csv_record(&mut out as &mut dyn Write, &r, &h).unwrap();
    assert_eq!(out, [ndjson(&r, &h), csv(&r, &h)].concat());
}

/// Records every write it is handed.
#[derive(Default)]
struct Writes {
    sizes: Vec<usize>,
    bytes: Vec<u8>,
    flushes: usize,
}

impl Write for Writes {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.sizes.push(bytes.len());
        self.bytes.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flushes += 1;
        Ok(())
    }
}

/// Every shipped capture's records, with their HTTP summaries.
fn shipped_records() -> Vec<(ConnRecord, HttpSummary)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/captures");
    let mut paths: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path().to_string_lossy().into_owned())
        .filter(|p| {
            (p.ends_with(".pcap") || p.ends_with(".pcapng")) && !p.ends_with("not-a-capture.pcap")
        })
        .collect();
    paths.sort();
    let mut records = Vec::new();
    crate::pipeline::run(
        &paths,
        &crate::pipeline::Config::default(),
        &mut |r, h| {
            records.push((r.clone(), h.clone()));
            Ok(())
        },
        &mut |_| {},
    )
    .unwrap();
    records
}

#[test]
fn a_record_writer_writes_the_records_in_few_large_writes() {
    let records = shipped_records();
    assert!(records.len() > 100, "{}", records.len());
    for format in [RecordFormat::Ndjson, RecordFormat::Csv] {
        let mut expected = Vec::new();
        if format == RecordFormat::Csv {
            write_csv_header(&mut expected).unwrap();
        }
        let mut writes = Writes::default();
        let mut w = RecordWriter::new(&mut writes, format).unwrap();
        // Many times over, so that the buffer fills several times.
        for _ in 0..20 {
            for (r, h) in &records {
                w.record(r, h).unwrap();
                match format {
                    RecordFormat::Ndjson => write_ndjson_record(&mut expected, r, h),
                    RecordFormat::Csv => write_csv_record(&mut expected, r, h),
                }
                .unwrap();
            }
        }
        w.finish().unwrap();
        assert_same(&writes.bytes, &expected);
        assert_eq!(writes.flushes, 1);
        // Each write but the last is a full buffer, less what did not fit of one record.
        let (last, full) = writes.sizes.split_last().unwrap();
        assert!(full.len() >= 5, "{:?}", writes.sizes);
        assert!(
            full.iter()
                .all(|&n| n > RECORDS_BUFFER - LINE_BUF && n <= RECORDS_BUFFER),
            "{:?}",
            writes.sizes
        );
        assert!(*last <= RECORDS_BUFFER);
    }
}

#[test]
fn a_record_writer_returns_the_first_error_and_then_writes_nothing() {
    let records = shipped_records();
    let mut whole = Vec::new();
    for _ in 0..10 {
        for (r, h) in &records {
            write_ndjson_record(&mut whole, r, h).unwrap();
        }
    }
    for room in [
        0,
        10,
        RECORDS_BUFFER - 1,
        RECORDS_BUFFER,
        RECORDS_BUFFER + 5000,
    ] {
        let mut out = Full {
            room,
            got: Vec::new(),
        };
        let mut w = RecordWriter::new(&mut out, RecordFormat::Ndjson).unwrap();
        let mut errors = Vec::new();
        for _ in 0..10 {
            for (r, h) in &records {
                if let Err(e) = w.record(r, h) {
                    errors.push(e.kind());
                }
            }
        }
        if let Err(e) = w.finish() {
            errors.push(e.kind());
        }
        assert_eq!(errors, [io::ErrorKind::BrokenPipe], "room {room}");
        assert_eq!(out.got, whole[..room], "room {room}");
    }
}

#[test]
fn a_dropped_record_writer_writes_what_it_holds() {
    let (r, h) = sample();
    let mut out = Vec::new();
    let mut w = RecordWriter::new(&mut out, RecordFormat::Ndjson).unwrap();
    w.record(&r, &h).unwrap();
    drop(w);
    assert_eq!(out, ndjson(&r, &h));
}

#[test]
fn csv_header_names_every_column_of_a_row() {
    let (r, mut h) = sample();
    if let Some(q) = &mut h.first_request {
        q.target = "/plain".into();
    }
    let mut header = Vec::new();
    write_csv_header(&mut header).unwrap();
    let header = String::from_utf8(header).unwrap();
    let row = String::from_utf8(csv(&r, &h)).unwrap();
    assert_eq!(header.split(',').count(), row.split(',').count());
}

/// A reference cell made by the writer.
fn written_cell(s: &str) -> String {
    written(|l| l.cell(&[s]))
}

/// What `f` writes into a fresh line.
fn written(f: impl FnOnce(&mut Line<&mut Vec<u8>>)) -> String {
    let mut out = Vec::new();
    let mut line = Line::new(&mut out);
    f(&mut line);
    line.finish().unwrap();
    drop(line);
    String::from_utf8(out).unwrap()
}

#[test]
fn csv_cells_are_quoted_and_formulas_made_inert() {
    assert_eq!(written_cell("plain"), "plain");
    assert_eq!(written_cell("=cmd()"), "'=cmd()");
    assert_eq!(written_cell("+1"), "'+1");
    assert_eq!(written_cell("-1"), "'-1");
    assert_eq!(written_cell("@x"), "'@x");
    assert_eq!(written_cell("a,b"), "\"a,b\"");
    assert_eq!(written_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
    assert_eq!(written_cell("=a,b"), "\"'=a,b\"");
    for s in ["", "x", "=a,b", "\"", "-\"\r\n", "a\"b\"c"] {
        assert_eq!(written_cell(s), cell(s), "{s:?}");
    }
    assert_eq!(written(|l| l.cell(&["", "=a", "\"b"])), cell("=a\"b"));
}

#[test]
fn methods_by_name_is_every_method_sorted_by_name() {
    let names: Vec<&str> = METHODS_BY_NAME.iter().map(|m| m.as_str()).collect();
    assert!(names.is_sorted(), "{names:?}");
    let mut all: Vec<&str> = Method::ALL.iter().map(|m| m.as_str()).collect();
    all.sort();
    assert_eq!(names, all);
    assert!(VERSIONS.is_sorted() && CLASSES.is_sorted());
}

#[test]
fn floats_and_times_at_the_edges() {
    let (mut r, h) = sample();
    let edges = [
        i64::MIN,
        i64::MIN + 1,
        -1_000_000_000_000_000_001,
        -1,
        0,
        1,
        499,
        500,
        501,
        999_500,
        1_000,
        99_999_999_999_500,
        99_999_999_999_999,
        100_000_000_000_000,
        1_795_341_600_014_423_000,
        1_795_341_600_014_423_999,
        9_007_199_254_740_993,
        i64::MAX - 1,
        i64::MAX,
    ];
    for first in edges {
        for last in edges {
            r.first_ts = Timestamp(first);
            r.last_ts = Timestamp(last);
            r.time_wait_start = Some(Timestamp(last));
            assert_same(&ndjson(&r, &h), &reference_ndjson(&r, &h));
            assert_same(&csv(&r, &h), &reference_csv(&r, &h));
        }
    }
}

fn endpoint(v6: bool, addr: u128, port: u16) -> Endpoint {
    let ip = if v6 {
        IpAddr::V6(Ipv6Addr::from(addr))
    } else {
        IpAddr::V4(Ipv4Addr::from(addr as u32))
    };
    Endpoint::new(ip, port)
}

fn sample() -> (ConnRecord, HttpSummary) {
    let ts = Timestamp::from_secs_nanos(1_795_341_600, 14_423_000);
    let mut r = ConnRecord::for_tests(
        endpoint(false, 0x7f00_0003, 40003),
        endpoint(true, 1, 80),
        ts,
    );
    r.stream = 7;
    r.last_ts = ts.plus(Duration(356_000));
    r.last_frame = 9;
    r.closer = Some(Party::Server);
    r.time_wait = Some(Party::Server);
    r.time_wait_start = Some(ts.plus(Duration(300_000)));
    r.first_fin = Some(Mark {
        side: Side::Server,
        ts: ts.plus(Duration(250_000)),
        frame: 5,
    });
    r.final_state = [TcpState::Closed, TcpState::TimeWait];
    let h = HttpSummary {
        app: App::Http,
        requests: 1,
        first_request: Some(RequestLine {
            method: Method::Get,
            target: "/a,\"b\"\u{1}\\".into(),
            version: 0,
            has_host: true,
        }),
        ..HttpSummary::default()
    };
    (r, h)
}

const STATES: [TcpState; 11] = [
    TcpState::Closed,
    TcpState::Listen,
    TcpState::SynSent,
    TcpState::SynReceived,
    TcpState::Established,
    TcpState::FinWait1,
    TcpState::FinWait2,
    TcpState::CloseWait,
    TcpState::Closing,
    TcpState::LastAck,
    TcpState::TimeWait,
];
const ZEEK: [&str; 13] = [
    "S0", "S1", "SF", "REJ", "S2", "S3", "RSTO", "RSTR", "RSTOS0", "RSTRH", "SH", "SHR", "OTH",
];
const BASES: [RolesBasis; 5] = [
    RolesBasis::Syn,
    RolesBasis::SynAck,
    RolesBasis::HttpRequest,
    RolesBasis::Port,
    RolesBasis::FirstPacket,
];
const ENDS: [EndReason; 4] = [
    EndReason::Closed,
    EndReason::Reused,
    EndReason::EndOfCapture,
    EndReason::Evicted,
];
const APPS: [App; 5] = [App::None, App::Http, App::Tls, App::Http2, App::Other];

/// Times near a real capture's (microseconds or nanoseconds) or anywhere at all.
fn any_ts() -> impl Strategy<Value = Timestamp> {
    prop_oneof![
        (0i64..4_000_000_000).prop_map(|us| Timestamp(1_700_000_000_000_000_000 + us * 1000)),
        (0i64..4_000_000_000_000).prop_map(|ns| Timestamp(1_700_000_000_000_000_000 + ns)),
        (-2_000_000_000i64..2_000_000_000).prop_map(Timestamp),
        any::<i64>().prop_map(Timestamp),
    ]
}

fn any_endpoint() -> impl Strategy<Value = Endpoint> {
    (any::<bool>(), any::<u128>(), any::<u16>(), 0u8..4).prop_map(|(v6, addr, port, shape)| {
        // Zero runs and mapped addresses exercise the IPv6 text form.
        let addr = match shape {
            0 => addr,
            1 => addr & 0xffff,
            2 => 0xffff_0000_0000 | (addr & 0xffff_ffff),
            _ => addr & !(0xffff_ffff << 32),
        };
        endpoint(v6, addr, port)
    })
}

fn any_party() -> impl Strategy<Value = Option<Party>> {
    prop::option::of(prop::sample::select(vec![
        Party::Client,
        Party::Server,
        Party::Both,
    ]))
}

fn any_mark() -> impl Strategy<Value = Option<Mark>> {
    prop::option::of(
        (any::<bool>(), any_ts(), any::<u64>()).prop_map(|(c, ts, frame)| Mark {
            side: if c { Side::Client } else { Side::Server },
            ts,
            frame,
        }),
    )
}

fn any_side() -> impl Strategy<Value = SideStats> {
    (any::<u64>(), any::<u64>(), prop::option::of(any_ts())).prop_map(|(p, b, t)| SideStats {
        packets: p,
        payload_bytes: b,
        last_payload_ts: t,
    })
}

fn any_record() -> impl Strategy<Value = ConnRecord> {
    (
        (any::<u64>(), any_endpoint(), any_endpoint(), 0..BASES.len()),
        (any_ts(), any_ts(), any::<u64>(), any::<u64>()),
        (any_side(), any_side(), 0..CloseKind::ALL.len()),
        (
            any_party(),
            any_party(),
            any_party(),
            prop::option::of(any_ts()),
        ),
        (any_mark(), any_mark()),
        (0..STATES.len(), 0..STATES.len(), 0..ZEEK.len()),
        (any::<u32>(), any::<u16>(), 0..ENDS.len()),
    )
        .prop_map(
            |(
                (stream, client, server, basis),
                (first_ts, last_ts, first_frame, last_frame),
                (cs, ss, close),
                (closer, reset_by, time_wait, time_wait_start),
                (first_fin, first_rst),
                (cst, sst, zeek),
                (fin_retransmits, anomaly_bits, end),
            )| {
                let mut anomalies = Anomalies::default();
                for (i, a) in Anomaly::ALL.into_iter().enumerate() {
                    if anomaly_bits & (1 << i) != 0 {
                        anomalies.insert(a);
                    }
                }
                ConnRecord {
                    stream,
                    client_end: 0,
                    client,
                    server,
                    roles_basis: BASES[basis],
                    first_ts,
                    last_ts,
                    first_frame,
                    last_frame,
                    sides: [cs, ss],
                    close: CloseKind::ALL[close],
                    closer,
                    reset_by,
                    time_wait,
                    time_wait_start,
                    first_fin,
                    first_rst,
                    sent_fin: [false; 2],
                    final_state: [STATES[cst], STATES[sst]],
                    unexpected: None,
                    conn_state: ZEEK[zeek],
                    fin_retransmits,
                    anomalies,
                    end: ENDS[end],
                    reused_at: None,
                }
            },
        )
}

/// Small counts mostly (so maps have zero and nonzero entries), sometimes any.
fn count() -> impl Strategy<Value = u32> {
    prop_oneof![3 => 0u32..3, 1 => any::<u32>()]
}

fn any_target() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,40}",
        "[=+@ ,\"\\-]{0,3}[a-z/]{0,5}",
        any::<String>(),
        prop::collection::vec(0u8..0x80, 0..20).prop_map(|b| String::from_utf8(b).unwrap()),
    ]
}

fn any_http() -> impl Strategy<Value = HttpSummary> {
    (
        (0..APPS.len(), count(), count(), count()),
        (
            prop::array::uniform10(count()),
            prop::array::uniform2(count()),
            prop::array::uniform2(count()),
            prop::array::uniform5(count()),
        ),
        (count(), count(), count(), count(), count()),
        (
            prop::option::of(any::<u32>()),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
        ),
        prop::option::of((
            0..Method::ALL.len(),
            any_target(),
            any::<u8>(),
            any::<bool>(),
        )),
        (prop::option::of(any_ts()), prop::option::of(any_ts())),
        (count(), count(), count(), count(), count()),
    )
        .prop_map(
            |(
                (app, requests, responses, interim_responses),
                (methods, request_versions, response_versions, status_classes),
                (without_host, ccc, cka, scc, ska),
                (keep_alive_timeout_s, wants_close, response_close, upgraded),
                first,
                (last_request_ts, last_response_ts),
                (unanswered, from_server, gaps, resyncs, parse_errors),
            )| HttpSummary {
                app: APPS[app],
                requests,
                responses,
                interim_responses,
                methods,
                request_versions,
                response_versions,
                status_classes,
                requests_without_host: without_host,
                client_conn_close: ccc,
                client_keep_alive: cka,
                server_conn_close: scc,
                server_keep_alive: ska,
                keep_alive_timeout_s,
                first_request: first.map(|(m, target, version, has_host)| RequestLine {
                    method: Method::ALL[m],
                    target: target.into(),
                    version,
                    has_host,
                }),
                last_request_ts,
                last_response_ts,
                last_request_wants_close: wants_close,
                last_response_close: response_close,
                unanswered_requests: unanswered,
                requests_from_server: from_server,
                gaps,
                resyncs,
                parse_errors,
                upgraded,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_record_renders_as_the_reference(r in any_record(), h in any_http()) {
        let text = |b: Vec<u8>| String::from_utf8(b).unwrap();
        prop_assert_eq!(text(ndjson(&r, &h)), text(reference_ndjson(&r, &h)));
        prop_assert_eq!(text(csv(&r, &h)), text(reference_csv(&r, &h)));
    }

    #[test]
    fn durations_near_rounding_boundaries(base in 0i64..200_000_000_000_000, off in 0i64..3) {
        // Around every ...500 ns tie and the 1e14 ns switch to the float formatter.
        let d = Duration(base - base % 1000 + 499 + off);
        prop_assert_eq!(written(|l| l.millis_3(d)), format!("{:.3}", d.as_millis_f64()));
    }
}

#[test]
fn close_reasons_need_no_escaping() {
    // json_name writes these unescaped; its debug assertion covers the rest as they pass.
    for reason in CloseReason::ALL {
        assert!(reason
            .as_str()
            .bytes()
            .all(|b| ESCAPE[usize::from(b)] == 0 && b != b','));
    }
}

/// serde_json's rendering of the float a time or duration field carries.
fn serde_secs(t: Timestamp) -> String {
    serde_json::to_string(&secs(t)).unwrap()
}

fn serde_millis(d: Duration) -> String {
    serde_json::to_string(&((d.as_millis_f64() * 1000.0).round() / 1000.0)).unwrap()
}

#[test]
fn fast_floats_match_serde_json_around_their_limits() {
    let s = Timestamp::NANOS_PER_SEC;
    // Whole microseconds near the ends of the fast path and where float spacing changes.
    let starts = [
        0,
        9_000,
        1_000_000 - 50_000,
        s - 50_000,
        1_795_341_600 * s,
        (1 << 32) * s - 50_000,
        (1 << 33) * s - 10_000_000,
        (1 << 33) * s - 50_000,
        // Where `secs` leaves its integer path (2^51 µs).
        (1 << 51) * 1000 - 10_000_000,
        -s,
    ];
    for start in starts {
        for i in 0..20_000 {
            let t = Timestamp(start + i * 1000);
            assert_eq!(written(|l| l.secs(t)), serde_secs(t), "{t:?}");
            let t = Timestamp(start + i * 997);
            assert_eq!(written(|l| l.secs(t)), serde_secs(t), "{t:?}");
        }
    }
    let ms = 1_000_000;
    // With where `millis` leaves its integer path (1e14 ns).
    for start in [
        0,
        1_000 * ms - 50_000,
        100_000_000_000_000 - 10_000_000,
        (1 << 43) * ms - 10_000_000,
        -ms,
    ] {
        for i in 0..20_000 {
            let d = Duration(start + i * 1000);
            assert_eq!(written(|l| l.millis(d)), serde_millis(d), "{d:?}");
            let d = Duration(start + i * 997);
            assert_eq!(written(|l| l.millis(d)), serde_millis(d), "{d:?}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]

    /// Times written one after the other in one line, most in the second of the one before
    /// (whose digits are then reused), come out as each alone would.
    #[test]
    fn times_in_one_line_match_serde_json(
        start in 0i64..1 << 61,
        steps in prop::collection::vec((0i64..3_000_000_000, any::<bool>()), 1..8),
    ) {
        let mut t = start - start % 1000;
        let mut times = Vec::new();
        for (step, whole_micros) in steps {
            t += if whole_micros { step - step % 1000 } else { step };
            times.push(Timestamp(t));
        }
        let line = written(|l| {
            for (i, &t) in times.iter().enumerate() {
                if i > 0 {
                    l.put(b",");
                }
                l.secs(t);
            }
        });
        let want: Vec<String> = times.iter().map(|&t| serde_secs(t)).collect();
        prop_assert_eq!(line, want.join(","));
    }

    #[test]
    fn fast_floats_match_serde_json(ns in any::<i64>(), shift in 0u32..64) {
        let n = ns >> shift;
        prop_assert_eq!(written(|l| l.secs(Timestamp(n))), serde_secs(Timestamp(n)));
        prop_assert_eq!(written(|l| l.millis(Duration(n))), serde_millis(Duration(n)));
    }
}

#[test]
fn lines_longer_than_the_buffer_come_out_whole() {
    let (r, mut h) = sample();
    for target in [
        "/".repeat(3 * LINE_BUF),
        "\u{1}".repeat(LINE_BUF),
        format!("{}\"{}", "x".repeat(LINE_BUF - 100), "y".repeat(LINE_BUF)),
    ] {
        if let Some(q) = &mut h.first_request {
            q.target = target.into();
        }
        assert_same(&ndjson(&r, &h), &reference_ndjson(&r, &h));
        assert_same(&csv(&r, &h), &reference_csv(&r, &h));
    }
}

/// Takes `room` bytes, then fails every write.
struct Full {
    room: usize,
    got: Vec<u8>,
}

impl Write for Full {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if self.room == 0 {
            return Err(io::Error::new(io::ErrorKind::BrokenPipe, "full"));
        }
        let n = bytes.len().min(self.room);
        self.room -= n;
        self.got.extend_from_slice(&bytes[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_write_error_is_returned_and_ends_the_record() {
    let (r, mut h) = sample();
    if let Some(q) = &mut h.first_request {
        q.target = "/".repeat(3 * LINE_BUF).into();
    }
    type Render = fn(&mut Full, &ConnRecord, &HttpSummary) -> io::Result<()>;
    let renders: [(Render, Vec<u8>); 2] = [
        (write_ndjson_record, ndjson(&r, &h)),
        (write_csv_record, csv(&r, &h)),
    ];
    for (render, whole) in renders {
        for room in [0, 10, LINE_BUF, whole.len() - 1] {
            let mut out = Full {
                room,
                got: Vec::new(),
            };
            let err = render(&mut out, &r, &h).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
            assert_eq!(out.got, whole[..room]);
        }
    }
}
