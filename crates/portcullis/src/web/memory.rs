//! [`MemorySessions`]: server-side sessions in this process's memory, bounded, their expired
//! entries purged — the storage under the framework crates' in-memory session stores.

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How often, at most, a write sweeps out every expired entry.
const PURGE_EVERY: Duration = Duration::from_secs(60);

/// Values by key, each with an expiry, in memory: at most a fixed number of entries; expired
/// ones are never served, and are swept out at least every minute of writes (and whenever it
/// is full); when it is full of live entries, the one closest to expiring is dropped.
///
/// ```
/// use std::time::{Duration, Instant};
/// use portcullis::web::MemorySessions;
///
/// let sessions = MemorySessions::with_capacity(2);
/// let hour = Instant::now() + Duration::from_secs(3600);
/// sessions.insert("a", 1, hour);
/// sessions.insert("b", 2, hour);
/// sessions.insert("c", 3, hour);
/// assert_eq!(sessions.len(), 2);
/// assert_eq!(sessions.get(&"c"), Some(3));
/// ```
pub struct MemorySessions<K, V> {
    inner: Mutex<Entries<K, V>>,
    capacity: usize,
}

struct Entries<K, V> {
    map: HashMap<K, (V, Instant)>,
    last_purge: Instant,
}

impl<K: Eq + Hash + Clone, V: Clone> MemorySessions<K, V> {
    /// At most `capacity` entries (at least one).
    pub fn with_capacity(capacity: usize) -> Self {
        MemorySessions {
            inner: Mutex::new(Entries {
                map: HashMap::new(),
                last_purge: Instant::now(),
            }),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Entries<K, V>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many entries it holds (expired ones included until they are swept out).
    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The live value under `key`; an expired one is removed.
    pub fn get(&self, key: &K) -> Option<V> {
        let mut entries = self.lock();
        match entries.map.get(key) {
            Some((value, expires)) if *expires > Instant::now() => Some(value.clone()),
            Some(_) => {
                entries.map.remove(key);
                None
            }
            None => None,
        }
    }

    /// Whether a live value is under `key`.
    pub fn contains(&self, key: &K) -> bool {
        self.lock()
            .map
            .get(key)
            .is_some_and(|(_, expires)| *expires > Instant::now())
    }

    /// Stores `value` under `key` until `expires`, making room first if need be.
    pub fn insert(&self, key: K, value: V, expires: Instant) {
        let mut entries = self.lock();
        let now = Instant::now();
        let full = entries.map.len() >= self.capacity && !entries.map.contains_key(&key);
        if full || now.duration_since(entries.last_purge) >= PURGE_EVERY {
            entries.map.retain(|_, (_, at)| *at > now);
            entries.last_purge = now;
        }
        while entries.map.len() >= self.capacity && !entries.map.contains_key(&key) {
            let Some(soonest) = entries
                .map
                .iter()
                .min_by_key(|(_, (_, at))| *at)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            entries.map.remove(&soonest);
        }
        entries.map.insert(key, (value, expires));
    }

    /// Replaces the live value under `key` (and its expiry); `false` when there is none (gone
    /// meanwhile: expired, evicted, deleted), and nothing is stored.
    pub fn update(&self, key: &K, value: V, expires: Instant) -> bool {
        let mut entries = self.lock();
        match entries.map.get_mut(key) {
            Some(entry) if entry.1 > Instant::now() => {
                *entry = (value, expires);
                true
            }
            _ => false,
        }
    }

    /// Moves the expiry of the value under `key`, if any.
    pub fn touch(&self, key: &K, expires: Instant) {
        if let Some(entry) = self.lock().map.get_mut(key) {
            entry.1 = expires;
        }
    }

    /// Removes the value under `key`.
    pub fn remove(&self, key: &K) {
        self.lock().map.remove(key);
    }
}

impl<K, V> fmt::Debug for MemorySessions<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let len = self.inner.lock().map(|e| e.map.len()).unwrap_or(0);
        f.debug_struct("MemorySessions")
            .field("entries", &len)
            .field("capacity", &self.capacity)
            .finish()
    }
}

/// `now + ttl`, capped at a year: no `Instant` overflow whatever a configuration says.
pub fn expiry_after(ttl: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(ttl.min(Duration::from_secs(365 * 24 * 3600)))
        .unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_entries_are_not_served_and_are_swept_out() {
        let sessions = MemorySessions::with_capacity(10);
        let past = Instant::now();
        let hour = expiry_after(Duration::from_secs(3600));
        sessions.insert(1, "gone", past);
        sessions.insert(2, "gone too", past);
        assert_eq!(sessions.get(&1), None);
        assert_eq!(sessions.len(), 1, "a read removes what it finds expired");
        assert!(!sessions.contains(&2));
        assert!(
            !sessions.update(&2, "back", hour),
            "an expired entry is not revived"
        );
        // A write after the purge period sweeps out every expired entry.
        sessions.lock().last_purge = Instant::now() - PURGE_EVERY;
        sessions.insert(3, "live", hour);
        assert_eq!(sessions.len(), 1);
        assert_eq!(sessions.get(&3), Some("live"));
    }

    #[test]
    fn a_full_store_drops_the_expired_then_the_soonest_to_expire() {
        let sessions = MemorySessions::with_capacity(3);
        let soon = expiry_after(Duration::from_secs(60));
        let later = expiry_after(Duration::from_secs(3600));
        sessions.insert("expired", 0, Instant::now());
        sessions.insert("soon", 1, soon);
        sessions.insert("later", 2, later);
        sessions.insert("new", 3, later);
        assert_eq!(sessions.len(), 3);
        assert!(sessions.contains(&"soon"));
        sessions.insert("newer", 4, later);
        assert_eq!(sessions.len(), 3);
        assert!(!sessions.contains(&"soon"));
        // Replacing a key of a full store drops nothing else.
        sessions.insert("newer", 5, later);
        assert_eq!((sessions.len(), sessions.get(&"newer")), (3, Some(5)));
        sessions.remove(&"newer");
        assert_eq!(sessions.len(), 2);
    }
}
