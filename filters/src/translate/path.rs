//! The path of each API on each upstream. Model names land in URL path segments for Gemini and
//! Azure, so this is the one place that decides how they are escaped: a model name can never
//! add a segment, a query or a fragment to the upstream URL.

use super::UpstreamDialect;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Chat,
    Embeddings,
    CountTokens,
    /// OpenAI's Responses API, on providers that speak it.
    Responses,
}

/// The path (with query) to append to an endpoint's base path; `None` if the upstream has no
/// such API. `azure_api_version` is `v1` for Azure's v1 API, else a dated version.
pub fn upstream_path(
    dialect: UpstreamDialect,
    api: Api,
    model: &str,
    stream: bool,
    azure_api_version: &str,
) -> Option<String> {
    Some(match (dialect, api) {
        (UpstreamDialect::OpenAi, Api::Chat) => "/v1/chat/completions".into(),
        (UpstreamDialect::OpenAi, Api::Embeddings) => "/v1/embeddings".into(),
        (UpstreamDialect::OpenAi, Api::Responses) => "/v1/responses".into(),
        (UpstreamDialect::Azure, Api::Responses) => {
            if azure_api_version == "v1" {
                "/openai/v1/responses".into()
            } else {
                format!(
                    "/openai/responses?api-version={}",
                    segment(azure_api_version)
                )
            }
        }
        (UpstreamDialect::Azure, api @ (Api::Chat | Api::Embeddings)) => {
            let op = if api == Api::Chat {
                "chat/completions"
            } else {
                "embeddings"
            };
            if azure_api_version == "v1" {
                format!("/openai/v1/{op}")
            } else {
                format!(
                    "/openai/deployments/{}/{op}?api-version={}",
                    segment(model),
                    segment(azure_api_version)
                )
            }
        }
        (UpstreamDialect::Anthropic, Api::Chat) => "/v1/messages".into(),
        (UpstreamDialect::Anthropic, Api::CountTokens) => "/v1/messages/count_tokens".into(),
        (UpstreamDialect::Gemini, Api::Chat) => {
            let model = segment(model.strip_prefix("models/").unwrap_or(model));
            if stream {
                format!("/v1beta/models/{model}:streamGenerateContent?alt=sse")
            } else {
                format!("/v1beta/models/{model}:generateContent")
            }
        }
        (UpstreamDialect::Gemini, Api::CountTokens) => {
            let model = segment(model.strip_prefix("models/").unwrap_or(model));
            format!("/v1beta/models/{model}:countTokens")
        }
        _ => return None,
    })
}

/// Percent-encodes everything but RFC 3986 unreserved characters (and the dots of a `.` or
/// `..` segment, which servers would resolve as a path step).
fn segment(s: &str) -> String {
    if s == "." || s == ".." {
        return s.replace('.', "%2E");
    }
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_per_dialect() {
        let p = |d, api, m, s, v| upstream_path(d, api, m, s, v).unwrap();
        assert_eq!(
            p(UpstreamDialect::OpenAi, Api::Chat, "gpt-4o", true, ""),
            "/v1/chat/completions"
        );
        assert_eq!(
            p(
                UpstreamDialect::Azure,
                Api::Chat,
                "gpt4o-prod",
                false,
                "2024-10-21"
            ),
            "/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21"
        );
        assert_eq!(
            p(UpstreamDialect::Azure, Api::Chat, "gpt4o", false, "v1"),
            "/openai/v1/chat/completions"
        );
        assert_eq!(
            p(
                UpstreamDialect::Gemini,
                Api::Chat,
                "models/gemini-2.5-flash",
                true,
                ""
            ),
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
        );
        assert!(
            upstream_path(UpstreamDialect::Anthropic, Api::Embeddings, "m", false, "").is_none()
        );
        assert_eq!(
            p(UpstreamDialect::OpenAi, Api::Responses, "gpt-5", true, ""),
            "/v1/responses"
        );
        assert_eq!(
            p(UpstreamDialect::Azure, Api::Responses, "gpt5", true, "v1"),
            "/openai/v1/responses"
        );
        assert_eq!(
            p(
                UpstreamDialect::Azure,
                Api::Responses,
                "gpt5",
                false,
                "2025-04-01-preview"
            ),
            "/openai/responses?api-version=2025-04-01-preview"
        );
        assert!(
            upstream_path(UpstreamDialect::Anthropic, Api::Responses, "m", false, "").is_none()
        );
    }

    #[test]
    fn model_names_cannot_escape_their_segment() {
        assert_eq!(
            p_gemini("../../v1/secret?key=x#f"),
            "/v1beta/models/..%2F..%2Fv1%2Fsecret%3Fkey%3Dx%23f:generateContent"
        );
    }

    #[test]
    fn dot_segments_are_escaped() {
        assert_eq!(
            upstream_path(UpstreamDialect::Azure, Api::Chat, "..", false, "2024-10-21").unwrap(),
            "/openai/deployments/%2E%2E/chat/completions?api-version=2024-10-21"
        );
    }

    fn p_gemini(m: &str) -> String {
        upstream_path(UpstreamDialect::Gemini, Api::Chat, m, false, "").unwrap()
    }
}
