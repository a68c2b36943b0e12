//! The content of the Markdown and HTML reports as plain text: the title, the totals, the
//! tables and the data-quality notes, built once from a [`Summary`] so that both formats show
//! the same figures. Nothing here is escaped: each renderer escapes every string it writes.

use crate::analysis::Summary;

use super::linktype_name;

/// Rows shown per table; the JSON report has them all.
pub(crate) const TOP: usize = 20;
/// Endpoints given a verdict.
pub(crate) const VERDICTS: usize = 5;
/// Capture paths named in the title before "and N more".
const TITLE_PATHS: usize = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Align {
    Left,
    Right,
}

/// One table of the report.
pub(crate) struct Table {
    /// Anchor for the table of contents.
    pub id: &'static str,
    pub title: &'static str,
    /// A sentence shown above the rows.
    pub note: Option<String>,
    pub columns: Vec<(&'static str, Align)>,
    pub rows: Vec<Vec<String>>,
    /// Rows left out, with what they are ("endpoints").
    pub more: Option<(usize, &'static str)>,
}

impl Table {
    fn new(id: &'static str, title: &'static str, columns: &[(&'static str, Align)]) -> Table {
        Table {
            id,
            title,
            note: None,
            columns: columns.to_vec(),
            rows: Vec::new(),
            more: None,
        }
    }

    /// Keeps the first [`TOP`] of `total` rows and notes the rest.
    fn cut(mut self, total: usize, what: &'static str) -> Table {
        self.rows.truncate(TOP);
        if total > TOP {
            self.more = Some((total - TOP, what));
        }
        self
    }

    /// "N more endpoints (the JSON report lists all)".
    pub fn more_note(&self) -> Option<String> {
        self.more
            .map(|(n, what)| format!("{n} more {what} (the JSON report lists all)"))
    }
}

use Align::{Left as L, Right as R};

pub(crate) fn pct(part: u64, whole: u64) -> String {
    if whole == 0 {
        "-".into()
    } else {
        format!("{:.0}%", part as f64 * 100.0 / whole as f64)
    }
}

pub(crate) fn share(x: Option<f64>) -> String {
    x.map(|x| format!("{:.0}%", x * 100.0))
        .unwrap_or_else(|| "-".into())
}

/// The capture paths as given, for the title.
pub(crate) fn capture_names(s: &Summary) -> String {
    let paths: Vec<&str> = s
        .captures
        .iter()
        .take(TITLE_PATHS)
        .map(|c| c.info.path.as_str())
        .collect();
    let mut names = paths.join(", ");
    if s.captures.len() > TITLE_PATHS {
        names.push_str(&format!(" and {} more", s.captures.len() - TITLE_PATHS));
    }
    if names.is_empty() {
        names.push_str("no capture");
    }
    names
}

/// The totals, one sentence each.
pub(crate) fn totals(s: &Summary) -> Vec<String> {
    let t = &s.totals;
    let c = &t.counts;
    let dur = match (t.first_ts, t.last_ts) {
        (Some(a), Some(b)) => format!(" over {:.3} s", b.since(a).as_secs_f64()),
        _ => String::new(),
    };
    vec![
        format!(
            "{} capture{}, {} packets, {} TCP connections{dur}.",
            s.captures.len(),
            if s.captures.len() == 1 { "" } else { "s" },
            s.data_quality.packets,
            c.connections,
        ),
        format!(
            "Closed first by the client {}, by the server {}, simultaneously {}; TIME-WAIT left on clients {}, on servers {}.",
            c.closed_by_client,
            c.closed_by_server,
            c.closed_simultaneously,
            c.time_wait_on_client,
            c.time_wait_on_server,
        ),
    ]
}

/// Every table, in report order; tables without rows are left out.
pub(crate) fn tables(s: &Summary) -> Vec<Table> {
    [
        closes(s),
        http(s),
        health_checks(s),
        hosts(s),
        time_wait(s),
        port_pressure(s),
        captures(s),
    ]
    .into_iter()
    .filter(|t| !t.rows.is_empty())
    .collect()
}

fn closes(s: &Summary) -> Table {
    let mut t = Table::new(
        "closes",
        "Who closes first, by server endpoint",
        &[
            ("endpoint", L),
            ("connections", R),
            ("closed by client", R),
            ("closed by server", R),
            ("simultaneous", R),
            ("RST client / server", R),
            ("half-closed", R),
            ("open", R),
            ("TIME-WAIT client / server", R),
        ],
    );
    for e in s.endpoints.iter().take(TOP) {
        let c = &e.counts;
        t.rows.push(vec![
            e.endpoint.to_string(),
            c.connections.to_string(),
            c.closed_by_client.to_string(),
            c.closed_by_server.to_string(),
            c.closed_simultaneously.to_string(),
            format!("{} / {}", c.resets_by_client, c.resets_by_server),
            c.half_closed.to_string(),
            c.still_open.to_string(),
            format!("{} / {}", c.time_wait_on_client, c.time_wait_on_server),
        ]);
    }
    t.cut(s.endpoints.len(), "endpoints")
}

fn http(s: &Summary) -> Table {
    let mut t = Table::new(
        "http",
        "HTTP by server endpoint",
        &[
            ("endpoint", L),
            ("requests", R),
            ("per connection mean / median / max", R),
            ("one request", R),
            ("HTTP/1.0", R),
            ("no Host", R),
            ("Connection: close client / server", R),
            ("idle peak", R),
            ("health checks", R),
        ],
    );
    let rows: Vec<_> = s.endpoints.iter().filter(|e| e.http.requests > 0).collect();
    for e in rows.iter().take(TOP) {
        let h = &e.http;
        let checks: u64 = h.health_checks().iter().map(|k| k.connections).sum();
        t.rows.push(vec![
            e.endpoint.to_string(),
            h.requests.to_string(),
            format!(
                "{:.1} / {} / {}",
                h.mean_requests_per_connection().unwrap_or(0.0),
                h.median_requests_per_connection().unwrap_or(0),
                h.max_requests_per_connection().unwrap_or(0)
            ),
            share(h.one_request_share()),
            pct(h.request_versions[0], h.requests),
            pct(h.requests_without_host, h.requests),
            format!(
                "{} / {}",
                h.connection_close_by_client, h.connection_close_by_server
            ),
            h.idle_peak_s()
                .map(|p| format!("{p}-{} s", p + 1))
                .unwrap_or_else(|| "-".into()),
            if checks == 0 {
                "-".into()
            } else {
                format!("{checks} connections")
            },
        ]);
    }
    t.note = Some(
        "Requests per connection count connections that carried at least one request; \
         \"idle peak\" is the idle time most closes came after (a keep-alive timeout)."
            .into(),
    );
    t.cut(rows.len(), "endpoints")
}

fn health_checks(s: &Summary) -> Table {
    let mut t = Table::new(
        "health-checks",
        "Health checks",
        &[
            ("endpoint", L),
            ("probe", L),
            ("sources", L),
            ("connections", R),
            ("share of closes", R),
            ("HTTP/1.0", R),
            ("no Host", R),
            ("closed by server", R),
        ],
    );
    let mut total = 0;
    for e in &s.endpoints {
        let c = &e.counts;
        let closed = c.closed_by_client + c.closed_by_server + c.closed_simultaneously;
        for k in e.http.health_checks() {
            total += 1;
            if t.rows.len() >= TOP {
                continue;
            }
            let sources: Vec<String> = k
                .sources
                .iter()
                .map(|s| format!("{} every {:.2} s", s.host, s.period_s))
                .collect();
            t.rows.push(vec![
                e.endpoint.to_string(),
                format!("{} {}", k.method.as_str(), k.target),
                sources.join(", "),
                k.connections.to_string(),
                pct(k.connections, closed),
                pct(k.http10, k.connections),
                pct(k.without_host, k.connections),
                pct(k.closed_by_server, k.connections),
            ]);
        }
    }
    t.note = Some(
        "Steady series of one-request connections from one source with the same method and target."
            .into(),
    );
    t.cut(total, "health checks")
}

fn hosts(s: &Summary) -> Table {
    let mut t = Table::new(
        "hosts",
        "Per host",
        &[
            ("host", L),
            ("as client", R),
            ("as server", R),
            ("active closes", R),
            ("passive closes", R),
            ("resets sent", R),
            ("TIME-WAIT entries", R),
        ],
    );
    for h in s.hosts.iter().take(TOP) {
        t.rows.push(vec![
            h.host
                .map(|ip| ip.to_string())
                .unwrap_or_else(|| "-".into()),
            h.connections_as_client.to_string(),
            h.connections_as_server.to_string(),
            h.active_closes.to_string(),
            h.passive_closes.to_string(),
            h.resets_sent.to_string(),
            h.time_wait.to_string(),
        ]);
    }
    t.cut(s.hosts.len(), "hosts")
}

fn time_wait(s: &Summary) -> Table {
    let mut t = Table::new(
        "time-wait",
        "TIME-WAIT over time",
        &[
            ("host", L),
            ("entries", R),
            ("peak", R),
            ("peak at", R),
            ("at end", R),
            ("active closes/s", R),
            ("steady state", R),
        ],
    );
    let start = s.totals.first_ts.unwrap_or_default();
    for h in s.time_wait.iter().take(TOP) {
        let st = &h.stats;
        let lb = if st.lower_bound { "≥" } else { "" };
        t.rows.push(vec![
            h.host.to_string(),
            st.entries.to_string(),
            format!("{lb}{}", st.peak),
            st.peak_at
                .map(|p| format!("{:.1} s", p.since(start).as_secs_f64()))
                .unwrap_or_else(|| "-".into()),
            format!("{lb}{}", st.at_end),
            format!("{:.2}", st.rate_per_s),
            format!("{:.0}", st.steady_state),
        ]);
    }
    let hold = s.time_wait_config.hold.as_secs_f64();
    let mut note = format!(
        "TIME-WAIT sockets each host held, at a {hold} s hold{}; \"peak at\" counts from the first packet; \
         the steady state is the active-close rate times the hold, what the host holds if the rate goes on.",
        if s.time_wait_config.per_host.is_empty() {
            ""
        } else {
            " (with per-host overrides)"
        }
    );
    if s.time_wait.iter().any(|h| h.stats.lower_bound) {
        note.push_str(
            " \"≥\": the capture is shorter than the hold, so sockets entered before it began are missing.",
        );
    }
    t.note = Some(note);
    t.cut(s.time_wait.len(), "hosts")
}

fn port_pressure(s: &Summary) -> Table {
    let mut t = Table::new(
        "port-pressure",
        "Ephemeral-port pressure",
        &[
            ("client", L),
            ("server", L),
            ("connections", R),
            ("new connections/s", R),
            ("TIME-WAIT peak", R),
            ("steady state", R),
            ("share of ports", R),
            ("sustainable connections/s", R),
            ("SYNs reusing a TIME-WAIT 4-tuple", R),
        ],
    );
    for p in s.port_pressure.iter().take(TOP) {
        t.rows.push(vec![
            p.client.to_string(),
            p.server.to_string(),
            p.connections.to_string(),
            format!("{:.1}", p.new_connection_rate),
            p.peak_time_wait.to_string(),
            format!("{:.0}", p.steady_state),
            format!("{:.1}% of {}", p.share * 100.0, p.ports),
            format!("{:.0}", p.sustainable_rate),
            p.reused_in_time_wait.to_string(),
        ]);
    }
    let (lo, hi) = s.time_wait_config.port_range;
    t.note = Some(format!(
        "TIME-WAIT 4-tuples per client toward one server endpoint, against the ephemeral port range {lo}-{hi}."
    ));
    t.cut(s.port_pressure.len(), "client, server pairs")
}

fn captures(s: &Summary) -> Table {
    let mut t = Table::new(
        "captures",
        "Captures",
        &[
            ("capture", L),
            ("format", L),
            ("link types", L),
            ("packets", R),
            ("TCP segments", R),
            ("skipped", L),
            ("truncated", L),
        ],
    );
    for c in s.captures.iter().take(TOP) {
        let i = &c.info;
        let links: Vec<&str> = i.linktypes.iter().map(|l| linktype_name(*l)).collect();
        let mut skipped: Vec<String> = c
            .skipped
            .iter()
            .map(|(r, n)| format!("{} {n}", r.as_str()))
            .collect();
        if i.bad_records > 0 {
            skipped.push(format!("bad records {}", i.bad_records));
        }
        t.rows.push(vec![
            i.path.clone(),
            format!(
                "{}{}",
                i.format.map(|f| f.as_str()).unwrap_or("?"),
                if i.gzip { "+gzip" } else { "" }
            ),
            links.join(", "),
            i.packets.to_string(),
            c.tcp_segments.to_string(),
            if skipped.is_empty() {
                "none".into()
            } else {
                skipped.join(", ")
            },
            i.truncated_at
                .map(|b| format!("at byte {b}"))
                .unwrap_or_else(|| "no".into()),
        ]);
    }
    t.cut(s.captures.len(), "captures")
}

/// What the data-quality section says besides the per-capture table.
pub(crate) fn quality_notes(s: &Summary) -> Vec<String> {
    let dq = &s.data_quality;
    let list = |items: Vec<(&str, u64)>| -> String {
        items
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out = vec![format!(
        "{} packets, {} TCP segments; at most {} connections tracked at once",
        dq.packets, dq.tcp_segments, dq.peak_tracked_connections
    )];
    if !dq.skipped.is_empty() {
        out.push(format!(
            "skipped packets: {}",
            list(dq.skipped.iter().map(|(r, n)| (r.as_str(), *n)).collect())
        ));
    }
    if dq.anomalies.is_empty() {
        out.push("connections with anomalies: none".into());
    } else {
        out.push(format!(
            "connections with anomalies: {}",
            list(dq.anomalies.iter().map(|(a, n)| (a.as_str(), *n)).collect())
        ));
    }
    for ((state, event), n) in &dq.unexpected_transitions {
        out.push(format!(
            "unexpected transition: {state} + {}: {n}",
            event.as_str()
        ));
    }
    if dq.tuple_reuses > 0 {
        out.push(format!(
            "4-tuples reused by a new connection: {}",
            dq.tuple_reuses
        ));
    }
    for w in &dq.warnings {
        out.push(format!("warning: {w}"));
    }
    out
}

/// A chart the caller rendered (the report module never draws).
#[derive(Clone, Copy, Debug)]
pub struct ChartRef<'a> {
    /// What it shows, e.g. "Active closes per endpoint".
    pub title: &'a str,
    /// The files are `charts/<file_stem>.svg` and `charts/<file_stem>.png`.
    pub file_stem: &'a str,
    /// The SVG document, inlined in the HTML report.
    pub svg: Option<&'a str>,
}

impl ChartRef<'_> {
    /// `charts/<stem>.<ext>` with every byte outside `A-Z a-z 0-9 - _ .` percent-encoded, so
    /// the link is one path segment under `charts/` whatever the stem holds.
    pub(crate) fn file(&self, ext: &str) -> String {
        let mut out = String::from("charts/");
        for b in self.file_stem.bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.') {
                out.push(char::from(b));
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out.push('.');
        out.push_str(ext);
        out
    }

    /// The `<svg>` element to inline: the document with any XML declaration, comments and
    /// doctype before it removed; `None` unless what is left starts with `<svg` and holds no
    /// script or foreign content.
    pub(crate) fn inline_svg(&self) -> Option<&str> {
        let doc = self.svg?.trim_start();
        if !(doc.starts_with("<svg") || doc.starts_with("<?xml")) {
            return None;
        }
        let lower = doc.to_ascii_lowercase();
        if ["<script", "<foreignobject", "javascript:", "<iframe"]
            .iter()
            .any(|bad| lower.contains(bad))
        {
            return None;
        }
        let start = doc.find("<svg")?;
        let prolog = &doc[..start];
        // Only a declaration, doctype and comments may precede the element.
        if !prolog_ok(prolog) {
            return None;
        }
        Some(doc[start..].trim_end())
    }
}

fn prolog_ok(mut p: &str) -> bool {
    loop {
        p = p.trim_start();
        if p.is_empty() {
            return true;
        }
        let end = if p.starts_with("<?") {
            p.find("?>").map(|i| i + 2)
        } else if p.starts_with("<!--") {
            p.find("-->").map(|i| i + 3)
        } else if p.starts_with("<!DOCTYPE") || p.starts_with("<!doctype") {
            p.find('>').map(|i| i + 1)
        } else {
            None
        };
        match end {
            Some(i) => p = &p[i..],
            None => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(svg: &str) -> ChartRef<'_> {
        ChartRef {
            title: "t",
            file_stem: "a b/../c",
            svg: Some(svg),
        }
    }

    #[test]
    fn chart_files_stay_under_charts() {
        assert_eq!(chart("").file("png"), "charts/a%20b%2F..%2Fc.png");
    }

    #[test]
    fn only_plain_svg_is_inlined() {
        let svg = r#"<svg xmlns="http://www.w3.org/2000/svg"></svg>"#;
        assert_eq!(chart(svg).inline_svg(), Some(svg));
        let doc = format!("<?xml version=\"1.0\"?>\n<!-- plotters -->\n{svg}\n");
        assert_eq!(chart(&doc).inline_svg(), Some(svg));
        assert_eq!(chart("<html><svg></svg>").inline_svg(), None);
        assert_eq!(chart("<svg><script>x</script></svg>").inline_svg(), None);
        assert_eq!(chart("<?xml ?><p><svg></svg>").inline_svg(), None);
    }
}
