//! Before and after: matches endpoints and hosts of two summaries by address (with optional
//! renames) and compares rates and ratios, never raw counts, because two captures differ in
//! length and load. Client ports never take part in matching.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use crate::net::Endpoint;

use super::{EndpointStats, HostTimeWait, Summary};

/// A relative change smaller than this is "unchanged".
pub const DEFAULT_THRESHOLD: f64 = 0.2;
/// Fewest connections on each side for a firm verdict.
pub const MIN_SAMPLE: u64 = 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verdict {
    Improved,
    Regressed,
    Unchanged,
    New,
    Gone,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Improved => "improved",
            Verdict::Regressed => "regressed",
            Verdict::Unchanged => "unchanged",
            Verdict::New => "new",
            Verdict::Gone => "gone",
        }
    }
}

/// Which way is better for a figure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Better {
    Lower,
    Higher,
    /// Shown for context, never decides a verdict.
    Neither,
}

/// One figure before and after.
#[derive(Clone, Debug, PartialEq)]
pub struct Figure {
    pub name: &'static str,
    pub before: Option<f64>,
    pub after: Option<f64>,
    pub better: Better,
    /// Whether this figure decides the verdict.
    pub watched: bool,
    /// Smallest absolute change that counts (below it the figure is unchanged whatever the
    /// relative change: 0 -> 1 TIME-WAIT socket is not a regression).
    pub min_abs: f64,
}

impl Figure {
    /// `(after - before) / before`, when both exist and `before` is not zero.
    pub fn relative_change(&self) -> Option<f64> {
        match (self.before, self.after) {
            (Some(b), Some(a)) if b.abs() > f64::EPSILON => Some((a - b) / b),
            (Some(b), Some(a)) if b.abs() <= f64::EPSILON && a.abs() <= f64::EPSILON => Some(0.0),
            _ => None,
        }
    }

    /// Whether it got worse by more than `threshold`.
    pub fn regressed(&self, threshold: f64) -> bool {
        self.judge(threshold) == Some(Verdict::Regressed)
    }

    fn judge(&self, threshold: f64) -> Option<Verdict> {
        let (b, a) = (self.before?, self.after?);
        if (a - b).abs() < self.min_abs {
            return (self.better != Better::Neither).then_some(Verdict::Unchanged);
        }
        let worse = match self.better {
            Better::Lower => a > b,
            Better::Higher => a < b,
            Better::Neither => return None,
        };
        let change = if b.abs() > f64::EPSILON {
            ((a - b) / b).abs()
        } else if a.abs() > f64::EPSILON {
            f64::INFINITY
        } else {
            0.0
        };
        Some(if change < threshold {
            Verdict::Unchanged
        } else if worse {
            Verdict::Regressed
        } else {
            Verdict::Improved
        })
    }
}

/// An endpoint or host compared.
#[derive(Clone, Debug, PartialEq)]
pub struct Compared {
    /// `ip:port` for endpoints, the IP for hosts (as named in the AFTER capture).
    pub name: String,
    /// The BEFORE name when `--map` renamed it.
    pub before_name: Option<String>,
    pub verdict: Verdict,
    pub figures: Vec<Figure>,
}

/// The whole comparison.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    pub overall: Verdict,
    pub threshold: f64,
    /// Reasons the verdict is not firm (small samples, very different load).
    pub caveats: Vec<String>,
    pub before: Side,
    pub after: Side,
    pub endpoints: Vec<Compared>,
    pub hosts: Vec<Compared>,
}

/// One side's headline figures.
#[derive(Clone, Debug, PartialEq)]
pub struct Side {
    pub captures: Vec<String>,
    pub duration_s: f64,
    pub connections: u64,
    pub requests: u64,
    pub connections_per_s: f64,
    pub requests_per_s: f64,
}

/// Renames applied to the BEFORE side: `10.0.0.5:8080=10.0.0.6:8080` or `10.0.0.5=10.0.0.6`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Renames {
    pub endpoints: BTreeMap<Endpoint, Endpoint>,
    pub hosts: BTreeMap<IpAddr, IpAddr>,
}

impl Renames {
    fn endpoint(&self, e: Endpoint) -> Endpoint {
        if let Some(to) = self.endpoints.get(&e) {
            return *to;
        }
        match self.hosts.get(&e.ip) {
            Some(ip) => Endpoint::new(*ip, e.port),
            None => e,
        }
    }

    fn host(&self, ip: IpAddr) -> IpAddr {
        self.hosts.get(&ip).copied().unwrap_or(ip)
    }
}

fn duration_s(s: &Summary) -> f64 {
    match (s.totals.first_ts, s.totals.last_ts) {
        (Some(a), Some(b)) => b.since(a).as_secs_f64(),
        _ => 0.0,
    }
}

fn side(s: &Summary) -> Side {
    let d = duration_s(s);
    let requests: u64 = s.endpoints.iter().map(|e| e.http.requests).sum();
    let per = |n: u64| if d > 0.0 { n as f64 / d } else { 0.0 };
    Side {
        captures: s.captures.iter().map(|c| c.info.path.clone()).collect(),
        duration_s: d,
        connections: s.totals.counts.connections,
        requests,
        connections_per_s: per(s.totals.counts.connections),
        requests_per_s: per(requests),
    }
}

fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// An endpoint's figures; `tw_steady` is the TIME-WAIT steady state of its connections.
fn endpoint_figures(
    e: &EndpointStats,
    s: &Summary,
    d: f64,
) -> Vec<(&'static str, Option<f64>, Better, bool)> {
    let c = &e.counts;
    let h = &e.http;
    let tw = c.time_wait_on_client + c.time_wait_on_server;
    let checks: u64 = h.health_checks().iter().map(|k| k.connections).sum();
    let hold = s.time_wait_config.hold.as_secs_f64();
    let per_s = |n: u64| (d > 0.0).then(|| n as f64 / d);
    vec![
        (
            "time_wait_per_request",
            ratio(tw, h.requests),
            Better::Lower,
            h.requests > 0,
        ),
        (
            "connections_per_request",
            ratio(c.connections, h.requests),
            Better::Lower,
            h.requests > 0,
        ),
        (
            "requests_per_connection",
            h.mean_requests_per_connection(),
            Better::Higher,
            false,
        ),
        (
            "one_request_share",
            h.one_request_share(),
            Better::Lower,
            false,
        ),
        (
            "closed_by_server_share",
            ratio(c.closed_by_server, c.connections),
            Better::Neither,
            false,
        ),
        (
            "closed_by_client_share",
            ratio(c.closed_by_client, c.connections),
            Better::Neither,
            false,
        ),
        (
            "http10_share",
            ratio(h.request_versions[0], h.requests),
            Better::Lower,
            false,
        ),
        (
            "health_check_share",
            ratio(checks, c.connections),
            Better::Lower,
            false,
        ),
        (
            "reset_share",
            ratio(c.rst, c.connections),
            Better::Lower,
            true,
        ),
        (
            "connections_per_s",
            per_s(c.connections),
            Better::Neither,
            false,
        ),
        ("requests_per_s", per_s(h.requests), Better::Neither, false),
        // Without HTTP, the TIME-WAIT rate is all there is to judge by.
        (
            "time_wait_steady_state",
            per_s(tw).map(|r| r * hold),
            Better::Lower,
            h.requests == 0,
        ),
    ]
}

fn host_figures(
    t: Option<&HostTimeWait>,
    requests_per_s: f64,
) -> Vec<(&'static str, Option<f64>, Better, bool)> {
    let st = t.map(|t| &t.stats);
    vec![
        (
            "time_wait_steady_state",
            Some(st.map_or(0.0, |s| s.steady_state)),
            Better::Lower,
            requests_per_s == 0.0,
        ),
        (
            "time_wait_per_request",
            (requests_per_s > 0.0).then(|| st.map_or(0.0, |s| s.rate_per_s) / requests_per_s),
            Better::Lower,
            requests_per_s > 0.0,
        ),
        (
            "time_wait_peak",
            Some(st.map_or(0.0, |s| s.peak as f64)),
            Better::Lower,
            false,
        ),
        (
            "active_close_rate_per_s",
            Some(st.map_or(0.0, |s| s.rate_per_s)),
            Better::Lower,
            false,
        ),
    ]
}

/// The smallest absolute change of each figure that can count.
fn min_abs(name: &str) -> f64 {
    if name.ends_with("_share") {
        0.05
    } else if name.ends_with("_per_request") {
        0.1
    } else if name.starts_with("time_wait_") {
        10.0
    } else {
        1.0
    }
}

fn judge(figures: &[Figure], threshold: f64) -> Verdict {
    let verdicts: Vec<Verdict> = figures
        .iter()
        .filter(|f| f.watched)
        .filter_map(|f| f.judge(threshold))
        .collect();
    if verdicts.contains(&Verdict::Regressed) {
        Verdict::Regressed
    } else if verdicts.contains(&Verdict::Improved) {
        Verdict::Improved
    } else {
        Verdict::Unchanged
    }
}

fn pair(
    before: Vec<(&'static str, Option<f64>, Better, bool)>,
    after: Vec<(&'static str, Option<f64>, Better, bool)>,
) -> Vec<Figure> {
    before
        .into_iter()
        .zip(after)
        .map(|(b, a)| Figure {
            name: b.0,
            before: b.1,
            after: a.1,
            better: b.2,
            watched: b.3 && a.3,
            min_abs: min_abs(b.0),
        })
        .collect()
}

/// Compares `before` with `after`.
pub fn compare(before: &Summary, after: &Summary, renames: &Renames, threshold: f64) -> Comparison {
    let (sb, sa) = (side(before), side(after));
    let mut caveats = Vec::new();
    for (name, s) in [("before", &sb), ("after", &sa)] {
        if s.connections < MIN_SAMPLE {
            caveats.push(format!(
                "the {name} capture has only {} connections: figures are indicative, not firm",
                s.connections
            ));
        }
    }
    let load = |b: f64, a: f64| {
        if b > 0.0 && a > 0.0 {
            (a / b).max(b / a)
        } else {
            1.0
        }
    };
    let l = if sb.requests > 0 && sa.requests > 0 {
        load(sb.requests_per_s, sa.requests_per_s)
    } else {
        load(sb.connections_per_s, sa.connections_per_s)
    };
    if l >= 3.0 {
        caveats.push(format!(
            "load differs {l:.1}x between the captures: compare the per-request ratios, not the absolute TIME-WAIT figures"
        ));
    }

    let before_eps: BTreeMap<Endpoint, &EndpointStats> = before
        .endpoints
        .iter()
        .map(|e| (renames.endpoint(e.endpoint), e))
        .collect();
    let after_eps: BTreeMap<Endpoint, &EndpointStats> =
        after.endpoints.iter().map(|e| (e.endpoint, e)).collect();
    let names: BTreeSet<Endpoint> = before_eps.keys().chain(after_eps.keys()).copied().collect();
    let (db, da) = (sb.duration_s, sa.duration_s);
    let mut endpoints: Vec<Compared> = names
        .into_iter()
        .map(|ep| {
            let b = before_eps.get(&ep);
            let a = after_eps.get(&ep);
            let empty = |x: Option<&&EndpointStats>, s: &Summary, d: f64| match x {
                Some(e) => endpoint_figures(e, s, d),
                None => endpoint_figures(&EndpointStats::empty(ep), s, d)
                    .into_iter()
                    .map(|(n, _, b, w)| (n, None, b, w))
                    .collect(),
            };
            let figures = pair(empty(b, before, db), empty(a, after, da));
            let verdict = match (b, a) {
                (None, Some(_)) => Verdict::New,
                (Some(_), None) => Verdict::Gone,
                _ => judge(&figures, threshold),
            };
            let before_name = b
                .map(|e| e.endpoint)
                .filter(|orig| *orig != ep)
                .map(|e| e.to_string());
            Compared {
                name: ep.to_string(),
                before_name,
                verdict,
                figures,
            }
        })
        .collect();

    let host_set =
        |s: &Summary, map: &dyn Fn(IpAddr) -> IpAddr| -> BTreeMap<IpAddr, Option<IpAddr>> {
            s.hosts
                .iter()
                .filter_map(|h| h.host)
                .map(|ip| (map(ip), Some(ip)))
                .collect()
        };
    let hb = host_set(before, &|ip| renames.host(ip));
    let ha = host_set(after, &|ip| ip);
    let names: BTreeSet<IpAddr> = hb.keys().chain(ha.keys()).copied().collect();
    let mut hosts: Vec<Compared> = names
        .into_iter()
        .map(|ip| {
            let orig_b = hb.get(&ip).copied().flatten();
            let tb = orig_b.and_then(|o| before.time_wait.iter().find(|t| t.host == o));
            let ta = after.time_wait.iter().find(|t| t.host == ip);
            let mut figures = pair(
                host_figures(tb, sb.requests_per_s),
                host_figures(ta, sa.requests_per_s),
            );
            let verdict = match (orig_b.is_some(), ha.contains_key(&ip)) {
                (false, true) => Verdict::New,
                (true, false) => Verdict::Gone,
                _ => judge(&figures, threshold),
            };
            if orig_b.is_none() {
                figures.iter_mut().for_each(|f| f.before = None);
            }
            Compared {
                name: ip.to_string(),
                before_name: orig_b.filter(|o| *o != ip).map(|o| o.to_string()),
                verdict,
                figures,
            }
        })
        .collect();

    let rank = |v: Verdict| match v {
        Verdict::Regressed => 0,
        Verdict::Improved => 1,
        Verdict::New => 2,
        Verdict::Gone => 3,
        Verdict::Unchanged => 4,
    };
    endpoints.sort_by(|a, b| {
        rank(a.verdict)
            .cmp(&rank(b.verdict))
            .then(a.name.cmp(&b.name))
    });
    hosts.sort_by(|a, b| {
        rank(a.verdict)
            .cmp(&rank(b.verdict))
            .then(a.name.cmp(&b.name))
    });

    let all: Vec<Verdict> = endpoints.iter().chain(&hosts).map(|c| c.verdict).collect();
    let overall = if all.contains(&Verdict::Regressed) {
        Verdict::Regressed
    } else if all.contains(&Verdict::Improved) {
        Verdict::Improved
    } else {
        Verdict::Unchanged
    };
    Comparison {
        overall,
        threshold,
        caveats,
        before: sb,
        after: sa,
        endpoints,
        hosts,
    }
}

impl Comparison {
    /// Watched figures that got worse by more than the threshold, as `(name, figure)`.
    pub fn regressions(&self) -> Vec<(&str, &Figure)> {
        self.endpoints
            .iter()
            .chain(&self.hosts)
            .filter(|c| !matches!(c.verdict, Verdict::New | Verdict::Gone))
            .flat_map(|c| {
                c.figures
                    .iter()
                    .filter(|f| f.watched && f.regressed(self.threshold))
                    .map(move |f| (c.name.as_str(), f))
            })
            .collect()
    }
}
