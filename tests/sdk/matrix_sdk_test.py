"""The official OpenAI and Anthropic Python SDKs against `sluice demo`, across every provider
kind the demo has a model for: whole and streamed answers with plain text, one tool call,
parallel tool calls and an image, each parsed and accumulated by the SDK itself (the stream
helpers raise on event sequences they cannot follow). Run by scripts/test:

    python tests/sdk/matrix_sdk_test.py http://127.0.0.1:18080
"""

import sys

import anthropic
import openai

KEY = "sk-sluice-demo"
MODELS = {
    "openai": "fast",
    "anthropic": "claude-sonnet",
    "gemini": "gemini-flash",
    "azure": "azure-gpt-4o",
}
PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
PROMPTS = {
    "plain": "Say hello",
    "tool": "What is the weather in Oslo?",
    "parallel": "What is the weather in Oslo and in Bergen?",
    "image": "Describe this image",
}


def check(cell, scenario, text, calls, finish, usage_in, usage_out, tool_finish, stop):
    if scenario == "plain":
        assert "You said: Say hello" in text, (cell, text)
        assert finish == stop, (cell, finish)
    elif scenario == "image":
        assert "I see 1 image(s) (image/png)" in text, (cell, text)
    else:
        want = ["Oslo"] if scenario == "tool" else ["Oslo", "Bergen"]
        assert [c["city"] for c in calls] == want, (cell, calls)
        assert finish == tool_finish, (cell, finish)
    assert usage_in > 0 and usage_out > 0, (cell, usage_in, usage_out)


def openai_cells(base_url):
    import json

    client = openai.OpenAI(base_url=f"{base_url}/v1", api_key=KEY, max_retries=0)
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": SCHEMA}}]
    for kind, model in MODELS.items():
        for scenario, prompt in PROMPTS.items():
            content = prompt
            if scenario == "image":
                content = [
                    {"type": "text", "text": prompt},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                ]
            args = dict(model=model, messages=[{"role": "user", "content": content}])
            if scenario in ("tool", "parallel"):
                args["tools"] = tools
            cell = f"openai sdk -> {kind} {scenario}"

            r = client.chat.completions.create(**args)
            m = r.choices[0].message
            calls = [json.loads(c.function.arguments) for c in (m.tool_calls or [])]
            check(cell, scenario, m.content or "", calls, r.choices[0].finish_reason,
                  r.usage.prompt_tokens, r.usage.completion_tokens, "tool_calls", "stop")

            with client.chat.completions.stream(**args, stream_options={"include_usage": True}) as s:
                for _ in s:
                    pass
                final = s.get_final_completion()
            m = final.choices[0].message
            calls = [json.loads(c.function.arguments) for c in (m.tool_calls or [])]
            check(cell + " (stream)", scenario, m.content or "", calls, final.choices[0].finish_reason,
                  final.usage.prompt_tokens, final.usage.completion_tokens, "tool_calls", "stop")
    return len(MODELS) * len(PROMPTS) * 2


def anthropic_cells(base_url):
    client = anthropic.Anthropic(base_url=base_url, api_key=KEY, max_retries=0)
    tools = [{"name": "get_weather", "description": "Current weather", "input_schema": SCHEMA}]
    for kind, model in MODELS.items():
        for scenario, prompt in PROMPTS.items():
            content = prompt
            if scenario == "image":
                content = [
                    {"type": "text", "text": prompt},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
                ]
            args = dict(model=model, max_tokens=200, messages=[{"role": "user", "content": content}])
            if scenario in ("tool", "parallel"):
                args["tools"] = tools
            cell = f"anthropic sdk -> {kind} {scenario}"

            def observe(msg):
                text = "".join(b.text for b in msg.content if b.type == "text")
                calls = [b.input for b in msg.content if b.type == "tool_use"]
                assert all(b.id for b in msg.content if b.type == "tool_use"), cell
                u = msg.usage
                usage_in = u.input_tokens + (u.cache_read_input_tokens or 0) + (u.cache_creation_input_tokens or 0)
                return text, calls, msg.stop_reason, usage_in, u.output_tokens

            msg = client.messages.create(**args)
            check(cell, scenario, *observe(msg), "tool_use", "end_turn")

            with client.messages.stream(**args) as s:
                for _ in s:
                    pass
                final = s.get_final_message()
            check(cell + " (stream)", scenario, *observe(final), "tool_use", "end_turn")

    counted = client.messages.count_tokens(model="claude-sonnet", messages=[{"role": "user", "content": "Hi"}])
    assert counted.input_tokens > 0
    try:
        client.messages.create(model="nope", max_tokens=5, messages=[{"role": "user", "content": "x"}])
        raise AssertionError("expected NotFoundError")
    except anthropic.NotFoundError as e:
        assert e.body["error"]["type"] == "not_found_error", e.body
    return len(MODELS) * len(PROMPTS) * 2


def main(base_url):
    n = openai_cells(base_url)
    m = anthropic_cells(base_url)
    print(f"openai {openai.__version__} and anthropic {anthropic.__version__}: {n + m} cells ok")


if __name__ == "__main__":
    main(sys.argv[1].rstrip("/"))
