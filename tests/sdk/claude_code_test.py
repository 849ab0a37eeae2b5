"""Claude Code itself (npm `@anthropic-ai/claude-code`, installed by scripts/test into
tests/sdk/ts) through sluice with default settings, on the demo's Anthropic, OpenAI and Gemini
mocks: it answers, and it completes a tool loop (its Bash tool runs a command and the result
goes back). Non-essential traffic is off, so it talks to nothing but sluice. Run by
scripts/test:

    python tests/sdk/claude_code_test.py http://127.0.0.1:18080
"""

import os
import subprocess
import sys
import tempfile

CLAUDE = os.path.join(os.path.dirname(__file__), "ts", "node_modules", ".bin", "claude")
MODELS = ["claude-sonnet", "fast", "gemini-flash"]


def claude(base_url, home, model, prompt, *flags):
    env = dict(
        os.environ,
        HOME=home,
        ANTHROPIC_BASE_URL=base_url,
        ANTHROPIC_API_KEY="sk-sluice-demo",
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
        DISABLE_AUTOUPDATER="1",
    )
    done = subprocess.run(
        [CLAUDE, "-p", prompt, "--model", model, *flags],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, (model, done.returncode, done.stdout, done.stderr)
    return done.stdout


def main(base_url):
    with tempfile.TemporaryDirectory() as home:
        for model in MODELS:
            out = claude(base_url, home, model, "hello")
            assert "Hello from" in out, (model, out)
            out = claude(
                base_url,
                home,
                model,
                "Please run `echo sluice-tool-loop-ok` and tell me what it printed.",
                "--allowedTools",
                "Bash",
            )
            assert "sluice-tool-loop-ok" in out, (model, out)
            print(f"claude code ok: {model}")


if __name__ == "__main__":
    main(sys.argv[1])
