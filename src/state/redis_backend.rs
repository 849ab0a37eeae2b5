//! The Redis backend: every window, in-flight set and budget lives in Redis and each admission
//! or settlement is one Lua script, so any number of gateway processes enforce one limit and one
//! budget atomically. Time comes from the Redis server (`TIME`), not from each gateway's clock.
//!
//! Per scope (`{prefix}:{kind}:{name}`):
//! - `:rq` requests window, a sorted set of request ids scored by admission time;
//! - `:tk` / `:tka` / `:tks` tokens window: ids by time, their amounts, and the running sum;
//! - `:cc` in-flight requests, scored by when they expire (a crashed gateway cannot leak them);
//! - `:bd:{period}` spend hash (`spent`), `:br:{period}` reservations (`id:cost`, scored by
//!   expiry, so a crashed gateway's reservations lapse).

use super::scope::Scope;
use super::{Demand, Grant, RateInfo, Refusal, RefusalKind};
use redis::aio::ConnectionManager;
use redis::Script;
use sluice_filters::governance::MAX_EXACT;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OnceCell;

/// Reservations and in-flight entries lapse after this if never settled (a crashed gateway).
const HOLD_MS: u64 = 15 * 60 * 1000;

const ADMIT: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local id = ARGV[1]
local tokens = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local hold = tonumber(ARGV[4])
local window = 60000
local n = #KEYS / 7
local rate = {}

local function expire_tokens(k)
  local old = redis.call('ZRANGEBYSCORE', KEYS[k+2], '-inf', now - window)
  for _, member in ipairs(old) do
    local amount = tonumber(redis.call('HGET', KEYS[k+3], member) or '0')
    redis.call('DECRBY', KEYS[k+4], amount)
    redis.call('HDEL', KEYS[k+3], member)
  end
  if #old > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[k+2], '-inf', now - window) end
  return tonumber(redis.call('GET', KEYS[k+4]) or '0')
end

local function reserved(k)
  redis.call('ZREMRANGEBYSCORE', KEYS[k+6], '-inf', now)
  local sum = 0
  for _, member in ipairs(redis.call('ZRANGE', KEYS[k+6], 0, -1)) do
    sum = sum + tonumber(string.match(member, ':(%d+)$') or '0')
  end
  return sum
end

for i = 0, n - 1 do
  local k = i * 7
  local a = 5 + i * 4
  local rpm, tpm, conc, limit = tonumber(ARGV[a]), tonumber(ARGV[a+1]), tonumber(ARGV[a+2]), tonumber(ARGV[a+3])
  if conc >= 0 then
    redis.call('ZREMRANGEBYSCORE', KEYS[k+5], '-inf', now)
    if redis.call('ZCARD', KEYS[k+5]) >= conc then return {'concurrency', i, 1000, 0} end
  end
  if rpm >= 0 then
    redis.call('ZREMRANGEBYSCORE', KEYS[k+1], '-inf', now - window)
    local count = redis.call('ZCARD', KEYS[k+1])
    if count + 1 > rpm then
      local oldest = redis.call('ZRANGE', KEYS[k+1], 0, 0, 'WITHSCORES')
      return {'requests', i, tonumber(oldest[2]) + window - now, rpm - count}
    end
  end
  if tpm >= 0 then
    local sum = expire_tokens(k)
    if sum + tokens > tpm then
      local freed, retry = tpm - sum, window
      local entries = redis.call('ZRANGE', KEYS[k+2], 0, -1, 'WITHSCORES')
      for j = 1, #entries, 2 do
        freed = freed + tonumber(redis.call('HGET', KEYS[k+3], entries[j]) or '0')
        if freed >= tokens then retry = tonumber(entries[j+1]) + window - now break end
      end
      return {'tokens', i, retry, math.max(tpm - sum, 0)}
    end
  end
  if limit >= 0 then
    local spent = tonumber(redis.call('HGET', KEYS[k+7], 'spent') or '0')
    if spent + reserved(k) + cost > limit then return {'budget', i, 0, 0} end
  end
end

local out = {'ok'}
for i = 0, n - 1 do
  local k = i * 7
  local a = 5 + i * 4
  local rpm, tpm, conc, limit = tonumber(ARGV[a]), tonumber(ARGV[a+1]), tonumber(ARGV[a+2]), tonumber(ARGV[a+3])
  local rq_left, rq_reset, tk_left, tk_reset = -1, 0, -1, 0
  if conc >= 0 then
    redis.call('ZADD', KEYS[k+5], now + hold, id)
    redis.call('PEXPIRE', KEYS[k+5], hold * 2)
  end
  if rpm >= 0 then
    redis.call('ZADD', KEYS[k+1], now, id)
    redis.call('PEXPIRE', KEYS[k+1], window * 2)
    rq_left = rpm - redis.call('ZCARD', KEYS[k+1])
    local oldest = redis.call('ZRANGE', KEYS[k+1], 0, 0, 'WITHSCORES')
    rq_reset = tonumber(oldest[2]) + window - now
  end
  if tpm >= 0 then
    redis.call('ZADD', KEYS[k+2], now, id)
    redis.call('HSET', KEYS[k+3], id, tokens)
    local sum = redis.call('INCRBY', KEYS[k+4], tokens)
    for j = 2, 4 do redis.call('PEXPIRE', KEYS[k+j], window * 2) end
    tk_left = tpm - sum
    local oldest = redis.call('ZRANGE', KEYS[k+2], 0, 0, 'WITHSCORES')
    tk_reset = tonumber(oldest[2]) + window - now
  end
  if limit >= 0 then
    redis.call('ZADD', KEYS[k+6], now + hold, id .. ':' .. cost)
    redis.call('PEXPIRE', KEYS[k+6], hold * 2)
  end
  table.insert(out, rq_left)
  table.insert(out, rq_reset)
  table.insert(out, tk_left)
  table.insert(out, tk_reset)
end
return out
"#;

const SETTLE: &str = r#"
local id = ARGV[1]
local tokens = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local reserved = ARGV[4]
local n = #KEYS / 7
for i = 0, n - 1 do
  local k = i * 7
  local a = 5 + i * 4
  local tpm, conc, limit = tonumber(ARGV[a+1]), tonumber(ARGV[a+2]), tonumber(ARGV[a+3])
  if conc >= 0 then redis.call('ZREM', KEYS[k+5], id) end
  if tpm >= 0 then
    local old = redis.call('HGET', KEYS[k+3], id)
    if old then
      redis.call('HSET', KEYS[k+3], id, tokens)
      redis.call('INCRBY', KEYS[k+4], tokens - tonumber(old))
    end
  end
  if limit >= 0 then
    redis.call('ZREM', KEYS[k+6], id .. ':' .. reserved)
    redis.call('HINCRBY', KEYS[k+7], 'spent', cost)
    redis.call('PEXPIRE', KEYS[k+7], 100 * 86400 * 1000)
  end
end
return 1
"#;

pub struct RedisState {
    client: redis::Client,
    prefix: String,
    conn: OnceCell<ConnectionManager>,
    admit: Script,
    settle: Script,
}

impl RedisState {
    pub fn new(url: &str, prefix: &str) -> Result<RedisState, String> {
        let client = redis::Client::open(url).map_err(|e| format!("invalid redis url: {e}"))?;
        Ok(RedisState {
            client,
            prefix: prefix.to_owned(),
            conn: OnceCell::new(),
            admit: Script::new(ADMIT),
            settle: Script::new(SETTLE),
        })
    }

    async fn conn(&self) -> Result<ConnectionManager, String> {
        self.conn
            .get_or_try_init(|| async {
                let config = redis::aio::ConnectionManagerConfig::new()
                    .set_connection_timeout(Duration::from_secs(1))
                    .set_response_timeout(Duration::from_secs(1))
                    .set_number_of_retries(1);
                ConnectionManager::new_with_config(self.client.clone(), config).await
            })
            .await
            .cloned()
            .map_err(|e| e.to_string())
    }

    fn base(&self, scope: &Scope) -> String {
        format!("{}:{}:{}", self.prefix, scope.kind.as_str(), scope.name)
    }

    /// The seven keys of a scope, in the order the scripts expect.
    fn keys(&self, scope: &Scope, period: Option<&str>) -> [String; 7] {
        let b = self.base(scope);
        let p = period.unwrap_or("none");
        [
            format!("{b}:rq"),
            format!("{b}:tk"),
            format!("{b}:tka"),
            format!("{b}:tks"),
            format!("{b}:cc"),
            format!("{b}:br:{p}"),
            format!("{b}:bd:{p}"),
        ]
    }

    fn limits(scope: &Scope) -> [i64; 4] {
        // Lua's numbers are doubles: every amount is kept within their exact range (config
        // validation refuses larger limits; the clamp keeps this total all the same).
        let opt = |v: Option<u64>| v.map_or(-1, |v| v.min(MAX_EXACT) as i64);
        [
            opt(scope.rpm),
            opt(scope.tpm),
            opt(scope.concurrency),
            opt(scope.budget.map(|b| b.limit_micros)),
        ]
    }

    pub async fn admit(
        &self,
        scopes: &[Arc<Scope>],
        id: u64,
        demand: Demand,
        now: Duration,
    ) -> Result<Result<Grant, Box<Refusal>>, String> {
        let mut conn = self.conn().await?;
        let unix_secs = now.as_secs();
        let periods: Vec<Option<String>> = scopes
            .iter()
            .map(|s| s.budget.map(|b| b.period.id(unix_secs)))
            .collect();
        let mut invocation = self.admit.prepare_invoke();
        invocation
            .arg(id)
            .arg(demand.tokens.min(MAX_EXACT))
            .arg(demand.cost_micros.min(MAX_EXACT))
            .arg(HOLD_MS);
        for (scope, period) in scopes.iter().zip(&periods) {
            for key in self.keys(scope, period.as_deref()) {
                invocation.key(key);
            }
            for limit in Self::limits(scope) {
                invocation.arg(limit);
            }
        }
        let reply: Vec<redis::Value> = invocation
            .invoke_async(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        let text = |i: usize| match reply.get(i) {
            Some(redis::Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
            Some(redis::Value::SimpleString(s)) => s.clone(),
            _ => String::new(),
        };
        let int = |i: usize| match reply.get(i) {
            Some(redis::Value::Int(v)) => *v,
            _ => 0,
        };
        let status = text(0);
        if status != "ok" {
            let Some(scope) = scopes.get(int(1).max(0) as usize) else {
                return Err(format!(
                    "unexpected reply from the admission script: {status}"
                ));
            };
            let retry_ms = int(2).max(0) as u64;
            let kind = match status.as_str() {
                "requests" => RefusalKind::Requests,
                "tokens" => RefusalKind::Tokens,
                "concurrency" => RefusalKind::Concurrency,
                _ => RefusalKind::Budget,
            };
            let mut rate = RateInfo::default();
            match kind {
                RefusalKind::Requests => RateInfo::note(
                    &mut rate.requests,
                    scope.rpm.unwrap_or(0),
                    int(3).max(0) as u64,
                    retry_ms,
                ),
                RefusalKind::Tokens => RateInfo::note(
                    &mut rate.tokens,
                    scope.tpm.unwrap_or(0),
                    int(3).max(0) as u64,
                    retry_ms,
                ),
                _ => {}
            }
            if kind == RefusalKind::Requests {
                let now_ms = u64::try_from(now.as_millis()).unwrap_or(u64::MAX);
                scope.block_requests_until(now_ms.saturating_add(retry_ms));
            }
            let retry_after_secs = match kind {
                RefusalKind::Budget => scope.budget.and_then(|b| b.period.seconds_left(unix_secs)),
                _ => Some(retry_ms.div_ceil(1000).max(1)),
            };
            return Ok(Err(Box::new(Refusal {
                kind,
                scope: scope.label(),
                scope_kind: scope.kind.as_str(),
                retry_after_secs,
                rate,
                exceeds_limit: None,
            })));
        }
        let mut rate = RateInfo::default();
        for (i, scope) in scopes.iter().enumerate() {
            let at = 1 + i * 4;
            if let Some(limit) = scope.rpm {
                RateInfo::note(
                    &mut rate.requests,
                    limit,
                    int(at).max(0) as u64,
                    int(at + 1).max(0) as u64,
                );
            }
            if let Some(limit) = scope.tpm {
                RateInfo::note(
                    &mut rate.tokens,
                    limit,
                    int(at + 2).max(0) as u64,
                    int(at + 3).max(0) as u64,
                );
            }
        }
        Ok(Ok(Grant {
            id,
            scopes: Vec::new(),
            demand,
            rate,
            periods,
        }))
    }

    pub async fn settle(&self, grant: &Grant, tokens: u64, cost_micros: u64) -> Result<(), String> {
        let mut conn = self.conn().await?;
        let mut invocation = self.settle.prepare_invoke();
        invocation
            .arg(grant.id)
            .arg(tokens.min(MAX_EXACT))
            .arg(cost_micros.min(MAX_EXACT))
            .arg(grant.demand.cost_micros.min(MAX_EXACT));
        for (i, scope) in grant.scopes.iter().enumerate() {
            let period = grant.periods.get(i).cloned().flatten();
            for key in self.keys(scope, period.as_deref()) {
                invocation.key(key);
            }
            for limit in Self::limits(scope) {
                invocation.arg(limit);
            }
        }
        invocation
            .invoke_async::<i64>(&mut conn)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    pub async fn report(&self, scope: &Scope, now: Duration) -> Result<serde_json::Value, String> {
        let mut conn = self.conn().await?;
        let period = scope.budget.map(|b| b.period.id(now.as_secs()));
        let keys = self.keys(scope, period.as_deref());
        let now_ms = now.as_millis() as u64;
        let mut pipe = redis::pipe();
        pipe.cmd("ZCOUNT")
            .arg(&keys[0])
            .arg(now_ms.saturating_sub(60_000))
            .arg("+inf")
            .cmd("GET")
            .arg(&keys[3])
            .cmd("ZCOUNT")
            .arg(&keys[4])
            .arg(now_ms)
            .arg("+inf")
            .cmd("HGET")
            .arg(&keys[6])
            .arg("spent");
        let (requests, tokens, inflight, spent): (u64, Option<i64>, u64, Option<i64>) = pipe
            .query_async(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        let mut entry = serde_json::json!({ "in_flight": inflight });
        if let Some(limit) = scope.rpm {
            entry["requests_last_minute"] = serde_json::json!({"used": requests, "limit": limit});
        }
        if let Some(limit) = scope.tpm {
            entry["tokens_last_minute"] =
                serde_json::json!({"used": tokens.unwrap_or(0).max(0), "limit": limit});
        }
        if let (Some(budget), Some(period)) = (scope.budget, period) {
            entry["budget"] = serde_json::json!({
                "period": budget.period.as_str(),
                "period_id": period,
                "spent_usd": spent.unwrap_or(0).max(0) as f64 / 1e6,
                "limit_usd": budget.limit_micros as f64 / 1e6,
            });
        }
        Ok(entry)
    }

    pub async fn reset(&self, scope: &Scope, now: Duration) -> Result<(), String> {
        let mut conn = self.conn().await?;
        let period = scope.budget.map(|b| b.period.id(now.as_secs()));
        let keys = self.keys(scope, period.as_deref());
        let mut del = redis::cmd("DEL");
        for key in [&keys[0], &keys[1], &keys[2], &keys[3], &keys[6]] {
            del.arg(key);
        }
        del.query_async::<i64>(&mut conn)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}
