//! `sluice demo`: the gateway on `conf/demo.yaml` (compiled in, so it runs from anywhere) with a
//! mock provider on each loopback endpoint, all in one process.

use crate::config::{Config, ConfigError, ProviderKind};
use crate::mock::{mock_service, Faults, MockKind};
use pingora::services::ServiceWithDependents;
use std::net::SocketAddr;

pub const DEMO_CONFIG: &str = include_str!("../conf/demo.yaml");
pub const DEMO_KEY: &str = "sk-sluice-demo";

pub fn demo_config(
    listen: Option<SocketAddr>,
    admin_listen: Option<SocketAddr>,
) -> Result<Config, ConfigError> {
    let mut config = Config::parse(DEMO_CONFIG, &|name| std::env::var(name).ok())?;
    if let Some(listen) = listen {
        config.listen = listen;
    }
    if let Some(admin) = admin_listen {
        config.admin_listen = Some(admin);
    }
    Ok(config)
}

/// A mock provider for every endpoint of the config that points at this machine.
pub fn mock_services(config: &Config) -> Vec<Box<dyn ServiceWithDependents>> {
    let mut services: Vec<Box<dyn ServiceWithDependents>> = Vec::new();
    for (name, provider) in &config.providers {
        for (i, endpoint) in provider.endpoints.iter().enumerate() {
            let url = &endpoint.url;
            let local = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
            let Some(port) = url.port_or_known_default().filter(|_| local) else {
                continue;
            };
            let addr = format!("{}:{port}", url.host_str().unwrap_or("127.0.0.1"));
            let kind = match provider.kind {
                ProviderKind::Openai => MockKind::Openai,
                ProviderKind::Azure => MockKind::Azure,
                ProviderKind::Anthropic => MockKind::Anthropic,
                ProviderKind::Gemini => MockKind::Gemini,
            };
            let service = mock_service(&format!("{name}#{i}"), kind, &addr, Faults::default());
            services.push(Box::new(service));
        }
    }
    services
}

pub fn banner(config: &Config) -> String {
    let api = config.listen;
    let model = config
        .models
        .iter()
        .find(|m| m.name == "fast")
        .map_or("fast", |m| m.name.as_str());
    let admin = config
        .admin_listen
        .map(|a| format!("\n  metrics:  http://{a}/metrics"))
        .unwrap_or_default();
    format!(
        "sluice demo: mock providers on loopback, no API keys needed.\n  API:      http://{api}/v1   (virtual key: {DEMO_KEY}){admin}\n\nTry:\n  curl -s http://{api}/v1/chat/completions -H 'Authorization: Bearer {DEMO_KEY}' -H 'Content-Type: application/json' -d '{{\"model\":\"{model}\",\"messages\":[{{\"role\":\"user\",\"content\":\"Hello!\"}}]}}'\n"
    )
}
