//! One record per connection: NDJSON lines and CSV rows with the same fields.
//!
//! `conns` writes a record for every connection of a capture, so these writers run as often as
//! the tracker emits and must cost little next to tracking itself. They write the fixed record
//! shape piece by piece into a [`Line`]: field names as literal bytes, numbers by hand, no
//! intermediate structs, strings or maps. A [`RecordWriter`] keeps one 64 KiB `Line` for all
//! records, so each record is written once, straight into the buffer that goes to stdout, and
//! stdout gets one write per 64 KiB; the one-record functions use a 2 KiB `Line` of their own
//! and make one call into the caller's writer per record. The JSON is byte for byte what
//! serde_json writes for the shape in docs/json-schema.md; the tests keep that serde rendering
//! as the reference.

use std::io::{self, Write};

use crate::analysis::{close_after_request, close_reason, idle_before_close};
use crate::http::{HttpSummary, Method};
use crate::net::Side;
use crate::tcp::{ConnRecord, Mark};

mod line;
#[cfg(test)]
mod tests;

use line::Line;

const VERSIONS: [&str; 2] = ["1.0", "1.1"];
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// Methods in the order of their names, the order a JSON object with sorted keys lists them.
const METHODS_BY_NAME: [Method; 10] = [
    Method::Connect,
    Method::Delete,
    Method::Get,
    Method::Head,
    Method::Options,
    Method::Other,
    Method::Patch,
    Method::Post,
    Method::Put,
    Method::Trace,
];

/// Output buffer of a [`RecordWriter`]: records go to its writer in pieces this large.
const RECORDS_BUFFER: usize = 64 << 10;

/// Writes `conns` records, one after the other, to `out`. The records are written straight
/// into one buffer kept from record to record, which goes to `out` when it is full and at
/// [`RecordWriter::finish`], so `out` needs no buffering of its own. What is buffered is also
/// written when the writer is dropped, errors ignored, as [`std::io::BufWriter`] does.
pub struct RecordWriter<W: Write> {
    line: Line<W, RECORDS_BUFFER>,
    format: RecordFormat,
}

/// How [`RecordWriter`] writes a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordFormat {
    /// One JSON object per line.
    Ndjson,
    /// One CSV row per record, after the header row.
    Csv,
}

impl<W: Write> RecordWriter<W> {
    /// For CSV, writes the header row first.
    pub fn new(out: W, format: RecordFormat) -> io::Result<Self> {
        let mut line = Line::new(out);
        if format == RecordFormat::Csv {
            csv_header(&mut line);
            line.take_error()?;
        }
        Ok(RecordWriter { line, format })
    }

    /// Writes one record. Most often this only fills the buffer; when the buffer goes out,
    /// `out`'s error is returned. That error is returned once: after it nothing more is
    /// written, and later calls return `Ok`.
    pub fn record(&mut self, r: &ConnRecord, h: &HttpSummary) -> io::Result<()> {
        match self.format {
            RecordFormat::Ndjson => ndjson(&mut self.line, r, h),
            RecordFormat::Csv => csv(&mut self.line, r, h),
        }
        self.line.take_error()
    }

    /// Writes what is buffered and flushes `out`.
    pub fn finish(mut self) -> io::Result<()> {
        self.line.finish_and_flush()
    }
}

impl<W: Write> Drop for RecordWriter<W> {
    fn drop(&mut self) {
        let _ = self.line.finish();
    }
}

/// Writes `r` as one JSON line. For many records, [`RecordWriter`] costs less.
///
/// Generic so that the writer's own buffering inlines; `&mut dyn Write` works too.
pub fn write_ndjson_record<W: Write + ?Sized>(
    out: &mut W,
    r: &ConnRecord,
    h: &HttpSummary,
) -> io::Result<()> {
    let mut l = Line::<_>::new(out);
    ndjson(&mut l, r, h);
    l.finish()
}

fn ndjson<W: Write, const N: usize>(l: &mut Line<W, N>, r: &ConnRecord, h: &HttpSummary) {
    let client = r.side(Side::Client);
    let server = r.side(Side::Server);
    l.put(b"{\"stream\":");
    l.u64(r.stream);
    l.put(b",\"client\":\"");
    l.endpoint(r.client);
    l.put(b"\",\"server\":\"");
    l.endpoint(r.server);
    l.put(b"\",\"roles\":");
    l.name(r.roles_basis.roles());
    l.put(b",\"roles_basis\":");
    l.name(r.roles_basis.as_str());
    l.put(b",\"first_time_s\":");
    l.secs(r.first_ts);
    l.put(b",\"last_time_s\":");
    l.secs(r.last_ts);
    l.put(b",\"duration_ms\":");
    l.millis(r.duration());
    l.put(b",\"first_frame\":");
    l.u64(r.first_frame);
    l.put(b",\"last_frame\":");
    l.u64(r.last_frame);
    l.put(b",\"client_packets\":");
    l.u64(client.packets);
    l.put(b",\"server_packets\":");
    l.u64(server.packets);
    l.put(b",\"client_payload_bytes\":");
    l.u64(client.payload_bytes);
    l.put(b",\"server_payload_bytes\":");
    l.u64(server.payload_bytes);
    l.put(b",\"close\":");
    l.name(r.close.as_str());
    l.put(b",\"closer\":");
    l.opt_name(r.closer.map(|p| p.as_str()));
    l.put(b",\"reset_by\":");
    l.opt_name(r.reset_by.map(|p| p.as_str()));
    l.put(b",\"time_wait\":");
    l.opt_name(r.time_wait.map(|p| p.as_str()));
    l.put(b",\"time_wait_start_s\":");
    l.opt_secs(r.time_wait_start);
    l.put(b",\"first_fin\":");
    l.mark(r.first_fin);
    l.put(b",\"first_rst\":");
    l.mark(r.first_rst);
    l.put(b",\"client_state\":");
    l.name(r.final_state[0].as_str());
    l.put(b",\"server_state\":");
    l.name(r.final_state[1].as_str());
    l.put(b",\"conn_state\":");
    l.name(r.conn_state);
    l.put(b",\"fin_retransmits\":");
    l.u64(r.fin_retransmits.into());
    l.put(b",\"anomalies\":[");
    for (i, a) in r.anomalies.iter().enumerate() {
        if i > 0 {
            l.put(b",");
        }
        l.name(a.as_str());
    }
    l.put(b"],\"end\":");
    l.name(r.end.as_str());
    l.put(b",\"close_reason\":");
    l.name(close_reason(r, h).as_str());
    l.put(b",\"idle_before_close_ms\":");
    match idle_before_close(r) {
        Some(d) => l.millis(d),
        None => l.put(b"null"),
    }
    l.put(b",\"close_after_request\":");
    l.opt_u32(close_after_request(r, h));
    l.put(b",\"http\":");
    l.http(h);
    l.put(b"}\n");
}

impl<W: Write, const N: usize> Line<W, N> {
    /// The `http` object of a record.
    fn http(&mut self, h: &HttpSummary) {
        self.put(b"{\"app\":");
        self.name(h.app.as_str());
        self.put(b",\"requests\":");
        self.u64(h.requests.into());
        self.put(b",\"responses\":");
        self.u64(h.responses.into());
        self.put(b",\"interim_responses\":");
        self.u64(h.interim_responses.into());
        self.put(b",\"methods\":");
        self.counts(
            METHODS_BY_NAME
                .iter()
                .map(|m| (m.as_str(), h.methods[m.idx()])),
        );
        self.put(b",\"request_versions\":");
        self.counts(VERSIONS.into_iter().zip(h.request_versions));
        self.put(b",\"response_versions\":");
        self.counts(VERSIONS.into_iter().zip(h.response_versions));
        self.put(b",\"status_classes\":");
        self.counts(CLASSES.into_iter().zip(h.status_classes));
        self.put(b",\"requests_without_host\":");
        self.u64(h.requests_without_host.into());
        self.put(b",\"client_connection_close\":");
        self.u64(h.client_conn_close.into());
        self.put(b",\"client_keep_alive\":");
        self.u64(h.client_keep_alive.into());
        self.put(b",\"server_connection_close\":");
        self.u64(h.server_conn_close.into());
        self.put(b",\"server_keep_alive\":");
        self.u64(h.server_keep_alive.into());
        self.put(b",\"keep_alive_timeout_s\":");
        self.opt_u32(h.keep_alive_timeout_s);
        self.put(b",\"first_request\":");
        match &h.first_request {
            Some(q) => {
                self.put(b"{\"method\":");
                self.name(q.method.as_str());
                self.put(b",\"target\":");
                self.json_str(&q.target);
                self.put(b",\"version\":");
                self.name(VERSIONS[usize::from(q.version.min(1))]);
                self.put(if q.has_host {
                    b",\"has_host\":true}"
                } else {
                    b",\"has_host\":false}"
                });
            }
            None => self.put(b"null"),
        }
        self.put(b",\"last_request_time_s\":");
        self.opt_secs(h.last_request_ts);
        self.put(b",\"last_response_time_s\":");
        self.opt_secs(h.last_response_ts);
        self.put(b",\"unanswered_requests\":");
        self.u64(h.unanswered_requests.into());
        self.put(b",\"gaps\":");
        self.u64(h.gaps.into());
        self.put(b",\"resyncs\":");
        self.u64(h.resyncs.into());
        self.put(b",\"parse_errors\":");
        self.u64(h.parse_errors.into());
        self.put(if h.upgraded {
            b",\"upgraded\":true}"
        } else {
            b",\"upgraded\":false}"
        });
    }

    /// `{"side":..,"time_s":..,"frame":..}` or `null`.
    fn mark(&mut self, m: Option<Mark>) {
        let Some(m) = m else {
            return self.put(b"null");
        };
        self.put(b"{\"side\":");
        self.name(m.side.as_str());
        self.put(b",\"time_s\":");
        self.secs(m.ts);
        self.put(b",\"frame\":");
        self.u64(m.frame);
        self.put(b"}");
    }

    /// An object of the nonzero counts, keys in the order given (which must be sorted).
    fn counts(&mut self, counts: impl Iterator<Item = (&'static str, u32)>) {
        self.put(b"{");
        let mut first = true;
        for (name, n) in counts.filter(|&(_, n)| n > 0) {
            if !first {
                self.put(b",");
            }
            first = false;
            self.name(name);
            self.put(b":");
            self.u64(n.into());
        }
        self.put(b"}");
    }
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

pub fn write_csv_header<W: Write + ?Sized>(out: &mut W) -> io::Result<()> {
    let mut l = Line::<_>::new(out);
    csv_header(&mut l);
    l.finish()
}

fn csv_header<W: Write, const N: usize>(l: &mut Line<W, N>) {
    for (i, column) in CSV_COLUMNS.iter().enumerate() {
        if i > 0 {
            l.byte(b',');
        }
        l.put(column.as_bytes());
    }
    l.byte(b'\n');
}

/// Writes `r` as one CSV row. Only the request target comes from packets; it is quoted and
/// made inert by `Line::cell`. IPv6 endpoints use `[addr]:port`.
pub fn write_csv_record<W: Write + ?Sized>(
    out: &mut W,
    r: &ConnRecord,
    h: &HttpSummary,
) -> io::Result<()> {
    let mut l = Line::<_>::new(out);
    csv(&mut l, r, h);
    l.finish()
}

fn csv<W: Write, const N: usize>(l: &mut Line<W, N>, r: &ConnRecord, h: &HttpSummary) {
    let client = r.side(Side::Client);
    let server = r.side(Side::Server);
    l.u64(r.stream);
    l.put(b",");
    l.endpoint(r.client);
    l.put(b",");
    l.endpoint(r.server);
    l.put(b",");
    l.put(r.roles_basis.roles().as_bytes());
    l.put(b",");
    l.put(r.roles_basis.as_str().as_bytes());
    l.put(b",");
    l.timestamp(r.first_ts);
    l.put(b",");
    l.timestamp(r.last_ts);
    l.put(b",");
    l.millis_3(r.duration());
    for n in [
        r.first_frame,
        r.last_frame,
        client.packets,
        server.packets,
        client.payload_bytes,
        server.payload_bytes,
    ] {
        l.put(b",");
        l.u64(n);
    }
    l.put(b",");
    l.put(r.close.as_str().as_bytes());
    for p in [r.closer, r.reset_by, r.time_wait] {
        l.put(b",");
        if let Some(p) = p {
            l.put(p.as_str().as_bytes());
        }
    }
    l.put(b",");
    if let Some(t) = r.time_wait_start {
        l.timestamp(t);
    }
    for m in [r.first_fin, r.first_rst] {
        l.put(b",");
        match m {
            Some(m) => {
                l.put(m.side.as_str().as_bytes());
                l.put(b",");
                l.timestamp(m.ts);
                l.put(b",");
                l.u64(m.frame);
            }
            None => l.put(b",,"),
        }
    }
    for s in [
        r.final_state[0].as_str(),
        r.final_state[1].as_str(),
        r.conn_state,
    ] {
        l.put(b",");
        l.put(s.as_bytes());
    }
    l.put(b",");
    l.u64(r.fin_retransmits.into());
    l.put(b",");
    for (i, a) in r.anomalies.iter().enumerate() {
        if i > 0 {
            l.put(b";");
        }
        l.put(a.as_str().as_bytes());
    }
    l.put(b",");
    l.put(r.end.as_str().as_bytes());
    l.put(b",");
    l.put(close_reason(r, h).as_str().as_bytes());
    l.put(b",");
    if let Some(d) = idle_before_close(r) {
        l.millis_3(d);
    }
    l.put(b",");
    l.put(h.app.as_str().as_bytes());
    for n in [
        h.requests,
        h.responses,
        h.request_versions[0],
        h.request_versions[1],
        h.client_conn_close,
        h.server_conn_close,
    ] {
        l.put(b",");
        l.u64(n.into());
    }
    l.put(b",");
    if let Some(q) = &h.first_request {
        l.cell(&[q.method.as_str(), " ", &q.target]);
    }
    l.put(b"\n");
}
