//! Which client request headers reach a provider: an allow-list per dialect, never a strip
//! list. A strip list fails open for every header it forgot, and a client header can change
//! what the gateway's own credential does upstream (`OpenAI-Organization`, `OpenAI-Project`,
//! `anthropic-workspace-id`, `x-goog-user-project` pick the account that pays), or make the
//! provider refuse the shared key for every tenant. The defaults are what the official SDKs
//! send that is safe to pass on (their telemetry, betas, trace context); an operator adds
//! names per provider (`forward_headers`). Credentials, framing and versions are always the
//! gateway's own and can never be added.

use crate::translate::UpstreamDialect;

/// Forwarded to every provider.
const COMMON: &[&str] = &[
    "accept",
    "user-agent",
    "idempotency-key",
    "traceparent",
    "tracestate",
    "x-stainless-lang",
    "x-stainless-package-version",
    "x-stainless-os",
    "x-stainless-arch",
    "x-stainless-runtime",
    "x-stainless-runtime-version",
    "x-stainless-async",
    "x-stainless-helper",
    "x-stainless-helper-method",
    "x-stainless-stream-helper",
    "x-stainless-poll-helper",
    "x-stainless-custom-poll-interval",
    "x-stainless-custom-event-handler",
];

const OPENAI: &[&str] = &["openai-beta", "x-client-request-id"];
const AZURE: &[&str] = &["openai-beta", "x-ms-client-request-id"];
/// Claude Code's own telemetry headers. `anthropic-beta` is apart: it reaches an Anthropic
/// provider only when the client spoke Anthropic's dialect (the betas describe its body).
const ANTHROPIC: &[&str] = &["x-app", "x-claude-code-session-id"];
const GEMINI: &[&str] = &["x-goog-api-client"];

/// Headers the gateway owns on every upstream request: credentials (the provider gets its own),
/// framing, the host, and versions that decide the response shape sluice parses.
pub const GATEWAY_OWNED: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "api-key",
    "x-goog-api-key",
    "cookie",
    "host",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "upgrade",
    "expect",
    "anthropic-version",
];

/// Which headers one provider forwards: the dialect's defaults plus the operator's additions
/// (exact names, or prefixes written `x-mock-*`).
#[derive(Debug, Clone, Default)]
pub struct ForwardHeaders {
    exact: Vec<String>,
    prefixes: Vec<String>,
}

impl ForwardHeaders {
    /// From the operator's list; names are matched case-insensitively. Err names the entry
    /// that may not be forwarded.
    pub fn new(extra: &[String]) -> Result<ForwardHeaders, String> {
        let mut out = ForwardHeaders::default();
        for name in extra {
            let lower = name.to_ascii_lowercase();
            let (stem, prefix) = match lower.strip_suffix('*') {
                Some(stem) => (stem.to_owned(), true),
                None => (lower.clone(), false),
            };
            let valid = !stem.is_empty()
                && stem
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !valid {
                return Err(format!(
                    "'{name}' is not a header name (letters, digits, '-', '_', and an optional '*' at the end)"
                ));
            }
            let owned = GATEWAY_OWNED.iter().find(|g| {
                if prefix {
                    g.starts_with(&stem)
                } else {
                    **g == stem
                }
            });
            if let Some(owned) = owned {
                return Err(format!(
                    "'{owned}' is set by the gateway and cannot be forwarded from clients"
                ));
            }
            if prefix {
                out.prefixes.push(stem);
            } else {
                out.exact.push(stem);
            }
        }
        Ok(out)
    }

    /// Whether a client header (`name` lowercase, as `http` stores it) reaches a provider of
    /// `dialect`. `same_dialect`: the client speaks the provider's own dialect (betas and
    /// versions only mean something then).
    pub fn allows(&self, dialect: UpstreamDialect, name: &str, same_dialect: bool) -> bool {
        if GATEWAY_OWNED.contains(&name) {
            return false;
        }
        let by_dialect: &[&str] = match dialect {
            UpstreamDialect::OpenAi | UpstreamDialect::Responses => OPENAI,
            UpstreamDialect::Azure => AZURE,
            UpstreamDialect::Anthropic => ANTHROPIC,
            UpstreamDialect::Gemini => GEMINI,
        };
        let beta =
            name == "anthropic-beta" && same_dialect && dialect == UpstreamDialect::Anthropic;
        beta || COMMON.contains(&name)
            || by_dialect.contains(&name)
            || self.exact.iter().any(|e| e == name)
            || self.prefixes.iter().any(|p| name.starts_with(p.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use UpstreamDialect::*;

    #[test]
    fn defaults_per_dialect() {
        let f = ForwardHeaders::default();
        let cases: &[(UpstreamDialect, &str, bool, bool)] = &[
            (OpenAi, "user-agent", true, true),
            (OpenAi, "x-stainless-lang", true, true),
            (OpenAi, "traceparent", true, true),
            (OpenAi, "openai-beta", true, true),
            (OpenAi, "openai-organization", true, false),
            (OpenAi, "openai-project", true, false),
            (OpenAi, "x-evil", true, false),
            (OpenAi, "x-mock-status", true, false),
            (OpenAi, "authorization", true, false),
            (OpenAi, "cookie", true, false),
            (OpenAi, "baggage", true, false),
            (OpenAi, "x-stainless-retry-count", true, false),
            (OpenAi, "anthropic-beta", false, false),
            (Azure, "x-ms-client-request-id", true, true),
            (Azure, "x-ms-spillover-deployment", true, false),
            (Anthropic, "anthropic-beta", true, true),
            (Anthropic, "anthropic-beta", false, false),
            (Anthropic, "x-app", false, true),
            (Anthropic, "anthropic-version", true, false),
            (Anthropic, "anthropic-workspace-id", true, false),
            (Gemini, "x-goog-api-client", false, true),
            (Gemini, "x-goog-user-project", false, false),
            (Gemini, "x-goog-api-key", false, false),
        ];
        for &(dialect, name, same, want) in cases {
            assert_eq!(
                f.allows(dialect, name, same),
                want,
                "{dialect:?} {name} same={same}"
            );
        }
    }

    #[test]
    fn operators_add_names_and_prefixes_but_never_credentials() {
        let f = ForwardHeaders::new(&["X-Mock-*".into(), "x-tenant".into()]).unwrap();
        assert!(f.allows(OpenAi, "x-mock-status", true));
        assert!(f.allows(Gemini, "x-tenant", false));
        assert!(!f.allows(OpenAi, "x-tenantx", true));
        for bad in ["Authorization", "x-api*", "host", "a b", "*", ""] {
            assert!(ForwardHeaders::new(&[bad.into()]).is_err(), "{bad}");
        }
    }
}
