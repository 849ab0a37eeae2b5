//! Which API a request is for, from its method and path. Both `/v1/...` and the bare paths are
//! accepted, since SDK users often set `base_url` without the `/v1`.

use crate::translate::{Api, ClientDialect};

/// An API the gateway serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    ChatCompletions,
    Embeddings,
    ListModels,
    GetModel,
    /// Anthropic's Messages API.
    Messages,
    /// Anthropic's token counting.
    CountTokens,
    /// `GET /` or `HEAD /`: the reachability probe clients send (Claude Code's `HEAD /`).
    Root,
    /// OpenAI's Responses API.
    Responses,
    /// `GET /v1/responses/{id}`: a stored response.
    GetResponse,
    /// `DELETE /v1/responses/{id}`.
    DeleteResponse,
    /// `GET /v1/responses/{id}/input_items`.
    ResponseInputItems,
}

impl Route {
    /// The route template: a bounded metric label.
    pub fn template(self) -> &'static str {
        match self {
            Route::ChatCompletions => "/v1/chat/completions",
            Route::Embeddings => "/v1/embeddings",
            Route::ListModels => "/v1/models",
            Route::GetModel => "/v1/models/{model}",
            Route::Messages => "/v1/messages",
            Route::CountTokens => "/v1/messages/count_tokens",
            Route::Root => "/",
            Route::Responses => "/v1/responses",
            Route::GetResponse | Route::DeleteResponse => "/v1/responses/{id}",
            Route::ResponseInputItems => "/v1/responses/{id}/input_items",
        }
    }

    /// Whether the request is proxied to a provider (as opposed to answered by the gateway).
    pub fn is_proxied(self) -> bool {
        !matches!(
            self,
            Route::ListModels
                | Route::GetModel
                | Route::Root
                | Route::GetResponse
                | Route::DeleteResponse
                | Route::ResponseInputItems
        )
    }

    /// The dialect the client speaks on this route (errors are written in it).
    pub fn client_dialect(self) -> ClientDialect {
        match self {
            Route::Messages | Route::CountTokens => ClientDialect::Anthropic,
            Route::Responses
            | Route::GetResponse
            | Route::DeleteResponse
            | Route::ResponseInputItems => ClientDialect::Responses,
            _ => ClientDialect::OpenAi,
        }
    }

    /// The provider API a proxied route calls.
    pub fn api(self) -> Api {
        match self {
            Route::Embeddings => Api::Embeddings,
            Route::CountTokens => Api::CountTokens,
            _ => Api::Chat,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteMatch<'a> {
    Found(Route),
    /// `GET /v1/models/{id}`, with the id.
    Model(&'a str),
    /// A stored response's route, with its id.
    StoredResponse(Route, &'a str),
    /// The path exists but not for this method; the value is the `Allow` header.
    MethodNotAllowed(&'static str),
    NotFound,
}

pub fn match_route<'a>(method: &str, path: &'a str) -> RouteMatch<'a> {
    let path = path.split('?').next().unwrap_or(path);
    if path == "/" {
        return match method {
            "GET" | "HEAD" => RouteMatch::Found(Route::Root),
            _ => RouteMatch::MethodNotAllowed("GET, HEAD"),
        };
    }
    let api = path.strip_prefix("/v1").unwrap_or(path);
    let (route, allow) = match api {
        "/chat/completions" => (Route::ChatCompletions, "POST"),
        "/embeddings" => (Route::Embeddings, "POST"),
        "/models" => (Route::ListModels, "GET"),
        "/messages" => (Route::Messages, "POST"),
        "/messages/count_tokens" => (Route::CountTokens, "POST"),
        "/responses" => (Route::Responses, "POST"),
        _ => {
            if let Some(rest) = api.strip_prefix("/responses/") {
                return stored_response(method, rest);
            }
            match api.strip_prefix("/models/") {
                Some(id) if !id.is_empty() => {
                    return if method == "GET" {
                        RouteMatch::Model(id)
                    } else {
                        RouteMatch::MethodNotAllowed("GET")
                    };
                }
                _ => return RouteMatch::NotFound,
            }
        }
    };
    if method == allow {
        RouteMatch::Found(route)
    } else {
        RouteMatch::MethodNotAllowed(allow)
    }
}

/// `/v1/responses/{id}` (GET, DELETE) and `/v1/responses/{id}/input_items` (GET).
fn stored_response<'a>(method: &str, rest: &'a str) -> RouteMatch<'a> {
    let (id, items) = match rest.strip_suffix("/input_items") {
        Some(id) => (id, true),
        None => (rest, false),
    };
    if id.is_empty() || id.contains('/') {
        return RouteMatch::NotFound;
    }
    match (method, items) {
        ("GET", false) => RouteMatch::StoredResponse(Route::GetResponse, id),
        ("DELETE", false) => RouteMatch::StoredResponse(Route::DeleteResponse, id),
        ("GET", true) => RouteMatch::StoredResponse(Route::ResponseInputItems, id),
        (_, false) => RouteMatch::MethodNotAllowed("GET, DELETE"),
        (_, true) => RouteMatch::MethodNotAllowed("GET"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_with_and_without_v1() {
        assert_eq!(
            match_route("POST", "/v1/chat/completions"),
            RouteMatch::Found(Route::ChatCompletions)
        );
        assert_eq!(
            match_route("POST", "/chat/completions?x=1"),
            RouteMatch::Found(Route::ChatCompletions)
        );
        assert_eq!(
            match_route("GET", "/v1/models"),
            RouteMatch::Found(Route::ListModels)
        );
        assert_eq!(
            match_route("GET", "/v1/models/org/model-7b"),
            RouteMatch::Model("org/model-7b")
        );
        assert_eq!(
            match_route("POST", "/v1/messages"),
            RouteMatch::Found(Route::Messages)
        );
        assert_eq!(
            match_route("POST", "/v1/messages/count_tokens"),
            RouteMatch::Found(Route::CountTokens)
        );
    }

    #[test]
    fn wrong_method_and_unknown_path() {
        assert_eq!(
            match_route("GET", "/v1/chat/completions"),
            RouteMatch::MethodNotAllowed("POST")
        );
        assert_eq!(match_route("POST", "/v1/nope"), RouteMatch::NotFound);
        assert_eq!(match_route("GET", "/v1/models/"), RouteMatch::NotFound);
        assert_eq!(match_route("HEAD", "/"), RouteMatch::Found(Route::Root));
        assert_eq!(match_route("GET", "/?x"), RouteMatch::Found(Route::Root));
        assert_eq!(
            match_route("POST", "/"),
            RouteMatch::MethodNotAllowed("GET, HEAD")
        );
        assert_eq!(
            match_route("GET", "/v1/responses/resp_1"),
            RouteMatch::StoredResponse(Route::GetResponse, "resp_1")
        );
        assert_eq!(
            match_route("DELETE", "/v1/responses/resp_1"),
            RouteMatch::StoredResponse(Route::DeleteResponse, "resp_1")
        );
        assert_eq!(
            match_route("GET", "/v1/responses/resp_1/input_items?limit=5"),
            RouteMatch::StoredResponse(Route::ResponseInputItems, "resp_1")
        );
        assert_eq!(
            match_route("GET", "/v1/responses/a/b"),
            RouteMatch::NotFound
        );
        assert_eq!(
            match_route("POST", "/v1/responses/resp_1"),
            RouteMatch::MethodNotAllowed("GET, DELETE")
        );
    }
}
