"""The official OpenAI Python SDK, pointed at sluice, gets completions, streams, embeddings,
the model list and typed errors. Run by scripts/test against `sluice demo`:

    python tests/sdk/openai_sdk_test.py http://127.0.0.1:18080/v1
"""

import sys

import openai
from openai import OpenAI

KEY = "sk-sluice-demo"


def main(base_url: str) -> None:
    client = OpenAI(base_url=base_url, api_key=KEY, max_retries=0)

    completion = client.chat.completions.create(
        model="fast", messages=[{"role": "user", "content": "Hello!"}]
    )
    assert completion.object == "chat.completion", completion
    assert completion.choices[0].message.role == "assistant"
    assert "Hello!" in completion.choices[0].message.content
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.total_tokens == (
        completion.usage.prompt_tokens + completion.usage.completion_tokens
    )

    pieces, finish = [], None
    stream = client.chat.completions.create(
        model="fast",
        messages=[{"role": "user", "content": "Stream please"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    usage = None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            pieces.append(choice.delta.content or "")
            finish = choice.finish_reason or finish
    text = "".join(pieces)
    assert "Stream please" in text, text
    assert finish == "stop"
    assert usage is not None and usage.completion_tokens > 0

    # The SDK asks for base64 embeddings by default and decodes them.
    embedding = client.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    assert len(embedding.data) == 2 and len(embedding.data[0].embedding) == 16

    models = [m.id for m in client.models.list()]
    assert "fast" in models, models
    assert client.models.retrieve("fast").id == "fast"

    try:
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
        raise AssertionError("expected NotFoundError")
    except openai.NotFoundError as e:
        assert e.code == "model_not_found", e.body

    bad = OpenAI(base_url=base_url, api_key="sk-wrong", max_retries=0)
    try:
        bad.models.list()
        raise AssertionError("expected AuthenticationError")
    except openai.AuthenticationError as e:
        assert e.code == "invalid_api_key", e.body

    print(f"openai {openai.__version__}: completion, stream, embeddings, models, errors: ok")


if __name__ == "__main__":
    main(sys.argv[1])
