//! One record per connection: NDJSON lines and CSV rows with the same fields.

use std::io::{self, Write};

use serde::Serialize;

use crate::analysis::{close_after_request, close_reason, idle_before_close};
use crate::http::HttpSummary;
use crate::net::Side;
use crate::tcp::{ConnRecord, Mark};

use super::secs;

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

/// The JSON shape of a connection record (documented in docs/json-schema.md).
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

/// What HTTP saw on one connection.
#[derive(Serialize)]
struct HttpJson {
    app: &'static str,
    requests: u32,
    responses: u32,
    interim_responses: u32,
    methods: std::collections::BTreeMap<&'static str, u32>,
    request_versions: std::collections::BTreeMap<&'static str, u32>,
    response_versions: std::collections::BTreeMap<&'static str, u32>,
    status_classes: std::collections::BTreeMap<&'static str, u32>,
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

const VERSIONS: [&str; 2] = ["1.0", "1.1"];
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

fn nonzero<const N: usize>(
    names: [&'static str; N],
    counts: &[u32; N],
) -> std::collections::BTreeMap<&'static str, u32> {
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
            target: q.target.clone(),
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

/// Writes `r` as one JSON line.
pub fn write_ndjson_record(
    out: &mut dyn Write,
    r: &ConnRecord,
    http: &HttpSummary,
) -> io::Result<()> {
    serde_json::to_writer(&mut *out, &conn_json(r, http))?;
    out.write_all(b"\n")
}

const CSV_COLUMNS: &[&str] = &[
    "stream",
    "client",
    "server",
    "roles",
    "roles_basis",
    "first_time_s",
    "last_time_s",
    "duration_ms",
    "first_frame",
    "last_frame",
    "client_packets",
    "server_packets",
    "client_payload_bytes",
    "server_payload_bytes",
    "close",
    "closer",
    "reset_by",
    "time_wait",
    "time_wait_start_s",
    "first_fin_side",
    "first_fin_time_s",
    "first_fin_frame",
    "first_rst_side",
    "first_rst_time_s",
    "first_rst_frame",
    "client_state",
    "server_state",
    "conn_state",
    "fin_retransmits",
    "anomalies",
    "end",
    "close_reason",
    "idle_before_close_ms",
    "http_app",
    "http_requests",
    "http_responses",
    "http_requests_10",
    "http_requests_11",
    "http_client_connection_close",
    "http_server_connection_close",
    "http_first_request",
];

/// A CSV cell: quoted when it holds a comma, quote or line break; a leading `=`, `+`, `-` or
/// `@` is prefixed with `'` so spreadsheets do not run it as a formula.
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

pub fn write_csv_header(out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "{}", CSV_COLUMNS.join(","))
}

/// Writes `r` as one CSV row. Only the request target comes from packets; it is quoted and
/// made inert by `cell`. IPv6 endpoints use `[addr]:port`.
pub fn write_csv_record(out: &mut dyn Write, r: &ConnRecord, h: &HttpSummary) -> io::Result<()> {
    let opt = |o: Option<&'static str>| o.unwrap_or("");
    let ts = |t: Option<crate::time::Timestamp>| t.map(|t| t.to_string()).unwrap_or_default();
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
}

#[cfg(test)]
mod tests {
    use super::cell;

    #[test]
    fn csv_cells_are_quoted_and_formulas_made_inert() {
        assert_eq!(cell("plain"), "plain");
        assert_eq!(cell("=cmd()"), "'=cmd()");
        assert_eq!(cell("+1"), "'+1");
        assert_eq!(cell("-1"), "'-1");
        assert_eq!(cell("@x"), "'@x");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("=a,b"), "\"'=a,b\"");
    }
}
