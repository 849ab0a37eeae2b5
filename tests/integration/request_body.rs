//! Bodies of every size reach the provider whole, with an exact Content-Length, although the
//! gateway reads them before choosing the upstream (see src/proxy/body.rs for why that is hard
//! in Pingora 0.9.1).

use crate::common::*;
use serde_json::json;
use sha2::{Digest, Sha256};

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A chat body of exactly `size` bytes for model `fast`.
fn body_of_size(size: usize) -> Vec<u8> {
    let empty = serde_json::to_vec(
        &json!({"model": "fast", "messages": [{"role": "user", "content": ""}]}),
    )
    .unwrap();
    let content = "a".repeat(size - empty.len());
    let body = serde_json::to_vec(
        &json!({"model": "fast", "messages": [{"role": "user", "content": content}]}),
    )
    .unwrap();
    assert_eq!(body.len(), size);
    body
}

/// What the provider must receive: the same bytes with the model renamed.
fn as_forwarded(body: &[u8]) -> Vec<u8> {
    let text = std::str::from_utf8(body).unwrap();
    text.replacen("\"model\":\"fast\"", "\"model\":\"gpt-4o-mini\"", 1)
        .into_bytes()
}

async fn assert_forwarded_whole(mock: &Mock, sent: &[u8]) {
    let expected = as_forwarded(sent);
    let got = mock.last_request().await;
    assert_eq!(got["body_bytes"], expected.len(), "bytes received upstream");
    assert_eq!(
        got["content_length"],
        expected.len().to_string(),
        "Content-Length upstream"
    );
    assert!(got["transfer_encoding"].is_null());
    assert_eq!(
        got["body_sha256"],
        sha256_hex(&expected),
        "body content upstream"
    );
    assert_eq!(got["model"], "gpt-4o-mini");
}

#[tokio::test]
async fn bodies_of_every_size_arrive_whole() {
    let mock = Mock::start("primary", &[]);
    let gw = Gateway::start(&basic_config(&mock));
    let limit = 64 * 1024;
    for size in [
        200,
        limit - 1,
        limit,
        limit + 1,
        3 * limit + 17,
        5 * 1024 * 1024,
    ] {
        let body = body_of_size(size);
        let resp = client()
            .post(gw.url("/v1/chat/completions"))
            .bearer_auth(CLIENT_KEY)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status(),
            200,
            "size {size}: {}",
            resp.text().await.unwrap_or_default()
        );
        let answer: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(answer["object"], "chat.completion");
        assert_forwarded_whole(&mock, &body).await;
    }
}

#[tokio::test]
async fn five_mib_body_with_expect_continue() {
    let mock = Mock::start("primary", &[]);
    let gw = Gateway::start(&basic_config(&mock));
    let body = body_of_size(5 * 1024 * 1024);
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(CLIENT_KEY)
        .header("expect", "100-continue")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_forwarded_whole(&mock, &body).await;
}

fn chunked(body: &[u8], piece: usize) -> reqwest::Body {
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        body.chunks(piece).map(|c| Ok(c.to_vec())).collect();
    reqwest::Body::wrap_stream(futures_util::stream::iter(chunks))
}

#[tokio::test]
async fn chunked_uploads_are_forwarded_with_a_content_length() {
    let mock = Mock::start("primary", &[]);
    let gw = Gateway::start(&basic_config(&mock));
    for size in [300, 20_000, 64 * 1024] {
        let body = body_of_size(size);
        let resp = client()
            .post(gw.url("/v1/chat/completions"))
            .bearer_auth(CLIENT_KEY)
            .body(chunked(&body, 1000))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "chunked {size}");
        assert_forwarded_whole(&mock, &body).await;
    }
}

#[tokio::test]
async fn large_chunked_uploads_get_411() {
    let mock = Mock::start("primary", &[]);
    let gw = Gateway::start(&basic_config(&mock));
    let body = body_of_size(64 * 1024 + 1);
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(CLIENT_KEY)
        .body(chunked(&body, 4096))
        .send()
        .await
        .unwrap();
    let err = expect_openai_error(resp, 411, "length_required").await;
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Content-Length"));
    assert_eq!(mock.count().await, 0);
}

#[tokio::test]
async fn compressed_bodies_are_refused_clearly() {
    let mock = Mock::start("primary", &[]);
    let gw = Gateway::start(&basic_config(&mock));
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(CLIENT_KEY)
        .header("content-encoding", "gzip")
        .body(vec![0x1f, 0x8b, 0, 0])
        .send()
        .await
        .unwrap();
    expect_openai_error(resp, 415, "unsupported_content_encoding").await;
}

/// The memory all bodies may take together is bounded: while one request holds the whole
/// `max_bodies_in_flight`, the next is refused with 503 `gateway_busy` before its body is read;
/// once the first ends, its share is back.
#[tokio::test]
async fn bodies_in_flight_are_bounded_in_total() {
    use std::io::{Read, Write};
    let mock = Mock::start("primary", &[]);
    let gw = Gateway::start(&format!(
        "max_request_body: 1MiB\nmax_bodies_in_flight: 1MiB\n{}",
        basic_config(&mock)
    ));
    let body = body_of_size(600_000);
    let head = |len: usize| {
        format!(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {CLIENT_KEY}\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n"
        )
    };

    // The first request sends its head and half its body, then waits.
    let mut first = std::net::TcpStream::connect(gw.addr).unwrap();
    first.write_all(head(body.len()).as_bytes()).unwrap();
    first.write_all(&body[..300_000]).unwrap();
    let series = "sluice_request_body_bytes_in_flight";
    for _ in 0..600 {
        if metric(&gw, series).await == 600_000.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(metric(&gw, series).await, 600_000.0);

    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(CLIENT_KEY)
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["retry-after"], "1");
    expect_openai_error(resp, 503, "gateway_busy").await;

    // The first one completes, and gives its share back.
    let rest = body[300_000..].to_vec();
    let status = tokio::task::spawn_blocking(move || {
        first.write_all(&rest).unwrap();
        let mut answer = [0u8; 12];
        first.read_exact(&mut answer).unwrap();
        String::from_utf8_lossy(&answer).into_owned()
    })
    .await
    .unwrap();
    assert_eq!(status, "HTTP/1.1 200");
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(CLIENT_KEY)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    for _ in 0..600 {
        if metric(&gw, series).await == 0.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(metric(&gw, series).await, 0.0);
}
