//! pcapng interfaces: each Interface Description Block brings its own link type, snap length,
//! time resolution and time offset, valid until the next Section Header Block.

use pcap_parser::pcapng::{InterfaceDescriptionBlock, OptionCode};

use crate::time::Timestamp;

/// One interface of the current section.
#[derive(Clone, Copy, Debug)]
pub(super) struct Interface {
    pub linktype: u16,
    /// 0 means no limit.
    pub snaplen: u32,
    scale: TsScale,
    offset_ns: i128,
}

/// How raw timestamp units become nanoseconds, chosen once per interface so the per-packet
/// work is one multiply, divide or shift.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TsScale {
    /// Resolution 10^-r with r <= 9.
    Mul(u64),
    /// Resolution 10^-r with r > 9.
    Div(u64),
    /// Resolution 2^-k: `units * 1e9 >> k`.
    Shift(u32),
    /// Resolution finer than 10^-28: every timestamp is below a nanosecond.
    Zero,
}

impl TsScale {
    /// `if_tsresol`: bit 0x80 clear means 10^-r seconds, set means 2^-(r & 0x7f) seconds.
    fn from_tsresol(r: u8) -> TsScale {
        if r & 0x80 != 0 {
            return TsScale::Shift(u32::from(r & 0x7F));
        }
        let r = u32::from(r);
        if r <= 9 {
            TsScale::Mul(10u64.pow(9 - r))
        } else {
            10u64.checked_pow(r - 9).map_or(TsScale::Zero, TsScale::Div)
        }
    }

    fn nanos(self, units: u64) -> u128 {
        let units = u128::from(units);
        match self {
            TsScale::Mul(m) => units * u128::from(m),
            TsScale::Div(d) => units / u128::from(d),
            TsScale::Shift(k) => (units * 1_000_000_000) >> k,
            TsScale::Zero => 0,
        }
    }
}

impl Interface {
    /// `big_endian` is the section's byte order: pcap-parser decodes `if_tsoffset` as
    /// little-endian whatever the section says, so it is read again here.
    pub fn new(idb: &InterfaceDescriptionBlock<'_>, big_endian: bool) -> Interface {
        let offset_secs = idb
            .options
            .iter()
            .find(|o| o.code == OptionCode::IfTsoffset)
            .and_then(|o| o.value().first_chunk::<8>())
            .map_or(0, |b| {
                if big_endian {
                    i64::from_be_bytes(*b)
                } else {
                    i64::from_le_bytes(*b)
                }
            });
        Interface {
            linktype: idb.linktype.0 as u16,
            snaplen: idb.snaplen,
            scale: TsScale::from_tsresol(idb.if_tsresol),
            offset_ns: i128::from(offset_secs) * 1_000_000_000,
        }
    }

    /// The packet time from an EPB's two timestamp halves.
    pub fn timestamp(&self, high: u32, low: u32) -> Timestamp {
        let units = (u64::from(high) << 32) | u64::from(low);
        let ns = i128::try_from(self.scale.nanos(units)).unwrap_or(i128::MAX);
        let ns = ns.saturating_add(self.offset_ns);
        Timestamp(ns.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iface(tsresol: u8, offset_secs: i64) -> Interface {
        Interface {
            linktype: 1,
            snaplen: 0,
            scale: TsScale::from_tsresol(tsresol),
            offset_ns: i128::from(offset_secs) * 1_000_000_000,
        }
    }

    #[test]
    fn decimal_and_binary_resolutions() {
        let units: u64 = 1_700_000_000_123_456;
        let (high, low) = ((units >> 32) as u32, units as u32);
        let us = iface(6, 0).timestamp(high, low);
        assert_eq!(us, Timestamp(1_700_000_000_123_456_000));
        let ns = iface(9, 0).timestamp(high, low);
        assert_eq!(ns, Timestamp(1_700_000_000_123_456));
        let ps = iface(12, 0).timestamp(high, low);
        assert_eq!(ps, Timestamp(1_700_000_000_123));
        // 2^-6 s: 64 units per second
        assert_eq!(
            iface(0x86, 0).timestamp(0, 64 * 10 + 1),
            Timestamp(10_015_625_000)
        );
        assert_eq!(iface(0, 0).timestamp(0, 7), Timestamp(7_000_000_000));
    }

    #[test]
    fn negative_offset() {
        assert_eq!(
            iface(6, -5).timestamp(0, 7_000_001),
            Timestamp(2_000_001_000)
        );
    }

    #[test]
    fn extreme_values_do_not_panic() {
        for r in [0u8, 9, 10, 28, 29, 127, 0x80, 0xBF, 0xFF] {
            for off in [i64::MIN, 0, i64::MAX] {
                let _ = iface(r, off).timestamp(u32::MAX, u32::MAX);
            }
        }
        assert_eq!(iface(0, i64::MAX).timestamp(0, 0), Timestamp(i64::MAX));
    }
}
