//! The YAML configuration: its shape (these structs), loading with `${ENV}` interpolation, and
//! validation that names the offending field. Nothing here touches the network.

mod error;
mod guard;
mod interpolate;
mod restart;
mod summary;
mod units;
mod validate;

pub use error::ConfigError;
pub use guard::{compile_guardrails, GuardrailConfig};
pub use restart::needs_restart;
pub use summary::summary;
pub use units::{ByteSize, Dur};
pub use validate::weighted_schedule;

use schemars::JsonSchema;
use serde::Deserialize;
use sluice_filters::translate::UpstreamDialect;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
use url::Url;

/// sluice's configuration file (`sluice.yaml`). `${VAR}` and `${VAR:-default}` in any string
/// are replaced from the environment.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "sluice configuration")]
pub struct Config {
    /// Where clients connect (the OpenAI-compatible API).
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Where `/metrics`, `/healthz` and `/readyz` are served; keep it off the public interface.
    #[serde(default)]
    pub admin_listen: Option<SocketAddr>,
    /// Largest request body accepted; larger ones get 413 before they are read.
    #[serde(default = "default_max_request_body")]
    pub max_request_body: ByteSize,
    /// Request bodies held in memory at once, all requests together: past it a request is
    /// refused with 503 `gateway_busy` before its body is read.
    #[serde(default = "default_max_bodies_in_flight")]
    pub max_bodies_in_flight: ByteSize,
    #[serde(default)]
    pub server: ServerSettings,
    pub providers: BTreeMap<String, ProviderConfig>,
    #[serde(default)]
    pub models: Vec<ModelConfig>,
    #[serde(default)]
    pub keys: Vec<KeyConfig>,
    #[serde(default)]
    pub retries: RetrySettings,
    #[serde(default)]
    pub circuit_breaker: BreakerSettings,
    #[serde(default)]
    pub teams: Vec<TeamConfig>,
    #[serde(default)]
    pub state: StateConfig,
    #[serde(default)]
    pub audit: Option<AuditConfig>,
    #[serde(default)]
    pub admin: AdminConfig,
    /// Guardrails applied to every request and answer (models and keys may add their own).
    #[serde(default)]
    pub guardrails: Vec<GuardrailConfig>,
    #[serde(default)]
    pub cache: CacheConfig,
}

/// Response caching.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    /// The exact cache: an identical request (every field that can change the answer) is
    /// answered from a stored complete answer. In memory, or in Redis with `state.backend:
    /// redis` (shared by every node). Off when absent.
    #[serde(default)]
    pub exact: Option<ExactCacheConfig>,
    /// Identical cacheable requests in flight at once share one provider call: the others
    /// wait for the first's answer (works without the exact cache).
    #[serde(default)]
    pub dedup: bool,
    /// The semantic cache, for models that opt in (`models[].cache.semantic`): a question
    /// close enough in meaning to one answered in the same context gets that answer.
    #[serde(default)]
    pub semantic: Option<SemanticCacheConfig>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SemanticCacheConfig {
    /// A model of this config that serves embeddings (an OpenAI or Azure target).
    pub embedding_model: String,
    /// `dimensions` asked of the embedding model (OpenAI's text-embedding-3 models take it).
    #[serde(default)]
    pub dimensions: Option<u32>,
    /// The least cosine similarity that is a hit (0 to 1).
    #[serde(default = "default_threshold")]
    pub threshold: f32,
    #[serde(default = "default_semantic_ttl")]
    pub ttl: Dur,
    /// The longest wait for an embedding; past it the request is a miss.
    #[serde(default = "default_embedding_timeout")]
    pub timeout: Dur,
    /// The most answers indexed, all contexts together.
    #[serde(default = "default_semantic_entries")]
    pub max_entries: u64,
    /// The most bytes indexed (vectors and answers).
    #[serde(default = "default_semantic_bytes")]
    pub max_bytes: ByteSize,
}

fn default_threshold() -> f32 {
    0.92
}

fn default_semantic_ttl() -> Dur {
    Dur(Duration::from_secs(600))
}

fn default_embedding_timeout() -> Dur {
    Dur(Duration::from_secs(2))
}

fn default_semantic_entries() -> u64 {
    10_000
}

fn default_semantic_bytes() -> ByteSize {
    ByteSize(64 << 20)
}

#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ExactCacheConfig {
    /// How long an answer is served from the cache.
    pub ttl: Dur,
    /// In memory: the most answers kept (least recently used go first).
    pub max_entries: u64,
    /// In memory: the most bytes kept, all answers together.
    pub max_bytes: ByteSize,
    /// A larger answer is not cached.
    pub max_entry_bytes: ByteSize,
}

impl Default for ExactCacheConfig {
    fn default() -> Self {
        ExactCacheConfig {
            ttl: Dur(Duration::from_secs(600)),
            max_entries: 10_000,
            max_bytes: ByteSize(64 << 20),
            max_entry_bytes: ByteSize(1 << 20),
        }
    }
}

/// A model's use of the caches.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ModelCacheConfig {
    /// Whether the exact cache serves this model (when `cache.exact` is on).
    pub exact: bool,
    /// Also cache requests that sample (`temperature` absent or above 0): a hit then repeats
    /// one sampled answer instead of drawing a new one.
    pub sampled: bool,
    /// Whether the semantic cache serves this model (when `cache.semantic` is on).
    pub semantic: bool,
}

impl Default for ModelCacheConfig {
    fn default() -> Self {
        ModelCacheConfig {
            exact: true,
            sampled: false,
            semantic: false,
        }
    }
}

/// Rate limits of a key, team or model. Each is a sliding window: no minute ever holds more.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Requests per minute.
    pub rpm: Option<u64>,
    /// Tokens per minute: input and output. Reserved at admission from the prompt and
    /// `max_tokens`, corrected to the real usage when the response ends.
    pub tpm: Option<u64>,
    /// Requests in flight at once (streams count until they end).
    pub concurrency: Option<u64>,
}

/// A spending cap in USD per calendar period (UTC).
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BudgetConfig {
    pub usd: f64,
    #[serde(default = "default_period")]
    pub period: String,
}

fn default_period() -> String {
    "monthly".into()
}

#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamConfig {
    pub name: String,
    #[serde(default)]
    pub limits: Option<LimitsConfig>,
    #[serde(default)]
    pub budget: Option<BudgetConfig>,
}

/// Per model USD per million tokens; overrides the built-in price table.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceConfig {
    pub input_per_mtok: f64,
    pub output_per_mtok: f64,
    #[serde(default)]
    pub cached_input_per_mtok: Option<f64>,
    #[serde(default)]
    pub cache_write_per_mtok: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StateBackendKind {
    /// Counters in memory, spend in SQLite: one gateway process.
    Embedded,
    /// Everything in Redis, atomically: several gateway processes share limits and budgets.
    Redis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StateFailure {
    /// Refuse governed requests while the state store is unreachable.
    FailClosed,
    /// Let them through ungoverned (counted in `sluice_state_errors_total`).
    FailOpen,
}

#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct StateConfig {
    pub backend: StateBackendKind,
    /// Embedded: the directory of the SQLite spend ledger.
    pub path: String,
    /// Redis: `redis://host:port/db`.
    pub url: Option<String>,
    /// Embedded: how often spend is written to SQLite (what a SIGKILL can lose at most).
    pub flush_interval: Dur,
    pub on_error: StateFailure,
    /// Redis: a key prefix, so several gateways (or tests) can share a server.
    pub prefix: String,
    /// How long stored conversation turns (Anthropic message threads) are kept.
    pub conversation_retention: Dur,
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            backend: StateBackendKind::Embedded,
            path: "./sluice-data".into(),
            url: None,
            flush_interval: Dur(Duration::from_secs(1)),
            on_error: StateFailure::FailClosed,
            prefix: "sluice".into(),
            conversation_retention: Dur(Duration::from_secs(30 * 86_400)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// A JSON line per request goes here.
    pub path: String,
    /// Include request and response bodies (off by default: they hold user data).
    #[serde(default)]
    pub bodies: bool,
    /// Rotate when the file grows past this.
    #[serde(default = "default_audit_size")]
    pub max_size: ByteSize,
    /// Rotated files kept (`audit.jsonl.1` ... `.N`).
    #[serde(default = "default_audit_keep")]
    pub keep: u32,
}

fn default_audit_size() -> ByteSize {
    ByteSize(100 << 20)
}

fn default_audit_keep() -> u32 {
    5
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Bearer token for the admin API (`/admin/...`); without one the admin API is off.
    pub token: Option<String>,
    /// Read-only pages that also need the token: `metrics` (key and model names in labels),
    /// `status` (upstream addresses). Default: `[status]` when a token is set, else none.
    /// `/healthz` and `/readyz` are always open (probes carry no token).
    #[serde(default)]
    pub protect: Option<Vec<ProtectedPage>>,
}

/// An admin page that can be put behind the admin token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProtectedPage {
    Metrics,
    Status,
}

impl AdminConfig {
    /// The pages behind the token, defaults applied.
    pub fn protected(&self) -> Vec<ProtectedPage> {
        match (&self.protect, &self.token) {
            (Some(pages), _) => pages.clone(),
            (None, Some(_)) => vec![ProtectedPage::Status],
            (None, None) => Vec::new(),
        }
    }
}

/// How failed attempts are retried (see `filters::resilience`).
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RetrySettings {
    /// Bounds the repeats: attempts on a candidate (a target of the model or of a fallback)
    /// that already had one. Every candidate gets one attempt whatever this says; `attempts: N`
    /// allows N - 1 repeats.
    pub attempts: u32,
    /// First backoff before trying the same endpoint again; doubles, with full jitter.
    pub backoff: Dur,
    pub max_backoff: Dur,
    /// A provider's `retry-after` up to this is waited out when there is nowhere else to go;
    /// longer ones end the request with that `retry-after` for the client.
    pub retry_after_cap: Dur,
    /// No new attempt starts this long after the request arrived.
    pub deadline: Dur,
    /// Retries may be at most this fraction of requests, gateway-wide, over 10 s windows.
    pub budget: f64,
    /// Retries per second always available on top, so a quiet gateway can always retry.
    pub budget_floor: u32,
}

impl Default for RetrySettings {
    fn default() -> Self {
        RetrySettings {
            attempts: 4,
            backoff: Dur(Duration::from_millis(100)),
            max_backoff: Dur(Duration::from_secs(2)),
            retry_after_cap: Dur(Duration::from_secs(5)),
            deadline: Dur(Duration::from_secs(120)),
            budget: 0.2,
            budget_floor: 10,
        }
    }
}

/// Passive health: when an endpoint or API key is ejected, and for how long.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerSettings {
    /// Consecutive failures (connect errors, timeouts, 5xx) that eject an endpoint.
    pub failures: u32,
    /// The first ejection; doubles with each ejection in a row.
    pub cooldown: Dur,
    pub max_cooldown: Dur,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        BreakerSettings {
            failures: 5,
            cooldown: Dur(Duration::from_secs(5)),
            max_cooldown: Dur(Duration::from_secs(300)),
        }
    }
}

/// Active health checks of a provider's endpoints.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct HealthCheckConfig {
    /// Requested with GET, with the provider's credentials, below the endpoint's base path.
    pub path: String,
    pub interval: Dur,
    pub timeout: Dur,
    pub expect_status: u16,
    /// Consecutive successes that bring an endpoint back.
    pub healthy_after: usize,
    /// Consecutive failures that take it out.
    pub unhealthy_after: usize,
}

impl Default for HealthCheckConfig {
    fn default() -> Self {
        HealthCheckConfig {
            path: "/v1/models".into(),
            interval: Dur(Duration::from_secs(10)),
            timeout: Dur(Duration::from_secs(2)),
            expect_status: 200,
            healthy_after: 2,
            unhealthy_after: 3,
        }
    }
}

/// Process-level knobs, mapped onto Pingora's server configuration.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Worker threads for the API listener (default: one per core).
    pub threads: Option<usize>,
    /// How long in-flight requests (streams included) may finish after SIGTERM.
    pub grace_period: Dur,
    /// How often provider hostnames are resolved again.
    pub dns_refresh: Dur,
    pub pid_file: String,
    pub upgrade_sock: String,
    /// How long the gateway waits on its clients.
    pub client_timeouts: ClientTimeouts,
    /// Reload the config when its file changes (SIGHUP and `POST /admin/reload` always do).
    pub watch_config: bool,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            threads: None,
            grace_period: Dur(Duration::from_secs(30)),
            dns_refresh: Dur(Duration::from_secs(60)),
            pid_file: "/tmp/sluice.pid".into(),
            upgrade_sock: "/tmp/sluice_upgrade.sock".into(),
            client_timeouts: ClientTimeouts::default(),
            watch_config: true,
        }
    }
}

/// How long the gateway waits on a client before it closes the connection: each is a bound on
/// one wait, so a slow or silent client holds a connection (and its buffers) only that long.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ClientTimeouts {
    /// A new connection's first bytes (a connection that sends nothing is closed after this).
    pub header: Dur,
    /// A kept-alive connection between requests, and each read of its next request's header.
    pub idle: Dur,
    /// Each gap while a request body arrives (408 `client_timeout` past it).
    pub body: Dur,
}

impl Default for ClientTimeouts {
    fn default() -> Self {
        ClientTimeouts {
            header: Dur(Duration::from_secs(10)),
            idle: Dur(Duration::from_secs(60)),
            body: Dur(Duration::from_secs(30)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// OpenAI and every server that speaks its API (vLLM, Ollama, Groq, Mistral, DeepSeek, ...).
    Openai,
    /// Azure OpenAI: deployment URLs, `api-key` header.
    Azure,
    /// Anthropic's Messages API.
    Anthropic,
    /// Google's Gemini API (generativelanguage).
    Gemini,
}

impl ProviderKind {
    pub fn dialect(self) -> UpstreamDialect {
        match self {
            ProviderKind::Openai => UpstreamDialect::OpenAi,
            ProviderKind::Azure => UpstreamDialect::Azure,
            ProviderKind::Anthropic => UpstreamDialect::Anthropic,
            ProviderKind::Gemini => UpstreamDialect::Gemini,
        }
    }

    /// The public endpoint used when a provider lists none.
    pub fn default_endpoint(self) -> Option<&'static str> {
        match self {
            ProviderKind::Openai => Some("https://api.openai.com"),
            ProviderKind::Anthropic => Some("https://api.anthropic.com"),
            ProviderKind::Gemini => Some("https://generativelanguage.googleapis.com"),
            ProviderKind::Azure => None,
        }
    }
}

impl std::fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.dialect().as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    pub kind: ProviderKind,
    /// Base URLs; defaults to the provider's public API for openai, anthropic and gemini.
    #[serde(default)]
    pub endpoints: Vec<EndpointConfig>,
    /// The provider's own credentials; none for servers that need none (a local vLLM).
    #[serde(default)]
    pub api_keys: Vec<ApiKeyConfig>,
    #[serde(default)]
    pub timeouts: Timeouts,
    /// Active health checks; none unless configured.
    #[serde(default)]
    pub health_check: Option<HealthCheckConfig>,
    /// Azure only: `api-version` query value (a date), or `v1` for the v1 API.
    #[serde(default)]
    pub api_version: Option<String>,
    /// Anthropic only: the `anthropic-version` header.
    #[serde(default)]
    pub anthropic_version: Option<String>,
    /// OpenAI and Azure only: how Responses API requests (`POST /v1/responses`) reach this
    /// provider. `native` passes them to its own `/v1/responses` (built-in tools such as
    /// web_search work); `chat` translates them to Chat Completions (vLLM, Ollama, Groq and
    /// other servers without the Responses API). Default: native for OpenAI's own endpoint
    /// and Azure's v1 API, chat elsewhere.
    #[serde(default)]
    pub responses: Option<ResponsesApi>,
    /// OpenAI and Azure only: `responses` sends every chat request (Chat Completions and
    /// Anthropic Messages clients alike) through the provider's Responses API, translated, for
    /// models that only speak it. Default `chat`.
    #[serde(default)]
    pub dialect: Option<WireApi>,
    /// `max_tokens` sent when the client gave none and the provider requires one (Anthropic).
    #[serde(default = "default_max_tokens")]
    pub default_max_tokens: u64,
    /// Client headers forwarded besides the dialect's defaults (names, or prefixes as
    /// `x-mock-*`); credentials, framing and versions can never be.
    #[serde(default)]
    pub forward_headers: Vec<String>,
}

/// The API a provider's models are called through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum WireApi {
    /// Chat Completions (`/v1/chat/completions`).
    Chat,
    /// The Responses API (`/v1/responses`).
    Responses,
}

/// How a provider serves Responses API requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ResponsesApi {
    /// Its own Responses API.
    Native,
    /// Translated to Chat Completions.
    Chat,
}

const DEFAULT_AZURE_API_VERSION: &str = "2024-10-21";
const DEFAULT_ANTHROPIC_VERSION: &str = "2023-06-01";

impl ProviderConfig {
    /// Azure's `api-version` (set, or the default).
    pub fn api_version(&self) -> &str {
        self.api_version
            .as_deref()
            .unwrap_or(DEFAULT_AZURE_API_VERSION)
    }

    /// Whether Responses API requests go to this provider's own Responses API: as set, or by
    /// default for OpenAI's public endpoint and Azure's v1 API.
    pub fn native_responses(&self) -> bool {
        if self.responses_only() {
            return true;
        }
        match (self.responses, self.kind) {
            (Some(mode), ProviderKind::Openai | ProviderKind::Azure) => {
                mode == ResponsesApi::Native
            }
            (Some(_), _) => false,
            (None, ProviderKind::Openai) => {
                !self.endpoints.is_empty()
                    && self
                        .endpoints
                        .iter()
                        .all(|e| e.url.host_str() == Some("api.openai.com"))
            }
            (None, ProviderKind::Azure) => self.api_version() == "v1",
            (None, _) => false,
        }
    }

    /// Whether every chat request goes through this provider's Responses API.
    pub fn responses_only(&self) -> bool {
        self.dialect == Some(WireApi::Responses)
            && matches!(self.kind, ProviderKind::Openai | ProviderKind::Azure)
    }

    /// Anthropic's `anthropic-version` (set, or the default).
    pub fn anthropic_version(&self) -> &str {
        self.anthropic_version
            .as_deref()
            .unwrap_or(DEFAULT_ANTHROPIC_VERSION)
    }
}

fn default_max_tokens() -> u64 {
    4096
}

#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointConfig {
    /// Base URL; the API path (`/v1/chat/completions`) is appended to its path.
    pub url: Url,
    #[serde(default = "default_weight")]
    pub weight: u32,
}

#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ApiKeyConfig {
    Plain(String),
    Weighted {
        key: String,
        #[serde(default = "default_weight")]
        weight: u32,
    },
}

impl ApiKeyConfig {
    pub fn key(&self) -> &str {
        match self {
            ApiKeyConfig::Plain(k) | ApiKeyConfig::Weighted { key: k, .. } => k,
        }
    }
    pub fn weight(&self) -> u32 {
        match self {
            ApiKeyConfig::Plain(_) => 1,
            ApiKeyConfig::Weighted { weight, .. } => *weight,
        }
    }
}

/// Pingora has one upstream read timeout per connection, so the two read timeouts apply by
/// request kind: a whole (non-streamed) answer arrives in one piece after the model is done;
/// a stream's first chunk and every gap after it should come much sooner.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Timeouts {
    /// TCP (and TLS) connection setup.
    pub connect: Dur,
    /// Non-streamed requests: the wait for the response.
    pub first_byte: Dur,
    /// Streamed requests: the wait for the first chunk and between chunks.
    pub idle: Dur,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Dur(Duration::from_secs(10)),
            first_byte: Dur(Duration::from_secs(300)),
            idle: Dur(Duration::from_secs(60)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// What clients send as `model`.
    pub name: String,
    pub targets: Vec<TargetConfig>,
    /// Models tried, in order, when every target of this one failed.
    #[serde(default)]
    pub fallbacks: Vec<String>,
    #[serde(default)]
    pub limits: Option<LimitsConfig>,
    /// Overrides the built-in price of the targets' models.
    #[serde(default)]
    pub price: Option<PriceConfig>,
    /// The most output tokens a request may ask for (`max_tokens`, `max_completion_tokens`,
    /// `max_output_tokens`); more is a 400. Default `DEFAULT_MAX_OUTPUT_TOKENS`.
    #[serde(default)]
    pub max_output_tokens: Option<u64>,
    /// How requests are spread over the targets, and over each target's endpoints.
    #[serde(default)]
    pub balance: Balance,
    /// Guardrails for this model's traffic, besides the global ones.
    #[serde(default)]
    pub guardrails: Vec<GuardrailConfig>,
    #[serde(default)]
    pub cache: ModelCacheConfig,
}

/// How a model spreads its requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Balance {
    /// Exactly by weight (smooth weighted round robin).
    #[default]
    Weighted,
    /// Toward what answers faster and fails less (peak-EWMA latency x requests in flight,
    /// power of two choices), weights scaling the shares.
    Adaptive,
}

/// The output ceiling of a model that sets none: above every model's real maximum today
/// (128k), far below what could overflow a demand or a price.
pub const DEFAULT_MAX_OUTPUT_TOKENS: u64 = 1_000_000;

#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    pub provider: String,
    /// The provider's model name.
    pub model: String,
    #[serde(default = "default_weight")]
    pub weight: u32,
}

#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    pub name: String,
    /// The secret itself (usually `${ENV}`); or give `key_sha256` and keep no secret in config.
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub key_sha256: Option<String>,
    /// Models this key may use (names or globs like `gpt-*`); absent means all.
    #[serde(default)]
    pub models: Option<Vec<String>>,
    /// The team whose limits and budget this key also counts against.
    #[serde(default)]
    pub team: Option<String>,
    #[serde(default)]
    pub limits: Option<LimitsConfig>,
    #[serde(default)]
    pub budget: Option<BudgetConfig>,
    /// Guardrails for this key's traffic, besides the global and the model's.
    #[serde(default)]
    pub guardrails: Vec<GuardrailConfig>,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 8080))
}

fn default_max_bodies_in_flight() -> ByteSize {
    ByteSize(256 << 20)
}

fn default_max_request_body() -> ByteSize {
    ByteSize(32 << 20)
}

fn default_weight() -> u32 {
    1
}

/// The JSON Schema of the config file, pretty-printed with a final newline: what
/// `sluice schema` prints and `conf/sluice.schema.json` holds (a test keeps them equal).
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(Config);
    let text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    format!("{text}\n")
}

/// Attempts per request Pingora allows at least: room for reloads that add targets or
/// fallbacks without a restart.
const MIN_ATTEMPT_CEILING: usize = 16;

/// Where in `text` the value at `path` is, for an error found after interpolation (which
/// parses a tree without positions): the raw text is decoded again, and if it fails at the same
/// path, its position is the one. (`${VAR}` placeholders can fail elsewhere first: then none.)
fn locate(text: &str, path: &str) -> Option<(usize, usize)> {
    let raw = serde_yaml_ng::Deserializer::from_str(text);
    let error = serde_path_to_error::deserialize::<_, Config>(raw).err()?;
    let at = error.path().to_string();
    let location = error.into_inner().location()?;
    (at == path || (at == "." && path.is_empty())).then(|| (location.line(), location.column()))
}

impl Config {
    /// The most attempts a request's plan can make (one per candidate: every target of the
    /// model and of its fallbacks; the repeats `retries.attempts` allows; one stale-connection
    /// retry), and never less than `MIN_ATTEMPT_CEILING`. Pingora's own cap is set to it.
    pub fn attempt_ceiling(&self) -> usize {
        let targets = |name: &str| {
            self.models
                .iter()
                .find(|m| m.name == name)
                .map_or(0, |m| m.targets.len())
        };
        let candidates = self
            .models
            .iter()
            .map(|m| m.targets.len() + m.fallbacks.iter().map(|f| targets(f)).sum::<usize>())
            .max()
            .unwrap_or(1);
        (candidates + self.retries.attempts as usize + 1).max(MIN_ATTEMPT_CEILING)
    }

    /// Reads, interpolates, decodes and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Config::parse(&Config::read(path)?, &|name| std::env::var(name).ok())
    }

    /// A config file's text, or an error naming the file.
    pub fn read(path: &Path) -> Result<String, ConfigError> {
        std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new(path.display().to_string(), format!("cannot read: {e}")))
    }

    /// Decodes and validates config text, looking variables up with `env`.
    pub fn parse(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let mut value: serde_yaml_ng::Value = serde_yaml_ng::from_str(text)
            .map_err(|e| ConfigError::new("", format!("invalid YAML: {e}")))?;
        interpolate::interpolate(&mut value, &mut String::new(), env)?;
        let config: Config = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let path = if path == "." { String::new() } else { path };
            let message = e.into_inner().to_string();
            match locate(text, &path) {
                Some((line, column)) => {
                    ConfigError::new(path, format!("{message} (line {line}, column {column})"))
                }
                None => ConfigError::new(path, message),
            }
        })?;
        let mut config = config;
        for provider in config.providers.values_mut() {
            if provider.endpoints.is_empty() {
                if let Some(url) = provider
                    .kind
                    .default_endpoint()
                    .and_then(|u| Url::parse(u).ok())
                {
                    provider.endpoints.push(EndpointConfig { url, weight: 1 });
                }
            }
        }
        validate::validate(&config)?;
        Ok(config)
    }
}

#[cfg(test)]
mod schema_tests {
    /// CI's check that the published schema matches the config types.
    #[test]
    fn the_published_schema_is_the_one_the_types_give() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/conf/sluice.schema.json");
        let published = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            published == super::json_schema(),
            "conf/sluice.schema.json is stale: run `cargo run -- schema > conf/sluice.schema.json`"
        );
    }
}
