//! What a mock provider answers, whatever its dialect: each dialect module reads its request
//! into a `Conversation`, `decide` picks the reply, and the module writes it back in its own
//! wire format. The rules are simple enough for tests to predict:
//!
//! - the last user turn carries tool results: a text reply quoting them;
//! - tools are offered and the user mentions the weather: one `get_weather`-style call per city
//!   named (Oslo, Bergen, Paris; Oslo if none), i.e. parallel calls for several cities;
//! - images: a text reply counting them and naming their media types;
//! - otherwise: a greeting naming the mock and the model, echoing the user.

use serde_json::{json, Value};

#[derive(Debug, Default)]
pub struct Conversation {
    pub model: String,
    pub last_user_text: String,
    /// Media types (or URLs) of the images in the last user turn.
    pub images: Vec<String>,
    /// Result texts of the tool results in the last user turn.
    pub tool_results: Vec<String>,
    pub tool_names: Vec<String>,
    pub tools_disabled: bool,
    /// Characters of all text in the request, for the token estimate.
    pub prompt_chars: usize,
}

pub struct ToolCall {
    pub name: String,
    pub args: Value,
}

pub enum Reply {
    Text(String),
    Tools(Vec<ToolCall>),
}

const CITIES: &[&str] = &["Oslo", "Bergen", "Paris"];

pub fn decide(conv: &Conversation, mock_name: &str, configured: Option<&str>) -> Reply {
    if let Some(reply) = configured {
        return Reply::Text(reply.to_owned());
    }
    if !conv.tool_results.is_empty() {
        return Reply::Text(format!("Tool results: {}", conv.tool_results.join("; ")));
    }
    let text = conv.last_user_text.to_lowercase();
    // An agent's shell tool (Claude Code's `Bash`): "run `command`" calls it with the command.
    if let Some(command) = command_to_run(&conv.last_user_text) {
        if !conv.tools_disabled && conv.tool_names.iter().any(|n| n == "Bash") {
            return Reply::Tools(vec![ToolCall {
                name: "Bash".into(),
                args: json!({"command": command, "description": "Run the command the user asked for"}),
            }]);
        }
    }
    if !conv.tool_names.is_empty() && !conv.tools_disabled && text.contains("weather") {
        let mut cities: Vec<&str> = CITIES
            .iter()
            .copied()
            .filter(|c| text.contains(&c.to_lowercase()))
            .collect();
        if cities.is_empty() {
            cities.push("Oslo");
        }
        // The weather tool (the first tool when none is named so); with "time" asked too and a
        // time tool offered, a call of each per city (a two-tool turn).
        let named = |word: &str| conv.tool_names.iter().find(|n| n.contains(word)).cloned();
        let weather = named("weather").unwrap_or_else(|| conv.tool_names[0].clone());
        let time = named("time").filter(|_| text.contains("time"));
        let mut calls = Vec::new();
        for city in cities {
            for name in std::iter::once(weather.clone()).chain(time.clone()) {
                calls.push(ToolCall {
                    name,
                    args: json!({ "city": city }),
                });
            }
        }
        return Reply::Tools(calls);
    }
    let echoed: String = conv.last_user_text.chars().take(80).collect();
    if !conv.images.is_empty() {
        return Reply::Text(format!(
            "I see {} image(s) ({}). You said: {echoed}",
            conv.images.len(),
            conv.images.join(", ")
        ));
    }
    Reply::Text(format!(
        "Hello from {mock_name} ({}). You said: {echoed}",
        conv.model
    ))
}

/// The command in "run `command`", if the text asks to run one.
fn command_to_run(text: &str) -> Option<&str> {
    let at = text.to_lowercase().find("run `")?;
    let rest = text.get(at + "run `".len()..)?;
    let end = rest.find('`')?;
    Some(&rest[..end]).filter(|c| !c.is_empty())
}

/// Token counts the mock reports: deterministic, so tests can predict them.
#[derive(Debug, Clone, Copy)]
pub struct MockUsage {
    pub prompt: u64,
    pub output: u64,
}

pub fn usage(conv: &Conversation, reply: &Reply) -> MockUsage {
    let output = match reply {
        Reply::Text(t) => (t.len() as u64).div_ceil(4).max(1),
        Reply::Tools(calls) => 12 * calls.len() as u64,
    };
    MockUsage {
        prompt: (conv.prompt_chars as u64).div_ceil(4) + 8,
        output,
    }
}

/// Splits text into `n` consecutive pieces (at word boundaries when there are enough words)
/// that concatenate back to the text.
pub fn split_pieces(text: &str, n: usize) -> Vec<String> {
    let n = n.max(1);
    let words: Vec<&str> = text.split_inclusive(' ').collect();
    let mut pieces: Vec<String> = if words.len() >= n {
        let per = words.len().div_ceil(n);
        words.chunks(per).map(|c| c.concat()).collect()
    } else {
        let chars: Vec<char> = text.chars().collect();
        let per = chars.len().div_ceil(n).max(1);
        chars.chunks(per).map(|c| c.iter().collect()).collect()
    };
    while pieces.len() < n {
        pieces.push(String::new());
    }
    pieces
}

/// `split_pieces` as runs: each piece with how many times it comes in a row (the empty
/// pieces that pad `text` to `n` chunks are one run), so a caller builds each event once.
pub fn piece_runs(text: &str, n: usize) -> Vec<(String, usize)> {
    let n = n.max(1);
    let words = text.split_inclusive(' ').count();
    // As many pieces as `split_pieces` makes with text in them, at most one per word or char.
    let filled = n.min(words.max(text.chars().count()).max(1));
    let mut runs: Vec<(String, usize)> = split_pieces(text, filled)
        .into_iter()
        .map(|p| (p, 1))
        .collect();
    let padding = n - runs.len().min(n);
    if padding > 0 {
        runs.push((String::new(), padding));
    }
    runs
}

/// A JSON string split in two, as providers stream tool arguments.
pub fn split_json(args: &Value) -> (String, String) {
    let text = args.to_string();
    let mid = text.len() / 2;
    let mid = (0..=mid)
        .rev()
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(0);
    (text[..mid].to_owned(), text[mid..].to_owned())
}

/// Text of an OpenAI- or Anthropic-style content value (a string or parts with `text`).
pub fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_rejoin() {
        let text = "one two three four five six seven";
        for n in 1..10 {
            let p = split_pieces(text, n);
            assert_eq!(p.len(), n);
            assert_eq!(p.concat(), text);
        }
    }

    #[test]
    fn piece_runs_expand_to_split_pieces() {
        for text in ["one two three four five six seven", "x", "", "abc"] {
            for n in [1, 2, 3, 7, 10, 100] {
                let expanded: Vec<String> = piece_runs(text, n)
                    .into_iter()
                    .flat_map(|(p, times)| std::iter::repeat_n(p, times))
                    .collect();
                assert_eq!(expanded, split_pieces(text, n), "{text:?} in {n}");
            }
        }
        assert_eq!(piece_runs("a b", 100_000).len(), 4);
    }

    #[test]
    fn weather_with_two_cities_is_two_calls() {
        let conv = Conversation {
            last_user_text: "Weather in Oslo and Bergen?".into(),
            tool_names: vec!["get_weather".into()],
            ..Conversation::default()
        };
        match decide(&conv, "m", None) {
            Reply::Tools(calls) => assert_eq!(calls.len(), 2),
            Reply::Text(t) => panic!("{t}"),
        }
    }
}
