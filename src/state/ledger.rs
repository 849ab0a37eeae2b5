//! The embedded spend ledger: spend per budget scope and period in SQLite, so budgets survive a
//! restart. Written off the request path by a flusher every `state.flush_interval` (what a
//! SIGKILL can lose at most) and once more at shutdown (a SIGTERM loses nothing). Flushes add
//! what was spent since the last one rather than write totals, so the old and the new process
//! of a zero-downtime upgrade, both writing the same file for a moment, lose nothing.

use rusqlite::{params, Connection};
use std::path::Path;
use std::sync::Mutex;

pub struct Ledger {
    conn: Mutex<Connection>,
}

impl Ledger {
    pub fn open(dir: &Path) -> Result<Ledger, String> {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let path = dir.join("ledger.sqlite3");
        let conn =
            Connection::open(&path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL;
             PRAGMA synchronous=NORMAL;
             CREATE TABLE IF NOT EXISTS spend (
                 scope TEXT NOT NULL,
                 name TEXT NOT NULL,
                 period TEXT NOT NULL,
                 spent_micros INTEGER NOT NULL,
                 updated_at INTEGER NOT NULL,
                 PRIMARY KEY (scope, name, period)
             );",
        )
        .map_err(|e| format!("cannot prepare {}: {e}", path.display()))?;
        Ok(Ledger {
            conn: Mutex::new(conn),
        })
    }

    /// Spend recorded for a scope in a period (0 when none).
    pub fn load(&self, scope: &str, name: &str, period: &str) -> u64 {
        let Ok(conn) = self.conn.lock() else { return 0 };
        conn.query_row(
            "SELECT spent_micros FROM spend WHERE scope = ?1 AND name = ?2 AND period = ?3",
            params![scope, name, period],
            |row| row.get::<_, i64>(0),
        )
        .map_or(0, |v| v.max(0) as u64)
    }

    /// Adds spend (`scope, name, period, micro-dollars`) in one transaction.
    pub fn add(
        &self,
        rows: &[(String, String, String, u64)],
        unix_secs: u64,
    ) -> Result<(), String> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut conn = self
            .conn
            .lock()
            .map_err(|_| "ledger lock poisoned".to_owned())?;
        let tx = conn.transaction().map_err(|e| e.to_string())?;
        {
            let mut upsert = tx
                .prepare_cached(
                    "INSERT INTO spend (scope, name, period, spent_micros, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (scope, name, period)
                     DO UPDATE SET spent_micros = spent_micros + excluded.spent_micros,
                                   updated_at = excluded.updated_at",
                )
                .map_err(|e| e.to_string())?;
            for (scope, name, period, spent) in rows {
                upsert
                    .execute(params![
                        scope,
                        name,
                        period,
                        *spent as i64,
                        unix_secs as i64
                    ])
                    .map_err(|e| e.to_string())?;
            }
        }
        tx.commit().map_err(|e| e.to_string())
    }

    /// Zeroes a scope's spend for a period (an admin reset).
    pub fn clear(
        &self,
        scope: &str,
        name: &str,
        period: &str,
        unix_secs: u64,
    ) -> Result<(), String> {
        let conn = self
            .conn
            .lock()
            .map_err(|_| "ledger lock poisoned".to_owned())?;
        conn.execute(
            "INSERT INTO spend (scope, name, period, spent_micros, updated_at) VALUES (?1, ?2, ?3, 0, ?4)
             ON CONFLICT (scope, name, period) DO UPDATE SET spent_micros = 0, updated_at = excluded.updated_at",
            params![scope, name, period, unix_secs as i64],
        )
        .map(|_| ())
        .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::Ledger;

    #[test]
    fn two_processes_on_one_file_add_up_and_a_reset_clears() {
        let dir = tempfile::tempdir().unwrap();
        let old = Ledger::open(dir.path()).unwrap();
        let new = Ledger::open(dir.path()).unwrap();
        let row = |micros| {
            (
                "key".to_owned(),
                "app".to_owned(),
                "2026-11".to_owned(),
                micros,
            )
        };
        old.add(&[row(700)], 1).unwrap();
        new.add(&[row(50)], 2).unwrap();
        old.add(&[row(25)], 3).unwrap();
        assert_eq!(new.load("key", "app", "2026-11"), 775);
        assert_eq!(new.load("key", "app", "2026-10"), 0);
        new.clear("key", "app", "2026-11", 4).unwrap();
        assert_eq!(old.load("key", "app", "2026-11"), 0);
    }
}
