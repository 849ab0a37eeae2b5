//! The in-memory exact cache: answers by key with an expiry, bounded by a number of entries and
//! a number of bytes, the least recently used going first. One mutex around a map and a
//! recency index: every operation is a few map steps, never a scan.

use bytes::Bytes;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

struct Slot {
    answer: Bytes,
    expires_ms: u64,
    /// Its place in `recency`.
    tick: u64,
}

#[derive(Default)]
struct Inner {
    slots: HashMap<String, Slot>,
    /// Tick of last use -> key, oldest first.
    recency: BTreeMap<u64, String>,
    next_tick: u64,
    bytes: u64,
}

pub struct MemoryCache {
    inner: Mutex<Inner>,
    max_entries: u64,
    max_bytes: u64,
}

impl MemoryCache {
    pub fn new(max_entries: u64, max_bytes: u64) -> MemoryCache {
        MemoryCache {
            inner: Mutex::new(Inner::default()),
            max_entries: max_entries.max(1),
            max_bytes,
        }
    }

    /// The answer stored under `key`, if it has not expired at `now_ms`.
    pub fn get(&self, key: &str, now_ms: u64) -> Option<Bytes> {
        let mut inner = self.inner.lock().ok()?;
        let inner = &mut *inner;
        let expired = inner.slots.get(key)?.expires_ms <= now_ms;
        if expired {
            inner.remove(key);
            return None;
        }
        let tick = inner.tick();
        let slot = inner.slots.get_mut(key)?;
        inner.recency.remove(&slot.tick);
        slot.tick = tick;
        inner.recency.insert(tick, key.to_owned());
        Some(slot.answer.clone())
    }

    /// Stores `answer` until `expires_ms`, evicting the least recently used beyond the bounds.
    pub fn put(&self, key: &str, answer: Bytes, expires_ms: u64) {
        if answer.len() as u64 > self.max_bytes {
            return;
        }
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        inner.remove(key);
        let tick = inner.tick();
        inner.bytes = inner.bytes.saturating_add(answer.len() as u64);
        inner.recency.insert(tick, key.to_owned());
        inner.slots.insert(
            key.to_owned(),
            Slot {
                answer,
                expires_ms,
                tick,
            },
        );
        while inner.slots.len() as u64 > self.max_entries || inner.bytes > self.max_bytes {
            let Some((_, oldest)) = inner.recency.pop_first() else {
                break;
            };
            inner.remove(&oldest);
        }
    }

    /// Entries and bytes held.
    #[cfg(test)]
    pub fn size(&self) -> (u64, u64) {
        self.inner
            .lock()
            .map(|i| (i.slots.len() as u64, i.bytes))
            .unwrap_or_default()
    }
}

impl Inner {
    fn tick(&mut self) -> u64 {
        self.next_tick = self.next_tick.wrapping_add(1);
        self.next_tick
    }

    fn remove(&mut self, key: &str) {
        if let Some(slot) = self.slots.remove(key) {
            self.recency.remove(&slot.tick);
            self.bytes = self.bytes.saturating_sub(slot.answer.len() as u64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(n: usize) -> Bytes {
        Bytes::from(vec![b'x'; n])
    }

    #[test]
    fn entries_expire_at_their_time() {
        let cache = MemoryCache::new(10, 1000);
        cache.put("a", answer(3), 100);
        assert_eq!(cache.get("a", 99), Some(answer(3)));
        assert_eq!(cache.get("a", 100), None);
        assert_eq!(cache.size(), (0, 0));
    }

    #[test]
    fn the_least_recently_used_go_first_by_count_and_by_bytes() {
        let cache = MemoryCache::new(2, 1000);
        cache.put("a", answer(1), u64::MAX);
        cache.put("b", answer(1), u64::MAX);
        assert!(cache.get("a", 0).is_some()); // b is now the oldest
        cache.put("c", answer(1), u64::MAX);
        assert!(cache.get("b", 0).is_none());
        assert!(cache.get("a", 0).is_some() && cache.get("c", 0).is_some());

        let cache = MemoryCache::new(100, 10);
        cache.put("a", answer(4), u64::MAX);
        cache.put("b", answer(4), u64::MAX);
        cache.put("c", answer(4), u64::MAX);
        assert_eq!(cache.size(), (2, 8));
        assert!(cache.get("a", 0).is_none());
        cache.put("huge", answer(11), u64::MAX);
        assert!(cache.get("huge", 0).is_none());
    }

    #[test]
    fn a_replaced_entry_counts_once() {
        let cache = MemoryCache::new(10, 100);
        cache.put("a", answer(10), u64::MAX);
        cache.put("a", answer(20), u64::MAX);
        assert_eq!(cache.size(), (1, 20));
    }
}
