//! Active health checks for a provider's endpoints, plugged into Pingora's load balancer: each
//! endpoint is probed with its own Host, SNI, base path and the provider's credentials (an
//! OpenAI `/v1/models` without a key is a 401, not a sign of ill health), and a flip updates the
//! `sluice_endpoint_healthy` gauge.

use super::discovery::ResolvedEndpoints;
use super::provider::{auth_header, Endpoint};
use crate::config::{ConfigError, HealthCheckConfig};
use crate::telemetry::metrics::ENDPOINT_HEALTHY;
use async_trait::async_trait;
use log::{info, warn};
use pingora::http::ResponseHeader;
use pingora::lb::health_check::{HealthCheck, HttpHealthCheck};
use pingora::lb::Backend;
use pingora::{Error, ErrorType};
use sluice_filters::translate::UpstreamDialect;

pub struct ProviderHealthCheck {
    provider: String,
    checks: Vec<HttpHealthCheck>,
    labels: Vec<String>,
    resolved: ResolvedEndpoints,
    healthy_after: usize,
    unhealthy_after: usize,
}

impl ProviderHealthCheck {
    #[allow(clippy::too_many_arguments)]
    pub fn build(
        provider: &str,
        dialect: UpstreamDialect,
        endpoints: &[Endpoint],
        labels: &[String],
        resolved: ResolvedEndpoints,
        config: &HealthCheckConfig,
        api_key: Option<&str>,
        anthropic_version: &str,
    ) -> Result<Self, ConfigError> {
        let field = |e: pingora::BError| {
            ConfigError::new(
                format!("providers.{provider}.health_check"),
                format!("cannot build the check request: {e}"),
            )
        };
        let mut checks = Vec::with_capacity(endpoints.len());
        for endpoint in endpoints {
            let mut check = HttpHealthCheck::new(&endpoint.host_header, endpoint.tls);
            check.consecutive_success = config.healthy_after;
            check.consecutive_failure = config.unhealthy_after;
            check.peer_template.options.connection_timeout = Some(config.timeout.0);
            check.peer_template.options.read_timeout = Some(config.timeout.0);
            if endpoint.tls {
                check.peer_template.sni = endpoint.host.clone();
            }
            let path = format!("{}{}", endpoint.base_path, config.path);
            let mut req =
                pingora::http::RequestHeader::build("GET", path.as_bytes(), None).map_err(field)?;
            req.insert_header("host", endpoint.host_header.as_str())
                .map_err(field)?;
            if let Some(key) = api_key {
                let (name, value) = auth_header(dialect, key);
                let mut value = http::HeaderValue::try_from(value).map_err(|e| {
                    ConfigError::new(format!("providers.{provider}.api_keys"), e.to_string())
                })?;
                value.set_sensitive(true);
                req.insert_header(name, value).map_err(field)?;
            }
            if dialect == UpstreamDialect::Anthropic {
                req.insert_header("anthropic-version", anthropic_version)
                    .map_err(field)?;
            }
            check.req = req;
            let expect = config.expect_status;
            check.validator = Some(Box::new(move |resp: &ResponseHeader| {
                if resp.status.as_u16() == expect {
                    Ok(())
                } else {
                    Error::e_explain(
                        ErrorType::CustomCode(
                            "unexpected health check status",
                            resp.status.as_u16(),
                        ),
                        format!("expected {expect}"),
                    )
                }
            }));
            checks.push(check);
        }
        Ok(ProviderHealthCheck {
            provider: provider.to_owned(),
            checks,
            labels: labels.to_vec(),
            resolved,
            healthy_after: config.healthy_after,
            unhealthy_after: config.unhealthy_after,
        })
    }

    fn index(&self, target: &Backend) -> Option<usize> {
        target
            .addr
            .as_inet()
            .and_then(|a| self.resolved.index_of(a))
            .filter(|i| *i < self.checks.len())
    }
}

#[async_trait]
impl HealthCheck for ProviderHealthCheck {
    async fn check(&self, target: &Backend) -> pingora::Result<()> {
        match self.index(target) {
            Some(i) => self.checks[i].check(target).await,
            None => Error::e_explain(
                ErrorType::InternalError,
                "backend is not a configured endpoint",
            ),
        }
    }

    async fn health_status_change(&self, target: &Backend, healthy: bool) {
        let Some(i) = self.index(target) else { return };
        let label = &self.labels[i];
        ENDPOINT_HEALTHY
            .with_label_values(&[&self.provider, label])
            .set(i64::from(healthy));
        if healthy {
            info!(
                "provider {} endpoint {label} is healthy again",
                self.provider
            );
        } else {
            warn!(
                "provider {} endpoint {label} failed its health checks",
                self.provider
            );
        }
    }

    fn health_threshold(&self, success: bool) -> usize {
        if success {
            self.healthy_after
        } else {
            self.unhealthy_after
        }
    }
}
