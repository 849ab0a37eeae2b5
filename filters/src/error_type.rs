//! The closed vocabulary of failures the gateway reports. The same word appears in the client's
//! error body (`code`), in the access log and as the `error_type` metric label, so an operator
//! can go from a dashboard spike to the log lines and to what the client saw.

/// Every way a request can fail, as the gateway classifies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorType {
    MissingApiKey,
    InvalidApiKey,
    ModelNotAllowed,
    ModelNotFound,
    RouteNotFound,
    /// A stored response (or the one `previous_response_id` names) this key cannot see.
    ResponseNotFound,
    MethodNotAllowed,
    InvalidJson,
    InvalidRequest,
    /// Valid, but the target provider cannot do what was asked (e.g. `n > 1` on Anthropic).
    UnsupportedByProvider,
    /// A guardrail rule with `action: block` matched (the rule is named, never the text).
    PolicyBlocked,
    UnsupportedContentEncoding,
    LengthRequired,
    RequestTooLarge,
    UpstreamUnreachable,
    UpstreamTimeout,
    UpstreamAuthFailed,
    /// Every attempt was throttled (429).
    UpstreamRateLimited,
    /// Every attempt found the provider overloaded (503, 529).
    UpstreamOverloaded,
    /// The provider answered with an error status of its own; its body is passed through.
    UpstreamError,
    /// A deduplicated (coalesced) stream served live from another request's upstream answer,
    /// which was cut mid-way: the stream ends with an in-band error; the request caused
    /// nothing and is billed nothing (logs only, the status was sent long before).
    CoalescedStreamCut,
    /// A rate limit (requests, tokens or concurrency per minute) of a key, team or model.
    RateLimited,
    /// A key's or team's budget for the period would be exceeded.
    BudgetExceeded,
    /// The state store (Redis) is unreachable and the policy is fail_closed.
    StateUnavailable,
    /// The gateway holds as many request bodies as it may (`max_bodies_in_flight`).
    GatewayBusy,
    /// The client sent its body too slowly (a gap longer than the body read timeout).
    ClientTimeout,
    /// The client's body framing is broken (a malformed chunk size, a body that ends before its
    /// `Content-Length`).
    ClientInvalidBody,
    /// The client went away before its request was read; nobody is answered (logs only).
    ClientDisconnected,
    Internal,
}

impl ErrorType {
    /// The stable snake_case name used in bodies, logs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::MissingApiKey => "missing_api_key",
            ErrorType::InvalidApiKey => "invalid_api_key",
            ErrorType::ModelNotAllowed => "model_not_allowed",
            ErrorType::ModelNotFound => "model_not_found",
            ErrorType::RouteNotFound => "route_not_found",
            ErrorType::ResponseNotFound => "response_not_found",
            ErrorType::MethodNotAllowed => "method_not_allowed",
            ErrorType::InvalidJson => "invalid_json",
            ErrorType::InvalidRequest => "invalid_request",
            ErrorType::UnsupportedByProvider => "unsupported_by_provider",
            ErrorType::PolicyBlocked => "policy_blocked",
            ErrorType::UnsupportedContentEncoding => "unsupported_content_encoding",
            ErrorType::LengthRequired => "length_required",
            ErrorType::RequestTooLarge => "request_too_large",
            ErrorType::UpstreamUnreachable => "upstream_unreachable",
            ErrorType::UpstreamTimeout => "upstream_timeout",
            ErrorType::UpstreamAuthFailed => "upstream_auth_failed",
            ErrorType::UpstreamRateLimited => "upstream_rate_limited",
            ErrorType::UpstreamOverloaded => "upstream_overloaded",
            ErrorType::UpstreamError => "upstream_error",
            ErrorType::CoalescedStreamCut => "coalesced_stream_cut",
            ErrorType::RateLimited => "rate_limited",
            ErrorType::BudgetExceeded => "budget_exceeded",
            ErrorType::StateUnavailable => "state_unavailable",
            ErrorType::GatewayBusy => "gateway_busy",
            ErrorType::ClientTimeout => "client_timeout",
            ErrorType::ClientInvalidBody => "client_invalid_body",
            ErrorType::ClientDisconnected => "client_disconnected",
            ErrorType::Internal => "internal_error",
        }
    }

    /// The HTTP status the gateway answers with for its own errors of this type.
    pub fn status(self) -> u16 {
        match self {
            ErrorType::MissingApiKey | ErrorType::InvalidApiKey => 401,
            ErrorType::ModelNotAllowed => 403,
            ErrorType::ModelNotFound | ErrorType::RouteNotFound | ErrorType::ResponseNotFound => {
                404
            }
            ErrorType::MethodNotAllowed => 405,
            ErrorType::InvalidJson
            | ErrorType::InvalidRequest
            | ErrorType::UnsupportedByProvider
            | ErrorType::PolicyBlocked => 400,
            ErrorType::UnsupportedContentEncoding => 415,
            ErrorType::LengthRequired => 411,
            ErrorType::RequestTooLarge => 413,
            ErrorType::UpstreamUnreachable | ErrorType::UpstreamAuthFailed => 502,
            ErrorType::UpstreamRateLimited => 429,
            ErrorType::UpstreamOverloaded => 503,
            ErrorType::UpstreamError | ErrorType::CoalescedStreamCut => 502,
            ErrorType::UpstreamTimeout => 504,
            ErrorType::RateLimited | ErrorType::BudgetExceeded => 429,
            ErrorType::StateUnavailable => 503,
            ErrorType::GatewayBusy => 503,
            ErrorType::ClientTimeout => 408,
            ErrorType::ClientInvalidBody => 400,
            // nginx's "client closed request": never sent, only logged.
            ErrorType::ClientDisconnected => 499,
            ErrorType::Internal => 500,
        }
    }

    /// OpenAI's coarse `error.type` for this failure; SDKs and client code branch on it.
    pub fn openai_type(self) -> &'static str {
        if self == ErrorType::BudgetExceeded {
            // What OpenAI itself says when an account's quota is spent.
            return "insufficient_quota";
        }
        match self.status() {
            401 => "authentication_error",
            403 => "permission_error",
            404 => "not_found_error",
            429 => "rate_limit_error",
            400..=499 => "invalid_request_error",
            _ => "api_error",
        }
    }
}

impl ErrorType {
    /// Anthropic's `error.type` for this failure.
    pub fn anthropic_type(self) -> &'static str {
        match self.status() {
            401 => "authentication_error",
            403 => "permission_error",
            404 => "not_found_error",
            413 => "request_too_large",
            429 => "rate_limit_error",
            504 => "timeout_error",
            400..=499 => "invalid_request_error",
            _ => "api_error",
        }
    }
}

impl std::fmt::Display for ErrorType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
