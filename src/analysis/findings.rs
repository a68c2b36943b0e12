//! Findings: rules that turn the counts into statements with the evidence measured in the
//! capture, a severity, the concrete fix, and the connections behind them. No rule fires
//! without evidence.

use crate::net::{Endpoint, Side};

use super::fold::{EndpointStats, HostStats};
use super::reason::CloseReason;
use super::timewait::{HostTimeWait, PortPressure, TimeWaitConfig};

/// Fewest connections a rule looks at before it says anything.
pub const MIN_CONNECTIONS: u64 = 5;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Critical,
    Warning,
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// One diagnosis.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    /// Stable identifier of the rule (documented in docs/json-schema.md).
    pub id: &'static str,
    pub severity: Severity,
    /// What is wrong, in one sentence.
    pub title: String,
    /// What was measured.
    pub evidence: Vec<String>,
    /// What to change.
    pub fix: Vec<String>,
    /// A few connections behind it (`stream` numbers).
    pub streams: Vec<u64>,
}

impl Finding {
    /// A Wireshark display filter opening the connections behind the finding.
    pub fn wireshark_filter(&self) -> Option<String> {
        if self.streams.is_empty() {
            return None;
        }
        let list: Vec<String> = self.streams.iter().map(u64::to_string).collect();
        Some(format!("tcp.stream in {{{}}}", list.join(" ")))
    }
}

fn pct(part: u64, whole: u64) -> String {
    if whole == 0 {
        "0%".into()
    } else {
        format!("{:.0}%", part as f64 * 100.0 / whole as f64)
    }
}

fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// What the rules read.
pub(crate) struct Inputs<'a> {
    pub endpoints: &'a [EndpointStats],
    pub hosts: &'a [HostStats],
    pub time_wait: &'a [HostTimeWait],
    pub pressure: &'a [PortPressure],
    pub config: &'a TimeWaitConfig,
    pub duration_s: f64,
}

impl Inputs<'_> {
    fn host_tw(&self, ip: std::net::IpAddr) -> Option<&HostTimeWait> {
        self.time_wait.iter().find(|h| h.host == ip)
    }

    fn endpoint_tw(&self, ep: Endpoint, side: Side) -> Option<&super::timewait::TimeWaitStats> {
        let host = match side {
            Side::Server => ep.ip,
            Side::Client => return None,
        };
        self.host_tw(host)?
            .by_endpoint
            .iter()
            .find(|(e, s, _)| *e == ep && *s == side)
            .map(|(_, _, st)| st)
    }
}

fn tw_sentence(st: &super::timewait::TimeWaitStats, host: std::net::IpAddr) -> String {
    format!(
        "TIME-WAIT on {host}: {} entries, {:.1}/s, steady state about {:.0} sockets at a {} s hold{}",
        st.entries,
        st.rate_per_s,
        st.steady_state,
        st.hold.as_secs_f64(),
        if st.lower_bound {
            " (the capture is shorter than the hold time: the peak seen is a lower bound)"
        } else {
            ""
        }
    )
}

const NGINX_UPSTREAM_FIX: [&str; 3] = [
    "nginx: give the upstream a keep-alive pool: `upstream backend { server ADDR:PORT; keepalive 16; }`",
    "and in EVERY location (in every server block) that proxies to it: `proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection \"\";`",
    "other proxies: enable HTTP/1.1 keep-alive to the upstream (HAProxy `http-reuse safe` without `option httpclose`; Envoy/Traefik keep upstream connections by default unless disabled)",
];

/// Runs every rule.
pub(crate) fn findings(inp: &Inputs<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for e in inp.endpoints {
        proxy_without_keepalive(inp, e, &mut out);
        health_checks(inp, e, &mut out);
        idle_timeout(e, &mut out);
        resets(e, &mut out);
    }
    for h in inp.hosts {
        client_without_pool(inp, h, &mut out);
    }
    for p in inp.pressure {
        port_pressure(inp, p, &mut out);
    }
    let tw_driven = out.iter().any(|f| {
        matches!(
            f.id,
            "proxy_without_upstream_keepalive"
                | "clients_send_connection_close"
                | "health_checks_without_keepalive"
                | "client_without_pool"
                | "ephemeral_port_pressure"
        )
    });
    if tw_driven {
        out.push(Finding {
            id: "tw_sysctl_caution",
            severity: Severity::Info,
            title: "TIME-WAIT is the symptom: remove the short connections rather than tuning sysctls".into(),
            evidence: vec!["the findings above trace the TIME-WAIT sockets to connections that carry one request each".into()],
            fix: vec![
                "do not set `net.ipv4.tcp_tw_recycle`: it broke clients behind NAT and was removed in Linux 4.12".into(),
                "`net.ipv4.tcp_tw_reuse` only lets outgoing connections reuse a TIME-WAIT port; it hides the symptom on the client and does nothing for a server".into(),
                "fix the hops above so connections carry many requests; TIME-WAIT then falls by the same factor".into(),
            ],
            streams: vec![],
        });
    }
    out.sort_by_key(|f| f.severity);
    out
}

fn proxy_without_keepalive(inp: &Inputs<'_>, e: &EndpointStats, out: &mut Vec<Finding>) {
    let c = &e.counts;
    let h = &e.http;
    let with_req = h.connections_with_requests();
    if c.connections < MIN_CONNECTIONS || with_req < MIN_CONNECTIONS {
        return;
    }
    let server_share = share(c.closed_by_server, c.connections);
    let one = h.one_request_share().unwrap_or(0.0);
    let http10 = share(h.request_versions[0], h.requests);
    let close = share(h.connection_close_by_client, with_req);
    let checks: u64 = h.health_checks().iter().map(|k| k.connections).sum();
    if server_share < 0.5
        || one < 0.8
        || (http10 < 0.5 && close < 0.5)
        || share(checks, c.connections) >= 0.5
    {
        return;
    }
    let mut evidence = vec![
        format!(
            "{} of {} connections to {} were closed first by the server ({})",
            c.closed_by_server,
            c.connections,
            e.endpoint,
            pct(c.closed_by_server, c.connections)
        ),
        format!(
            "{} of {} connections carried exactly one request; {} of {} requests were HTTP/1.0; {} connections sent `Connection: close`",
            h.requests_per_connection.get(&1).copied().unwrap_or(0),
            with_req,
            h.request_versions[0],
            h.requests,
            h.connection_close_by_client
        ),
    ];
    let clients: Vec<String> = e
        .top_clients
        .iter()
        .map(|(ip, n)| format!("{ip} ({n})"))
        .collect();
    evidence.push(format!("clients: {}", clients.join(", ")));
    // HTTP/1.1 with `Connection: close` from hosts that accept no connections themselves:
    // end clients asking to close (a load generator, a script), not a proxy hop.
    let accepts = |ip: &std::net::IpAddr| {
        inp.hosts
            .iter()
            .any(|h| h.host == Some(*ip) && h.connections_as_server > 0)
    };
    let from_end_clients = http10 < 0.5 && !e.top_clients.iter().any(|(ip, _)| accepts(ip));
    if from_end_clients {
        evidence.push(
            "the requests are HTTP/1.1 and these clients accepted no connections in this capture: end clients asking to close, not a proxy hop".into(),
        );
    }
    let mut severity = Severity::Warning;
    if let Some(st) = inp.endpoint_tw(e.endpoint, Side::Server) {
        evidence.push(tw_sentence(st, e.endpoint.ip));
        if st.steady_state >= 1000.0 {
            severity = Severity::Critical;
        }
    }
    let (id, title, fix) = if from_end_clients {
        let who: Vec<String> = e.top_clients.iter().map(|(ip, _)| ip.to_string()).collect();
        (
            "clients_send_connection_close",
            format!(
                "{}: its clients send `Connection: close` on HTTP/1.1, so the server closes every connection after one request",
                e.endpoint
            ),
            vec![
                format!("stop sending `Connection: close` from {} and reuse connections: a load generator's or script's header option (`wrk -H 'Connection: close'`, `curl -H 'Connection: close'`), or a client library with keep-alive turned off; use one pooled client", who.join(", ")),
                "if they are proxies whose own clients are not in this capture: nginx sends `Connection: close` upstream unless the location sets `proxy_http_version 1.1; proxy_set_header Connection \"\";` with a `keepalive` upstream; HAProxy: drop `option httpclose`".into(),
            ],
        )
    } else {
        (
            "proxy_without_upstream_keepalive",
            format!(
                "{}: the server closes most connections after a single HTTP/1.0 or `Connection: close` request: the hop in front of it proxies without upstream keep-alive",
                e.endpoint
            ),
            NGINX_UPSTREAM_FIX.iter().map(|s| s.replace("ADDR:PORT", &e.endpoint.to_string())).collect(),
        )
    };
    out.push(Finding {
        id,
        severity,
        title,
        evidence,
        fix,
        streams: e.samples.get("server_first").to_vec(),
    });
}

fn health_checks(inp: &Inputs<'_>, e: &EndpointStats, out: &mut Vec<Finding>) {
    let closed =
        e.counts.closed_by_client + e.counts.closed_by_server + e.counts.closed_simultaneously;
    for k in e.http.health_checks() {
        if closed == 0 || share(k.connections, closed) < 0.3 {
            continue;
        }
        let sources: Vec<String> = k
            .sources
            .iter()
            .map(|s| format!("{} every {:.2} s", s.host, s.period_s))
            .collect();
        let mut evidence = vec![
            format!(
                "{} {} from {}: {} one-request connections, {} of the {} connections closed at {}",
                k.method.as_str(),
                k.target,
                sources.join(", "),
                k.connections,
                pct(k.connections, closed),
                closed,
                e.endpoint
            ),
            format!(
                "{} of them HTTP/1.0, {} without a Host header, {} closed first by the server",
                k.http10, k.without_host, k.closed_by_server
            ),
        ];
        if let Some(st) = inp.endpoint_tw(e.endpoint, Side::Server) {
            evidence.push(tw_sentence(st, e.endpoint.ip));
        }
        out.push(Finding {
            id: "health_checks_without_keepalive",
            severity: Severity::Warning,
            title: format!(
                "{}: health checks ({} {}) make {} of its closes, one connection per probe",
                e.endpoint,
                k.method.as_str(),
                k.target,
                pct(k.connections, closed)
            ),
            evidence,
            fix: if k.without_host * 2 > k.connections {
                vec![
                    "probes without a Host header land in the default server block (`listen ... default_server`, or the first one): that block, and every location in it that proxies, needs the same upstream keep-alive as the others: `proxy_http_version 1.1; proxy_set_header Connection \"\";` with a `keepalive` upstream".into(),
                    "or answer the probe in nginx itself: `location = / { return 200; }` in that server block, so it never reaches the backend".into(),
                    "or configure the load balancer's health check to use HTTP/1.1 with keep-alive where it can".into(),
                ]
            } else {
                let from: Vec<String> = k.sources.iter().map(|s| s.host.to_string()).collect();
                vec![
                    format!("these probes are forwarded by {}: the location that proxies them needs upstream keep-alive like the others", from.join(", ")),
                    format!("nginx: `upstream backend {{ server {}; keepalive 16; }}` and `proxy_http_version 1.1; proxy_set_header Connection \"\";` in the location the probes hit", e.endpoint),
                ]
            },
            streams: k.streams.clone(),
        });
    }
}

fn idle_timeout(e: &EndpointStats, out: &mut Vec<Finding>) {
    let h = &e.http;
    let Some(peak) = h.idle_peak_s() else {
        return;
    };
    let n = h
        .close_reasons
        .get(&CloseReason::ServerIdleTimeout)
        .copied()
        .unwrap_or(0);
    if n < 2 || share(n, e.counts.closed_by_server) < 0.5 {
        return;
    }
    out.push(Finding {
        id: "server_idle_timeout",
        severity: Severity::Info,
        title: format!("{}: the server closes idle keep-alive connections after about {peak} s", e.endpoint),
        evidence: vec![format!(
            "{n} of {} server-side closes came after {peak}-{} s without traffic (its keep-alive timeout: nginx `keepalive_timeout` 65 s / 75 s, Spring Boot 60 s, ...)",
            e.counts.closed_by_server,
            peak + 1
        )],
        fix: vec![
            "this is keep-alive working as configured; the TIME-WAIT lands on the server".into(),
            format!("clients and proxies that pool connections to it should drop idle ones sooner than {peak} s (e.g. nginx upstream `keepalive_timeout`), or they risk sending on a connection the server is closing"),
        ],
        streams: e.samples.get("idle_timeout").to_vec(),
    });
}

fn resets(e: &EndpointStats, out: &mut Vec<Finding>) {
    let c = &e.counts;
    if c.rst < MIN_CONNECTIONS && share(c.rst, c.connections) < 0.1 || c.rst == 0 {
        return;
    }
    let r = &e.http.close_reasons;
    let get = |k: CloseReason| r.get(&k).copied().unwrap_or(0);
    let mut evidence = vec![format!(
        "{} of {} connections ended with a RST before any FIN: {} by the client, {} by the server",
        c.rst, c.connections, c.aborted_by_client, c.aborted_by_server
    )];
    let parts = [
        (
            CloseReason::ResetByClient,
            "by the client after the exchange was complete (an abortive close, e.g. SO_LINGER 0)",
        ),
        (
            CloseReason::ResetByClientMidExchange,
            "by the client before a response was complete",
        ),
        (CloseReason::ResetByServer, "by the server after answering"),
        (
            CloseReason::ResetByServerMidExchange,
            "by the server with a request left unanswered",
        ),
    ];
    for (k, what) in parts {
        let n = get(k);
        if n > 0 {
            evidence.push(format!("{n} {what}"));
        }
    }
    let mut fix =
        vec!["resets leave no TIME-WAIT, but the peer sees `connection reset by peer`".to_string()];
    if get(CloseReason::ResetByClient) > 0 {
        fix.push("a client that aborts after every exchange trades TIME-WAIT for resets: reuse connections (keep-alive, a pool) instead".into());
    }
    if get(CloseReason::ResetByServerMidExchange) + get(CloseReason::ResetByClientMidExchange) > 0 {
        fix.push("resets in the middle of an exchange point at timeouts, crashes or full queues on the resetting side: check its logs at those times".into());
    }
    out.push(Finding {
        id: "resets",
        severity: if get(CloseReason::ResetByServerMidExchange) > 0 {
            Severity::Warning
        } else {
            Severity::Info
        },
        title: format!(
            "{}: {} connections reset ({})",
            e.endpoint,
            c.rst,
            pct(c.rst, c.connections)
        ),
        evidence,
        fix,
        streams: e.samples.get("reset").to_vec(),
    });
}

fn client_without_pool(inp: &Inputs<'_>, h: &HostStats, out: &mut Vec<Finding>) {
    let Some(ip) = h.host else {
        return;
    };
    if h.http_connections_as_client < 2 * MIN_CONNECTIONS
        || share(h.one_request_closes_as_client, h.http_connections_as_client) < 0.5
    {
        return;
    }
    let rate = if inp.duration_s > 0.0 {
        h.connections_as_client as f64 / inp.duration_s
    } else {
        0.0
    };
    let mut evidence = vec![format!(
        "{ip} opened {} HTTP connections ({rate:.1}/s) and closed {} of them itself right after their only request ({})",
        h.http_connections_as_client,
        h.one_request_closes_as_client,
        pct(h.one_request_closes_as_client, h.http_connections_as_client)
    )];
    if let Some(tw) = inp.host_tw(ip) {
        evidence.push(tw_sentence(&tw.stats, ip));
    }
    out.push(Finding {
        id: "client_without_pool",
        severity: Severity::Warning,
        title: format!("{ip} opens a new connection per request and closes it itself: a client without a connection pool"),
        evidence,
        fix: vec![
            "reuse connections: Java: one shared HttpClient (java.net.http) or Apache HttpClient with a PoolingHttpClientConnectionManager; Python: requests.Session(); Go: one http.Client, drain and close response bodies; curl: many URLs in one process".into(),
            "each request then stops costing a TIME-WAIT socket (60 s) and an ephemeral port on this host".into(),
        ],
        streams: h.samples.get("one_request_close").to_vec(),
    });
}

fn port_pressure(inp: &Inputs<'_>, p: &PortPressure, out: &mut Vec<Finding>) {
    if p.share < inp.config.pressure_threshold && p.reused_in_time_wait == 0 {
        return;
    }
    let mut evidence = vec![format!(
        "{} -> {}: {} new connections/s; TIME-WAIT 4-tuples peak {}, steady state about {:.0}: {:.0}% of the {} ephemeral ports ({}-{}); without reusing ports still in TIME-WAIT, at most {:.0} new connections/s can be sustained",
        p.client,
        p.server,
        format_args!("{:.1}", p.new_connection_rate),
        p.peak_time_wait,
        p.steady_state,
        p.share * 100.0,
        p.ports,
        inp.config.port_range.0,
        inp.config.port_range.1,
        p.sustainable_rate
    )];
    if p.reused_in_time_wait > 0 {
        evidence.push(format!(
            "{} new SYNs reused a 4-tuple the client still held in TIME-WAIT: its kernel reuses such ports (Linux: `net.ipv4.tcp_tw_reuse`, 2 = loopback only by default), which hides the shortage until it cannot",
            p.reused_in_time_wait
        ));
    }
    out.push(Finding {
        id: "ephemeral_port_pressure",
        severity: if p.share >= 0.5 { Severity::Critical } else { Severity::Warning },
        title: format!(
            "{} toward {}: at this connection rate TIME-WAIT ties up {:.0}% of its ephemeral ports",
            p.client,
            p.server,
            p.share * 100.0
        ),
        evidence,
        fix: vec![
            "reuse connections to this destination (keep-alive, a pool); that is the fix".into(),
            "stopgaps: widen `net.ipv4.ip_local_port_range`, or spread over more destination addresses/ports".into(),
        ],
        streams: vec![],
    });
}
