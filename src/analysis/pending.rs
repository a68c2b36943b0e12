//! Sums held in front of a `BTreeMap<i64, V>` for a few recent keys, so that runs of additions
//! to one key cost one map update, not one each.

use std::collections::BTreeMap;

/// Keys held at once; each goes to the slot its value picks.
const SLOTS: usize = 8;

/// A value that is summed per key.
pub(super) trait Sum: Copy + Default {
    fn add(&mut self, other: Self);
}

impl Sum for i64 {
    fn add(&mut self, other: Self) {
        *self += other;
    }
}

/// Counts by kind, as connection starts per second keep them.
impl Sum for [u64; 5] {
    fn add(&mut self, other: Self) {
        for (a, b) in self.iter_mut().zip(other) {
            *a += b;
        }
    }
}

/// Pending sums for keys of one map. Records reach the analysis a linger time or a 4-tuple's
/// reuse after their close, so the keys they add to (their second, their TIME-WAIT bucket)
/// come from a few interleaved runs: one slot per run keeps each run out of the map until it
/// ends. A key that meets another in its slot sends that one's sum to the map.
#[derive(Clone, Debug, Default)]
pub(super) struct Pending<V>([Option<(i64, V)>; SLOTS]);

impl<V: Sum> Pending<V> {
    /// Adds `v` to `key`'s sum, held here or in `map`.
    pub(super) fn add(&mut self, key: i64, v: V, map: &mut BTreeMap<i64, V>) {
        match &mut self.0[key.rem_euclid(SLOTS as i64) as usize] {
            Some((k, sum)) if *k == key => sum.add(v),
            slot => {
                if let Some((k, sum)) = slot.replace((key, v)) {
                    map.entry(k).or_default().add(sum);
                }
            }
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.iter().all(Option::is_none)
    }

    /// Adds the held sums to `map`.
    pub(super) fn flush(&self, map: &mut BTreeMap<i64, V>) {
        for &(k, sum) in self.0.iter().flatten() {
            map.entry(k).or_default().add(sum);
        }
    }
}
