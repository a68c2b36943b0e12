//! The report's charts, built from a [`Summary`]: which charts, with which data, labels and
//! units. Drawing is in the parent module.

use crate::analysis::{Summary, REQUEST_BUCKETS};
use crate::time::Timestamp;

use super::{top_n_with_other, Chart, ChartKind, LineSeries, Series};

/// Endpoints or hosts shown by name; the rest are grouped as "other".
pub const TOP: usize = 8;
const WIDTH: u32 = 900;
const HEIGHT: u32 = 500;

/// Idle-before-close buckets, whole seconds `[from, to)`.
const IDLE_BUCKETS: [(&str, u64, u64); 10] = [
    ("<1", 0, 1),
    ("1-2", 1, 2),
    ("2-5", 2, 5),
    ("5-10", 5, 10),
    ("10-30", 10, 30),
    ("30-60", 30, 60),
    ("60-70", 60, 70),
    ("70-80", 70, 80),
    ("80-120", 80, 120),
    (">=120", 120, u64::MAX),
];

/// The capture names for titles: file names, joined, cut to a readable length.
fn capture_names(s: &Summary) -> String {
    let names: Vec<&str> = s
        .captures
        .iter()
        .map(|c| c.info.path.rsplit('/').next().unwrap_or(&c.info.path))
        .collect();
    let mut t = names.join(", ");
    if t.chars().count() > 60 {
        t = t.chars().take(57).collect::<String>() + "...";
    }
    t
}

fn chart(title: &str, s: &Summary, x: &str, y: &str, kind: ChartKind) -> Chart {
    Chart {
        title: format!("{title} — {}", capture_names(s)),
        x_label: x.into(),
        y_label: y.into(),
        kind,
        width: WIDTH,
        height: HEIGHT,
    }
}

/// Every chart of the report: `(file stem, short title, chart)`.
pub fn report_charts(s: &Summary) -> Vec<(&'static str, &'static str, Chart)> {
    let start = s.totals.first_ts.unwrap_or_default();
    let end = s.totals.last_ts.unwrap_or(start);
    let rel = |t: Timestamp| t.since(start).as_secs_f64();
    let mut out = Vec::new();

    // 1. Who closes first, per endpoint.
    let cats: Vec<String> = s.endpoints.iter().map(|e| e.endpoint.to_string()).collect();
    let col = |f: &dyn Fn(&crate::analysis::CloseCounts) -> u64| -> Vec<f64> {
        s.endpoints.iter().map(|e| f(&e.counts) as f64).collect()
    };
    let series = vec![
        Series {
            name: "client closed first".into(),
            values: col(&|c| c.closed_by_client - c.aborted_by_client),
        },
        Series {
            name: "server closed first".into(),
            values: col(&|c| c.closed_by_server - c.aborted_by_server),
        },
        Series {
            name: "simultaneous".into(),
            values: col(&|c| c.closed_simultaneously),
        },
        Series {
            name: "reset (RST before FIN)".into(),
            values: col(&|c| c.rst),
        },
    ];
    let (categories, series) = top_n_with_other(cats, series, TOP);
    out.push((
        "closes-per-endpoint",
        "Who closes first, per server endpoint",
        chart(
            "Who closes first, per server endpoint",
            s,
            "server endpoint",
            "connections",
            ChartKind::Bars {
                categories,
                series,
                stacked: true,
            },
        ),
    ));

    // 2. TIME-WAIT over time, per host.
    let mut lines = Vec::new();
    for h in s.time_wait.iter().take(TOP) {
        let mut points = Vec::with_capacity(h.series.len() * 2 + 1);
        let mut last = 0u64;
        for &(t, n) in &h.series {
            let x = rel(t).max(0.0);
            points.push((x, last as f64));
            points.push((x, n as f64));
            last = n;
        }
        points.push((rel(end).max(0.0), last as f64));
        lines.push(LineSeries {
            name: h.host.to_string(),
            points,
        });
    }
    out.push((
        "time-wait-per-host",
        "TIME-WAIT sockets over time, per host",
        chart(
            "TIME-WAIT sockets over time, per host",
            s,
            "capture time (s)",
            "TIME-WAIT sockets",
            ChartKind::Lines { series: lines },
        ),
    ));

    // 3. Requests per connection, per endpoint.
    let with_http: Vec<_> = s.endpoints.iter().filter(|e| e.http.requests > 0).collect();
    let cats: Vec<String> = with_http.iter().map(|e| e.endpoint.to_string()).collect();
    let series: Vec<Series> = REQUEST_BUCKETS
        .iter()
        .enumerate()
        .map(|(i, (name, _, _))| Series {
            name: format!("{name} requests"),
            values: with_http
                .iter()
                .map(|e| e.http.request_histogram()[i] as f64)
                .collect(),
        })
        .collect();
    let (categories, series) = top_n_with_other(cats, series, TOP);
    out.push((
        "requests-per-connection",
        "Requests per connection, per server endpoint",
        chart(
            "Requests per connection, per server endpoint",
            s,
            "server endpoint",
            "connections",
            ChartKind::Bars {
                categories,
                series,
                stacked: true,
            },
        ),
    ));

    // 4. New connections per second, by who closed them.
    let names = [
        "client closed first",
        "server closed first",
        "simultaneous",
        "reset",
        "not closed",
    ];
    let mut lines: Vec<LineSeries> = names
        .iter()
        .map(|n| LineSeries {
            name: (*n).into(),
            points: Vec::new(),
        })
        .collect();
    let start_s = start.0.div_euclid(1_000_000_000);
    for (sec, counts) in &s.starts_per_second {
        for (i, n) in counts.iter().enumerate() {
            lines[i].points.push(((sec - start_s) as f64, *n as f64));
        }
    }
    lines.retain(|l| l.points.iter().any(|p| p.1 > 0.0));
    out.push((
        "new-connections-per-second",
        "New connections per second, by who closed them",
        chart(
            "New connections per second, by who closed them",
            s,
            "capture time (s)",
            "new connections per second",
            ChartKind::Lines { series: lines },
        ),
    ));

    // 5. Idle time before the close.
    let cats: Vec<String> = IDLE_BUCKETS
        .iter()
        .map(|(n, _, _)| format!("{n} s"))
        .collect();
    let series: Vec<Series> = s
        .endpoints
        .iter()
        .filter(|e| !e.http.idle_before_close_s.is_empty())
        .take(4)
        .map(|e| Series {
            name: e.endpoint.to_string(),
            values: IDLE_BUCKETS
                .iter()
                .map(|(_, lo, hi)| {
                    e.http
                        .idle_before_close_s
                        .range(*lo..*hi)
                        .map(|(_, n)| *n as f64)
                        .sum()
                })
                .collect(),
        })
        .collect();
    out.push((
        "idle-before-close",
        "Idle time before the close, per server endpoint",
        chart(
            "Idle time before the close",
            s,
            "idle before the first FIN",
            "connections",
            ChartKind::Bars {
                categories: cats,
                series,
                stacked: false,
            },
        ),
    ));
    out
}

/// The charts of `finscope compare`: before and after side by side.
pub fn compare_charts(
    before: &Summary,
    after: &Summary,
    cmp: &crate::analysis::Comparison,
) -> Vec<(&'static str, &'static str, Chart)> {
    let title = |t: &str| {
        format!(
            "{t} — {} vs {}",
            capture_names(before),
            capture_names(after)
        )
    };
    let mk = |t: &str, x: &str, y: &str, kind| Chart {
        title: title(t),
        x_label: x.into(),
        y_label: y.into(),
        kind,
        width: WIDTH,
        height: HEIGHT,
    };
    let fig = |c: &crate::analysis::Compared, name: &str| -> (f64, f64) {
        c.figures
            .iter()
            .find(|f| f.name == name)
            .map_or((0.0, 0.0), |f| {
                (f.before.unwrap_or(0.0), f.after.unwrap_or(0.0))
            })
    };
    // One figure, before and after, side by side per endpoint or host.
    let before_after = |items: &[&crate::analysis::Compared], figure: &str| {
        let vals: Vec<(f64, f64)> = items.iter().map(|c| fig(c, figure)).collect();
        ChartKind::Bars {
            categories: items.iter().map(|c| c.name.clone()).collect(),
            series: vec![
                Series {
                    name: "before".into(),
                    values: vals.iter().map(|v| v.0).collect(),
                },
                Series {
                    name: "after".into(),
                    values: vals.iter().map(|v| v.1).collect(),
                },
            ],
            stacked: false,
        }
    };
    let mut out = Vec::new();

    // TIME-WAIT steady state per host.
    let hosts: Vec<&crate::analysis::Compared> = cmp.hosts.iter().take(TOP).collect();
    out.push((
        "compare-time-wait-per-host",
        "TIME-WAIT per host, before and after",
        mk(
            "TIME-WAIT steady state per host, before and after",
            "host",
            "TIME-WAIT sockets (rate x hold)",
            before_after(&hosts, "time_wait_steady_state"),
        ),
    ));

    // Who closes first per endpoint, as shares, before and after.
    let eps: Vec<&crate::analysis::Compared> = cmp.endpoints.iter().take(TOP / 2).collect();
    let mut categories = Vec::new();
    let mut client = Vec::new();
    let mut server = Vec::new();
    for e in &eps {
        let (cb, ca) = fig(e, "closed_by_client_share");
        let (sb, sa) = fig(e, "closed_by_server_share");
        categories.push(format!("{} before", e.name));
        categories.push(format!("{} after", e.name));
        client.extend([cb * 100.0, ca * 100.0]);
        server.extend([sb * 100.0, sa * 100.0]);
    }
    out.push((
        "compare-closes-per-endpoint",
        "Who closes first, per endpoint, before and after",
        mk(
            "Who closes first, per endpoint, before and after",
            "server endpoint",
            "% of connections",
            ChartKind::Bars {
                categories,
                series: vec![
                    Series {
                        name: "client closed first".into(),
                        values: client,
                    },
                    Series {
                        name: "server closed first".into(),
                        values: server,
                    },
                ],
                stacked: true,
            },
        ),
    ));

    // Requests per connection per endpoint.
    let eps: Vec<&crate::analysis::Compared> = cmp.endpoints.iter().take(TOP).collect();
    out.push((
        "compare-requests-per-connection",
        "Requests per connection, before and after",
        mk(
            "Requests per connection, before and after",
            "server endpoint",
            "requests per connection (mean)",
            before_after(&eps, "requests_per_connection"),
        ),
    ));
    out
}
