//! Health-check patterns: many one-request connections from the same client host to the same
//! endpoint with the same method and target, at a steady period (load-balancer probes such as
//! `HEAD / HTTP/1.0` without `Host`, or `GET /health`).

use std::net::IpAddr;

use super::FastMap;

use crate::http::{App, HttpSummary, Method, Target};
use crate::tcp::{ConnRecord, Party};
use crate::time::Timestamp;

/// Fewest connections from one source before a steady series counts as a health check.
pub const MIN_CHECKS: u64 = 5;
/// Largest spread of the intervals (standard deviation / mean) still called steady.
pub const MAX_JITTER: f64 = 0.5;
/// Start times kept per series to measure its period (the count goes on past it).
const MAX_SAMPLES: usize = 4096;
/// Series tracked per endpoint, so that a capture full of distinct URLs cannot grow memory.
const MAX_SERIES: usize = 10_000;

#[derive(Clone, Debug, Default, PartialEq)]
struct Series {
    starts: Vec<Timestamp>,
    connections: u64,
    http10: u64,
    without_host: u64,
    closed_by_server: u64,
    streams: Vec<u64>,
}

/// One probing source of a health check.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckSource {
    pub host: IpAddr,
    pub connections: u64,
    /// Mean time between its connections.
    pub period_s: f64,
    /// Standard deviation of that time.
    pub jitter_s: f64,
}

/// A health check seen at one endpoint: one method and target, one or more sources.
#[derive(Clone, Debug, PartialEq)]
pub struct HealthCheck {
    pub method: Method,
    pub target: String,
    pub connections: u64,
    pub http10: u64,
    pub without_host: u64,
    pub closed_by_server: u64,
    pub sources: Vec<CheckSource>,
    /// A few of its connections' `stream` numbers.
    pub streams: Vec<u64>,
}

/// Collects one-request connections per (target, source, method) at one endpoint.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HealthTracker {
    /// By target as the summary holds it: looked up once per one-request connection, so
    /// without making a `String` or checking UTF-8 again.
    series: FastMap<Target, FastMap<(IpAddr, Method), Series>>,
    count: usize,
}

impl HealthTracker {
    pub fn add(&mut self, r: &ConnRecord, http: &HttpSummary) {
        if http.app != App::Http || http.requests != 1 {
            return;
        }
        let Some(q) = &http.first_request else {
            return;
        };
        let key = (r.client.ip, q.method);
        let s = match self.series.get_mut(&q.target) {
            Some(by_source) => match by_source.get_mut(&key) {
                Some(s) => s,
                None if self.count < MAX_SERIES => {
                    self.count += 1;
                    by_source.entry(key).or_default()
                }
                None => return,
            },
            None if self.count < MAX_SERIES => {
                self.count += 1;
                self.series
                    .entry(q.target.clone())
                    .or_default()
                    .entry(key)
                    .or_default()
            }
            None => return,
        };
        s.connections += 1;
        if s.starts.len() < MAX_SAMPLES {
            s.starts.push(r.first_ts);
        }
        s.http10 += u64::from(q.version == 0);
        s.without_host += u64::from(!q.has_host);
        s.closed_by_server += u64::from(r.closer == Some(Party::Server));
        if s.streams.len() < super::fold::SAMPLE_STREAMS {
            s.streams.push(r.stream);
        }
    }

    /// The steady series, grouped by method and target; most connections first.
    pub fn checks(&self) -> Vec<HealthCheck> {
        let mut out: FastMap<(Method, &str), HealthCheck> = FastMap::default();
        for (target, by_source) in &self.series {
            for ((host, method), s) in by_source {
                let Some((period_s, jitter_s)) = steady_period(&s.starts) else {
                    continue;
                };
                if s.connections < MIN_CHECKS {
                    continue;
                }
                let c = out.entry((*method, target)).or_insert_with(|| HealthCheck {
                    method: *method,
                    target: target.to_string(),
                    connections: 0,
                    http10: 0,
                    without_host: 0,
                    closed_by_server: 0,
                    sources: Vec::new(),
                    streams: Vec::new(),
                });
                c.streams
                    .extend(s.streams.iter().take(super::fold::SAMPLE_STREAMS));
                c.connections += s.connections;
                c.http10 += s.http10;
                c.without_host += s.without_host;
                c.closed_by_server += s.closed_by_server;
                c.sources.push(CheckSource {
                    host: *host,
                    connections: s.connections,
                    period_s,
                    jitter_s,
                });
            }
        }
        let mut checks: Vec<HealthCheck> = out.into_values().collect();
        for c in &mut checks {
            c.streams.sort_unstable();
            c.streams.truncate(super::fold::SAMPLE_STREAMS);
            c.sources
                .sort_by(|a, b| b.connections.cmp(&a.connections).then(a.host.cmp(&b.host)));
        }
        checks.sort_by(|a, b| {
            b.connections
                .cmp(&a.connections)
                .then(a.target.cmp(&b.target))
                .then(a.method.cmp(&b.method))
        });
        checks
    }
}

/// Mean and standard deviation of the intervals between sorted start times, when they are
/// steady enough to be a timer.
fn steady_period(starts: &[Timestamp]) -> Option<(f64, f64)> {
    if (starts.len() as u64) < MIN_CHECKS {
        return None;
    }
    let mut t: Vec<i64> = starts.iter().map(|s| s.nanos()).collect();
    t.sort_unstable();
    let gaps: Vec<f64> = t.windows(2).map(|w| (w[1] - w[0]) as f64 / 1e9).collect();
    let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
    if mean <= 0.0 {
        return None;
    }
    let var = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64;
    let sd = var.sqrt();
    (sd / mean <= MAX_JITTER).then_some((mean, sd))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(ms: i64) -> Timestamp {
        Timestamp(ms * 1_000_000)
    }

    #[test]
    fn a_timer_is_steady_and_a_burst_is_not() {
        let timer: Vec<_> = (0..8).map(|i| ts(i * 500 + (i % 2) * 20)).collect();
        let (p, j) = steady_period(&timer).unwrap();
        assert!((p - 0.5).abs() < 0.02, "{p}");
        assert!(j < 0.05);
        let burst = [ts(0), ts(1), ts(2), ts(3), ts(2000), ts(2001)];
        assert_eq!(steady_period(&burst), None);
        assert_eq!(steady_period(&timer[..4]), None);
    }

    #[test]
    fn unsorted_starts_are_sorted_first() {
        let starts = [ts(1000), ts(0), ts(2000), ts(500), ts(1500)];
        let (p, _) = steady_period(&starts).unwrap();
        assert!((p - 0.5).abs() < 1e-9);
    }
}
