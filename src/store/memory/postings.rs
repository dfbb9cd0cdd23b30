//! A shard's inverted index: each trace gets a shard-local ordinal, and each index term a
//! bitmap of the ordinals of the traces that carry it.

use super::Key;
use crate::model::selection::{Plan, Term};
use roaring::RoaringBitmap;
use rustc_hash::FxHashMap;

#[derive(Default)]
pub struct Postings {
    keys: Vec<Option<Key>>,
    free: Vec<u32>,
    terms: FxHashMap<Term, RoaringBitmap>,
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

    /// Moves `ordinal` from the `old` terms to the `new` ones (both sorted).
    pub fn update(&mut self, ordinal: u32, old: &[Term], new: &[Term]) {
        for t in old.iter().filter(|t| new.binary_search(t).is_err()) {
            self.remove_term(ordinal, t);
        }
        for t in new.iter().filter(|t| old.binary_search(t).is_err()) {
            // Not `try_push`: finding a bitmap container's maximum scans its words.
            self.terms.entry(*t).or_default().insert(ordinal);
        }
    }

    fn remove_terms(&mut self, ordinal: u32, terms: &[Term]) {
        for t in terms {
            self.remove_term(ordinal, t);
        }
    }

    fn remove_term(&mut self, ordinal: u32, t: &Term) {
        if let Some(b) = self.terms.get_mut(t) {
            b.remove(ordinal);
            if b.is_empty() {
                self.terms.remove(t);
            }
        }
    }

    /// The ordinals a plan allows; `None` when it does not narrow anything.
    pub fn candidates(&self, plan: &Plan) -> Option<RoaringBitmap> {
        match plan {
            Plan::All => None,
            Plan::Term(t) => Some(self.terms.get(t).cloned().unwrap_or_default()),
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
