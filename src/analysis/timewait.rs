//! TIME-WAIT over time: from each connection's TIME-WAIT start and a hold time, how many
//! TIME-WAIT sockets each host (and each host, endpoint pair) holds as capture time passes,
//! the figure `ss -tan state time-wait` would show; and, for client hosts, how close those
//! sockets bring them to running out of ephemeral ports toward one server endpoint.

use std::borrow::Cow;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, VecDeque};
use std::net::IpAddr;

use super::pending::Pending;
use super::tally::Tally;
use super::FastMap;

use crate::net::{Endpoint, Side};
use crate::tcp::ConnRecord;
use crate::time::{Duration, Timestamp};

/// Resolution of the curves.
pub const BUCKET: Duration = Duration(100_000_000);
/// Points kept per host in a downsampled series.
const SERIES_POINTS: usize = 300;

/// How long TIME-WAIT lasts and which ports clients have.
#[derive(Clone, Debug, PartialEq)]
pub struct TimeWaitConfig {
    /// Linux holds TIME-WAIT 60 s (`TCP_TIMEWAIT_LEN`); Windows 120 s by default.
    pub hold: Duration,
    /// Per-host overrides of `hold`.
    pub per_host: BTreeMap<IpAddr, Duration>,
    /// The client's ephemeral port range (Linux `net.ipv4.ip_local_port_range`).
    pub port_range: (u16, u16),
    /// Share of the port range held in TIME-WAIT toward one endpoint that counts as pressure.
    pub pressure_threshold: f64,
}

impl Default for TimeWaitConfig {
    fn default() -> Self {
        TimeWaitConfig {
            hold: Duration::from_secs(60),
            per_host: BTreeMap::new(),
            port_range: (32768, 60999),
            pressure_threshold: 0.2,
        }
    }
}

impl TimeWaitConfig {
    pub fn hold_for(&self, host: IpAddr) -> Duration {
        self.per_host.get(&host).copied().unwrap_or(self.hold)
    }

    pub fn ports(&self) -> u64 {
        u64::from(self.port_range.1.saturating_sub(self.port_range.0)) + 1
    }
}

/// A count over time kept as +1/-1 steps per bucket: every bucket an interval starts or ends
/// in has an entry, even if its steps cancel out.
#[derive(Clone, Debug, Default)]
struct Curve {
    steps: BTreeMap<i64, i64>,
    /// Steps not yet in `steps`: starts' and ends' buckets, apart.
    pending: [Pending<i64>; 2],
    entries: u64,
    cut_by_reuse: u64,
}

impl Curve {
    fn add(&mut self, start: Timestamp, end: Timestamp, cut: bool) {
        let first = start.0.div_euclid(BUCKET.0);
        self.step(0, first, 1);
        self.step(1, end.0.div_euclid(BUCKET.0).max(first + 1), -1);
        self.entries += 1;
        self.cut_by_reuse += u64::from(cut);
    }

    /// Adds `d` to bucket `b` through the pending buckets of `kind` (0 starts, 1 ends).
    fn step(&mut self, kind: usize, b: i64, d: i64) {
        self.pending[kind].add(b, d, &mut self.steps);
    }

    /// Every bucket's step, the pending ones included.
    fn all_steps(&self) -> Cow<'_, BTreeMap<i64, i64>> {
        if self.pending.iter().all(Pending::is_empty) {
            return Cow::Borrowed(&self.steps);
        }
        let mut steps = self.steps.clone();
        for p in &self.pending {
            p.flush(&mut steps);
        }
        Cow::Owned(steps)
    }

    /// Count at the start of every bucket where it changes, within `[from, to]`.
    fn points(&self, from: Timestamp, to: Timestamp) -> Vec<(Timestamp, u64)> {
        let (lo, hi) = (from.0.div_euclid(BUCKET.0), to.0.div_euclid(BUCKET.0));
        let mut level: i64 = 0;
        let mut out = vec![];
        let mut started = false;
        for (&b, &d) in self.all_steps().iter() {
            if b > hi {
                break;
            }
            level += d;
            if b < lo {
                continue;
            }
            if !started && b > lo {
                out.push((Timestamp(lo * BUCKET.0), (level - d).max(0) as u64));
            }
            started = true;
            out.push((Timestamp(b * BUCKET.0), level.max(0) as u64));
        }
        if !started {
            out.push((Timestamp(lo * BUCKET.0), level.max(0) as u64));
        }
        out
    }

    fn stats(&self, from: Timestamp, to: Timestamp, hold: Duration) -> TimeWaitStats {
        let pts = self.points(from, to);
        let (peak_at, peak) = pts
            .iter()
            .copied()
            .max_by_key(|(t, n)| (*n, std::cmp::Reverse(*t)))
            .unwrap_or((from, 0));
        let at_end = pts.last().map_or(0, |p| p.1);
        let span = to.since(from).as_secs_f64();
        let rate = if span > 0.0 {
            self.entries as f64 / span
        } else {
            0.0
        };
        TimeWaitStats {
            hold,
            entries: self.entries,
            peak,
            peak_at: (peak > 0).then_some(peak_at),
            at_end,
            rate_per_s: rate,
            steady_state: rate * hold.as_secs_f64(),
            lower_bound: to.since(from) < hold,
            cut_by_reuse: self.cut_by_reuse,
        }
    }
}

/// TIME-WAIT figures of one host or one (host, endpoint) pair.
#[derive(Clone, Debug, PartialEq)]
pub struct TimeWaitStats {
    pub hold: Duration,
    /// TIME-WAIT sockets entered during the capture.
    pub entries: u64,
    /// Most held at once (at 100 ms resolution), and when.
    pub peak: u64,
    pub peak_at: Option<Timestamp>,
    /// Held at the end of the capture.
    pub at_end: u64,
    /// Entries per second over the capture: the active-close rate.
    pub rate_per_s: f64,
    /// `rate_per_s * hold`: what the host holds if the rate goes on.
    pub steady_state: f64,
    /// The capture is shorter than the hold time: `peak` and `at_end` miss the sockets
    /// entered before it began, so they are lower bounds; `steady_state` is the estimate.
    pub lower_bound: bool,
    /// Entries ended early because a new connection reused their 4-tuple.
    pub cut_by_reuse: u64,
}

/// TIME-WAIT of one host.
#[derive(Clone, Debug, PartialEq)]
pub struct HostTimeWait {
    pub host: IpAddr,
    pub stats: TimeWaitStats,
    /// Sockets held over time, downsampled (each point the most in its window).
    pub series: Vec<(Timestamp, u64)>,
    /// Per server endpoint its TIME-WAIT sockets belong to; `side` says whether the host held
    /// them as the client or as that server.
    pub by_endpoint: Vec<(Endpoint, Side, TimeWaitStats)>,
}

/// How much of a client's ephemeral port range its TIME-WAIT sockets toward one server
/// endpoint take.
#[derive(Clone, Debug, PartialEq)]
pub struct PortPressure {
    pub client: IpAddr,
    pub server: Endpoint,
    pub connections: u64,
    /// New connections per second from this client to this endpoint.
    pub new_connection_rate: f64,
    pub peak_time_wait: u64,
    pub steady_state: f64,
    pub ports: u64,
    /// Steady-state TIME-WAIT 4-tuples as a share of the port range (peak if larger).
    pub share: f64,
    /// `ports / hold`: the most new connections per second this pair can sustain.
    pub sustainable_rate: f64,
    /// New SYNs that reused a 4-tuple the client still held in TIME-WAIT.
    pub reused_in_time_wait: u64,
}

/// TIME-WAIT intervals by (client, server) 4-tuple. Every record looks its tuple up, in a map
/// as large as the tuples held: an IPv4 tuple is keyed by one 128-bit word, so that an entry
/// is 32 bytes, not 56, and cheaper to hash.
#[derive(Debug, Default)]
struct Tuples {
    v4: FastMap<u128, (Timestamp, Timestamp)>,
    other: FastMap<(Endpoint, Endpoint), (Timestamp, Timestamp)>,
}

impl Tuples {
    fn v4_key((client, server): (Endpoint, Endpoint)) -> Option<u128> {
        Some(u128::from(client.v4_word()?) << 64 | u128::from(server.v4_word()?))
    }

    fn get(&self, tuple: (Endpoint, Endpoint)) -> Option<(Timestamp, Timestamp)> {
        match Self::v4_key(tuple) {
            Some(k) => self.v4.get(&k).copied(),
            None => self.other.get(&tuple).copied(),
        }
    }

    fn insert(&mut self, tuple: (Endpoint, Endpoint), span: (Timestamp, Timestamp)) {
        match Self::v4_key(tuple) {
            Some(k) => self.v4.insert(k, span),
            None => self.other.insert(tuple, span),
        };
    }

    /// Forgets `tuple` if its kept interval is the one that ends at `end` (a later one may have
    /// taken its place).
    fn remove_ending(&mut self, tuple: (Endpoint, Endpoint), end: Timestamp) {
        fn remove<K: Eq + std::hash::Hash>(
            map: &mut FastMap<K, (Timestamp, Timestamp)>,
            k: K,
            end: Timestamp,
        ) {
            if let Entry::Occupied(e) = map.entry(k) {
                if e.get().1 == end {
                    e.remove();
                }
            }
        }
        match Self::v4_key(tuple) {
            Some(k) => remove(&mut self.v4, k, end),
            None => remove(&mut self.other, tuple, end),
        }
    }
}

/// Collects TIME-WAIT intervals as records arrive.
#[derive(Debug, Default)]
pub struct TimeWaitTracker {
    config: TimeWaitConfig,
    hosts: Tally<IpAddr, Curve>,
    pairs: Tally<(IpAddr, Endpoint, Side), Curve>,
    /// Connections per (client host, server endpoint).
    flows: Tally<(IpAddr, Endpoint), u64>,
    /// Client-side TIME-WAIT 4-tuples still within their hold, to catch a SYN that reuses one.
    client_tw: Tuples,
    client_tw_order: VecDeque<(Timestamp, Endpoint, Endpoint)>,
    reused_in_tw: FastMap<(IpAddr, Endpoint), u64>,
}

impl TimeWaitTracker {
    pub fn new(config: TimeWaitConfig) -> Self {
        TimeWaitTracker {
            config,
            ..Default::default()
        }
    }

    pub fn add(&mut self, r: &ConnRecord) {
        *self.flows.entry((r.client.ip, r.server)) += 1;
        let tuple = (r.client, r.server);
        if let Some((start, end)) = self.client_tw.get(tuple) {
            if r.first_ts > start && r.first_ts < end {
                *self
                    .reused_in_tw
                    .entry((r.client.ip, r.server))
                    .or_default() += 1;
            }
        }
        let (Some(party), Some(start)) = (r.time_wait, r.time_wait_start) else {
            return;
        };
        for side in [Side::Client, Side::Server] {
            if !party.includes(side) {
                continue;
            }
            let host = r.endpoint(side).ip;
            let full = start.plus(self.config.hold_for(host));
            let end = match r.reused_at {
                Some(t) if t < full => t.max(start),
                _ => full,
            };
            let cut = end < full;
            self.hosts.entry(host).add(start, end, cut);
            self.pairs
                .entry((host, r.server, side))
                .add(start, end, cut);
            if side == Side::Client {
                self.client_tw.insert(tuple, (start, end));
                self.client_tw_order.push_back((end, r.client, r.server));
            }
        }
        // Forget client TIME-WAIT tuples long past, so memory follows what is still held.
        while let Some(&(end, c, s)) = self.client_tw_order.front() {
            if end.plus(self.config.hold) >= r.first_ts {
                break;
            }
            self.client_tw_order.pop_front();
            self.client_tw.remove_ending((c, s), end);
        }
    }

    /// Figures over the capture `[from, to]`, hosts with most TIME-WAIT first.
    pub fn finish(&self, from: Timestamp, to: Timestamp) -> (Vec<HostTimeWait>, Vec<PortPressure>) {
        let mut hosts: Vec<HostTimeWait> = self
            .hosts
            .iter()
            .map(|(host, curve)| {
                let hold = self.config.hold_for(*host);
                let mut by_endpoint: Vec<(Endpoint, Side, TimeWaitStats)> = self
                    .pairs
                    .iter()
                    .filter(|((h, _, _), _)| h == host)
                    .map(|((_, ep, side), c)| (*ep, *side, c.stats(from, to, hold)))
                    .collect();
                by_endpoint.sort_by(|a, b| {
                    b.2.entries
                        .cmp(&a.2.entries)
                        .then(a.0.cmp(&b.0))
                        .then(a.1.cmp(&b.1))
                });
                HostTimeWait {
                    host: *host,
                    stats: curve.stats(from, to, hold),
                    series: downsample(&curve.points(from, to), SERIES_POINTS),
                    by_endpoint,
                }
            })
            .collect();
        hosts.sort_by(|a, b| {
            b.stats
                .peak
                .cmp(&a.stats.peak)
                .then(b.stats.entries.cmp(&a.stats.entries))
                .then(a.host.cmp(&b.host))
        });

        let span = to.since(from).as_secs_f64();
        let mut pressure: Vec<PortPressure> = self
            .pairs
            .iter()
            .filter(|((_, _, side), _)| *side == Side::Client)
            .map(|((client, server, _), curve)| {
                let hold = self.config.hold_for(*client);
                let st = curve.stats(from, to, hold);
                let ports = self.config.ports();
                let connections = self.flows.get(&(*client, *server)).copied().unwrap_or(0);
                PortPressure {
                    client: *client,
                    server: *server,
                    connections,
                    new_connection_rate: if span > 0.0 {
                        connections as f64 / span
                    } else {
                        0.0
                    },
                    peak_time_wait: st.peak,
                    steady_state: st.steady_state,
                    ports,
                    share: (st.steady_state.max(st.peak as f64)) / ports as f64,
                    sustainable_rate: ports as f64 / hold.as_secs_f64().max(1e-9),
                    reused_in_time_wait: self
                        .reused_in_tw
                        .get(&(*client, *server))
                        .copied()
                        .unwrap_or(0),
                }
            })
            .collect();
        pressure.sort_by(|a, b| {
            b.share
                .total_cmp(&a.share)
                .then(a.client.cmp(&b.client))
                .then(a.server.cmp(&b.server))
        });
        (hosts, pressure)
    }

    pub fn config(&self) -> &TimeWaitConfig {
        &self.config
    }
}

/// At most `n` points, each the highest count of its window, so peaks survive.
fn downsample(points: &[(Timestamp, u64)], n: usize) -> Vec<(Timestamp, u64)> {
    if points.len() <= n {
        return points.to_vec();
    }
    let per = points.len().div_ceil(n);
    points
        .chunks(per)
        .map(|c| {
            let max = c.iter().map(|p| p.1).max().unwrap_or(0);
            (c[0].0, max)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: f64) -> Timestamp {
        Timestamp((x * 1e9) as i64)
    }

    proptest::proptest! {
        /// Pending steps change nothing: the points are those of every step put in the map
        /// at once, whatever the order and overlap of the intervals.
        #[test]
        fn curve_points_are_those_of_all_steps(
            intervals in proptest::collection::vec(
                (0i64..40, 0i64..30, proptest::bool::ANY),
                0..60,
            ),
            from in 0i64..20,
            span in 0i64..80,
        ) {
            let mut c = Curve::default();
            let mut reference = Curve::default();
            for &(start, len, cut) in &intervals {
                let (start, end) = (s(start as f64 * 0.1), s((start + len) as f64 * 0.1));
                c.add(start, end, cut);
                let first = start.0.div_euclid(BUCKET.0);
                *reference.steps.entry(first).or_default() += 1;
                *reference
                    .steps
                    .entry(end.0.div_euclid(BUCKET.0).max(first + 1))
                    .or_default() -= 1;
            }
            let (from, to) = (s(from as f64 * 0.1), s((from + span) as f64 * 0.1));
            proptest::prop_assert_eq!(c.points(from, to), reference.points(from, to));
            proptest::prop_assert_eq!(c.all_steps().into_owned(), reference.steps);
        }
    }

    #[test]
    fn curve_counts_overlapping_intervals() {
        let mut c = Curve::default();
        c.add(s(1.0), s(61.0), false);
        c.add(s(2.0), s(62.0), false);
        c.add(s(3.0), s(4.0), true);
        let st = c.stats(s(0.0), s(100.0), Duration::from_secs(60));
        assert_eq!(st.peak, 3);
        assert_eq!(st.peak_at, Some(s(3.0)));
        assert_eq!(st.at_end, 0);
        assert_eq!(st.entries, 3);
        assert_eq!(st.cut_by_reuse, 1);
        assert!(!st.lower_bound);
        let st = c.stats(s(0.0), s(10.0), Duration::from_secs(60));
        assert_eq!(st.at_end, 2);
        assert!(st.lower_bound);
        assert!((st.steady_state - 3.0 / 10.0 * 60.0).abs() < 1e-9);
    }

    /// A connection on `client` → `server` from `first` s, left in TIME-WAIT on the client
    /// from `tw` s when given.
    fn record(client: Endpoint, server: Endpoint, first: f64, tw: Option<f64>) -> ConnRecord {
        let mut r = ConnRecord::for_tests(client, server, s(first));
        r.time_wait = tw.map(|_| crate::tcp::Party::Client);
        r.time_wait_start = tw.map(s);
        r
    }

    /// A SYN on a 4-tuple the client holds in TIME-WAIT is counted, for IPv4 and IPv6 pairs
    /// alike (their tuples are kept apart); one on another tuple, or after the hold, is not.
    #[test]
    fn syns_on_a_tuple_in_time_wait_are_counted() {
        for (c, sv) in [("10.0.0.1", "10.0.0.2"), ("fd00::1", "fd00::2")] {
            let ep = |ip: &str, port| Endpoint::new(ip.parse().unwrap(), port);
            let (client, server) = (ep(c, 40000), ep(sv, 80));
            let mut t = TimeWaitTracker::default();
            t.add(&record(client, server, 0.5, Some(1.0)));
            t.add(&record(client, server, 10.0, Some(11.0)));
            t.add(&record(client, ep(sv, 81), 12.0, None));
            t.add(&record(ep(c, 40001), server, 13.0, None));
            // The hold of the second one ended at 71 s.
            t.add(&record(client, server, 200.0, None));
            let (_, pressure) = t.finish(s(0.0), s(200.0));
            let reused: Vec<_> = pressure
                .iter()
                .map(|p| (p.server, p.reused_in_time_wait))
                .collect();
            assert_eq!(reused, [(server, 1)], "{c}");
        }
    }

    #[test]
    fn downsampling_keeps_the_peak() {
        let pts: Vec<_> = (0..1000)
            .map(|i| (Timestamp(i), if i == 517 { 99 } else { 1 }))
            .collect();
        let d = downsample(&pts, 100);
        assert!(d.len() <= 100);
        assert_eq!(d.iter().map(|p| p.1).max(), Some(99));
    }
}
