"""The Anthropic Python SDK's tool runner (`client.beta.messages.tool_runner`, message threads on
by default) through sluice to every provider kind of the demo: a two-tool loop with default
settings. The runner threads its turns, so turn two carries only the tool results and the id of
the answer it continues; sluice serves the thread on every provider. Run by scripts/test:

    python tests/sdk/toolrunner_test.py http://127.0.0.1:18080
"""

import sys

import anthropic
from anthropic import beta_tool

KEY = "sk-sluice-demo"
MODELS = ["claude-sonnet", "fast", "gemini-flash", "azure-gpt-4o"]
CALLS = []


@beta_tool
def get_weather(city: str) -> str:
    """Get the weather in a city.

    Args:
        city: the city
    """
    CALLS.append(("weather", city))
    return f"sunny in {city}"


@beta_tool
def get_time(city: str) -> str:
    """Get the local time in a city.

    Args:
        city: the city
    """
    CALLS.append(("time", city))
    return f"noon in {city}"


def main(base_url):
    client = anthropic.Anthropic(base_url=base_url, api_key=KEY, max_retries=0)
    for model in MODELS:
        CALLS.clear()
        runner = client.beta.messages.tool_runner(
            model=model,
            max_tokens=300,
            tools=[get_weather, get_time],
            messages=[{"role": "user", "content": "What is the weather and the time in Oslo?"}],
        )
        replies = list(runner)
        assert CALLS == [("weather", "Oslo"), ("time", "Oslo")], (model, CALLS)
        last = replies[-1]
        assert last.stop_reason == "end_turn", (model, last)
        text = "".join(b.text for b in last.content if b.type == "text")
        assert "sunny in Oslo" in text and "noon in Oslo" in text, (model, text)
        print(f"tool runner ok: {model} ({len(replies)} turns)")


if __name__ == "__main__":
    main(sys.argv[1])
