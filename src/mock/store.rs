//! State the vendor modules of the mock share: a size-capped map, and the codes, tokens and
//! families of an authorization server.

use std::borrow::Borrow;
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

use super::now;

/// Entries per table; the oldest are evicted beyond it (benchmarks hammer the mock).
pub const MAX_ENTRIES: usize = 100_000;

/// A map that forgets its oldest entries beyond `cap`, so a benchmark cannot grow it without end.
pub struct Bounded<K, V> {
    cap: usize,
    map: HashMap<K, V>,
    order: VecDeque<K>,
}

impl<K, V> Default for Bounded<K, V> {
    /// Capped at `MAX_ENTRIES`.
    fn default() -> Self {
        Bounded::new(MAX_ENTRIES)
    }
}

impl<K, V> Bounded<K, V> {
    pub fn new(cap: usize) -> Self {
        Bounded {
            cap,
            map: HashMap::new(),
            order: VecDeque::new(),
        }
    }
}

impl<K: Hash + Eq + Clone, V> Bounded<K, V> {
    /// Inserts or replaces; a new key evicts the oldest entries while the map is full.
    pub fn insert(&mut self, key: K, value: V) {
        if let Some(slot) = self.map.get_mut(&key) {
            *slot = value;
            return;
        }
        while self.map.len() >= self.cap {
            match self.order.pop_front() {
                Some(old) => {
                    self.map.remove(&old);
                }
                None => break,
            }
        }
        // Keys removed by hand stay in `order`; drop them before it grows without bound.
        if self.order.len() >= 2 * self.cap {
            let map = &self.map;
            self.order.retain(|k| map.contains_key(k));
        }
        self.order.push_back(key.clone());
        self.map.insert(key, value);
    }

    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.get(key)
    }

    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.get_mut(key)
    }

    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.remove(key)
    }
}

/// Every token descended from one grant (a code redemption and its refreshes) is of one family;
/// revoking the family kills them all. An evicted family counts as revoked: the mock fails closed.
pub type Family = u64;

/// Which families are live.
#[derive(Default)]
pub struct Families {
    /// `true` while the family is live.
    live: Bounded<Family, bool>,
    last: Family,
}

impl Families {
    /// A new, live family.
    pub fn create(&mut self) -> Family {
        self.last += 1;
        self.live.insert(self.last, true);
        self.last
    }

    pub fn live(&self, family: Family) -> bool {
        self.live.get(&family).copied().unwrap_or(false)
    }

    pub fn revoke(&mut self, family: Family) {
        if let Some(live) = self.live.get_mut(&family) {
            *live = false;
        }
    }
}

/// An issued access token; `G` is what it was granted for.
pub struct Access<G> {
    pub grant: G,
    pub iat: u64,
    pub exp: u64,
    pub family: Family,
}

/// An issued refresh token; `G` is what it was granted for.
pub struct Refresh<G> {
    pub grant: G,
    pub iat: u64,
    /// `None`: valid until rotated or revoked.
    pub exp: Option<u64>,
    pub family: Family,
    /// Replaced by a newer refresh token of its family.
    pub rotated: bool,
}

/// What an authorization server issued: codes (`C`), tokens and their families.
pub struct Tokens<C, G> {
    pub codes: Bounded<String, C>,
    pub access: Bounded<String, Access<G>>,
    pub refresh: Bounded<String, Refresh<G>>,
    pub families: Families,
}

impl<C, G> Default for Tokens<C, G> {
    fn default() -> Self {
        Tokens {
            codes: Bounded::default(),
            access: Bounded::default(),
            refresh: Bounded::default(),
            families: Families::default(),
        }
    }
}

impl<C, G> Tokens<C, G> {
    /// Stores `token` as an access token of `family` that lives `ttl` seconds; returns it.
    pub fn add_access(&mut self, token: String, grant: G, ttl: u64, family: Family) -> String {
        let iat = now();
        let access = Access {
            grant,
            iat,
            exp: iat + ttl,
            family,
        };
        self.access.insert(token.clone(), access);
        token
    }

    /// Stores `token` as a refresh token of `family` (that lives `ttl` seconds, if any); returns it.
    pub fn add_refresh(
        &mut self,
        token: String,
        grant: G,
        ttl: Option<u64>,
        family: Family,
    ) -> String {
        let iat = now();
        let refresh = Refresh {
            grant,
            iat,
            exp: ttl.map(|ttl| iat + ttl),
            family,
            rotated: false,
        };
        self.refresh.insert(token.clone(), refresh);
        token
    }

    /// An access token that is known, unexpired and of a live family.
    pub fn active_access(&self, token: &str) -> Option<&Access<G>> {
        self.access
            .get(token)
            .filter(|a| now() < a.exp && self.families.live(a.family))
    }

    /// A refresh token that is known, not rotated, unexpired and of a live family.
    pub fn active_refresh(&self, token: &str) -> Option<&Refresh<G>> {
        self.refresh.get(token).filter(|r| {
            !r.rotated && r.exp.is_none_or(|exp| now() < exp) && self.families.live(r.family)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_forgets_the_oldest() {
        let mut b = Bounded::new(2);
        b.insert("a".to_string(), 1);
        b.insert("b".to_string(), 2);
        b.insert("c".to_string(), 3);
        assert!(b.get("a").is_none());
        assert_eq!(b.get("c"), Some(&3));
        assert_eq!(b.order.len(), 2);
        // Replacing a value is no new entry: nothing is evicted.
        b.insert("b".to_string(), 4);
        assert_eq!((b.get("b"), b.get("c")), (Some(&4), Some(&3)));
    }

    #[test]
    fn bounded_map_evicts_oldest_at_the_default_cap() {
        let mut m: Bounded<u64, ()> = Bounded::default();
        for i in 0..(MAX_ENTRIES as u64 + 10) {
            m.insert(i, ());
        }
        assert_eq!(m.map.len(), MAX_ENTRIES);
        assert!(m.get(&0).is_none());
        assert!(m.get(&(MAX_ENTRIES as u64 + 9)).is_some());
    }

    #[test]
    fn families_are_live_until_revoked() {
        let mut f = Families::default();
        let (a, b) = (f.create(), f.create());
        assert_ne!(a, b);
        f.revoke(a);
        assert!(!f.live(a) && f.live(b));
        assert!(!f.live(b + 1));
    }

    #[test]
    fn tokens_are_active_until_rotated_revoked_or_expired() {
        let mut t: Tokens<(), &str> = Tokens::default();
        let family = t.families.create();
        let at = t.add_access("at".into(), "g", 60, family);
        let rt = t.add_refresh("rt".into(), "g", None, family);
        let old = t.add_refresh("old".into(), "g", Some(0), family);
        assert!(t.active_access(&at).is_some() && t.active_refresh(&rt).is_some());
        assert!(t.active_refresh(&old).is_none());
        t.families.revoke(family);
        assert!(t.active_access(&at).is_none() && t.active_refresh(&rt).is_none());
    }
}
