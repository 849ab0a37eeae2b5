//! The exact cache's storage: complete answers by cache key (`sluice_filters::cache`), in
//! memory (bounded, least recently used first) or in Redis (shared by every gateway node,
//! expired by Redis). What is stored and how a hit is replayed is the filter crate's.

pub mod flights;
mod memory;
pub mod semantic;
pub mod tape;

use bytes::Bytes;
use memory::MemoryCache;
use redis::aio::ConnectionManager;
use std::time::Duration;
use tokio::sync::OnceCell;

pub struct ExactCache {
    backend: Backend,
    ttl: Duration,
    /// A larger answer is not stored.
    pub max_entry_bytes: usize,
}

enum Backend {
    Memory(MemoryCache),
    Redis(Box<RedisCache>),
}

struct RedisCache {
    client: redis::Client,
    prefix: String,
    conn: OnceCell<ConnectionManager>,
}

impl ExactCache {
    pub fn memory(config: &crate::config::ExactCacheConfig) -> ExactCache {
        ExactCache {
            backend: Backend::Memory(MemoryCache::new(config.max_entries, config.max_bytes.0)),
            ttl: config.ttl.0,
            max_entry_bytes: usize::try_from(config.max_entry_bytes.0).unwrap_or(usize::MAX),
        }
    }

    pub fn redis(
        config: &crate::config::ExactCacheConfig,
        url: &str,
        prefix: &str,
    ) -> Result<ExactCache, String> {
        let client = redis::Client::open(url).map_err(|e| format!("invalid redis url: {e}"))?;
        Ok(ExactCache {
            backend: Backend::Redis(Box::new(RedisCache {
                client,
                prefix: format!("{prefix}:cache:"),
                conn: OnceCell::new(),
            })),
            ttl: config.ttl.0,
            max_entry_bytes: usize::try_from(config.max_entry_bytes.0).unwrap_or(usize::MAX),
        })
    }

    /// The answer stored under `key`. A store that cannot be reached is a miss.
    pub async fn get(&self, key: &str) -> Option<Bytes> {
        match &self.backend {
            Backend::Memory(m) => m.get(key, crate::clock::now_ms()),
            Backend::Redis(redis) => {
                let RedisCache {
                    client,
                    prefix,
                    conn,
                } = &**redis;
                let mut conn = connection(client, conn).await.ok()?;
                let found: Option<Vec<u8>> = redis::cmd("GET")
                    .arg(format!("{prefix}{key}"))
                    .query_async(&mut conn)
                    .await
                    .map_err(|e| log::warn!("cache lookup failed: {e}"))
                    .ok()?;
                found.map(Bytes::from)
            }
        }
    }

    /// Stores `answer` under `key` for the configured time.
    pub async fn put(&self, key: &str, answer: Bytes) {
        if answer.len() > self.max_entry_bytes {
            return;
        }
        match &self.backend {
            Backend::Memory(m) => {
                let expires = crate::clock::now_ms()
                    .saturating_add(u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX));
                m.put(key, answer, expires);
            }
            Backend::Redis(redis) => {
                let RedisCache {
                    client,
                    prefix,
                    conn,
                } = &**redis;
                let Ok(mut conn) = connection(client, conn).await else {
                    return;
                };
                let ttl_ms = u64::try_from(self.ttl.as_millis())
                    .unwrap_or(u64::MAX)
                    .max(1);
                let stored: Result<(), _> = redis::cmd("SET")
                    .arg(format!("{prefix}{key}"))
                    .arg(answer.as_ref())
                    .arg("PX")
                    .arg(ttl_ms)
                    .query_async(&mut conn)
                    .await;
                if let Err(e) = stored {
                    log::warn!("cache store failed: {e}");
                }
            }
        }
    }
}

async fn connection(
    client: &redis::Client,
    conn: &OnceCell<ConnectionManager>,
) -> Result<ConnectionManager, String> {
    conn.get_or_try_init(|| async {
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_secs(1))
            .set_response_timeout(Duration::from_secs(1))
            .set_number_of_retries(1);
        ConnectionManager::new_with_config(client.clone(), config).await
    })
    .await
    .cloned()
    .map_err(|e| e.to_string())
}
