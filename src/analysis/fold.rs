use std::collections::BTreeMap;
use std::net::IpAddr;

use super::tally::Tally;

use crate::http::HttpSummary;
use crate::net::{Endpoint, Side};

use super::http_stats::HttpStats;
use super::pending::Pending;
use super::reason::{close_reason, CloseReason};
use super::timewait::{TimeWaitConfig, TimeWaitTracker};

/// Stream numbers kept per kind of evidence, for findings and Wireshark filters.
pub const SAMPLE_STREAMS: usize = 20;

/// A few `stream` numbers per kind of evidence.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Samples(BTreeMap<&'static str, Vec<u64>>);

impl Samples {
    fn add(&mut self, kind: &'static str, stream: u64) {
        let v = self.0.entry(kind).or_default();
        if v.len() < SAMPLE_STREAMS {
            v.push(stream);
        }
    }

    /// The streams kept for `kind`, in the order the records arrived.
    pub fn get(&self, kind: &str) -> &[u64] {
        self.0.get(kind).map_or(&[], Vec::as_slice)
    }
}

/// Connections started per second, by who closed them.
pub const START_KINDS: [&str; 5] = ["client", "server", "both", "reset", "open"];
use crate::tcp::{Anomaly, CloseKind, ConnRecord, Event, Party, TcpState};
use crate::time::Timestamp;

/// How a set of connections ended, and who closed them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CloseCounts {
    pub connections: u64,
    /// Connections the client closed first (active FIN, or a RST before any FIN).
    pub closed_by_client: u64,
    pub closed_by_server: u64,
    /// Both FINs active: a simultaneous close.
    pub closed_simultaneously: u64,
    /// Connections ended by a RST before any FIN, by the RST's sender.
    pub aborted_by_client: u64,
    pub aborted_by_server: u64,
    /// Connections in which the client (server) sent a RST at any point.
    pub resets_by_client: u64,
    pub resets_by_server: u64,
    /// By how they ended.
    pub fin: u64,
    pub fin_rst: u64,
    pub rst: u64,
    pub half_closed: u64,
    pub still_open: u64,
    /// Connections that left the client (server) in TIME-WAIT.
    pub time_wait_on_client: u64,
    pub time_wait_on_server: u64,
}

impl CloseCounts {
    fn add(&mut self, r: &ConnRecord) {
        self.connections += 1;
        match r.closer {
            Some(Party::Client) => self.closed_by_client += 1,
            Some(Party::Server) => self.closed_by_server += 1,
            Some(Party::Both) => self.closed_simultaneously += 1,
            None => {}
        }
        if r.close == CloseKind::Rst {
            match r.first_rst.map(|m| m.side) {
                Some(Side::Client) => self.aborted_by_client += 1,
                Some(Side::Server) => self.aborted_by_server += 1,
                None => {}
            }
        }
        if let Some(p) = r.reset_by {
            self.resets_by_client += u64::from(p.includes(Side::Client));
            self.resets_by_server += u64::from(p.includes(Side::Server));
        }
        match r.close {
            CloseKind::Fin => self.fin += 1,
            CloseKind::FinRst => self.fin_rst += 1,
            CloseKind::Rst => self.rst += 1,
            CloseKind::Half => self.half_closed += 1,
            CloseKind::Open => self.still_open += 1,
        }
        if let Some(p) = r.time_wait {
            self.time_wait_on_client += u64::from(p.includes(Side::Client));
            self.time_wait_on_server += u64::from(p.includes(Side::Server));
        }
    }
}

/// Counts for one server endpoint (`ip:port` that accepted connections).
#[derive(Clone, Debug, PartialEq)]
pub struct EndpointStats {
    pub endpoint: Endpoint,
    pub counts: CloseCounts,
    /// Distinct client hosts.
    pub client_hosts: u64,
    /// The clients with most connections (up to 5), most first.
    pub top_clients: Vec<(IpAddr, u64)>,
    pub http: HttpStats,
    pub samples: Samples,
}

impl EndpointStats {
    /// An endpoint with no connections (the missing side of a comparison).
    pub fn empty(endpoint: Endpoint) -> Self {
        EndpointStats {
            endpoint,
            counts: CloseCounts::default(),
            client_hosts: 0,
            top_clients: Vec::new(),
            http: HttpStats::default(),
            samples: Samples::default(),
        }
    }
}

/// Counts for one host (IP address), over all its connections in either role.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostStats {
    pub host: Option<IpAddr>,
    pub connections_as_client: u64,
    pub connections_as_server: u64,
    /// Connections this host closed first (active FIN or first RST).
    pub active_closes: u64,
    /// Connections the peer closed first and this host closed after.
    pub passive_closes: u64,
    /// Connections in which this host sent a RST.
    pub resets_sent: u64,
    /// TIME-WAIT entries this host was left holding.
    pub time_wait: u64,
    /// Connections it opened, carried at most one HTTP request on, and closed first itself:
    /// the mark of a client without a connection pool.
    pub one_request_closes_as_client: u64,
    /// HTTP connections it opened.
    pub http_connections_as_client: u64,
    pub samples: Samples,
}

/// Whole-capture totals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub counts: CloseCounts,
    pub first_ts: Option<Timestamp>,
    pub last_ts: Option<Timestamp>,
}

#[derive(Default)]
struct EndpointAcc {
    counts: CloseCounts,
    http: HttpStats,
    samples: Samples,
    clients: Tally<IpAddr, u64>,
}

/// Receives connection records one by one and keeps only counts.
#[derive(Default)]
pub struct Aggregator {
    totals: Totals,
    starts: BTreeMap<i64, [u64; 5]>,
    /// Counts not yet in `starts`.
    starts_pending: Pending<[u64; 5]>,
    time_wait: TimeWaitTracker,
    endpoints: Tally<Endpoint, EndpointAcc>,
    hosts: Tally<IpAddr, HostStats>,
    anomalies: BTreeMap<Anomaly, u64>,
    unexpected: BTreeMap<(TcpState, Event), u64>,
}

/// What the aggregator hands to [`Summary`](super::Summary).
pub(crate) struct Finished {
    pub totals: Totals,
    pub endpoints: Vec<EndpointStats>,
    pub hosts: Vec<HostStats>,
    pub anomalies: BTreeMap<Anomaly, u64>,
    pub unexpected: BTreeMap<(TcpState, Event), u64>,
    pub starts: BTreeMap<i64, [u64; 5]>,
    pub time_wait: TimeWaitTracker,
}

impl Aggregator {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_time_wait(config: TimeWaitConfig) -> Self {
        Aggregator {
            time_wait: TimeWaitTracker::new(config),
            ..Self::default()
        }
    }

    pub fn add(&mut self, r: &ConnRecord, http: &HttpSummary) {
        self.totals.counts.add(r);
        self.totals.first_ts = Some(
            self.totals
                .first_ts
                .map_or(r.first_ts, |t| t.min(r.first_ts)),
        );
        self.totals.last_ts = Some(self.totals.last_ts.map_or(r.last_ts, |t| t.max(r.last_ts)));

        let kind = match (r.closer, r.close) {
            (_, CloseKind::Rst) => 3,
            (Some(Party::Client), _) => 0,
            (Some(Party::Server), _) => 1,
            (Some(Party::Both), _) => 2,
            (None, _) => 4,
        };
        let mut one = [0; 5];
        one[kind] = 1;
        self.starts_pending.add(
            r.first_ts.0.div_euclid(1_000_000_000),
            one,
            &mut self.starts,
        );
        self.time_wait.add(r);

        let reason = close_reason(r, http);
        let ep = self.endpoints.entry(r.server);
        ep.counts.add(r);
        ep.http.add(r, http, reason);
        *ep.clients.entry(r.client.ip) += 1;
        match r.closer {
            Some(Party::Server) if r.close != CloseKind::Rst => {
                ep.samples.add("server_first", r.stream)
            }
            Some(Party::Client) if r.close != CloseKind::Rst => {
                ep.samples.add("client_first", r.stream)
            }
            _ => {}
        }
        if r.close == CloseKind::Rst {
            ep.samples.add("reset", r.stream);
        }
        if reason == CloseReason::ServerIdleTimeout {
            ep.samples.add("idle_timeout", r.stream);
        }

        for side in [Side::Client, Side::Server] {
            let h = self.hosts.entry(r.endpoint(side).ip);
            match side {
                Side::Client => h.connections_as_client += 1,
                Side::Server => h.connections_as_server += 1,
            }
            let closed_first = r.closer.is_some_and(|p| p.includes(side));
            let peer_closed_first = r.closer.is_some_and(|p| p.includes(side.peer()));
            if closed_first {
                h.active_closes += 1;
            } else if peer_closed_first && r.sent_fin[side.idx()] {
                h.passive_closes += 1;
            }
            h.resets_sent += u64::from(r.reset_by.is_some_and(|p| p.includes(side)));
            h.time_wait += u64::from(r.time_wait.is_some_and(|p| p.includes(side)));
            if side == Side::Client && http.app == crate::http::App::Http {
                h.http_connections_as_client += 1;
                if closed_first && http.requests <= 1 && r.close != CloseKind::Rst {
                    h.one_request_closes_as_client += 1;
                    h.samples.add("one_request_close", r.stream);
                }
            }
        }

        for a in r.anomalies.iter() {
            *self.anomalies.entry(a).or_default() += 1;
        }
        if let Some(pair) = r.unexpected {
            *self.unexpected.entry(pair).or_default() += 1;
        }
    }

    /// Sorted, deterministic results: endpoints by active closes (server first), hosts by
    /// TIME-WAIT entries; ties broken by address.
    pub(crate) fn finish(self) -> Finished {
        let mut endpoints: Vec<EndpointStats> = self
            .endpoints
            .into_iter()
            .map(|(endpoint, acc)| EndpointStats {
                endpoint,
                counts: acc.counts,
                client_hosts: acc.clients.len() as u64,
                top_clients: {
                    let mut v: Vec<(IpAddr, u64)> = acc.clients.into_iter().collect();
                    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
                    v.truncate(5);
                    v
                },
                http: acc.http,
                samples: acc.samples,
            })
            .collect();
        endpoints.sort_by(|a, b| {
            let key = |e: &EndpointStats| {
                e.counts.closed_by_server
                    + e.counts.closed_by_client
                    + e.counts.closed_simultaneously
            };
            key(b)
                .cmp(&key(a))
                .then(b.counts.connections.cmp(&a.counts.connections))
                .then(a.endpoint.cmp(&b.endpoint))
        });
        let mut hosts: Vec<HostStats> = self
            .hosts
            .into_iter()
            .map(|(ip, mut h)| {
                h.host = Some(ip);
                h
            })
            .collect();
        hosts.sort_by(|a, b| {
            b.time_wait
                .cmp(&a.time_wait)
                .then(b.active_closes.cmp(&a.active_closes))
                .then(a.host.cmp(&b.host))
        });
        Finished {
            totals: self.totals,
            endpoints,
            hosts,
            anomalies: self.anomalies,
            unexpected: self.unexpected,
            starts: {
                let mut starts = self.starts;
                self.starts_pending.flush(&mut starts);
                starts
            },
            time_wait: self.time_wait,
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::time::Timestamp;

    fn record(stream: u64, second: i64, closer: Option<Party>) -> ConnRecord {
        let ts = Timestamp(second * 1_000_000_000 + 1);
        let client = Endpoint::new("10.0.0.1".parse().unwrap(), 40000);
        let server = Endpoint::new("10.0.0.2".parse().unwrap(), 80);
        let mut r = ConnRecord::for_tests(client, server, ts);
        r.stream = stream;
        r.closer = closer;
        r.sent_fin = [closer.is_some(); 2];
        if closer.is_none() {
            r.close = CloseKind::Open;
        }
        r.conn_state = "S1";
        r.final_state = [TcpState::Established; 2];
        r
    }

    proptest! {
        /// The pending seconds change nothing: the starts per second are those of counting
        /// every record straight into the map, whatever the order of their seconds (slots
        /// shared by seconds eight apart included).
        #[test]
        fn starts_per_second_are_counted_exactly(
            records in prop::collection::vec((0i64..40, 0usize..3), 0..200),
        ) {
            let closers = [Some(Party::Client), Some(Party::Server), None];
            let mut agg = Aggregator::new();
            let mut want: BTreeMap<i64, [u64; 5]> = BTreeMap::new();
            for (i, &(second, c)) in records.iter().enumerate() {
                agg.add(&record(i as u64, second, closers[c]), &HttpSummary::default());
                want.entry(second).or_default()[[0, 1, 4][c]] += 1;
            }
            prop_assert_eq!(agg.finish().starts, want);
        }
    }
}
