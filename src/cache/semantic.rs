//! The semantic cache's store: one in-memory index (`sluice_filters::cache::semantic`) behind a
//! mutex, with the settings a lookup needs. Embedding and matching are cheap next to a model
//! call; the lock is held only for an index step.

use crate::config::SemanticCacheConfig;
use bytes::Bytes;
use sluice_filters::cache::semantic::{ContextKey, SemanticHit, SemanticIndex};
use std::sync::Mutex;

pub struct SemanticCache {
    index: Mutex<SemanticIndex>,
    pub config: SemanticCacheConfig,
}

impl SemanticCache {
    pub fn new(config: &SemanticCacheConfig) -> SemanticCache {
        SemanticCache {
            index: Mutex::new(SemanticIndex::new(
                usize::try_from(config.max_entries).unwrap_or(usize::MAX),
                usize::try_from(config.max_bytes.0).unwrap_or(usize::MAX),
            )),
            config: config.clone(),
        }
    }

    pub fn lookup(&self, context: &ContextKey, vector: &[f32]) -> Option<SemanticHit> {
        let now = crate::clock::now_ms();
        self.index
            .lock()
            .ok()?
            .lookup(context, vector, self.config.threshold, now)
    }

    pub fn insert(&self, context: &ContextKey, vector: Vec<f32>, answer: Bytes) {
        let now = crate::clock::now_ms();
        let ttl = u64::try_from(self.config.ttl.0.as_millis()).unwrap_or(u64::MAX);
        if let Ok(mut index) = self.index.lock() {
            if let Err(e) = index.insert(context, vector, answer, now.saturating_add(ttl), now) {
                log::debug!("semantic cache: not stored: {e}");
            }
        }
    }
}
