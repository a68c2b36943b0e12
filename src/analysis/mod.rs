//! Folds connection records into per-endpoint and per-host counts. Uses [`crate::tcp`] records
//! and [`crate::net`]; never sees packets. Memory follows the number of endpoints and hosts,
//! not the number of connections.

mod compare;
mod findings;
mod fold;
mod health;
mod http_stats;
mod pending;
mod reason;
mod tally;
mod timewait;

pub use compare::{
    compare, Better, Compared, Comparison, Figure, Renames, Side as CompareSide, Verdict,
    DEFAULT_THRESHOLD, MIN_SAMPLE,
};
pub use findings::{Finding, Severity, MIN_CONNECTIONS};
pub use fold::{
    Aggregator, CloseCounts, EndpointStats, HostStats, Samples, Totals, SAMPLE_STREAMS, START_KINDS,
};
pub use health::{CheckSource, HealthCheck, MAX_JITTER, MIN_CHECKS};
pub use http_stats::{HttpStats, REQUEST_BUCKETS};
pub use reason::{
    close_after_request, close_reason, idle_before_close, CloseReason, IDLE_THRESHOLD,
};
pub use timewait::{HostTimeWait, PortPressure, TimeWaitConfig, TimeWaitStats, BUCKET};

use std::collections::BTreeMap;

/// Hash map with foldhash's per-process seeded hasher: cheaper than SipHash, and a crafted
/// capture cannot predict it.
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

use crate::capture::CaptureInfo;
use crate::decode::SkipReason;
use crate::tcp::{Anomaly, Event, TcpState, TrackerStats};

/// What one input contributed, for the `captures` section.
#[derive(Clone, Debug, Default)]
pub struct CaptureSummary {
    pub info: CaptureInfo,
    /// Packets skipped, by reason.
    pub skipped: BTreeMap<SkipReason, u64>,
    /// TCP segments taken in.
    pub tcp_segments: u64,
}

/// How much of the input could be used, and what looked odd.
#[derive(Clone, Debug, Default)]
pub struct DataQuality {
    pub packets: u64,
    pub tcp_segments: u64,
    pub skipped: BTreeMap<SkipReason, u64>,
    /// Connections showing each anomaly.
    pub anomalies: BTreeMap<Anomaly, u64>,
    /// Observed (state, event) pairs without an edge in the RFC diagram.
    pub unexpected_transitions: BTreeMap<(TcpState, Event), u64>,
    pub tuple_reuses: u64,
    pub peak_tracked_connections: u64,
    /// Connections let go early because the flow table was full (`--max-connections`).
    pub evicted_connections: u64,
    /// One line each, e.g. a truncated capture with its byte offset.
    pub warnings: Vec<String>,
}

/// Everything `analyze` reports.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub captures: Vec<CaptureSummary>,
    pub totals: Totals,
    /// Server endpoints, most active closes first.
    pub endpoints: Vec<EndpointStats>,
    /// Hosts, most TIME-WAIT first.
    pub hosts: Vec<HostStats>,
    /// TIME-WAIT over time per host, most at peak first.
    pub time_wait: Vec<HostTimeWait>,
    /// Ephemeral-port use per (client host, server endpoint), highest share first.
    pub port_pressure: Vec<PortPressure>,
    pub time_wait_config: TimeWaitConfig,
    /// Connections started per second (key: whole seconds since the epoch), split by
    /// [`START_KINDS`].
    pub starts_per_second: BTreeMap<i64, [u64; 5]>,
    /// Most severe first.
    pub findings: Vec<Finding>,
    pub data_quality: DataQuality,
}

impl Summary {
    /// Assembles the summary from the folded records and what the readers and tracker counted.
    pub fn new(
        agg: Aggregator,
        captures: Vec<CaptureSummary>,
        tracker: TrackerStats,
        warnings: Vec<String>,
    ) -> Summary {
        let f = agg.finish();
        let totals = f.totals;
        let (from, to) = (
            totals.first_ts.unwrap_or_default(),
            totals.last_ts.unwrap_or_default(),
        );
        let (time_wait, port_pressure) = f.time_wait.finish(from, to);
        let time_wait_config = f.time_wait.config().clone();
        let findings = findings::findings(&findings::Inputs {
            endpoints: &f.endpoints,
            hosts: &f.hosts,
            time_wait: &time_wait,
            pressure: &port_pressure,
            config: &time_wait_config,
            duration_s: to.since(from).as_secs_f64(),
        });
        let mut dq = DataQuality {
            anomalies: f.anomalies,
            unexpected_transitions: f.unexpected,
            tuple_reuses: tracker.tuple_reuses,
            peak_tracked_connections: tracker.peak_tracked,
            evicted_connections: tracker.evicted,
            warnings,
            ..DataQuality::default()
        };
        for c in &captures {
            dq.packets += c.info.packets;
            dq.tcp_segments += c.tcp_segments;
            for (r, n) in &c.skipped {
                *dq.skipped.entry(*r).or_default() += n;
            }
        }
        Summary {
            captures,
            totals,
            endpoints: f.endpoints,
            hosts: f.hosts,
            time_wait,
            port_pressure,
            time_wait_config,
            starts_per_second: f.starts,
            findings,
            data_quality: dq,
        }
    }
}
