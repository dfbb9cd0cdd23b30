//! Span and resource attributes as the converter reads them: looked up by key, and consumed
//! by the rules that turn them into document fields, so what is left becomes metadata.

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value as V};

#[derive(Clone)]
pub struct Attrs<'a> {
    kvs: &'a [KeyValue],
    /// Which attributes a rule consumed (kept for name lookups, out of metadata).
    consumed: Consumed,
    /// Keys deleted from the span before translation (the local-root service segment).
    hidden: &'static [&'static str],
    /// One bit per present key's [`key_bit`]: most rules ask for keys a span does not have,
    /// and this answers them without comparing strings.
    present: u64,
}

fn key_bit(key: &str) -> u64 {
    let b = key.as_bytes();
    let last = b.last().copied().unwrap_or(0) as usize;
    let mid = b.get(b.len() / 2).copied().unwrap_or(0) as usize;
    1 << ((b.len() * 7 + last * 3 + mid) % 64)
}

/// One flag per attribute, in a word for spans of at most 64 attributes (nearly all): a span's
/// attributes are read two or three times over, and this spares an allocation each time.
#[derive(Clone)]
struct Consumed {
    low: u64,
    high: Vec<bool>,
}

impl Consumed {
    fn new(n: usize) -> Consumed {
        Consumed {
            low: 0,
            high: vec![false; n.saturating_sub(64)],
        }
    }

    fn get(&self, i: usize) -> bool {
        match i.checked_sub(64) {
            None => self.low >> i & 1 == 1,
            Some(h) => self.high[h],
        }
    }

    fn set(&mut self, i: usize, v: bool) {
        match i.checked_sub(64) {
            None if v => self.low |= 1 << i,
            None => self.low &= !(1 << i),
            Some(h) => self.high[h] = v,
        }
    }
}

impl<'a> Attrs<'a> {
    pub fn new(kvs: &'a [KeyValue]) -> Attrs<'a> {
        Attrs::without(kvs, &[])
    }

    /// The attributes as if `hidden` had been deleted from them.
    pub fn without(kvs: &'a [KeyValue], hidden: &'static [&'static str]) -> Attrs<'a> {
        Attrs {
            kvs,
            consumed: Consumed::new(kvs.len()),
            hidden,
            present: kvs.iter().fold(0, |m, kv| m | key_bit(&kv.key)),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.kvs.is_empty()
    }

    /// How many attributes there are, consumed or not.
    pub fn len(&self) -> usize {
        self.kvs.len()
    }

    fn position(&self, key: &str) -> Option<usize> {
        if self.present & key_bit(key) == 0 || self.hidden.contains(&key) {
            return None;
        }
        // The last occurrence wins, as with a map built in insertion order.
        self.kvs.iter().rposition(|kv| kv.key == key)
    }

    /// The value, consumed or not (rules read the unfiltered attributes).
    pub fn get(&self, key: &str) -> Option<&'a AnyValue> {
        self.kvs[self.position(key)?].value.as_ref()
    }

    pub fn has(&self, key: &str) -> bool {
        self.position(key).is_some()
    }

    pub fn str(&self, key: &str) -> Option<&'a str> {
        match &self.get(key)?.value {
            Some(V::StringValue(s)) => Some(s),
            _ => None,
        }
    }

    /// A non-empty string (the exporter treats `""` as absent).
    pub fn text(&self, key: &str) -> Option<&'a str> {
        self.str(key).filter(|s| !s.is_empty())
    }

    /// An integer, or a string holding one.
    pub fn int(&self, key: &str) -> Option<i64> {
        match &self.get(key)?.value {
            Some(V::IntValue(i)) => Some(*i),
            Some(V::StringValue(s)) => s.trim().parse().ok(),
            Some(V::DoubleValue(d)) if d.fract() == 0.0 => Some(*d as i64),
            _ => None,
        }
    }

    pub fn remove(&mut self, key: &str) {
        if self.present & key_bit(key) == 0 {
            return;
        }
        for (i, kv) in self.kvs.iter().enumerate() {
            if kv.key == key {
                self.consumed.set(i, true);
            }
        }
    }

    /// Puts a consumed attribute back among the ones left (the exporter's re-add rule for
    /// `indexed_attributes`).
    pub fn restore(&mut self, key: &str) {
        if self.hidden.contains(&key) {
            return;
        }
        for (i, kv) in self.kvs.iter().enumerate() {
            if kv.key == key {
                self.consumed.set(i, false);
            }
        }
    }

    pub fn take(&mut self, key: &str) -> Option<&'a AnyValue> {
        let v = self.get(key);
        self.remove(key);
        v
    }

    pub fn take_text(&mut self, key: &str) -> Option<&'a str> {
        let v = self.text(key);
        self.remove(key);
        v
    }

    /// The attributes neither consumed nor deleted, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = &'a KeyValue> + '_ {
        self.kvs
            .iter()
            .enumerate()
            .filter(|(i, kv)| !self.consumed.get(*i) && !self.hidden.contains(&kv.key.as_str()))
            .map(|(_, kv)| kv)
    }
}

/// The string elements of an array attribute, or the parts of a string split on `&` (the
/// exporter's reading of log-group lists).
pub fn string_list(v: Option<&AnyValue>) -> Vec<&str> {
    match v.and_then(|v| v.value.as_ref()) {
        Some(V::StringValue(s)) => s.split('&').filter(|p| !p.is_empty()).collect(),
        Some(V::ArrayValue(a)) => a
            .values
            .iter()
            .filter_map(|v| match &v.value {
                Some(V::StringValue(s)) => Some(s.as_str()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::otlp_fixture::s as kv;

    #[test]
    fn lookups_find_the_last_copy_and_removal_takes_every_copy() {
        for n in [3, 39, 41, 120] {
            let mut kvs: Vec<KeyValue> = (0..n).map(|i| kv(&format!("k.{i}"), "v")).collect();
            kvs.push(kv("dup", "first"));
            kvs.push(kv("http.method", "GET"));
            kvs.push(kv("dup", "last"));
            let mut a = Attrs::new(&kvs);
            assert_eq!(a.str("dup"), Some("last"), "{n} attributes");
            assert_eq!(a.str("http.method"), Some("GET"));
            for i in 0..n {
                assert!(a.has(&format!("k.{i}")), "{n} attributes: k.{i}");
            }
            assert!(!a.has("k.absent") && !a.has("") && !a.has("http.methods"));
            a.remove("dup");
            assert!(a.iter().all(|kv| kv.key != "dup"));
            assert_eq!(a.iter().count(), n + 1);
            a.restore("dup");
            assert_eq!(a.iter().filter(|kv| kv.key == "dup").count(), 2);
        }
    }

    #[test]
    fn hidden_keys_are_absent() {
        let kvs = vec![kv("aws.remote.service", "x"), kv("name", "y")];
        let a = Attrs::without(&kvs, &["aws.remote.service"]);
        assert!(!a.has("aws.remote.service"));
        assert_eq!(a.iter().count(), 1);
    }
}
