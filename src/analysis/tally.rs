//! A map for the fold's counters. Nearly every record adds to an entry that one of the last
//! two records added to (a capture has few servers, hosts and pairs of them, however many
//! connections), so those two entries are compared first, and only a new key is hashed.

use std::hash::Hash;

use super::FastMap;

/// Entries kept in the order their keys first came, found by a hash index.
#[derive(Debug)]
pub(crate) struct Tally<K, V> {
    index: FastMap<K, usize>,
    items: Vec<(K, V)>,
    /// The entries used last, most recent first; `usize::MAX` for none yet.
    recent: [usize; 2],
}

impl<K, V> Default for Tally<K, V> {
    fn default() -> Self {
        Tally {
            index: FastMap::default(),
            items: Vec::new(),
            recent: [usize::MAX; 2],
        }
    }
}

impl<K: Copy + Eq + Hash, V: Default> Tally<K, V> {
    /// The entry of `key`, made with `V::default()` if it is new.
    #[inline]
    pub fn entry(&mut self, key: K) -> &mut V {
        let [a, b] = self.recent;
        let i = if self.items.get(a).is_some_and(|(k, _)| *k == key) {
            a
        } else if self.items.get(b).is_some_and(|(k, _)| *k == key) {
            self.recent = [b, a];
            b
        } else {
            let i = self.slot(key);
            self.recent = [i, a];
            i
        };
        &mut self.items[i].1
    }

    fn slot(&mut self, key: K) -> usize {
        let next = self.items.len();
        let i = *self.index.entry(key).or_insert(next);
        if i == next {
            self.items.push((key, V::default()));
        }
        i
    }
}

impl<K: Eq + Hash, V> Tally<K, V> {
    pub fn get(&self, key: &K) -> Option<&V> {
        self.index.get(key).map(|&i| &self.items[i].1)
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// In the order the keys first came.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.items.iter().map(|(k, v)| (k, v))
    }
}

impl<K, V> IntoIterator for Tally<K, V> {
    type Item = (K, V);
    type IntoIter = std::vec::IntoIter<(K, V)>;

    /// In the order the keys first came.
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Whatever the order of the keys, every entry ends with what a plain map would hold.
        #[test]
        fn adds_up_as_a_map_does(keys in prop::collection::vec(0u8..6, 0..200)) {
            let mut tally: Tally<u8, u64> = Tally::default();
            let mut map = std::collections::BTreeMap::new();
            for (n, k) in keys.iter().enumerate() {
                *tally.entry(*k) += n as u64 + 1;
                *map.entry(*k).or_insert(0) += n as u64 + 1;
            }
            prop_assert_eq!(tally.len(), map.len());
            for (k, v) in &map {
                prop_assert_eq!(tally.get(k), Some(v));
            }
            let mut all: Vec<(u8, u64)> = tally.into_iter().collect();
            all.sort();
            prop_assert_eq!(all, map.into_iter().collect::<Vec<_>>());
        }
    }
}
