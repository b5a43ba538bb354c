"""The seed SDK reference's eight usage examples, run as written against the fake server.

Only the import line changes (``from sudo_stream import Sudo``); ``server_url`` points at
the fake server and the placeholders (``<id>``, ``<value>``) get real values.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from sudo_stream import testing

REFERENCE = Path(__file__).parent / "data" / "seed_router_reference.md"
EXAMPLE = re.compile(r'operationID="(\w+)".*?```python\n(.*?)```', re.S)


def examples() -> dict[str, str]:
    return dict(EXAMPLE.findall(REFERENCE.read_text()))


def test_the_reference_has_eight_examples() -> None:
    assert sorted(examples()) == sorted(
        [
            "listChatCompletions",
            "create",
            "createStreaming",
            "getChatCompletion",
            "updateChatCompletion",
            "deleteChatCompletion",
            "getChatCompletionMessages",
            "generateImage",
        ]
    )


@pytest.fixture(scope="module")
def server() -> Iterator[testing.FakeSudoServer]:
    with testing.serve_in_thread() as fake:
        yield fake


@pytest.mark.parametrize("operation", sorted(examples()))
def test_seed_example_runs_unchanged(operation: str, server: testing.FakeSudoServer) -> None:
    stored = server.store_completion(
        {"model": "gpt-4o", "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "stored answer"}}]},
        messages=[{"role": "user", "content": "stored question"}],
    )
    code = examples()[operation]
    assert "from sudo_ai import Sudo" in code
    code = code.replace("from sudo_ai import Sudo", "from sudo_stream import Sudo")
    code = code.replace('"https://api.example.com"', repr(server.url))
    code = code.replace('"role": "<value>"', '"role": "user"')
    code = code.replace("<id>", stored["id"]).replace("<value>", "hello")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, f"<seed example {operation}>", "exec"), {"__name__": "__main__"})
    printed = out.getvalue()
    assert printed, "the example printed its result"
    request = server.requests[-1]
    if operation == "createStreaming":
        assert request.json()["stream"] is True
        assert "ChatCompletionChunk(" in printed
    elif operation == "create":
        assert request.json() == {"messages": [], "model": "Camry", "stream": False}
        assert "ChatCompletion(" in printed
    elif operation == "deleteChatCompletion":
        assert request.method == "DELETE" and "deleted=True" in printed
    elif operation == "updateChatCompletion":
        assert request.json() == {"metadata": {}}
    elif operation == "generateImage":
        assert request.json() == {"prompt": "hello", "model": "PT Cruiser"}
        assert "ImageGeneration(" in printed
    elif operation == "getChatCompletionMessages":
        assert "stored question" in printed
    else:
        assert stored["id"] in printed or operation == "listChatCompletions"
