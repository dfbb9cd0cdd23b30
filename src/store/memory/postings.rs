//! A shard's inverted index: each trace gets a shard-local ordinal, and each index term the
//! ordinals of the traces that carry it.
//!
//! Most terms of real traffic belong to one trace alone (a request ID, a user, a price), so
//! terms of one trace are kept apart, each with its ordinal in a table of small entries; a
//! bitmap, a few allocations of its own, is made only for the second trace. The index counts
//! the bytes it holds, so that the store's memory bound includes it.

use super::Key;
use crate::model::selection::{Plan, Term};
use roaring::RoaringBitmap;
use rustc_hash::FxHashMap;

/// What a bitmap holds beyond its map entry (its container list and first container), and
/// what each further trace adds to it, about: roaring keeps 2 bytes per member of a sparse
/// container, and containers are allocated with room to grow.
const BITMAP_BYTES: i64 = 96;
const MEMBER_BYTES: i64 = 3;

#[derive(Default)]
pub struct Postings {
    keys: Vec<Option<Key>>,
    free: Vec<u32>,
    /// Terms of one trace: its ordinal.
    single: FxHashMap<Term, u32>,
    /// Terms of two traces or more.
    shared: FxHashMap<Term, RoaringBitmap>,
    /// Bytes of bitmaps held beyond the map's own table.
    bitmap_bytes: i64,
}

impl Postings {
    pub fn allocate(&mut self, key: Key) -> u32 {
        match self.free.pop() {
            Some(o) => {
                self.keys[o as usize] = Some(key);
                o
            }
            None => {
                self.keys.push(Some(key));
                (self.keys.len() - 1) as u32
            }
        }
    }

    pub fn release(&mut self, ordinal: u32, terms: &[Term]) {
        self.remove_terms(ordinal, terms);
        if let Some(k) = self.keys.get_mut(ordinal as usize) {
            *k = None;
            self.free.push(ordinal);
        }
    }

    pub fn key(&self, ordinal: u32) -> Option<Key> {
        self.keys.get(ordinal as usize).copied().flatten()
    }

    /// Bytes the index holds: its tables (at their capacity) and its bitmaps.
    pub fn held_bytes(&self) -> u64 {
        let table = self.single.capacity() * (std::mem::size_of::<(Term, u32)>() + 1)
            + self.shared.capacity() * (std::mem::size_of::<(Term, RoaringBitmap)>() + 1)
            + self.keys.capacity() * std::mem::size_of::<Option<Key>>()
            + self.free.capacity() * 4;
        table as u64 + self.bitmap_bytes.max(0) as u64
    }

    /// Moves `ordinal` from the `old` terms to the `new` ones (both sorted).
    pub fn update(&mut self, ordinal: u32, old: &[Term], new: &[Term]) {
        for t in old.iter().filter(|t| new.binary_search(t).is_err()) {
            self.remove_term(ordinal, t);
        }
        for t in new.iter().filter(|t| old.binary_search(t).is_err()) {
            self.add_term(ordinal, *t);
        }
    }

    fn add_term(&mut self, ordinal: u32, t: Term) {
        use std::collections::hash_map::Entry;
        if let Some(b) = self.shared.get_mut(&t) {
            if add_member(b, ordinal) {
                self.bitmap_bytes += MEMBER_BYTES;
            }
            return;
        }
        match self.single.entry(t) {
            Entry::Vacant(v) => {
                v.insert(ordinal);
            }
            Entry::Occupied(o) if *o.get() == ordinal => {}
            Entry::Occupied(o) => {
                let first = o.remove();
                self.shared
                    .insert(t, [first, ordinal].into_iter().collect());
                self.bitmap_bytes += BITMAP_BYTES + 2 * MEMBER_BYTES;
            }
        }
    }

    fn remove_terms(&mut self, ordinal: u32, terms: &[Term]) {
        for t in terms {
            self.remove_term(ordinal, t);
        }
    }

    fn remove_term(&mut self, ordinal: u32, t: &Term) {
        if let Some(&o) = self.single.get(t) {
            if o == ordinal {
                self.single.remove(t);
            }
            return;
        }
        let Some(b) = self.shared.get_mut(t) else {
            return;
        };
        if b.remove(ordinal) {
            self.bitmap_bytes -= MEMBER_BYTES;
        }
        // Back to one trace: the term leaves its bitmap.
        if b.len() == 1 {
            let last = b.min().unwrap_or(ordinal);
            self.shared.remove(t);
            self.bitmap_bytes -= BITMAP_BYTES + MEMBER_BYTES;
            self.single.insert(*t, last);
        }
    }

    /// The ordinals a plan allows; `None` when it does not narrow anything.
    pub fn candidates(&self, plan: &Plan) -> Option<RoaringBitmap> {
        match plan {
            Plan::All => None,
            Plan::Term(t) => Some(match (self.single.get(t), self.shared.get(t)) {
                (Some(o), _) => std::iter::once(*o).collect(),
                (None, Some(b)) => b.clone(),
                (None, None) => RoaringBitmap::new(),
            }),
            Plan::And(parts) => {
                let mut acc: Option<RoaringBitmap> = None;
                for p in parts {
                    if let Some(b) = self.candidates(p) {
                        acc = Some(match acc {
                            Some(a) => a & b,
                            None => b,
                        });
                    }
                }
                acc
            }
            Plan::Or(parts) => {
                let mut acc = RoaringBitmap::new();
                for p in parts {
                    acc |= self.candidates(p)?;
                }
                Some(acc)
            }
        }
    }
}

/// Adds `ordinal` to `b`; whether it was new.
///
/// Ordinals are handed out in increasing order, so a new trace's ordinal mostly goes at the end.
/// While the bitmap is small enough that all its containers are sorted arrays, appending checks
/// the last member alone, where an insert binary-searches the array, missing the cache at most
/// of its steps. Past that size a container may be a bitset, whose insert is one word but whose
/// last member is found by scanning its words, so it is inserted into.
fn add_member(b: &mut RoaringBitmap, ordinal: u32) -> bool {
    const ARRAY_MAX: u64 = 4096;
    if b.len() < ARRAY_MAX && b.try_push(ordinal).is_ok() {
        return true;
    }
    b.insert(ordinal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TraceId;

    fn key(n: u8) -> Key {
        (0, TraceId([n; 16]))
    }

    fn members(p: &Postings, t: Term) -> Vec<u32> {
        p.candidates(&Plan::Term(t)).unwrap().iter().collect()
    }

    #[test]
    fn a_term_of_one_trace_holds_no_bitmap_until_a_second_trace_shares_it() {
        let mut p = Postings::default();
        let (shared, unique) = (Term::HttpStatus(200), Term::User(42));
        let (a, b) = (p.allocate(key(1)), p.allocate(key(2)));
        p.update(a, &[], &[shared, unique]);
        assert_eq!(p.bitmap_bytes, 0);
        p.update(b, &[], &[shared]);
        assert!(p.bitmap_bytes > 0);
        assert_eq!(members(&p, shared), vec![a, b]);
        assert_eq!(members(&p, unique), vec![a]);
        // Back to one trace: the bitmap goes again; with none, the term goes.
        p.release(a, &[shared, unique]);
        assert_eq!((p.bitmap_bytes, members(&p, shared)), (0, vec![b]));
        assert!(members(&p, unique).is_empty());
        assert!(!p.single.contains_key(&unique) && p.shared.is_empty());
        let held = p.held_bytes();
        p.update(b, &[shared], &[]);
        assert!(p.single.is_empty() && p.held_bytes() <= held);
    }
}
