//! `sluice check` validates a config like `nginx -t`: exit 0, or exit 2 naming the field.

use crate::common::*;
use std::process::Command;

fn check(config: &str, env: &[(&str, &str)]) -> (i32, String) {
    let dir = temp_dir();
    let path = dir.path().join("sluice.yaml");
    std::fs::write(&path, config).unwrap();
    let out = Command::new(BIN)
        .args(["check", "-c", path.to_str().unwrap()])
        .envs(env.iter().copied())
        .env_remove("SLUICE_TEST_UNSET")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

const GOOD: &str = r#"
listen: 127.0.0.1:8080
providers:
  openai:
    kind: openai
    endpoints: [{url: "https://api.openai.com"}]
    api_keys: ["${SLUICE_TEST_KEY}"]
models:
  - name: fast
    targets: [{provider: openai, model: gpt-4o-mini}]
keys:
  - {name: app, key: "${SLUICE_TEST_APP_KEY:-sk-default-app-key}"}
"#;

#[test]
fn good_config_passes() {
    let (code, out) = check(GOOD, &[("SLUICE_TEST_KEY", "sk-real")]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("ok (1 providers, 1 models, 1 keys)"), "{out}");
    assert!(
        out.contains("  fast -> openai/gpt-4o-mini (weight 1)"),
        "{out}"
    );
    assert!(out.contains("  app: no limits"), "{out}");
    assert!(!out.contains("sk-real"));
}

#[test]
fn bad_configs_exit_2_naming_the_field() {
    let env = [("SLUICE_TEST_KEY", "sk-real")];
    let cases = [
        (
            GOOD.replace("SLUICE_TEST_KEY", "SLUICE_TEST_UNSET"),
            "providers.openai.api_keys[0]: environment variable SLUICE_TEST_UNSET is not set",
        ),
        (
            GOOD.replace("provider: openai", "provider: anthropic"),
            "models[0].targets[0].provider: unknown provider 'anthropic'",
        ),
        (
            GOOD.replace("https://api.openai.com", "api.openai.com"),
            "providers.openai.endpoints[0].url:",
        ),
        (
            GOOD.replace("https://api.openai.com", "ftp://api.openai.com"),
            "providers.openai.endpoints[0].url: 'ftp://api.openai.com/' must use http or https",
        ),
        (
            format!(
                "{}\n  - name: fast\n    targets: [{{provider: openai, model: x}}]\n",
                GOOD.split("\nkeys:").next().unwrap().trim_end()
            ),
            "models[1].name: duplicate model name 'fast'",
        ),
        (
            GOOD.replace("listen: 127.0.0.1:8080", "listen: 8080"),
            "listen:",
        ),
        (
            GOOD.replace("kind: openai", "kind: mystery"),
            "providers.openai.kind: unknown variant `mystery`",
        ),
        ("providers: [".to_owned(), "invalid YAML"),
        (
            GOOD.replace("kind: openai", "kind: openai\n    api_version: \"2024-10-21\""),
            "providers.openai.api_version: only for kind azure (this provider is openai)",
        ),
        (
            GOOD.replace("kind: openai", "kind: openai\n    anthropic_version: \"2023-06-01\""),
            "providers.openai.anthropic_version: only for kind anthropic",
        ),
        (
            GOOD.replace("kind: openai", "kind: openai\n    timeouts: {connect: banana}"),
            "providers.openai.timeouts.connect: invalid duration 'banana': expected e.g. 500ms, 10s, 5m (line 6,",
        ),
    ];
    for (config, expected) in cases {
        let (code, out) = check(&config, &env);
        assert_eq!(code, 2, "{out}");
        assert!(out.contains(expected), "wanted {expected:?} in:\n{out}");
        assert!(!out.contains("sk-real"), "secret in output: {out}");
    }
}

#[test]
fn missing_file_is_a_config_error() {
    let out = Command::new(BIN)
        .args(["check", "-c", "/nonexistent/sluice.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/sluice.yaml: cannot read"));
}

#[test]
fn shipped_configs_are_valid() {
    for file in ["conf/demo.yaml", "conf/sluice.yaml"] {
        let path = format!("{}/{file}", env!("CARGO_MANIFEST_DIR"));
        let out = Command::new(BIN)
            .args(["check", "-c", &path])
            .env("OPENAI_API_KEY", "sk-x")
            .env("ANTHROPIC_API_KEY", "sk-x")
            .env("SLUICE_APP_KEY", "sk-app-key-123")
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
