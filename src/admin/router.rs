//! Which admin page a request is for: one small router, so every path is matched the same way
//! and anything else is a JSON 404 (or a 405 naming the method the path takes).

/// An admin page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminRoute<'a> {
    Metrics,
    Healthz,
    Readyz,
    Status,
    /// `GET /admin/usage`.
    Usage,
    /// `POST /admin/keys/{name}/reset`.
    ResetKey(&'a str),
    /// `GET /admin/config`: the config in force and the last reload error.
    Config,
    /// `POST /admin/reload`.
    Reload,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminMatch<'a> {
    Found(AdminRoute<'a>),
    /// The path exists for another method: the `Allow` value.
    MethodNotAllowed(&'static str),
    NotFound,
}

/// Matches a method and a path (without its query).
pub fn match_admin<'a>(method: &str, path: &'a str) -> AdminMatch<'a> {
    let path = path
        .strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(path);
    let (route, allow) = match path {
        "/metrics" => (AdminRoute::Metrics, "GET"),
        "/healthz" => (AdminRoute::Healthz, "GET"),
        "/readyz" => (AdminRoute::Readyz, "GET"),
        "/status" => (AdminRoute::Status, "GET"),
        "/admin/usage" => (AdminRoute::Usage, "GET"),
        "/admin/config" => (AdminRoute::Config, "GET"),
        "/admin/reload" => (AdminRoute::Reload, "POST"),
        other => match reset_key_name(other) {
            Some(name) => (AdminRoute::ResetKey(name), "POST"),
            None => return AdminMatch::NotFound,
        },
    };
    let allowed = method == allow || (allow == "GET" && method == "HEAD");
    if allowed {
        AdminMatch::Found(route)
    } else {
        AdminMatch::MethodNotAllowed(allow)
    }
}

/// The key name of `/admin/keys/{name}/reset`: one non-empty segment.
fn reset_key_name(path: &str) -> Option<&str> {
    let name = path.strip_prefix("/admin/keys/")?.strip_suffix("/reset")?;
    (!name.is_empty() && !name.contains('/')).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_and_its_malformed_forms() {
        use AdminMatch::*;
        use AdminRoute::*;
        let cases: &[(&str, &str, AdminMatch<'_>)] = &[
            ("GET", "/metrics", Found(Metrics)),
            ("HEAD", "/metrics", Found(Metrics)),
            ("GET", "/metrics/", Found(Metrics)),
            ("POST", "/metrics", MethodNotAllowed("GET")),
            ("GET", "/metricsx", NotFound),
            ("GET", "/healthz", Found(Healthz)),
            ("GET", "/readyz", Found(Readyz)),
            ("GET", "/status", Found(Status)),
            ("DELETE", "/status", MethodNotAllowed("GET")),
            ("GET", "/admin/usage", Found(Usage)),
            ("POST", "/admin/usage", MethodNotAllowed("GET")),
            ("GET", "/admin/config", Found(Config)),
            ("POST", "/admin/config", MethodNotAllowed("GET")),
            ("POST", "/admin/reload", Found(Reload)),
            ("POST", "/admin/reload/", Found(Reload)),
            ("GET", "/admin/reload", MethodNotAllowed("POST")),
            (
                "POST",
                "/admin/keys/web-app/reset",
                Found(ResetKey("web-app")),
            ),
            ("GET", "/admin/keys/web-app/reset", MethodNotAllowed("POST")),
            ("POST", "/admin/keys/reset", NotFound),
            ("POST", "/admin/keys//reset", NotFound),
            ("POST", "/admin/keys/a/b/reset", NotFound),
            ("POST", "/admin/keys/web-app", NotFound),
            ("POST", "/admin/keys/", NotFound),
            ("POST", "/admin/keys/reset/reset", Found(ResetKey("reset"))),
            ("GET", "/", NotFound),
            ("GET", "", NotFound),
            ("GET", "/admin", NotFound),
        ];
        for (method, path, want) in cases {
            assert_eq!(match_admin(method, path), *want, "{method} {path}");
        }
    }
}
