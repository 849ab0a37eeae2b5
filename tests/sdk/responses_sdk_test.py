"""The official OpenAI Python SDK's Responses API (`responses.create`, whole and `stream=True`,
and `responses.stream(...).get_final_response()`) against every provider kind of the demo:
plain text, one tool call, parallel tool calls, a function_call_output round trip and an image,
parsed and accumulated by the SDK itself; then the OpenAI Agents SDK runs a tool-calling agent
(non-streamed and streamed) on the Anthropic and Gemini mocks. Run by scripts/test:

    python tests/sdk/responses_sdk_test.py http://127.0.0.1:18080
"""

import asyncio
import sys

import openai

KEY = "sk-sluice-demo"
# gpt-4o-mini: the Responses API natively (mock-openai); the others translated.
MODELS = ["gpt-4o-mini", "fast", "claude-sonnet", "gemini-flash", "azure-gpt-4o"]
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
TOOLS = [
    {
        "type": "function",
        "name": "get_weather",
        "description": "Get the weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        "strict": True,
    }
]


def calls_of(response):
    return [o for o in response.output if o.type == "function_call"]


def check_usage(cell, response):
    u = response.usage
    assert u is not None and u.input_tokens > 0 and u.output_tokens > 0, (cell, u)
    assert u.total_tokens == u.input_tokens + u.output_tokens, (cell, u)


def responses_cells(base_url):
    client = openai.OpenAI(base_url=f"{base_url}/v1", api_key=KEY, max_retries=0)
    for model in MODELS:
        cell = f"responses {model}"
        r = client.responses.create(model=model, input="Say hello")
        assert "You said: Say hello" in r.output_text, (cell, r.output_text)
        assert r.status == "completed" and r.id.startswith("resp_"), (cell, r)
        check_usage(cell, r)

        r = client.responses.create(model=model, input="What is the weather in Oslo?", tools=TOOLS)
        assert [c.name for c in calls_of(r)] == ["get_weather"], (cell, r.output)

        question = "What is the weather in Oslo and in Bergen?"
        r = client.responses.create(model=model, input=question, tools=TOOLS)
        calls = calls_of(r)
        assert sorted(c.arguments for c in calls) == ['{"city":"Bergen"}', '{"city":"Oslo"}'], (cell, calls)
        history = [{"role": "user", "content": question}] + [o.model_dump(exclude_none=True) for o in r.output]
        history += [{"type": "function_call_output", "call_id": c.call_id, "output": f"sunny in {c.call_id}"} for c in calls]
        r2 = client.responses.create(model=model, input=history, tools=TOOLS)
        assert "sunny" in r2.output_text, (cell, r2.output_text)

        image = [{"role": "user", "content": [
            {"type": "input_text", "text": "Describe this image"},
            {"type": "input_image", "image_url": f"data:image/png;base64,{PNG}", "detail": "auto"}]}]
        r = client.responses.create(model=model, input=image)
        assert "1 image(s)" in r.output_text, (cell, r.output_text)

        events = list(client.responses.create(model=model, input=question, tools=TOOLS, stream=True))
        kinds = [e.type for e in events]
        assert kinds[:2] == ["response.created", "response.in_progress"], (cell, kinds)
        assert kinds[-1] == "response.completed", (cell, kinds)
        assert [e.sequence_number for e in events] == list(range(len(events))), (cell, kinds)
        final = events[-1].response
        assert len(calls_of(final)) == 2, (cell, final.output)
        check_usage(cell, final)

        with client.responses.stream(model=model, input="Say hello") as stream:
            text = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
            final = stream.get_final_response()
        assert text == final.output_text and "Say hello" in text, (cell, text, final.output_text)
        print(f"ok: {cell}")


def agents_cells(base_url):
    from agents import Agent, Runner, function_tool, set_default_openai_client, set_tracing_disabled

    set_tracing_disabled(True)
    seen = []

    @function_tool
    def get_weather(city: str) -> str:
        """Get the weather in a city."""
        seen.append(city)
        return f"sunny in {city}"

    async def run(model, streamed):
        agent = Agent(name="weather", instructions="Be brief.", model=model, tools=[get_weather])
        if not streamed:
            return (await Runner.run(agent, "What is the weather in Oslo?")).final_output
        result = Runner.run_streamed(agent, "What is the weather in Oslo?")
        async for _ in result.stream_events():
            pass
        return result.final_output

    async def all_cells():
        # One client, in one event loop: an AsyncOpenAI client is bound to the loop it first
        # ran in.
        set_default_openai_client(
            openai.AsyncOpenAI(base_url=f"{base_url}/v1", api_key=KEY, max_retries=0),
            use_for_tracing=False,
        )
        for model in ["gpt-4o-mini", "claude-sonnet", "gemini-flash"]:
            for streamed in [False, True]:
                seen.clear()
                out = await run(model, streamed)
                assert seen == ["Oslo"], (model, streamed, seen)
                assert "sunny in Oslo" in out, (model, streamed, out)
                print(f"ok: agents {model} streamed={streamed}")

    asyncio.run(all_cells())


if __name__ == "__main__":
    responses_cells(sys.argv[1])
    agents_cells(sys.argv[1])
