//! One record per connection: NDJSON lines and CSV rows with the same fields.

use std::io::{self, Write};

use serde::Serialize;

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
}

fn conn_json(r: &ConnRecord) -> ConnJson {
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
    }
}

/// Writes `r` as one JSON line.
pub fn write_ndjson_record(out: &mut dyn Write, r: &ConnRecord) -> io::Result<()> {
    serde_json::to_writer(&mut *out, &conn_json(r))?;
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
];

pub fn write_csv_header(out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "{}", CSV_COLUMNS.join(","))
}

/// Writes `r` as one CSV row. No cell holds a comma, quote or newline (addresses, numbers and
/// fixed names only), so no quoting is needed; IPv6 endpoints use `[addr]:port`.
pub fn write_csv_record(out: &mut dyn Write, r: &ConnRecord) -> io::Result<()> {
    let opt = |o: Option<&'static str>| o.unwrap_or("");
    let ts = |t: Option<crate::time::Timestamp>| t.map(|t| t.to_string()).unwrap_or_default();
    let mark = |m: Option<Mark>| match m {
        Some(m) => format!("{},{},{}", m.side, m.ts, m.frame),
        None => ",,".to_string(),
    };
    let anomalies: Vec<&str> = r.anomalies.iter().map(|a| a.as_str()).collect();
    writeln!(
        out,
        "{},{},{},{},{},{},{},{:.3},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
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
    )
}
