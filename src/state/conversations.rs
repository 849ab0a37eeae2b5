//! The conversation store: the turns of conversations sluice continues for its clients
//! (Anthropic message threads today; the Responses API's `previous_response_id` uses the same
//! store), so a conversation can move between providers. A turn is what one request added
//! (its new messages) and what it was answered (the assistant's content), in Anthropic's
//! message format, linked to the turn before it; the history of a turn is its chain, oldest
//! first. A turn belongs to the virtual key that wrote it: another key sees nothing, as for an
//! unknown id. Written when a response ends, before the next request can ask for it.
//!
//! Embedded: a SQLite file beside the spend ledger (one process). Redis: one hash per turn
//! with a TTL (any number of gateways). Both keep turns for `state.conversation_retention`.

use redis::aio::ConnectionManager;
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::OnceCell;

/// The longest chain a history is built from (a guard against a cycle or an absurd thread).
const MAX_TURNS: usize = 1000;

/// One stored turn.
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    /// The virtual key that wrote it.
    pub owner: String,
    /// The turn this one continued.
    pub previous: Option<String>,
    /// The messages the request added (Anthropic's format).
    pub messages: Vec<Value>,
    /// The assistant's answer: content blocks (Anthropic's format).
    pub output: Vec<Value>,
    /// The provider that served it (a same-dialect provider may hold the thread itself).
    pub provider: String,
    /// What the conversation's first request set for all of it (`system`, `tools`: clients
    /// send them once, when the thread is created), as a JSON object; empty on later turns.
    pub settings: Value,
}

/// A conversation's history as it must be sent again: every earlier turn's messages and
/// answer, oldest first, the settings its first turn made, and the last turn's provider.
pub struct History {
    pub messages: Vec<Value>,
    pub settings: Value,
    pub provider: String,
}

enum Backend {
    /// The directory of the SQLite file, opened at the first use (a gateway whose clients
    /// never continue a conversation writes no file).
    Embedded {
        dir: std::path::PathBuf,
        conn: std::sync::OnceLock<Result<Arc<Mutex<Connection>>, String>>,
    },
    Redis(Box<RedisStore>),
}

struct RedisStore {
    client: redis::Client,
    prefix: String,
    conn: OnceCell<ConnectionManager>,
}

pub struct Conversations {
    backend: Backend,
    retention: Duration,
    /// Turns written as their answer's last byte goes out (a synchronous phase), readable at
    /// once, until the logging phase has stored them in the backend.
    recent: Mutex<std::collections::HashMap<String, Turn>>,
}

/// Turns held in memory at most while they wait to be stored.
const MAX_RECENT: usize = 10_000;

impl Conversations {
    pub fn embedded(dir: &Path, retention: Duration) -> Conversations {
        Conversations {
            backend: Backend::Embedded {
                dir: dir.to_owned(),
                conn: std::sync::OnceLock::new(),
            },
            retention,
            recent: Mutex::default(),
        }
    }

    fn sqlite(&self) -> Result<Arc<Mutex<Connection>>, String> {
        let Backend::Embedded { dir, conn } = &self.backend else {
            return Err("not an embedded store".into());
        };
        conn.get_or_init(|| open_sqlite(dir).map(|c| Arc::new(Mutex::new(c))))
            .clone()
    }

    pub fn redis(url: &str, prefix: &str, retention: Duration) -> Result<Conversations, String> {
        let client = redis::Client::open(url).map_err(|e| format!("invalid redis url: {e}"))?;
        Ok(Conversations {
            backend: Backend::Redis(Box::new(RedisStore {
                client,
                prefix: prefix.to_owned(),
                conn: OnceCell::new(),
            })),
            retention,
            recent: Mutex::default(),
        })
    }

    /// Makes a turn readable at once, in memory, until `store` writes it to the backend: the
    /// client may continue the conversation the moment it has the answer.
    /// A full backlog (the backend failing for long) refuses the turn, loudly.
    pub fn hold(&self, id: &str, turn: Turn) {
        let held = match self.recent.lock() {
            Ok(mut recent) if recent.len() < MAX_RECENT => {
                recent.insert(id.to_owned(), turn);
                true
            }
            _ => false,
        };
        if !held {
            log::error!(
                "conversation store backlog is full ({MAX_RECENT} unwritten turns): turn {id} is not kept"
            );
        }
    }

    /// Writes a held turn to the backend, then lets go of it. A turn the write failed for
    /// stays held (bounded by `MAX_RECENT`): it is still readable on this node, and a write
    /// cancelled by a shutdown is made by `flush_held` once the server has stopped.
    pub async fn store(&self, id: &str) -> Result<(), String> {
        let turn = self.recent.lock().ok().and_then(|r| r.get(id).cloned());
        let Some(turn) = turn else { return Ok(()) };
        self.put(id, &turn).await?;
        if let Ok(mut recent) = self.recent.lock() {
            recent.remove(id);
        }
        Ok(())
    }

    /// Writes every held turn to the embedded store now (at shutdown: a turn whose response
    /// went out is not lost with the process). Redis turns are written as they end.
    pub fn flush_held(&self) {
        if !matches!(self.backend, Backend::Embedded { .. }) {
            return;
        }
        let held: Vec<(String, Turn)> = match self.recent.lock() {
            Ok(mut recent) => recent.drain().collect(),
            Err(_) => return,
        };
        if held.is_empty() {
            return;
        }
        let Ok(conn) = self.sqlite() else { return };
        let Ok(conn) = conn.lock() else { return };
        let now = crate::state::unix_now().as_secs() as i64;
        for (id, turn) in held {
            let result = conn.execute(
                "INSERT OR REPLACE INTO turns (id, owner, previous, messages, output, provider, settings, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    id,
                    turn.owner,
                    turn.previous,
                    Value::Array(turn.messages).to_string(),
                    Value::Array(turn.output).to_string(),
                    turn.provider,
                    turn.settings.to_string(),
                    now
                ],
            );
            if let Err(e) = result {
                log::error!("storing the thread turn {id} at shutdown failed: {e}");
            }
        }
    }

    /// Stores a turn under `id` (the answer's id, which the client names to continue).
    pub async fn put(&self, id: &str, turn: &Turn) -> Result<(), String> {
        let messages = Value::Array(turn.messages.clone()).to_string();
        let output = Value::Array(turn.output.clone()).to_string();
        let settings = turn.settings.to_string();
        let now = crate::state::unix_now().as_secs();
        match &self.backend {
            Backend::Embedded { .. } => {
                let conn = self.sqlite()?;
                let (id, owner, previous, provider) = (
                    id.to_owned(),
                    turn.owner.clone(),
                    turn.previous.clone(),
                    turn.provider.clone(),
                );
                let expired = now.saturating_sub(self.retention.as_secs());
                tokio::task::spawn_blocking(move || {
                    let conn = conn.lock().map_err(|_| "conversation store poisoned")?;
                    conn.execute(
                        "INSERT OR REPLACE INTO turns (id, owner, previous, messages, output, provider, settings, created_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                        params![id, owner, previous, messages, output, provider, settings, now as i64],
                    )
                    .map_err(|e| e.to_string())?;
                    conn.execute(
                        "DELETE FROM turns WHERE created_at < ?1",
                        params![expired as i64],
                    )
                    .map_err(|e| e.to_string())?;
                    Ok::<(), String>(())
                })
                .await
                .map_err(|e| e.to_string())?
            }
            Backend::Redis(store) => {
                let mut conn = self.redis_conn().await?;
                let key = format!("{}:conv:{id}", store.prefix);
                let mut pipe = redis::pipe();
                pipe.atomic()
                    .cmd("HSET")
                    .arg(&key)
                    .arg("owner")
                    .arg(&turn.owner)
                    .arg("previous")
                    .arg(turn.previous.as_deref().unwrap_or(""))
                    .arg("messages")
                    .arg(messages)
                    .arg("output")
                    .arg(output)
                    .arg("provider")
                    .arg(&turn.provider)
                    .arg("settings")
                    .arg(settings)
                    .ignore()
                    .cmd("EXPIRE")
                    .arg(&key)
                    .arg(self.retention.as_secs().max(1))
                    .ignore();
                pipe.query_async::<()>(&mut conn)
                    .await
                    .map_err(|e| e.to_string())
            }
        }
    }

    /// The turn stored under `id`, if `owner` wrote it.
    pub async fn get(&self, id: &str, owner: &str) -> Result<Option<Turn>, String> {
        let held = self.recent.lock().ok().and_then(|r| r.get(id).cloned());
        if let Some(turn) = held {
            return Ok((turn.owner == owner).then_some(turn));
        }
        let turn = match &self.backend {
            Backend::Embedded { .. } => {
                let conn = self.sqlite()?;
                let id = id.to_owned();
                tokio::task::spawn_blocking(move || {
                    let conn = conn.lock().map_err(|_| "conversation store poisoned")?;
                    conn.query_row(
                        "SELECT owner, previous, messages, output, provider, settings FROM turns WHERE id = ?1",
                        params![id],
                        |row| {
                            Ok((
                                row.get::<_, String>(0)?,
                                row.get::<_, Option<String>>(1)?,
                                row.get::<_, String>(2)?,
                                row.get::<_, String>(3)?,
                                row.get::<_, String>(4)?,
                                row.get::<_, String>(5)?,
                            ))
                        },
                    )
                    .optional()
                    .map_err(|e| e.to_string())
                })
                .await
                .map_err(|e| e.to_string())??
            }
            Backend::Redis(store) => {
                let mut conn = self.redis_conn().await?;
                let fields: Vec<Option<String>> = redis::cmd("HMGET")
                    .arg(format!("{}:conv:{id}", store.prefix))
                    .arg(
                        &[
                            "owner", "previous", "messages", "output", "provider", "settings",
                        ][..],
                    )
                    .query_async(&mut conn)
                    .await
                    .map_err(|e| e.to_string())?;
                match fields.as_slice() {
                    [Some(owner), previous, Some(messages), Some(output), Some(provider), settings] => {
                        Some((
                            owner.clone(),
                            previous.clone().filter(|p| !p.is_empty()),
                            messages.clone(),
                            output.clone(),
                            provider.clone(),
                            settings.clone().unwrap_or_default(),
                        ))
                    }
                    _ => None,
                }
            }
        };
        let Some((stored_owner, previous, messages, output, provider, settings)) = turn else {
            return Ok(None);
        };
        if stored_owner != owner {
            return Ok(None);
        }
        let array = |text: &str| match serde_json::from_str(text) {
            Ok(Value::Array(items)) => items,
            _ => Vec::new(),
        };
        Ok(Some(Turn {
            owner: stored_owner,
            previous,
            messages: array(&messages),
            output: array(&output),
            provider,
            settings: serde_json::from_str(&settings).unwrap_or_else(|_| serde_json::json!({})),
        }))
    }

    /// The history a request continuing `id` must carry: every turn of the chain ending at
    /// `id`, oldest first, each its messages then its answer. `None` when `id` is unknown to
    /// `owner` (or a turn of the chain has expired).
    pub async fn history(&self, id: &str, owner: &str) -> Result<Option<History>, String> {
        let Some(chain) = self.chain(id, owner).await? else {
            return Ok(None);
        };
        let provider = chain.last().map(|t| t.provider.clone()).unwrap_or_default();
        let mut messages = Vec::new();
        let mut settings = serde_json::json!({});
        for turn in chain {
            if let (Some(all), Value::Object(set)) = (settings.as_object_mut(), turn.settings) {
                all.extend(set);
            }
            messages.extend(turn.messages);
            messages.push(serde_json::json!({"role": "assistant", "content": turn.output}));
        }
        Ok(Some(History {
            messages,
            settings,
            provider,
        }))
    }

    /// The turns of the conversation ending at `id`, oldest first; `None` when `id` is unknown
    /// to `owner` (or a turn of the chain has expired).
    pub async fn chain(&self, id: &str, owner: &str) -> Result<Option<Vec<Turn>>, String> {
        let mut chain: Vec<Turn> = Vec::new();
        let mut next = Some(id.to_owned());
        while let Some(at) = next.take() {
            if chain.len() == MAX_TURNS {
                return Err(format!("the conversation is longer than {MAX_TURNS} turns"));
            }
            let Some(turn) = self.get(&at, owner).await? else {
                return Ok(None);
            };
            next = turn.previous.clone();
            chain.push(turn);
        }
        chain.reverse();
        Ok(Some(chain))
    }

    /// Deletes the turn stored under `id` if `owner` wrote it; false when there is none.
    pub async fn delete(&self, id: &str, owner: &str) -> Result<bool, String> {
        if self.get(id, owner).await?.is_none() {
            return Ok(false);
        }
        if let Ok(mut recent) = self.recent.lock() {
            recent.remove(id);
        }
        match &self.backend {
            Backend::Embedded { .. } => {
                let conn = self.sqlite()?;
                let id = id.to_owned();
                tokio::task::spawn_blocking(move || {
                    let conn = conn.lock().map_err(|_| "conversation store poisoned")?;
                    conn.execute("DELETE FROM turns WHERE id = ?1", params![id])
                        .map_err(|e| e.to_string())
                })
                .await
                .map_err(|e| e.to_string())??;
            }
            Backend::Redis(store) => {
                let mut conn = self.redis_conn().await?;
                redis::cmd("DEL")
                    .arg(format!("{}:conv:{id}", store.prefix))
                    .query_async::<()>(&mut conn)
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
        Ok(true)
    }

    async fn redis_conn(&self) -> Result<ConnectionManager, String> {
        let Backend::Redis(store) = &self.backend else {
            return Err("not a redis store".into());
        };
        let (client, conn) = (&store.client, &store.conn);
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
}

fn open_sqlite(dir: &Path) -> Result<Connection, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let path = dir.join("conversations.sqlite3");
    let conn =
        Connection::open(&path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    conn.execute_batch(
        "PRAGMA journal_mode=WAL;
         PRAGMA synchronous=NORMAL;
         CREATE TABLE IF NOT EXISTS turns (
             id TEXT PRIMARY KEY,
             owner TEXT NOT NULL,
             previous TEXT,
             messages TEXT NOT NULL,
             output TEXT NOT NULL,
             provider TEXT NOT NULL,
             settings TEXT NOT NULL DEFAULT '{}',
             created_at INTEGER NOT NULL
         );
         CREATE INDEX IF NOT EXISTS turns_created ON turns (created_at);",
    )
    .map_err(|e| format!("cannot prepare {}: {e}", path.display()))?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn turn(owner: &str, previous: Option<&str>, text: &str) -> Turn {
        Turn {
            owner: owner.into(),
            previous: previous.map(str::to_owned),
            messages: vec![json!({"role": "user", "content": text})],
            output: vec![json!({"type": "text", "text": format!("re: {text}")})],
            provider: "p".into(),
            settings: json!({"system": "be brief"}),
        }
    }

    #[tokio::test]
    async fn histories_follow_the_chain_and_belong_to_their_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = Conversations::embedded(dir.path(), Duration::from_secs(3600));
        store.put("a", &turn("k", None, "one")).await.unwrap();
        store.put("b", &turn("k", Some("a"), "two")).await.unwrap();
        let history = store.history("b", "k").await.unwrap().unwrap();
        let texts: Vec<String> = history
            .messages
            .iter()
            .map(|m| m["content"].to_string())
            .collect();
        assert_eq!(texts.len(), 4);
        assert!(texts[0].contains("one") && texts[1].contains("re: one"));
        assert!(texts[2].contains("two") && texts[3].contains("re: two"));
        assert!(store.history("b", "other-key").await.unwrap().is_none());
        assert!(store.history("nope", "k").await.unwrap().is_none());
        // A restart keeps them.
        drop(store);
        let store = Conversations::embedded(dir.path(), Duration::from_secs(3600));
        assert!(store.history("b", "k").await.unwrap().is_some());
    }
}
