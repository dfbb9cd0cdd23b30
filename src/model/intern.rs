//! Interned vocabulary: service identities and the bounded strings of traces (names, types,
//! accounts, annotation keys, HTTP methods). Stored summaries refer to them by 4-byte handles,
//! and filters compare handles instead of strings.
//!
//! Only vocabulary is interned: values that can be unique per request (URLs, user agents,
//! annotation values, messages) stay on the trace, so the tables do not grow with traffic.

use parking_lot::RwLock;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::cell::{Cell, RefCell};
use std::sync::{Arc, OnceLock};

/// An interned string. Serialized as its handle, or as the string itself inside [`portable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sym(pub u32);

/// An interned service identity (name, account, type), as X-Ray's `ServiceId`. Serialized as
/// its handle, or as its strings inside [`portable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sid(pub u32);

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServiceKey {
    pub name: Sym,
    pub account: Option<Sym>,
    pub kind: Option<Sym>,
}

struct Table<K> {
    ids: FxHashMap<K, u32>,
    values: Vec<K>,
}

impl<K: Clone + Eq + std::hash::Hash> Table<K> {
    fn new() -> Self {
        Table {
            ids: FxHashMap::default(),
            values: Vec::new(),
        }
    }
}

fn strings() -> &'static RwLock<Table<Arc<str>>> {
    static T: OnceLock<RwLock<Table<Arc<str>>>> = OnceLock::new();
    T.get_or_init(|| RwLock::new(Table::new()))
}

fn services() -> &'static RwLock<Table<ServiceKey>> {
    static T: OnceLock<RwLock<Table<ServiceKey>>> = OnceLock::new();
    T.get_or_init(|| RwLock::new(Table::new()))
}

/// Entries a thread keeps of its own before it starts over.
const LOCAL_ENTRIES: usize = 1 << 16;

thread_local! {
    // Each thread keeps what it has looked up: handles never change, and a lookup here touches
    // no lock that the other workers write to on every call.
    static LOCAL_SYMS: RefCell<FxHashMap<Box<str>, Sym>> = RefCell::new(FxHashMap::default());
    static LOCAL_SIDS: RefCell<FxHashMap<ServiceKey, Sid>> = RefCell::new(FxHashMap::default());
    static LOCAL_KEYS: RefCell<FxHashMap<Sid, ServiceKey>> = RefCell::new(FxHashMap::default());
    static PORTABLE: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with handles serialized and deserialized as the strings they stand for: handles
/// are numbers of this process alone, and what another process reads (a database several
/// gateways share) must carry the values.
pub fn portable<R>(f: impl FnOnce() -> R) -> R {
    let was = PORTABLE.with(|p| p.replace(true));
    let r = f();
    PORTABLE.with(|p| p.set(was));
    r
}

fn is_portable() -> bool {
    PORTABLE.with(Cell::get)
}

impl Serialize for Sym {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if is_portable() {
            s.serialize_str(&text(*self))
        } else {
            s.serialize_u32(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Sym {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Sym, D::Error> {
        struct Interning;
        impl serde::de::Visitor<'_> for Interning {
            type Value = Sym;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Sym, E> {
                Ok(sym(v))
            }
        }
        if is_portable() {
            d.deserialize_str(Interning)
        } else {
            u32::deserialize(d).map(Sym)
        }
    }
}

impl Serialize for Sid {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if !is_portable() {
            return s.serialize_u32(self.0);
        }
        let k = service_key(*self);
        (k.name, k.account, k.kind).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Sid {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Sid, D::Error> {
        if !is_portable() {
            return u32::deserialize(d).map(Sid);
        }
        let (name, account, kind) = <(Sym, Option<Sym>, Option<Sym>)>::deserialize(d)?;
        let key = ServiceKey {
            name,
            account,
            kind,
        };
        Ok(memo(&LOCAL_SIDS, &key, Clone::clone, || {
            intern_service(&key)
        }))
    }
}

/// Looks `key` up in a thread's map, else computes and remembers it.
fn memo<K, Q, V>(
    local: &'static std::thread::LocalKey<RefCell<FxHashMap<K, V>>>,
    key: &Q,
    own: impl FnOnce(&Q) -> K,
    compute: impl FnOnce() -> V,
) -> V
where
    K: std::borrow::Borrow<Q> + Eq + std::hash::Hash,
    Q: Eq + std::hash::Hash + ?Sized,
    V: Clone,
{
    if let Some(v) = local.with(|m| m.borrow().get(key).cloned()) {
        return v;
    }
    let v = compute();
    local.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() >= LOCAL_ENTRIES {
            m.clear();
        }
        m.insert(own(key), v.clone());
    });
    v
}

/// Interns `s`.
pub fn sym(s: &str) -> Sym {
    memo(&LOCAL_SYMS, s, |s: &str| Box::from(s), || intern_str(s))
}

fn intern_str(s: &str) -> Sym {
    if let Some(&id) = strings().read().ids.get(s) {
        return Sym(id);
    }
    let mut t = strings().write();
    if let Some(&id) = t.ids.get(s) {
        return Sym(id);
    }
    let id = t.values.len() as u32;
    let v: Arc<str> = Arc::from(s);
    t.values.push(v.clone());
    t.ids.insert(v, id);
    Sym(id)
}

/// The handle of `s` if it was ever interned: a filter naming a string no trace ever carried
/// matches nothing, without adding it to the table. Once [`share_vocabulary`] was called, `s`
/// is interned instead.
pub fn lookup(s: &str) -> Option<Sym> {
    if SHARED.load(std::sync::atomic::Ordering::Relaxed) {
        return Some(sym(s));
    }
    strings().read().ids.get(s).map(|&id| Sym(id))
}

static SHARED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Says that other processes write traces this one reads (gateways sharing a database): a
/// string this process never saw may be in what it reads, so [`lookup`] must not conclude
/// from its own table that no trace carries it.
pub fn share_vocabulary() {
    SHARED.store(true, std::sync::atomic::Ordering::Relaxed);
}

pub fn text(s: Sym) -> Arc<str> {
    strings()
        .read()
        .values
        .get(s.0 as usize)
        .cloned()
        .unwrap_or_else(|| Arc::from(""))
}

pub fn service(name: &str, account: Option<&str>, kind: Option<&str>) -> Sid {
    let key = ServiceKey {
        name: sym(name),
        account: account.map(sym),
        kind: kind.map(sym),
    };
    memo(&LOCAL_SIDS, &key, Clone::clone, || intern_service(&key))
}

fn intern_service(key: &ServiceKey) -> Sid {
    if let Some(&id) = services().read().ids.get(key) {
        return Sid(id);
    }
    let mut t = services().write();
    if let Some(&id) = t.ids.get(key) {
        return Sid(id);
    }
    let id = t.values.len() as u32;
    t.values.push(key.clone());
    t.ids.insert(key.clone(), id);
    Sid(id)
}

pub fn service_key(s: Sid) -> ServiceKey {
    memo(&LOCAL_KEYS, &s, |s| *s, || shared_service_key(s))
}

fn shared_service_key(s: Sid) -> ServiceKey {
    services()
        .read()
        .values
        .get(s.0 as usize)
        .cloned()
        .unwrap_or(ServiceKey {
            name: sym(""),
            account: None,
            kind: None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_is_stable_and_lookup_does_not_insert() {
        let a = sym("intern-test-a");
        assert_eq!(sym("intern-test-a"), a);
        assert_eq!(&*text(a), "intern-test-a");
        assert_eq!(lookup("intern-test-never-seen"), None);
        let s = service("svc", Some("123"), None);
        assert_eq!(service("svc", Some("123"), None), s);
        assert_ne!(service("svc", None, None), s);
        assert_eq!(&*text(service_key(s).name), "svc");
    }

    #[test]
    fn portable_form_carries_strings_and_interns_them_back() {
        let s = service("portable-svc", Some("123"), Some("AWS::EC2::Instance"));
        let local = postcard::to_allocvec(&s).unwrap();
        assert!(local.len() <= 5, "a handle is a varint");
        let wire = portable(|| postcard::to_allocvec(&(s, sym("portable-key"))).unwrap());
        assert!(wire.windows(12).any(|w| w == b"portable-svc"));
        let back: (Sid, Sym) = portable(|| postcard::from_bytes(&wire).unwrap());
        assert_eq!(back, (s, sym("portable-key")));
        // Outside `portable` the handle form is read again.
        assert_eq!(postcard::from_bytes::<Sid>(&local).unwrap(), s);
    }
}
