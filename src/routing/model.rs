//! A client-facing model and its weighted targets.

use super::provider::Provider;
use crate::config::{weighted_schedule, Balance, ConfigError, ModelConfig};
use crate::telemetry::handles::{ModelHandles, TokenHandles};
use sluice_filters::balance::{AdaptiveBalancer, AdaptiveConfig, WeightedSchedule};
use sluice_filters::governance::{builtin_price, Price};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

pub struct Target {
    pub provider: Arc<Provider>,
    /// The provider's name for the model, written into the upstream body.
    pub model: String,
    /// `model` as a response header value (`x-sluice-model`), validated once at load.
    pub model_value: Option<http::HeaderValue>,
    /// The built-in price of `model` (free when unknown), looked up once at load.
    builtin_price: Price,
    /// Token counters of this target's provider under the model's name.
    tokens: OnceLock<TokenHandles>,
}

pub struct Model {
    pub name: String,
    pub targets: Vec<Target>,
    /// Models tried, in order, after every target of this one failed.
    pub fallbacks: Vec<String>,
    /// Overrides the built-in price of every target's model.
    pub price: Option<Price>,
    /// The most output tokens a request may ask for.
    pub max_output_tokens: u64,
    /// Whether the exact cache serves it, and for sampling requests too.
    pub cache: crate::config::ModelCacheConfig,
    /// With `balance: adaptive`, the targets' load trackers (the first pick is by latency and
    /// load, and so is each endpoint of the target's provider).
    pub adaptive: Option<AdaptiveBalancer>,
    weights: Vec<u32>,
    schedule: WeightedSchedule,
    next: AtomicUsize,
    /// Its requests' metric handles, by route.
    pub metrics: ModelHandles,
    /// The config entry this model was built from (a reload keeps an unchanged model, and
    /// with it its round-robin position and adaptive statistics).
    built_from: ModelConfig,
}

impl Model {
    /// Builds from a validated config entry (every provider reference resolves).
    pub(super) fn build(
        config: &ModelConfig,
        path: &str,
        providers: &HashMap<&str, Arc<Provider>>,
    ) -> Result<Model, ConfigError> {
        let targets: Vec<Target> = config
            .targets
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let provider = providers.get(t.provider.as_str()).ok_or_else(|| {
                    ConfigError::new(
                        format!("{path}.targets[{i}].provider"),
                        format!("unknown provider '{}'", t.provider),
                    )
                })?;
                Ok(Target {
                    provider: provider.clone(),
                    model: t.model.clone(),
                    model_value: http::HeaderValue::try_from(t.model.as_str()).ok(),
                    builtin_price: builtin_price(&t.model).unwrap_or(Price::FREE),
                    tokens: OnceLock::new(),
                })
            })
            .collect::<Result<_, ConfigError>>()?;
        let schedule = weighted_schedule(
            &format!("{path}.targets"),
            config.targets.iter().map(|t| t.weight),
        )?;
        Ok(Model {
            name: config.name.clone(),
            targets,
            fallbacks: config.fallbacks.clone(),
            price: config.price.as_ref().map(|p| Price {
                input: p.input_per_mtok,
                output: p.output_per_mtok,
                cached_input: p.cached_input_per_mtok.unwrap_or(p.input_per_mtok),
                cache_write: p.cache_write_per_mtok.unwrap_or(p.input_per_mtok),
            }),
            cache: config.cache.clone(),
            max_output_tokens: config
                .max_output_tokens
                .unwrap_or(crate::config::DEFAULT_MAX_OUTPUT_TOKENS),
            adaptive: (config.balance == Balance::Adaptive).then(|| {
                let weights: Vec<u32> = config.targets.iter().map(|t| t.weight).collect();
                AdaptiveBalancer::new(&weights, AdaptiveConfig::default())
            }),
            weights: config.targets.iter().map(|t| t.weight).collect(),
            schedule,
            next: AtomicUsize::new(0),
            metrics: ModelHandles::default(),
            built_from: config.clone(),
        })
    }

    /// Whether this model is what `config` would build over `providers`: the same entry, and
    /// each target's provider the very one it holds.
    pub(super) fn built_from(
        &self,
        config: &ModelConfig,
        providers: &HashMap<&str, Arc<Provider>>,
    ) -> bool {
        self.built_from == *config
            && self.targets.iter().zip(&config.targets).all(|(target, t)| {
                providers
                    .get(t.provider.as_str())
                    .is_some_and(|p| Arc::ptr_eq(p, &target.provider))
            })
    }

    /// The targets in the order a request tries them: `first` (the weighted pick), then the
    /// others by weight, heaviest first; targets of weight 0 only as a last resort.
    pub fn target_order(&self, first: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.targets.len()).filter(|i| *i != first).collect();
        order.sort_by_key(|i| std::cmp::Reverse(self.weights[*i]));
        order.insert(0, first);
        order
    }

    /// The price of a target: the model's own, else the provider model's list price, else free
    /// (a self-hosted model).
    pub fn price_of(&self, target: usize) -> Price {
        self.price
            .or_else(|| self.targets.get(target).map(|t| t.builtin_price))
            .unwrap_or(Price::FREE)
    }

    /// The token counters of target `target` under this model's name.
    pub fn token_handles(&self, target: usize) -> Option<&TokenHandles> {
        let t = self.targets.get(target)?;
        Some(
            t.tokens
                .get_or_init(|| TokenHandles::resolve(&t.provider.name, &self.name)),
        )
    }

    /// The index of the target for the next request, by smooth weighted round robin.
    pub fn pick(&self) -> usize {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        self.schedule.pick(n)
    }

    /// The first target of a request: by weight, or (adaptive) by latency and load among the
    /// targets `usable` says can take it now.
    pub fn first_target(&self, now_ms: u64, usable: impl FnMut(usize) -> bool) -> usize {
        let Some(adaptive) = self.adaptive.as_ref() else {
            return self.pick();
        };
        adaptive
            .pick(usable, rand::random(), now_ms)
            .map_or_else(|| self.pick(), |pick| pick.index())
    }
}
