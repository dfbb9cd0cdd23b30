//! A shard's traces: the entries side by side in a slab, found by key through a map of slot
//! numbers. Boxing each entry behind the map cost an allocation per new trace and a second
//! cache miss on every lookup; the map's entries are also smaller this way.

use rustc_hash::FxHashMap;
use slab::Slab;
use std::hash::Hash;

pub(super) struct Keyed<K, T> {
    slots: FxHashMap<K, u32>,
    entries: Slab<T>,
}

impl<K, T> Default for Keyed<K, T> {
    fn default() -> Self {
        Keyed {
            slots: FxHashMap::default(),
            entries: Slab::new(),
        }
    }
}

impl<K: Hash + Eq + Copy, T> Keyed<K, T> {
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn contains_key(&self, k: &K) -> bool {
        self.slots.contains_key(k)
    }

    pub fn get(&self, k: &K) -> Option<&T> {
        self.entries.get(*self.slots.get(k)? as usize)
    }

    pub fn get_mut(&mut self, k: &K) -> Option<&mut T> {
        self.entries.get_mut(*self.slots.get(k)? as usize)
    }

    /// The entry of `k`, made by `make` if there is none; whether it was made.
    pub fn get_or_insert_with(&mut self, k: K, make: impl FnOnce() -> T) -> (&mut T, bool) {
        use std::collections::hash_map::Entry;
        let (slot, made) = match self.slots.entry(k) {
            Entry::Occupied(o) => (*o.get() as usize, false),
            Entry::Vacant(v) => {
                let slot = self.entries.insert(make());
                v.insert(slot as u32);
                (slot, true)
            }
        };
        (&mut self.entries[slot], made)
    }

    pub fn remove(&mut self, k: &K) -> Option<T> {
        let slot = self.slots.remove(k)?;
        self.entries.try_remove(slot as usize)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&K, &T)> {
        self.slots
            .iter()
            .filter_map(|(k, &slot)| Some((k, self.entries.get(slot as usize)?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_found_by_key_and_slots_are_reused() {
        let mut m: Keyed<u32, String> = Keyed::default();
        let (e, made) = m.get_or_insert_with(1, || "a".into());
        assert!(made);
        e.push('!');
        assert_eq!(
            m.get_or_insert_with(1, || "b".into()),
            (&mut "a!".to_owned(), false)
        );
        m.get_or_insert_with(2, || "c".into());
        assert_eq!(m.remove(&1).as_deref(), Some("a!"));
        assert_eq!((m.get(&1), m.len()), (None, 1));
        m.get_or_insert_with(3, || "d".into());
        assert_eq!(m.slots[&3], 0, "the freed slot is taken again");
        let mut all: Vec<_> = m.iter().map(|(k, v)| (*k, v.clone())).collect();
        all.sort();
        assert_eq!(all, vec![(2, "c".into()), (3, "d".into())]);
        *m.get_mut(&2).unwrap() = "e".into();
        assert_eq!(m.get(&2).map(String::as_str), Some("e"));
        assert!(m.contains_key(&3) && !m.contains_key(&1));
    }
}
