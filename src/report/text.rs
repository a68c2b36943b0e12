//! The terminal summary: a verdict line per busy endpoint, then the tables, then data quality.

use std::io::{self, Write};

use crate::analysis::{EndpointStats, Summary};

use super::escape::strip_controls;
use super::linktype_name;
use super::tables::{pct, share, TOP};

/// Packet-derived text made safe for a terminal: escape sequences dropped whole, other
/// control characters replaced (see [`strip_controls`]).
fn printable(s: &str) -> String {
    strip_controls(s)
}

/// Sentences saying who closes this endpoint's connections, where TIME-WAIT lands, and what
/// HTTP shows about why: the first line, then indented detail lines.
pub(crate) fn verdict(e: &EndpointStats) -> Vec<String> {
    let c = &e.counts;
    let ep = e.endpoint;
    let closed = c.closed_by_client + c.closed_by_server + c.closed_simultaneously;
    let mut parts = Vec::new();
    if closed == 0 {
        parts.push(format!(
            "{ep}: no close seen in {} connections",
            c.connections
        ));
    } else {
        let (who, n) = if c.closed_by_server >= c.closed_by_client {
            ("the server", c.closed_by_server)
        } else {
            ("the clients", c.closed_by_client)
        };
        parts.push(format!(
            "{ep}: {who} closed first in {n} of {} connections ({})",
            c.connections,
            pct(n, c.connections)
        ));
        if c.closed_simultaneously > 0 {
            parts.push(format!("{} simultaneous", c.closed_simultaneously));
        }
    }
    if c.time_wait_on_server > 0 {
        parts.push(format!("{} TIME-WAIT on {}", c.time_wait_on_server, ep.ip));
    }
    if c.time_wait_on_client > 0 {
        parts.push(format!(
            "{} TIME-WAIT on its clients",
            c.time_wait_on_client
        ));
    }
    if c.rst > 0 {
        parts.push(format!(
            "{} aborted by RST (client {}, server {})",
            c.rst, c.aborted_by_client, c.aborted_by_server
        ));
    }
    let mut lines = vec![parts.join("; ")];
    let mut parts = Vec::new();
    let h = &e.http;
    if let (Some(mean), Some(one)) = (h.mean_requests_per_connection(), h.one_request_share()) {
        parts.push(format!(
            "{} HTTP requests, {mean:.1} per connection, {} carried one",
            h.requests,
            share(Some(one))
        ));
    }
    if let Some((reason, n)) = h
        .close_reasons
        .iter()
        .max_by_key(|(r, n)| (**n, std::cmp::Reverse(**r)))
    {
        if *n > 0 && closed > 0 {
            parts.push(format!("most common: {} ({n})", reason.describe()));
        }
    }
    if let Some(p) = h.idle_peak_s() {
        parts.push(format!(
            "idle closes peak at {p}-{} s (a keep-alive timeout)",
            p + 1
        ));
    }
    if !parts.is_empty() {
        lines.push(format!("HTTP: {}", parts.join("; ")));
    }
    for c in h.health_checks().iter().take(2) {
        let sources: Vec<String> = c
            .sources
            .iter()
            .take(4)
            .map(|s| format!("{} every {:.2} s", s.host, s.period_s))
            .collect();
        let mut traits = Vec::new();
        if c.http10 * 2 > c.connections {
            traits.push("HTTP/1.0");
        }
        if c.without_host * 2 > c.connections {
            traits.push("no Host");
        }
        let traits = if traits.is_empty() {
            String::new()
        } else {
            format!(" ({})", traits.join(", "))
        };
        lines.push(format!(
            "health check: {} {}{traits} from {}: {} connections, {} of its closes",
            c.method.as_str(),
            printable(&c.target),
            sources.join(", "),
            c.connections,
            pct(c.connections, closed)
        ));
    }
    lines
}

/// Writes the human summary of `s`.
pub fn write_text(out: &mut dyn Write, s: &Summary) -> io::Result<()> {
    let t = &s.totals;
    let dur = match (t.first_ts, t.last_ts) {
        (Some(a), Some(b)) => format!(" over {:.3} s", b.since(a).as_secs_f64()),
        _ => String::new(),
    };
    writeln!(
        out,
        "finscope: {} capture{}, {} packets, {} TCP connections{dur}",
        s.captures.len(),
        if s.captures.len() == 1 { "" } else { "s" },
        s.data_quality.packets,
        t.counts.connections,
    )?;
    writeln!(
        out,
        "closed first by client {}, by server {}, simultaneously {}; TIME-WAIT left on clients {}, on servers {}",
        t.counts.closed_by_client,
        t.counts.closed_by_server,
        t.counts.closed_simultaneously,
        t.counts.time_wait_on_client,
        t.counts.time_wait_on_server,
    )?;

    if !s.findings.is_empty() {
        writeln!(out)?;
        writeln!(out, "Findings")?;
        for (i, f) in s.findings.iter().enumerate() {
            writeln!(
                out,
                "  {}. [{}] {}",
                i + 1,
                f.severity.as_str(),
                printable(&f.title)
            )?;
            for e in &f.evidence {
                writeln!(out, "       - {}", printable(e))?;
            }
            for x in &f.fix {
                writeln!(out, "       fix: {}", printable(x))?;
            }
            if let Some(filter) = f.wireshark_filter() {
                writeln!(out, "       wireshark: {filter}")?;
            }
        }
    }

    if !s.endpoints.is_empty() {
        writeln!(out)?;
        writeln!(out, "Verdicts")?;
        for e in s.endpoints.iter().take(5) {
            for (i, line) in verdict(e).iter().enumerate() {
                let indent = if i == 0 { "  " } else { "      " };
                writeln!(out, "{indent}{line}")?;
            }
        }
        writeln!(out)?;
        writeln!(out, "Who closes first, by server endpoint")?;
        let w = s
            .endpoints
            .iter()
            .take(TOP)
            .map(|e| e.endpoint.to_string().len())
            .max()
            .unwrap_or(8)
            .max(8);
        writeln!(
            out,
            "  {:<w$} {:>7} {:>8} {:>8} {:>6} {:>9} {:>6} {:>6} {:>12}",
            "endpoint",
            "conns",
            "client",
            "server",
            "both",
            "RST c/s",
            "half",
            "open",
            "TIME-WAIT c/s"
        )?;
        for e in s.endpoints.iter().take(TOP) {
            let c = &e.counts;
            writeln!(
                out,
                "  {:<w$} {:>7} {:>8} {:>8} {:>6} {:>9} {:>6} {:>6} {:>12}",
                e.endpoint.to_string(),
                c.connections,
                c.closed_by_client,
                c.closed_by_server,
                c.closed_simultaneously,
                format!("{}/{}", c.resets_by_client, c.resets_by_server),
                c.half_closed,
                c.still_open,
                format!("{}/{}", c.time_wait_on_client, c.time_wait_on_server),
            )?;
        }
        if s.endpoints.len() > TOP {
            writeln!(
                out,
                "  ... {} more endpoints (--format json lists all)",
                s.endpoints.len() - TOP
            )?;
        }
    }

    let http_rows: Vec<&EndpointStats> = s
        .endpoints
        .iter()
        .filter(|e| e.http.requests > 0)
        .take(TOP)
        .collect();
    if !http_rows.is_empty() {
        writeln!(out)?;
        writeln!(out, "HTTP by server endpoint")?;
        let w = http_rows
            .iter()
            .map(|e| e.endpoint.to_string().len())
            .max()
            .unwrap_or(8)
            .max(8);
        writeln!(
            out,
            "  {:<w$} {:>9} {:>20} {:>6} {:>8} {:>9} {:>9} {:>10}",
            "endpoint",
            "requests",
            "req/conn avg/med/max",
            "1-req",
            "HTTP/1.0",
            "no Host",
            "close c/s",
            "idle peak"
        )?;
        for e in http_rows {
            let h = &e.http;
            let per = format!(
                "{:.1}/{}/{}",
                h.mean_requests_per_connection().unwrap_or(0.0),
                h.median_requests_per_connection().unwrap_or(0),
                h.max_requests_per_connection().unwrap_or(0)
            );
            let one = share(h.one_request_share());
            writeln!(
                out,
                "  {:<w$} {:>9} {:>20} {:>6} {:>8} {:>9} {:>9} {:>10}",
                e.endpoint.to_string(),
                h.requests,
                per,
                one,
                pct(h.request_versions[0], h.requests),
                pct(h.requests_without_host, h.requests),
                format!(
                    "{}/{}",
                    h.connection_close_by_client, h.connection_close_by_server
                ),
                h.idle_peak_s()
                    .map(|p| format!("{p} s"))
                    .unwrap_or_else(|| "-".into()),
            )?;
        }
    }

    if !s.hosts.is_empty() {
        writeln!(out)?;
        writeln!(out, "Per host")?;
        let w = s
            .hosts
            .iter()
            .take(TOP)
            .filter_map(|h| h.host.map(|ip| ip.to_string().len()))
            .max()
            .unwrap_or(4)
            .max(4);
        writeln!(
            out,
            "  {:<w$} {:>10} {:>10} {:>8} {:>8} {:>6} {:>10}",
            "host", "as client", "as server", "active", "passive", "RSTs", "TIME-WAIT"
        )?;
        for h in s.hosts.iter().take(TOP) {
            writeln!(
                out,
                "  {:<w$} {:>10} {:>10} {:>8} {:>8} {:>6} {:>10}",
                h.host.map(|ip| ip.to_string()).unwrap_or_default(),
                h.connections_as_client,
                h.connections_as_server,
                h.active_closes,
                h.passive_closes,
                h.resets_sent,
                h.time_wait,
            )?;
        }
        if s.hosts.len() > TOP {
            writeln!(
                out,
                "  ... {} more hosts (--format json lists all)",
                s.hosts.len() - TOP
            )?;
        }
    }

    if !s.time_wait.is_empty() {
        writeln!(out)?;
        let start = t.first_ts.unwrap_or_default();
        let hold = s.time_wait_config.hold.as_secs_f64();
        writeln!(out, "TIME-WAIT over time (hold {hold} s; \"≥\": the capture is shorter than the hold, so the sockets from before it are missing)")?;
        let w = s
            .time_wait
            .iter()
            .take(TOP)
            .map(|h| h.host.to_string().len())
            .max()
            .unwrap_or(4)
            .max(4);
        writeln!(
            out,
            "  {:<w$} {:>8} {:>8} {:>10} {:>8} {:>8} {:>13}",
            "host", "entries", "peak", "peak at s", "at end", "rate/s", "steady state"
        )?;
        for h in s.time_wait.iter().take(TOP) {
            let st = &h.stats;
            let lb = if st.lower_bound { "≥" } else { "" };
            writeln!(
                out,
                "  {:<w$} {:>8} {:>8} {:>10} {:>8} {:>8.2} {:>13.0}",
                h.host.to_string(),
                st.entries,
                format!("{lb}{}", st.peak),
                st.peak_at
                    .map(|p| format!("{:.1}", p.since(start).as_secs_f64()))
                    .unwrap_or_default(),
                format!("{lb}{}", st.at_end),
                st.rate_per_s,
                st.steady_state,
            )?;
        }
        let pressured: Vec<_> = s
            .port_pressure
            .iter()
            .filter(|p| p.share >= 0.01 || p.reused_in_time_wait > 0)
            .take(10)
            .collect();
        if !pressured.is_empty() {
            writeln!(
                out,
                "  ephemeral ports in TIME-WAIT, per client toward one server endpoint:"
            )?;
            for p in pressured {
                writeln!(
                    out,
                    "    {} -> {}: {:.1}% of {} ports (steady state {:.0}, peak {}), {:.1} new conns/s of {:.0}/s sustainable{}",
                    p.client,
                    p.server,
                    p.share * 100.0,
                    p.ports,
                    p.steady_state,
                    p.peak_time_wait,
                    p.new_connection_rate,
                    p.sustainable_rate,
                    if p.reused_in_time_wait > 0 { format!("; {} SYNs reused a 4-tuple still in TIME-WAIT", p.reused_in_time_wait) } else { String::new() }
                )?;
            }
        }
    }

    let dq = &s.data_quality;
    writeln!(out)?;
    writeln!(out, "Data quality")?;
    for c in &s.captures {
        let i = &c.info;
        let links: Vec<&str> = i.linktypes.iter().map(|l| linktype_name(*l)).collect();
        writeln!(
            out,
            "  {}: {}{} ({}), {} packets, {} TCP segments{}",
            i.path,
            i.format.map(|f| f.as_str()).unwrap_or("?"),
            if i.gzip { "+gzip" } else { "" },
            links.join(", "),
            i.packets,
            c.tcp_segments,
            if i.truncated_at.is_some() {
                ", truncated"
            } else {
                ""
            },
        )?;
    }
    let list = |items: Vec<(&str, u64)>| -> String {
        items
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !dq.skipped.is_empty() {
        writeln!(
            out,
            "  skipped packets: {}",
            list(dq.skipped.iter().map(|(r, n)| (r.as_str(), *n)).collect())
        )?;
    }
    if !dq.anomalies.is_empty() {
        writeln!(
            out,
            "  connections with anomalies: {}",
            list(dq.anomalies.iter().map(|(a, n)| (a.as_str(), *n)).collect())
        )?;
    }
    for ((state, event), n) in &dq.unexpected_transitions {
        writeln!(
            out,
            "  unexpected transition: {state} + {}: {n}",
            event.as_str()
        )?;
    }
    if dq.evicted_connections > 0 {
        writeln!(
            out,
            "  connections evicted early (flow table full, --max-connections): {}",
            dq.evicted_connections
        )?;
    }
    if dq.tuple_reuses > 0 {
        writeln!(
            out,
            "  4-tuples reused by a new connection: {}",
            dq.tuple_reuses
        )?;
    }
    for w in &dq.warnings {
        writeln!(out, "  warning: {w}")?;
    }
    Ok(())
}
