//! Span and resource attributes as the converter reads them: looked up by key, and consumed
//! by the rules that turn them into document fields, so what is left becomes metadata.

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value as V};
use serde_json::{Map, Value, json};

pub struct Attrs<'a> {
    kvs: &'a [KeyValue],
    consumed: Vec<bool>,
}

impl<'a> Attrs<'a> {
    pub fn new(kvs: &'a [KeyValue]) -> Attrs<'a> {
        Attrs {
            kvs,
            consumed: vec![false; kvs.len()],
        }
    }

    pub fn is_empty(&self) -> bool {
        self.kvs.is_empty()
    }

    fn position(&self, key: &str) -> Option<usize> {
        // The last occurrence wins, as with a map built in insertion order.
        self.kvs.iter().rposition(|kv| kv.key == key)
    }

    pub fn get(&self, key: &str) -> Option<&'a AnyValue> {
        self.kvs[self.position(key)?].value.as_ref()
    }

    pub fn str(&self, key: &str) -> Option<&'a str> {
        match &self.get(key)?.value {
            Some(V::StringValue(s)) => Some(s),
            _ => None,
        }
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
        for (i, kv) in self.kvs.iter().enumerate() {
            if kv.key == key {
                self.consumed[i] = true;
            }
        }
    }

    pub fn take(&mut self, key: &str) -> Option<&'a AnyValue> {
        let v = self.get(key);
        self.remove(key);
        v
    }

    pub fn take_str(&mut self, key: &str) -> Option<&'a str> {
        let v = self.str(key);
        self.remove(key);
        v
    }

    /// The attributes not consumed, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = &'a KeyValue> + '_ {
        self.kvs
            .iter()
            .zip(&self.consumed)
            .filter(|(_, c)| !**c)
            .map(|(kv, _)| kv)
    }
}

/// A primitive attribute value as an annotation value.
pub fn value_json(v: &AnyValue) -> Value {
    json_of(v).unwrap_or(Value::Null)
}

/// Any attribute value as JSON (maps as objects, arrays as arrays); `None` for an empty value
/// and for numbers JSON cannot hold (NaN, infinities).
pub fn json_of(v: &AnyValue) -> Option<Value> {
    Some(match v.value.as_ref()? {
        V::StringValue(s) => Value::String(s.clone()),
        V::BoolValue(b) => Value::Bool(*b),
        V::IntValue(i) => json!(i),
        V::DoubleValue(d) => serde_json::Number::from_f64(*d).map(Value::Number)?,
        V::ArrayValue(a) => Value::Array(a.values.iter().filter_map(json_of).collect()),
        V::KvlistValue(l) => {
            let m: Map<String, Value> = l
                .values
                .iter()
                .filter_map(|kv| Some((kv.key.clone(), json_of(kv.value.as_ref()?)?)))
                .collect();
            Value::Object(m)
        }
        V::BytesValue(b) => Value::String(b.iter().map(|x| format!("{x:02x}")).collect()),
        // Indexes into a profiles string table: meaningless without it.
        _ => return None,
    })
}
