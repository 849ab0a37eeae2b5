//! Header edits at the cost of a map insert. Pingora's `insert_header` parses the name from
//! bytes on every call (an allocation for a name that is not a standard one) and writes it to
//! two maps, the values and the original-case names, each growing as it goes: 1.3k
//! instructions per header on the profile, 17k for the dozen a governed, translated answer
//! gets. Here the header is taken apart into `http` parts once, reserved for what is added,
//! edited with names built at compile time, and put back.
//!
//! What that drops is the upstream's original header-name case: Pingora then writes the
//! standard names in their usual title case and the others in lower case. HTTP/1 header names
//! are case-insensitive (RFC 9110 §5.1) and HTTP/2 ones are lower case on the wire.

use http::HeaderName;
use pingora::http::{RequestHeader, ResponseHeader};

pub const X_SLUICE_PROVIDER: HeaderName = HeaderName::from_static("x-sluice-provider");
pub const X_SLUICE_MODEL: HeaderName = HeaderName::from_static("x-sluice-model");
pub const X_SLUICE_REQUEST_ID: HeaderName = HeaderName::from_static("x-sluice-request-id");
pub const X_SLUICE_ATTEMPTS: HeaderName = HeaderName::from_static("x-sluice-attempts");
pub const X_SLUICE_CACHE: HeaderName = HeaderName::from_static("x-sluice-cache");
pub const ANTHROPIC_VERSION: HeaderName = HeaderName::from_static("anthropic-version");
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// A header value from a string sluice made or validated (a request id, a configured name).
pub fn header_value(value: &str) -> pingora::Result<http::HeaderValue> {
    http::HeaderValue::from_str(value).map_err(|e| {
        pingora::Error::because(pingora::ErrorType::InvalidHTTPHeader, "header value", e)
    })
}

/// Runs `edit` on the response's parts with room for `additional` more headers.
pub fn edit_response<T>(
    response: &mut ResponseHeader,
    additional: usize,
    edit: impl FnOnce(&mut http::response::Parts) -> pingora::Result<T>,
) -> pingora::Result<T> {
    let empty = ResponseHeader::from(http::Response::new(()).into_parts().0);
    let mut parts: http::response::Parts = std::mem::replace(response, empty).into();
    parts.headers.reserve(additional);
    let result = edit(&mut parts);
    *response = ResponseHeader::from(parts);
    result
}

/// Runs `edit` on the request's parts with room for `additional` more headers. The request
/// target is then written from the parts' URI.
pub fn edit_request<T>(
    request: &mut RequestHeader,
    additional: usize,
    edit: impl FnOnce(&mut http::request::Parts) -> pingora::Result<T>,
) -> pingora::Result<T> {
    let empty = RequestHeader::from(http::Request::new(()).into_parts().0);
    let mut parts: http::request::Parts = std::mem::replace(request, empty).into();
    parts.headers.reserve(additional);
    let result = edit(&mut parts);
    *request = RequestHeader::from(parts);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(response: &ResponseHeader) -> String {
        let mut buf = Vec::new();
        response.header_to_h1_wire(&mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }

    #[test]
    fn an_edited_response_keeps_its_status_headers_and_version_and_gains_the_new_ones() {
        let mut response = ResponseHeader::build(201, None).unwrap();
        response
            .insert_header("Content-Type", "application/json")
            .unwrap();
        response.append_header("Set-Thing", "a").unwrap();
        response.append_header("Set-Thing", "b").unwrap();
        response.set_version(http::Version::HTTP_10);
        edit_response(&mut response, 2, |parts| {
            parts
                .headers
                .insert(X_SLUICE_ATTEMPTS, http::HeaderValue::from(1u16));
            parts.headers.remove(http::header::CONTENT_TYPE);
            Ok(())
        })
        .unwrap();
        assert_eq!(response.status, 201);
        assert_eq!(response.version, http::Version::HTTP_10);
        let things: Vec<_> = response.headers.get_all("set-thing").iter().collect();
        assert_eq!(things, ["a", "b"]);
        assert_eq!(response.headers["x-sluice-attempts"], "1");
        assert!(!response.headers.contains_key("content-type"));
        // Pingora writes what the parts hold (names lower case when not a standard one).
        let mut lines: Vec<String> = wire(&response)
            .split_terminator("\r\n")
            .map(str::to_owned)
            .collect();
        lines.sort();
        assert_eq!(
            lines,
            ["set-thing: a", "set-thing: b", "x-sluice-attempts: 1"]
        );
        // Pingora's own inserts go on working on the rebuilt header.
        response.insert_header("Cache-Control", "no-cache").unwrap();
        assert_eq!(response.headers["cache-control"], "no-cache");
    }

    #[test]
    fn an_error_from_the_edit_is_returned_and_the_header_kept() {
        let mut response = ResponseHeader::build(200, None).unwrap();
        response.insert_header("x-kept", "yes").unwrap();
        let result: pingora::Result<()> = edit_response(&mut response, 0, |_| {
            pingora::Error::e_explain(pingora::ErrorType::InternalError, "refused")
        });
        assert!(result.is_err());
        assert_eq!(response.headers["x-kept"], "yes");
    }

    #[test]
    fn an_edited_request_keeps_its_method_and_is_addressed_by_its_uri() {
        let mut request = RequestHeader::build("POST", b"/v1/chat?x=1", None).unwrap();
        request.insert_header("Host", "client").unwrap();
        edit_request(&mut request, 1, |parts| {
            parts.uri = http::Uri::from_static("/base/v1/messages");
            parts
                .headers
                .insert(http::header::HOST, http::HeaderValue::from_static("api"));
            Ok(())
        })
        .unwrap();
        assert_eq!(request.method, http::Method::POST);
        assert_eq!(request.raw_path(), b"/base/v1/messages");
        assert_eq!(request.headers["host"], "api");
        assert_eq!(request.headers.len(), 1);
    }
}
