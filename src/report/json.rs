//! The `analyze --format json` document (documented in docs/json-schema.md).

use std::io::{self, Write};

use serde_json::{json, Map, Value};

use crate::analysis::{
    CaptureSummary, CloseCounts, Finding, HttpStats, Summary, TimeWaitStats, REQUEST_BUCKETS,
};

use super::{linktype_name, secs};

/// Bumped when a field changes meaning or disappears; new fields do not bump it.
pub const SCHEMA_VERSION: u32 = 1;

fn counts_json(c: &CloseCounts) -> Map<String, Value> {
    let v = json!({
        "connections": c.connections,
        "closed_by_client": c.closed_by_client,
        "closed_by_server": c.closed_by_server,
        "closed_simultaneously": c.closed_simultaneously,
        "aborted_by_client": c.aborted_by_client,
        "aborted_by_server": c.aborted_by_server,
        "resets_by_client": c.resets_by_client,
        "resets_by_server": c.resets_by_server,
        "close_fin": c.fin,
        "close_fin_rst": c.fin_rst,
        "close_rst": c.rst,
        "half_closed": c.half_closed,
        "still_open": c.still_open,
        "time_wait_on_client": c.time_wait_on_client,
        "time_wait_on_server": c.time_wait_on_server,
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn capture_json(c: &CaptureSummary) -> Value {
    let i = &c.info;
    let skipped: Map<String, Value> = c
        .skipped
        .iter()
        .map(|(r, n)| (r.as_str().to_string(), json!(n)))
        .collect();
    json!({
        "path": i.path,
        "format": i.format.map(|f| f.as_str()),
        "gzip": i.gzip,
        "link_types": i.linktypes.iter().map(|l| linktype_name(*l)).collect::<Vec<_>>(),
        "link_type_codes": i.linktypes.iter().collect::<Vec<_>>(),
        "packets": i.packets,
        "packet_bytes": i.packet_bytes,
        "stream_bytes": i.stream_bytes,
        "tcp_segments": c.tcp_segments,
        "first_time_s": i.first_ts.map(secs),
        "last_time_s": i.last_ts.map(secs),
        "truncated": i.truncated_at.is_some(),
        "truncated_at_byte": i.truncated_at,
        "skipped": skipped,
    })
}

fn http_stats_json(h: &HttpStats) -> Value {
    let apps: Map<String, Value> = h
        .apps
        .iter()
        .map(|(a, n)| (a.as_str().to_string(), json!(n)))
        .collect();
    let hist: Map<String, Value> = REQUEST_BUCKETS
        .iter()
        .zip(h.request_histogram())
        .map(|((name, _, _), n)| (name.to_string(), json!(n)))
        .collect();
    let reasons: Map<String, Value> = h
        .close_reasons
        .iter()
        .map(|(r, n)| (r.as_str().to_string(), json!(n)))
        .collect();
    let idle: Vec<Value> = h
        .idle_before_close_s
        .iter()
        .map(|(s, n)| json!({"from_s": s, "to_s": s + 1, "connections": n}))
        .collect();
    json!({
        "apps": apps,
        "requests": h.requests,
        "connections_with_requests": h.connections_with_requests(),
        "requests_per_connection_mean": h.mean_requests_per_connection(),
        "requests_per_connection_median": h.median_requests_per_connection(),
        "requests_per_connection_max": h.max_requests_per_connection(),
        "requests_per_connection_histogram": hist,
        "one_request_share": h.one_request_share(),
        "request_versions": {"1.0": h.request_versions[0], "1.1": h.request_versions[1]},
        "requests_without_host": h.requests_without_host,
        "connection_close_by_client": h.connection_close_by_client,
        "connection_close_by_server": h.connection_close_by_server,
        "close_reasons": reasons,
        "idle_before_close": idle,
        "idle_before_close_peak_s": h.idle_peak_s(),
    })
}

fn tw_stats_json(st: &TimeWaitStats) -> Map<String, Value> {
    let v = json!({
        "hold_s": st.hold.as_secs_f64(),
        "entries": st.entries,
        "peak": st.peak,
        "peak_time_s": st.peak_at.map(secs),
        "at_end": st.at_end,
        "active_close_rate_per_s": (st.rate_per_s * 1000.0).round() / 1000.0,
        "steady_state_estimate": st.steady_state.round(),
        "lower_bound": st.lower_bound,
        "ended_by_reuse": st.cut_by_reuse,
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// One finding as JSON.
pub fn finding_json(f: &Finding) -> Value {
    json!({
        "id": f.id,
        "severity": f.severity.as_str(),
        "title": f.title,
        "evidence": f.evidence,
        "fix": f.fix,
        "streams": f.streams,
        "wireshark_filter": f.wireshark_filter(),
    })
}

/// The whole summary as a JSON value.
pub fn summary_json(s: &Summary) -> Value {
    let mut totals = counts_json(&s.totals.counts);
    totals.insert("first_time_s".into(), json!(s.totals.first_ts.map(secs)));
    totals.insert("last_time_s".into(), json!(s.totals.last_ts.map(secs)));
    let duration = match (s.totals.first_ts, s.totals.last_ts) {
        (Some(a), Some(b)) => Some(b.since(a).as_secs_f64()),
        _ => None,
    };
    totals.insert("duration_s".into(), json!(duration));

    let endpoints: Vec<Value> = s
        .endpoints
        .iter()
        .map(|e| {
            let mut m = Map::new();
            m.insert("endpoint".into(), json!(e.endpoint.to_string()));
            m.insert("ip".into(), json!(e.endpoint.ip.to_string()));
            m.insert("port".into(), json!(e.endpoint.port));
            m.insert("client_hosts".into(), json!(e.client_hosts));
            m.extend(counts_json(&e.counts));
            let mut http = http_stats_json(&e.http);
            let closed = e.counts.closed_by_client
                + e.counts.closed_by_server
                + e.counts.closed_simultaneously;
            let checks: Vec<Value> = e
                .http
                .health_checks()
                .iter()
                .map(|c| {
                    json!({
                        "method": c.method.as_str(),
                        "target": c.target,
                        "connections": c.connections,
                        "share_of_closes": (closed > 0).then(|| c.connections as f64 / closed as f64),
                        "http10_requests": c.http10,
                        "requests_without_host": c.without_host,
                        "closed_by_server": c.closed_by_server,
                        "sources": c.sources.iter().map(|s| json!({
                            "host": s.host.to_string(),
                            "connections": s.connections,
                            "period_s": (s.period_s * 1000.0).round() / 1000.0,
                            "jitter_s": (s.jitter_s * 1000.0).round() / 1000.0,
                        })).collect::<Vec<_>>(),
                    })
                })
                .collect();
            if let Value::Object(h) = &mut http {
                h.insert("health_checks".into(), Value::Array(checks));
            }
            m.insert("http".into(), http);
            Value::Object(m)
        })
        .collect();
    let hosts: Vec<Value> = s
        .hosts
        .iter()
        .map(|h| {
            let tw = s
                .time_wait
                .iter()
                .find(|t| Some(t.host) == h.host)
                .map(|t| {
                    let mut m = tw_stats_json(&t.stats);
                    m.insert(
                        "series".into(),
                        Value::Array(
                            t.series
                                .iter()
                                .map(|(ts, n)| json!([secs(*ts), n]))
                                .collect(),
                        ),
                    );
                    m.insert(
                        "by_endpoint".into(),
                        Value::Array(
                            t.by_endpoint
                                .iter()
                                .map(|(ep, side, st)| {
                                    let mut e = tw_stats_json(st);
                                    e.insert("endpoint".into(), json!(ep.to_string()));
                                    e.insert("as".into(), json!(side.as_str()));
                                    Value::Object(e)
                                })
                                .collect(),
                        ),
                    );
                    Value::Object(m)
                });
            json!({
                "host": h.host.map(|ip| ip.to_string()),
                "connections_as_client": h.connections_as_client,
                "connections_as_server": h.connections_as_server,
                "active_closes": h.active_closes,
                "passive_closes": h.passive_closes,
                "resets_sent": h.resets_sent,
                "time_wait_entries": h.time_wait,
                "one_request_closes_as_client": h.one_request_closes_as_client,
                "http_connections_as_client": h.http_connections_as_client,
                "time_wait": tw,
            })
        })
        .collect();
    let dq = &s.data_quality;
    let named = |m: Vec<(&'static str, u64)>| -> Map<String, Value> {
        m.into_iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect()
    };
    let unexpected: Vec<Value> = dq
        .unexpected_transitions
        .iter()
        .map(|((state, event), n)| {
            json!({"state": state.as_str(), "event": event.as_str(), "connections": n})
        })
        .collect();
    let pressure: Vec<Value> = s
        .port_pressure
        .iter()
        .map(|p| {
            json!({
                "client": p.client.to_string(),
                "server": p.server.to_string(),
                "connections": p.connections,
                "new_connection_rate_per_s": (p.new_connection_rate * 1000.0).round() / 1000.0,
                "time_wait_peak": p.peak_time_wait,
                "time_wait_steady_state": p.steady_state.round(),
                "ephemeral_ports": p.ports,
                "share": (p.share * 10000.0).round() / 10000.0,
                "sustainable_rate_per_s": p.sustainable_rate.round(),
                "reused_in_time_wait": p.reused_in_time_wait,
            })
        })
        .collect();
    let cfg = &s.time_wait_config;
    json!({
        "schema_version": SCHEMA_VERSION,
        "captures": s.captures.iter().map(capture_json).collect::<Vec<_>>(),
        "totals": totals,
        "findings": s.findings.iter().map(finding_json).collect::<Vec<_>>(),
        "endpoints": endpoints,
        "hosts": hosts,
        "time_wait_settings": {
            "hold_s": cfg.hold.as_secs_f64(),
            "per_host_hold_s": cfg.per_host.iter().map(|(h, d)| (h.to_string(), json!(d.as_secs_f64()))).collect::<Map<String, Value>>(),
            "ephemeral_port_range": [cfg.port_range.0, cfg.port_range.1],
        },
        "port_pressure": pressure,
        "connections_per_second": s.starts_per_second.iter().map(|(sec, k)| {
            json!({"time_s": sec, "client": k[0], "server": k[1], "both": k[2], "reset": k[3], "open": k[4]})
        }).collect::<Vec<_>>(),
        "data_quality": {
            "packets": dq.packets,
            "tcp_segments": dq.tcp_segments,
            "skipped": named(dq.skipped.iter().map(|(r, n)| (r.as_str(), *n)).collect()),
            "anomalies": named(dq.anomalies.iter().map(|(a, n)| (a.as_str(), *n)).collect()),
            "unexpected_transitions": unexpected,
            "tuple_reuses": dq.tuple_reuses,
            "peak_tracked_connections": dq.peak_tracked_connections,
            "evicted_connections": dq.evicted_connections,
            "warnings": dq.warnings,
        },
    })
}

/// Writes the summary as pretty JSON followed by a newline.
pub fn write_json(out: &mut dyn Write, s: &Summary) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &summary_json(s))?;
    out.write_all(b"\n")
}
