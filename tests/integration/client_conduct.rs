//! Clients that misbehave at the HTTP level: slow or broken bodies are the client's fault (a
//! 408 or 400 in JSON, never blamed on a provider), silent and idle connections are closed,
//! pipelined requests are all answered in order, an HTTP/1.0 client gets a stream it can read.

use crate::common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A safety net only: a regression (a connection never closed) fails instead of hanging.
const SAFETY: Duration = Duration::from_secs(60);

fn start(mock: &Mock) -> Gateway {
    Gateway::start_with_server(
        "  client_timeouts: {header: 1s, idle: 1s, body: 1s}\n",
        &basic_config(mock),
    )
}

fn connect(addr: SocketAddr) -> TcpStream {
    let socket = TcpStream::connect(addr).unwrap();
    socket.set_read_timeout(Some(SAFETY)).unwrap();
    socket
}

/// One HTTP/1.x response: status, headers (lowercase names), body (by length, chunked, or
/// until the connection closes).
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&self.body)))
    }
}

fn read_answer(reader: &mut BufReader<TcpStream>) -> Answer {
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {line:?}"));
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').unwrap();
        headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
    }
    let mut answer = Answer {
        status,
        headers,
        body: Vec::new(),
    };
    if let Some(len) = answer.header("content-length") {
        let mut body = vec![0; len.parse().unwrap()];
        reader.read_exact(&mut body).unwrap();
        answer.body = body;
    } else if answer.header("transfer-encoding") == Some("chunked") {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).unwrap();
            let size = usize::from_str_radix(size.trim(), 16).unwrap();
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).unwrap();
            if size == 0 {
                break;
            }
            answer.body.extend_from_slice(&chunk[..size]);
        }
    } else {
        reader.read_to_end(&mut answer.body).unwrap();
    }
    answer
}

/// Whether the server closed the connection (a read returns end of file).
fn closed_by_server(reader: &mut BufReader<TcpStream>) -> bool {
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).is_ok() && rest.is_empty()
}

fn post_head(path: &str, extra: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {CLIENT_KEY}\r\nContent-Type: application/json\r\n{extra}\r\n"
    )
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

#[tokio::test]
async fn broken_and_slow_bodies_are_the_clients_fault() {
    let mock = Mock::start("primary", &[]);
    let gw = start(&mock);
    let addr = gw.addr;

    // A body shorter than its Content-Length, then silence: 408 at the body timeout.
    let answer = blocking(move || {
        let mut socket = connect(addr);
        write!(
            socket,
            "{}{{\"model\":",
            post_head("/v1/chat/completions", "Content-Length: 100\r\n")
        )
        .unwrap();
        read_answer(&mut BufReader::new(socket))
    })
    .await;
    assert_eq!(answer.status, 408);
    assert_eq!(answer.json()["error"]["code"], "client_timeout");

    // A malformed chunk size: 400.
    let answer = blocking(move || {
        let mut socket = connect(addr);
        write!(
            socket,
            "{}ZZ\r\nxx\r\n0\r\n\r\n",
            post_head("/v1/chat/completions", "Transfer-Encoding: chunked\r\n")
        )
        .unwrap();
        read_answer(&mut BufReader::new(socket))
    })
    .await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.json()["error"]["code"], "client_invalid_body");

    // A client that leaves mid-body: nobody to answer, logged as the client's.
    blocking(move || {
        let mut socket = connect(addr);
        write!(
            socket,
            "{}{{\"mo",
            post_head("/v1/chat/completions", "Content-Length: 100\r\n")
        )
        .unwrap();
        socket.shutdown(std::net::Shutdown::Both).unwrap();
    })
    .await;
    let log = wait_for_log(&gw, "error_type=client_disconnected").await;
    assert!(log.contains("error_type=client_disconnected"), "{log}");

    assert_eq!(mock.count().await, 0, "no provider was contacted");
    assert_eq!(metric(&gw, "sluice_upstream_attempts_total").await, 0.0);
    for blamed in ["upstream_timeout", "upstream_unreachable"] {
        assert!(
            !gw.proc.log().contains(&format!("error_type={blamed}")),
            "{blamed}"
        );
    }
}

async fn wait_for_log(gw: &Gateway, needle: &str) -> String {
    for _ in 0..600 {
        let log = gw.proc.log();
        if log.contains(needle) {
            return log;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    gw.proc.log()
}

#[tokio::test]
async fn silent_and_idle_connections_are_closed() {
    let mock = Mock::start("primary", &[]);
    let gw = start(&mock);
    let addr = gw.addr;
    // Connects and sends nothing: closed at the header timeout.
    assert!(blocking(move || closed_by_server(&mut BufReader::new(connect(addr)))).await);
    // A kept-alive connection after its answer: closed at the idle timeout.
    let (status, closed) = blocking(move || {
        let mut socket = connect(addr);
        write!(
            socket,
            "GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {CLIENT_KEY}\r\n\r\n"
        )
        .unwrap();
        let mut reader = BufReader::new(socket);
        let answer = read_answer(&mut reader);
        (answer.status, closed_by_server(&mut reader))
    })
    .await;
    assert_eq!(status, 200);
    assert!(closed);
}

#[tokio::test]
async fn pipelined_requests_are_all_answered_in_order() {
    let mock = Mock::start("primary", &[]);
    let gw = start(&mock);
    let addr = gw.addr;
    let answers = blocking(move || {
        let chat = r#"{"model":"fast","messages":[{"role":"user","content":"Hi"}]}"#;
        let embed = r#"{"model":"embed","input":"Hi"}"#;
        let get = |id: &str| {
            format!("GET /v1/models/{id} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {CLIENT_KEY}\r\n\r\n")
        };
        let post = |path: &str, body: &str| {
            format!(
                "{}{body}",
                post_head(path, &format!("Content-Length: {}\r\n", body.len()))
            )
        };
        let all = [
            get("fast"),
            post("/v1/chat/completions", chat),
            get("embed"),
            post("/v1/embeddings", embed),
        ]
        .concat();
        let mut socket = connect(addr);
        socket.write_all(all.as_bytes()).unwrap();
        let mut reader = BufReader::new(socket);
        (0..4).map(|_| read_answer(&mut reader)).collect::<Vec<_>>()
    })
    .await;
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [200, 200, 200, 200]);
    assert_eq!(answers[0].json()["id"], "fast");
    assert_eq!(answers[1].json()["object"], "chat.completion");
    assert_eq!(answers[2].json()["id"], "embed");
    assert_eq!(answers[3].json()["object"], "list");
}

#[tokio::test]
async fn an_http10_client_gets_a_stream_ended_by_closing() {
    let mock = Mock::start("primary", &[]);
    let gw = start(&mock);
    let addr = gw.addr;
    let answer = blocking(move || {
        let body = r#"{"model":"fast","stream":true,"messages":[{"role":"user","content":"Hi"}]}"#;
        let mut socket = connect(addr);
        write!(
            socket,
            "POST /v1/chat/completions HTTP/1.0\r\nHost: x\r\nAuthorization: Bearer {CLIENT_KEY}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        read_answer(&mut BufReader::new(socket))
    })
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("transfer-encoding"), None);
    let text = String::from_utf8(answer.body).unwrap();
    assert!(text.starts_with("data: {"), "{text}");
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
}

/// What Pingora 0.9.1's parser refuses never reaches sluice (no hook until Pingora's PR #1004):
/// it is an empty 400 and the connection closes. Kept as a test so an upgrade that lets sluice
/// answer in JSON is noticed.
#[tokio::test]
async fn requests_the_http_parser_refuses_get_a_400() {
    let mock = Mock::start("primary", &[]);
    let gw = start(&mock);
    let addr = gw.addr;
    for request in [
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        "GET /v1/models HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
        "GET /v1/models HTTP/1.2\r\nHost: x\r\n\r\n",
    ] {
        let answer = blocking(move || {
            let mut socket = connect(addr);
            socket.write_all(request.as_bytes()).unwrap();
            read_answer(&mut BufReader::new(socket))
        })
        .await;
        assert_eq!(answer.status, 400, "{request:?}");
    }
}
