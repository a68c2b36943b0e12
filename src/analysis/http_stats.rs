//! Per-endpoint HTTP figures: requests per connection, versions, who asked to close, close
//! reasons, and how long connections sat idle before they were closed.

use std::collections::BTreeMap;

use crate::http::{App, HttpSummary};
use crate::tcp::ConnRecord;

use super::health::{HealthCheck, HealthTracker};
use super::reason::{idle_before_close, CloseReason};

/// Buckets of requests per connection: 1, 2-10, 11-100, 101-1000, >1000 (connections with no
/// request are not counted).
pub const REQUEST_BUCKETS: [(&str, u32, u32); 5] = [
    ("1", 1, 1),
    ("2-10", 2, 10),
    ("11-100", 11, 100),
    ("101-1000", 101, 1000),
    (">1000", 1001, u32::MAX),
];

/// HTTP figures of one server endpoint.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HttpStats {
    /// Connections by what their payload was.
    pub apps: BTreeMap<App, u64>,
    pub requests: u64,
    /// Connections by number of requests they carried (HTTP connections only).
    pub requests_per_connection: BTreeMap<u32, u64>,
    /// Requests by version: `[HTTP/1.0, HTTP/1.1]`.
    pub request_versions: [u64; 2],
    pub requests_without_host: u64,
    /// Connections on which the client (server) sent `Connection: close`.
    pub connection_close_by_client: u64,
    pub connection_close_by_server: u64,
    pub close_reasons: BTreeMap<CloseReason, u64>,
    /// Closed connections by whole seconds idle before the first FIN.
    pub idle_before_close_s: BTreeMap<u64, u64>,
    health: HealthTracker,
}

impl HttpStats {
    /// Takes in one connection, whose close reason the caller already worked out.
    pub fn add(&mut self, r: &ConnRecord, http: &HttpSummary, reason: CloseReason) {
        *self.apps.entry(http.app).or_default() += 1;
        self.health.add(r, http);
        *self.close_reasons.entry(reason).or_default() += 1;
        if let Some(idle) = idle_before_close(r) {
            let s = (idle.0.max(0) / 1_000_000_000) as u64;
            *self.idle_before_close_s.entry(s).or_default() += 1;
        }
        if http.app != App::Http {
            return;
        }
        self.requests += u64::from(http.requests);
        *self
            .requests_per_connection
            .entry(http.requests)
            .or_default() += 1;
        for (v, n) in http.request_versions.iter().enumerate() {
            self.request_versions[v] += u64::from(*n);
        }
        self.requests_without_host += u64::from(http.requests_without_host);
        self.connection_close_by_client += u64::from(http.client_conn_close > 0);
        self.connection_close_by_server += u64::from(http.server_conn_close > 0);
    }

    /// Health checks seen at this endpoint (steady one-request series per source).
    pub fn health_checks(&self) -> Vec<HealthCheck> {
        self.health.checks()
    }

    /// HTTP connections that carried at least one request.
    pub fn connections_with_requests(&self) -> u64 {
        self.requests_per_connection
            .iter()
            .filter(|(k, _)| **k > 0)
            .map(|(_, n)| n)
            .sum()
    }

    pub fn mean_requests_per_connection(&self) -> Option<f64> {
        let n = self.connections_with_requests();
        (n > 0).then(|| self.requests as f64 / n as f64)
    }

    /// The median over connections that carried requests.
    pub fn median_requests_per_connection(&self) -> Option<u32> {
        let n = self.connections_with_requests();
        let mut seen = 0;
        for (k, c) in self.requests_per_connection.iter().filter(|(k, _)| **k > 0) {
            seen += c;
            if seen * 2 >= n {
                return Some(*k);
            }
        }
        None
    }

    pub fn max_requests_per_connection(&self) -> Option<u32> {
        self.requests_per_connection
            .keys()
            .next_back()
            .copied()
            .filter(|k| *k > 0)
    }

    /// Connections per bucket of [`REQUEST_BUCKETS`].
    pub fn request_histogram(&self) -> [u64; 5] {
        let mut h = [0; 5];
        for (k, n) in &self.requests_per_connection {
            if let Some(i) = REQUEST_BUCKETS
                .iter()
                .position(|(_, lo, hi)| k >= lo && k <= hi)
            {
                h[i] += n;
            }
        }
        h
    }

    /// Share of request-carrying connections that carried exactly one.
    pub fn one_request_share(&self) -> Option<f64> {
        let n = self.connections_with_requests();
        let one = self.requests_per_connection.get(&1).copied().unwrap_or(0);
        (n > 0).then(|| one as f64 / n as f64)
    }

    /// The idle time (whole seconds, at least 1) most closes happened at, when at least half
    /// of the closes after 1 s or more of idleness share it: a keep-alive timeout.
    pub fn idle_peak_s(&self) -> Option<u64> {
        let idle: Vec<(u64, u64)> = self
            .idle_before_close_s
            .iter()
            .filter(|(s, _)| **s >= 1)
            .map(|(s, n)| (*s, *n))
            .collect();
        let total: u64 = idle.iter().map(|(_, n)| n).sum();
        let (s, n) = idle
            .into_iter()
            .max_by_key(|(s, n)| (*n, std::cmp::Reverse(*s)))?;
        (n * 2 >= total && n >= 2).then_some(s)
    }
}
