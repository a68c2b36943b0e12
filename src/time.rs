//! Capture time as integer nanoseconds since the Unix epoch. Uses nothing else in the crate.

use std::fmt;

/// A point in capture time, in nanoseconds since 1970-01-01T00:00:00Z.
///
/// Integer nanoseconds keep pcap (µs), nanosecond pcap and pcapng (any resolution) exact and
/// make comparisons and differences cheap.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub const NANOS_PER_SEC: i64 = 1_000_000_000;

    pub fn from_secs_nanos(secs: i64, nanos: i64) -> Self {
        Timestamp(
            secs.saturating_mul(Self::NANOS_PER_SEC)
                .saturating_add(nanos),
        )
    }

    pub fn nanos(self) -> i64 {
        self.0
    }

    /// Seconds as a float, for JSON and charts.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }

    /// Duration from `earlier` to `self` (negative if `earlier` is later).
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration(self.0.saturating_sub(earlier.0))
    }

    pub fn plus(self, d: Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(d.0))
    }
}

impl fmt::Display for Timestamp {
    /// `seconds.microseconds` since the epoch, as tcpdump prints with `-tt`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.div_euclid(Self::NANOS_PER_SEC);
        let frac = self.0.rem_euclid(Self::NANOS_PER_SEC);
        write!(f, "{secs}.{:06}", frac / 1000)
    }
}

/// A signed span of capture time in nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(pub i64);

impl Duration {
    pub fn from_secs(s: i64) -> Self {
        Duration(s.saturating_mul(Timestamp::NANOS_PER_SEC))
    }

    pub fn from_millis(ms: i64) -> Self {
        Duration(ms.saturating_mul(1_000_000))
    }

    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }

    pub fn as_millis_f64(self) -> f64 {
        self.0 as f64 / 1e6
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_seconds_and_micros() {
        assert_eq!(
            Timestamp::from_secs_nanos(12, 3_456_789).to_string(),
            "12.003456"
        );
        assert_eq!(Timestamp(-1).to_string(), "-1.999999");
    }

    #[test]
    fn since_is_signed() {
        let a = Timestamp::from_secs_nanos(10, 0);
        let b = Timestamp::from_secs_nanos(12, 500_000_000);
        assert_eq!(b.since(a).as_millis_f64(), 2500.0);
        assert_eq!(a.since(b).as_millis_f64(), -2500.0);
    }
}
