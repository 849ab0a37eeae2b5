//! The semantic cache's in-memory nearest-neighbour index: embeddings of prompts, grouped by
//! exact context, each with the answer it was given, found again by cosine similarity.
//!
//! Contexts are small (one per system prompt, conversation prefix, tool set and team), so a
//! lookup is an exact linear scan of one context's vectors: they are stored normalized and
//! contiguous, and the similarity of a row is one dot product. One bound on entries and one
//! on bytes hold across all contexts, enforced by evicting the least recently used entry
//! (a lookup that hits counts as a use); expired entries are swept in expiry order. Each of
//! these is O(log n) per entry, never a scan of the whole index.
//!
//! Nothing here reads a clock: times are milliseconds the shell passes in. Nothing is
//! shared: the shell puts the index behind a lock.

use super::ContextKey;
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A hit: how similar the stored prompt is (cosine, at most 1) and the answer stored for it.
#[derive(Debug, Clone, PartialEq)]
pub struct SemanticHit {
    pub similarity: f32,
    pub value: Bytes,
}

/// Why an entry was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertError {
    /// Empty, all zeros, or holding NaN or infinity: no direction to compare.
    BadVector,
    /// The context already holds vectors of another dimension (the embedding model changed).
    DimensionMismatch { expected: usize, got: usize },
    /// The entry alone is larger than the index may hold (or the index holds nothing).
    TooLarge,
    /// `expires_ms` is not after `now_ms`.
    Expired,
}

impl std::fmt::Display for InsertError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InsertError::BadVector => f.write_str("the embedding is empty, zero or not finite"),
            InsertError::DimensionMismatch { expected, got } => write!(
                f,
                "the embedding has {got} dimensions, the context's have {expected}"
            ),
            InsertError::TooLarge => f.write_str("the entry is larger than the index's bound"),
            InsertError::Expired => f.write_str("the entry has already expired"),
        }
    }
}

impl std::error::Error for InsertError {}

/// The in-memory index. See the module documentation.
#[derive(Debug)]
pub struct SemanticIndex {
    max_entries: usize,
    max_bytes: usize,
    /// Context key to slab id.
    contexts: HashMap<ContextKey, u64>,
    slabs: HashMap<u64, Slab>,
    entries: HashMap<u64, Entry>,
    /// Last-use stamp to entry id: the first is the least recently used.
    recency: BTreeMap<u64, u64>,
    /// (expiry, entry id): the first expires soonest.
    expiry: BTreeSet<(u64, u64)>,
    /// Source of slab and entry ids and of use stamps: a counter, not a time.
    counter: u64,
    bytes: usize,
}

/// One context's entries: row `i` of `vectors` (`dim` floats, unit length) is `slots[i]`.
#[derive(Debug)]
struct Slab {
    key: ContextKey,
    dim: usize,
    vectors: Vec<f32>,
    slots: Vec<Slot>,
}

#[derive(Debug)]
struct Slot {
    id: u64,
    value: Bytes,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    slab: u64,
    slot: usize,
    stamp: u64,
    expires_ms: u64,
    bytes: usize,
}

impl SemanticIndex {
    /// An empty index that holds at most `max_entries` entries and `max_bytes` bytes of
    /// vectors (4 bytes a dimension) and values together.
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        SemanticIndex {
            max_entries,
            max_bytes,
            contexts: HashMap::new(),
            slabs: HashMap::new(),
            entries: HashMap::new(),
            recency: BTreeMap::new(),
            expiry: BTreeSet::new(),
            counter: 0,
            bytes: 0,
        }
    }

    /// Entries held (expired ones not yet swept included).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes held: vectors (4 bytes a dimension) plus values. Bookkeeping (maps, keys, spare
    /// capacity) is not counted; it is bounded by the entry count.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Contexts that hold at least one entry.
    pub fn contexts(&self) -> usize {
        self.slabs.len()
    }

    /// Forgets everything (for a configuration change of the embedding model: vectors of two
    /// models must never be compared).
    pub fn clear(&mut self) {
        self.contexts.clear();
        self.slabs.clear();
        self.entries.clear();
        self.recency.clear();
        self.expiry.clear();
        self.bytes = 0;
    }

    /// Stores `value` as the answer for the prompt embedded as `vector` in `context`, until
    /// `expires_ms`. Evicts the least recently used entries, of any context, until it fits.
    pub fn insert(
        &mut self,
        context: &ContextKey,
        mut vector: Vec<f32>,
        value: Bytes,
        expires_ms: u64,
        now_ms: u64,
    ) -> Result<(), InsertError> {
        self.sweep(now_ms);
        if expires_ms <= now_ms {
            return Err(InsertError::Expired);
        }
        let inverse = inverse_norm(&vector).ok_or(InsertError::BadVector)?;
        for x in &mut vector {
            *x *= inverse;
        }
        let dim = vector.len();
        if let Some(slab) = self.contexts.get(context).and_then(|id| self.slabs.get(id)) {
            if slab.dim != dim {
                return Err(InsertError::DimensionMismatch {
                    expected: slab.dim,
                    got: dim,
                });
            }
        }
        let size = dim
            .saturating_mul(std::mem::size_of::<f32>())
            .saturating_add(value.len());
        if size > self.max_bytes || self.max_entries == 0 {
            return Err(InsertError::TooLarge);
        }
        while self.entries.len() >= self.max_entries
            || self.bytes.saturating_add(size) > self.max_bytes
        {
            let Some((_, oldest)) = self.recency.pop_first() else {
                break;
            };
            self.remove(oldest);
        }

        // Eviction may have emptied and dropped this context's slab: look it up again.
        let slab_id = match self.contexts.get(context) {
            Some(id) => *id,
            None => {
                let id = self.next();
                self.contexts.insert(context.clone(), id);
                self.slabs.insert(
                    id,
                    Slab {
                        key: context.clone(),
                        dim,
                        vectors: Vec::new(),
                        slots: Vec::new(),
                    },
                );
                id
            }
        };
        let id = self.next();
        let stamp = id;
        let Some(slab) = self.slabs.get_mut(&slab_id) else {
            return Err(InsertError::TooLarge);
        };
        let slot = slab.slots.len();
        slab.vectors.extend_from_slice(&vector);
        slab.slots.push(Slot { id, value });
        self.entries.insert(
            id,
            Entry {
                slab: slab_id,
                slot,
                stamp,
                expires_ms,
                bytes: size,
            },
        );
        self.recency.insert(stamp, id);
        self.expiry.insert((expires_ms, id));
        self.bytes = self.bytes.saturating_add(size);
        Ok(())
    }

    /// The entry of `context` most similar to `vector`, if its cosine similarity is at least
    /// `threshold` and it has not expired at `now_ms`. A hit counts as a use. A vector of
    /// another dimension than the context's, zero or not finite, is a miss.
    pub fn lookup(
        &mut self,
        context: &ContextKey,
        vector: &[f32],
        threshold: f32,
        now_ms: u64,
    ) -> Option<SemanticHit> {
        self.sweep(now_ms);
        let slab = self.slabs.get(self.contexts.get(context)?)?;
        if slab.dim != vector.len() {
            return None;
        }
        let inverse = inverse_norm(vector)?;
        let mut best = f32::NEG_INFINITY;
        let mut best_row = None;
        for (row, stored) in slab.vectors.chunks_exact(slab.dim).enumerate() {
            let d = dot(stored, vector);
            if d > best {
                best = d;
                best_row = Some(row);
            }
        }
        let similarity = (best * inverse).clamp(-1.0, 1.0);
        // A NaN threshold compares as nothing: a miss.
        if similarity.partial_cmp(&threshold).is_none_or(|o| o.is_lt()) {
            return None;
        }
        let slot = slab.slots.get(best_row?)?;
        let (id, value) = (slot.id, slot.value.clone());
        self.touch(id);
        Some(SemanticHit { similarity, value })
    }

    /// Removes every entry that has expired at `now_ms`. `insert` and `lookup` call it.
    pub fn sweep(&mut self, now_ms: u64) {
        while let Some(&(expires_ms, id)) = self.expiry.first() {
            if expires_ms > now_ms {
                break;
            }
            self.expiry.pop_first();
            self.remove(id);
        }
    }

    fn next(&mut self) -> u64 {
        // u64 stamps do not run out: one a nanosecond lasts five centuries.
        self.counter = self.counter.saturating_add(1);
        self.counter
    }

    fn touch(&mut self, id: u64) {
        let stamp = self.next();
        if let Some(entry) = self.entries.get_mut(&id) {
            self.recency.remove(&entry.stamp);
            entry.stamp = stamp;
            self.recency.insert(stamp, id);
        }
    }

    fn remove(&mut self, id: u64) {
        // Callers pop the entry's recency or expiry record first, so their loops make
        // progress even if the maps ever disagreed.
        let Some(entry) = self.entries.remove(&id) else {
            return;
        };
        self.recency.remove(&entry.stamp);
        self.expiry.remove(&(entry.expires_ms, id));
        self.bytes = self.bytes.saturating_sub(entry.bytes);
        let Some(slab) = self.slabs.get_mut(&entry.slab) else {
            return;
        };
        if let Some(moved) = slab.swap_remove(entry.slot) {
            if let Some(moved) = self.entries.get_mut(&moved) {
                moved.slot = entry.slot;
            }
        }
        if slab.slots.is_empty() {
            if let Some(slab) = self.slabs.remove(&entry.slab) {
                self.contexts.remove(&slab.key);
            }
        }
    }

    /// Checks that every map agrees with every other (tests only).
    #[cfg(test)]
    pub(crate) fn assert_consistent(&self) {
        assert!(self.entries.len() <= self.max_entries);
        assert!(self.bytes <= self.max_bytes);
        assert_eq!(self.recency.len(), self.entries.len());
        assert_eq!(self.expiry.len(), self.entries.len());
        assert_eq!(self.contexts.len(), self.slabs.len());
        let mut bytes = 0usize;
        let mut rows = 0usize;
        for (id, slab) in &self.slabs {
            assert_eq!(self.contexts.get(&slab.key), Some(id));
            assert!(!slab.slots.is_empty());
            assert_eq!(slab.vectors.len(), slab.slots.len() * slab.dim);
            for (i, slot) in slab.slots.iter().enumerate() {
                let entry = self.entries[&slot.id];
                assert_eq!((entry.slab, entry.slot), (*id, i));
                assert_eq!(self.recency[&entry.stamp], slot.id);
                assert!(self.expiry.contains(&(entry.expires_ms, slot.id)));
                assert_eq!(entry.bytes, slab.dim * 4 + slot.value.len());
                bytes += entry.bytes;
                rows += 1;
            }
        }
        assert_eq!(rows, self.entries.len());
        assert_eq!(bytes, self.bytes);
    }
}

impl Slab {
    /// Removes row `slot` by moving the last row into it; returns the id of the entry moved.
    fn swap_remove(&mut self, slot: usize) -> Option<u64> {
        let last = self.slots.len().checked_sub(1)?;
        if slot > last {
            return None;
        }
        let start = last.saturating_mul(self.dim);
        if slot != last {
            self.vectors
                .copy_within(start..start.saturating_add(self.dim), slot * self.dim);
        }
        self.vectors.truncate(start);
        self.slots.swap_remove(slot);
        // Give memory back once a context has shrunk to a quarter of what it held.
        if self.slots.capacity() > 64 && self.slots.len() < self.slots.capacity() / 4 {
            self.slots.shrink_to(self.slots.len().saturating_mul(2));
            self.vectors.shrink_to(self.vectors.len().saturating_mul(2));
        }
        self.slots.get(slot).map(|s| s.id)
    }
}

/// `1 / |v|`, or `None` for a vector with no direction (empty, zero, NaN or infinite).
fn inverse_norm(v: &[f32]) -> Option<f32> {
    let norm = dot(v, v).sqrt();
    let inverse = norm.recip();
    (norm > 0.0 && norm.is_finite() && inverse.is_finite()).then_some(inverse)
}

/// The dot product, in eight independent lanes so the compiler keeps them in vector
/// registers (a single running sum is a dependency chain it may not reorder).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 8;
    let mut acc = [0.0f32; LANES];
    let (a_chunks, b_chunks) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (a_rest, b_rest) = (a_chunks.remainder(), b_chunks.remainder());
    for (x, y) in a_chunks.zip(b_chunks) {
        for ((s, x), y) in acc.iter_mut().zip(x).zip(y) {
            *s += x * y;
        }
    }
    let mut sum = (acc[0] + acc[4]) + (acc[1] + acc[5]) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (x, y) in a_rest.iter().zip(b_rest) {
        sum += x * y;
    }
    sum
}
