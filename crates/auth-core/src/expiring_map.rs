//! [`ExpiringMap`]: the bounded map behind Portcullis's caches (verified tokens, credentials).

use std::collections::HashMap;
use std::hash::Hash;

/// A map of at most `capacity` entries, each with the instant it expires.
///
/// It is the storage of a cache: the caller holds the lock and decides what an instant is (unix
/// seconds, a `DateTime`). Inserting into a full map first forgets the expired entries, but only
/// when one can have expired since the last sweep (the map knows the earliest expiry), and then, if
/// still full, forgets one entry chosen arbitrarily. An insert therefore never costs a scan of a
/// map full of live entries: a cache filled with tokens seen once (refresh tokens, a flood of
/// new tokens) keeps costing O(1) per insert.
#[derive(Debug)]
pub struct ExpiringMap<K, V, T> {
    capacity: usize,
    entries: HashMap<K, (V, T)>,
    /// No entry expires before this instant (a lower bound; `None` when empty or unknown).
    earliest: Option<T>,
}

impl<K: Eq + Hash + Clone, V, T: Ord + Copy> ExpiringMap<K, V, T> {
    /// An empty map that holds at most `capacity` entries (0: it holds nothing).
    pub fn new(capacity: usize) -> Self {
        Self { capacity, entries: HashMap::new(), earliest: None }
    }

    /// The most entries the map holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// How many entries the map holds, expired ones included until they are swept.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the map holds no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value of `key` if it has not expired at `now`.
    pub fn get(&self, key: &K, now: T) -> Option<&V> {
        self.entries.get(key).filter(|(_, expires)| now < *expires).map(|(value, _)| value)
    }

    /// The value of `key`, expired or not, with its expiry.
    pub fn get_with_expiry(&self, key: &K) -> Option<(&V, T)> {
        self.entries.get(key).map(|(value, expires)| (value, *expires))
    }

    /// The value of `key`, expired or not, to change in place.
    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.entries.get_mut(key).map(|(value, _)| value)
    }

    /// Remembers `value` for `key` until `expires`. A full map makes room first (see the type's
    /// documentation); a map of capacity 0 remembers nothing, nor does anything expired at `now`.
    pub fn insert(&mut self, key: K, value: V, expires: T, now: T) {
        if self.capacity == 0 || expires <= now {
            return;
        }
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&key) {
            self.make_room(now);
        }
        self.earliest = Some(self.earliest.map_or(expires, |earliest| earliest.min(expires)));
        self.entries.insert(key, (value, expires));
    }

    fn make_room(&mut self, now: T) {
        if self.earliest.is_none_or(|earliest| earliest <= now) {
            self.entries.retain(|_, (_, expires)| now < *expires);
            self.earliest = self.entries.values().map(|(_, expires)| *expires).min();
        }
        if self.entries.len() >= self.capacity
            && let Some(victim) = self.entries.keys().next().cloned()
        {
            self.entries.remove(&victim);
        }
    }

    /// Forgets `key`; returns its value.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        self.entries.remove(key).map(|(value, _)| value)
    }

    /// Keeps only the entries for which `keep` returns true.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &V) -> bool) {
        self.entries.retain(|key, (value, _)| keep(key, value));
    }

    /// Forgets every entry.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.earliest = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_found_until_it_expires() {
        let mut map = ExpiringMap::new(4);
        map.insert("a", 1, 10, 0);
        assert_eq!(map.get(&"a", 9), Some(&1));
        assert_eq!(map.get(&"a", 10), None);
        map.insert("b", 2, 5, 5);
        assert_eq!(map.get(&"b", 4), None, "already expired when inserted: not remembered");
        assert_eq!(map.len(), 1);
    }

    #[test]
    fn a_full_map_forgets_expired_entries_first() {
        let mut map = ExpiringMap::new(2);
        map.insert(1, (), 5, 0);
        map.insert(2, (), 100, 0);
        map.insert(3, (), 100, 6);
        assert_eq!(map.len(), 2);
        assert!(map.get(&2, 6).is_some(), "the live entry stays");
        assert!(map.get(&3, 6).is_some());
        assert!(map.get_with_expiry(&1).is_none(), "the expired one was swept");
    }

    #[test]
    fn a_full_map_of_live_entries_stays_bounded_and_takes_the_new_entry() {
        let mut map = ExpiringMap::new(100);
        for i in 0..10_000 {
            map.insert(i, i, 1_000_000, 0);
            assert!(map.len() <= 100);
            assert_eq!(map.get(&i, 1), Some(&i), "the newest entry is always remembered");
        }
    }

    #[test]
    fn capacity_zero_remembers_nothing() {
        let mut map = ExpiringMap::new(0);
        map.insert(1, 1, 10, 0);
        assert!(map.is_empty());
    }

    #[test]
    fn remove_retain_and_clear() {
        let mut map = ExpiringMap::new(8);
        for i in 0..6 {
            map.insert(i, i * 10, 100, 0);
        }
        assert_eq!(map.remove(&0), Some(0));
        map.retain(|_, v| *v != 10);
        assert_eq!(map.len(), 4);
        if let Some(v) = map.get_mut(&2) {
            *v = 7;
        }
        assert_eq!(map.get(&2, 0), Some(&7));
        map.clear();
        assert!(map.is_empty());
    }
}
