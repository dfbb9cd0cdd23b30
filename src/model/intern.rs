//! Interned vocabulary: service identities and the bounded strings of traces (names, types,
//! accounts, annotation keys, HTTP methods). Stored summaries refer to them by 4-byte handles,
//! and filters compare handles instead of strings.
//!
//! Only vocabulary is interned: values that can be unique per request (URLs, user agents,
//! annotation values, messages) stay on the trace, so the tables do not grow with traffic.

use parking_lot::RwLock;
use rustc_hash::FxHashMap;
use std::cell::RefCell;
use std::sync::{Arc, OnceLock};

/// An interned string.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct Sym(pub u32);

/// An interned service identity (name, account, type), as X-Ray's `ServiceId`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
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
/// matches nothing, without adding it to the table.
pub fn lookup(s: &str) -> Option<Sym> {
    strings().read().ids.get(s).map(|&id| Sym(id))
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
}
