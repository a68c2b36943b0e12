use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use crate::http::HttpSummary;
use crate::net::{Endpoint, Side};

use super::http_stats::HttpStats;
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
    pub http: HttpStats,
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
    clients: std::collections::HashSet<IpAddr>,
}

/// Receives connection records one by one and keeps only counts.
#[derive(Default)]
pub struct Aggregator {
    totals: Totals,
    endpoints: HashMap<Endpoint, EndpointAcc>,
    hosts: HashMap<IpAddr, HostStats>,
    anomalies: BTreeMap<Anomaly, u64>,
    unexpected: BTreeMap<(TcpState, Event), u64>,
}

type Finished = (
    Totals,
    Vec<EndpointStats>,
    Vec<HostStats>,
    BTreeMap<Anomaly, u64>,
    BTreeMap<(TcpState, Event), u64>,
);

impl Aggregator {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, r: &ConnRecord, http: &HttpSummary) {
        self.totals.counts.add(r);
        self.totals.first_ts = Some(
            self.totals
                .first_ts
                .map_or(r.first_ts, |t| t.min(r.first_ts)),
        );
        self.totals.last_ts = Some(self.totals.last_ts.map_or(r.last_ts, |t| t.max(r.last_ts)));

        let ep = self.endpoints.entry(r.server).or_default();
        ep.counts.add(r);
        ep.http.add(r, http);
        ep.clients.insert(r.client.ip);

        for side in [Side::Client, Side::Server] {
            let h = self.hosts.entry(r.endpoint(side).ip).or_default();
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
                http: acc.http,
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
        (
            self.totals,
            endpoints,
            hosts,
            self.anomalies,
            self.unexpected,
        )
    }
}
