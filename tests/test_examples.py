"""Every example runs against the fake server, and every Python block of the README runs.

The examples run as the user would run them: a subprocess, no SUDO_API_KEY, a timeout; the
test checks the exit code and the output. README blocks marked ``<!-- test -->`` (or
``<!-- test: NAME -->`` for one that needs scripted responses, see ``SCRIPTS``) run in this
process with ``SUDO_SERVER_URL`` pointing at a fake server; the ``test_*`` functions they
define are called too. Every Python block must be marked, ``<!-- no-test: why -->`` at least.
"""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import pytest

from sudo_stream import testing

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
README = ROOT / "README.md"
TIMEOUT = 60


def example_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUDO_", "FORCE_COLOR"))}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


@dataclass(frozen=True)
class Run:
    script: str
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()


# Every example run the tests check.
RUNS = {
    "stream_text": Run("stream_text.py"),
    "tool_calls": Run("tool_calls.py"),
    "tool_runner": Run("tool_runner.py"),
    "many_streams": Run("many_streams.py", ("--count", "300", "--concurrency", "50")),
    "many_streams_trio": Run("many_streams.py", ("--count", "50", "--backend", "trio")),
    "trio_app": Run("trio_app.py"),
    "token_ui": Run("token_ui.py"),
    # FORCE_COLOR makes rich render as for a terminal: the live UI path.
    "token_ui_live": Run(
        "token_ui.py", ("Why stream?",), (("FORCE_COLOR", "1"), ("COLUMNS", "120"))
    ),
    "stored_completions": Run("stored_completions.py"),
    "blocking": Run("blocking.py"),
    "batch_run": Run("batch_run.py", ("--count", "300")),
    "structured": Run("structured.py"),
    "responses": Run("responses.py"),
}


def run_example(name: str) -> str:
    """Run an example as a user would (no SUDO_API_KEY); return its standard output."""
    run = RUNS[name]
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / run.script), *run.args],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=TIMEOUT,
        env=example_env(**dict(run.env)),
        cwd=ROOT,
        encoding="utf-8",
    )
    assert result.returncode == 0, f"{run.script} exited {result.returncode}\n{result.stderr}"
    assert "Traceback" not in result.stderr, result.stderr
    assert "(no SUDO_API_KEY:" in result.stdout  # it says it uses the fake server
    return result.stdout


def test_every_example_is_tested() -> None:
    assert {path.name for path in EXAMPLES.glob("*.py")} == {run.script for run in RUNS.values()}


def test_stream_text() -> None:
    out = run_example("stream_text")
    assert out.splitlines()[-1] == testing.DEFAULT_REPLY


def test_structured() -> None:
    out = run_example("structured")
    lines = out.splitlines()
    assert lines[1:6] == [
        "  ingredient: 200 g flour",
        "  ingredient: 2 eggs",
        "  ingredient: 300 ml milk",
        "  ingredient: 1 tbsp sugar",
        "  ingredient: a pinch of salt",
    ]  # each once, in order, as it completed
    assert lines[6] == "  step (2 min): Whisk the flour, sugar and salt."
    assert lines[-1].startswith("Fluffy pancakes: serves 4, 20 minutes (")


def test_responses() -> None:
    out = run_example("responses").splitlines()
    assert out[1:4] == [
        "Try small primes: 1001 / 7 = 143, and 143 = 11 * 13.",
        "",
        "No: 1001 = 7 * 11 * 13.",
    ]  # the reasoning summary first, then the answer, from the typed events
    assert out[4] == "[completed, 22 tokens, output: ReasoningItem, OutputMessage]"
    assert out[5] == "Yes: 1009 is prime."
    assert out[-1] == "(the second request sent its input as: user, reasoning, message, user)"


def test_tool_calls() -> None:
    out = run_example("tool_calls")
    assert '-> get_weather {"city": "Paris"}\n-> get_weather {"city": "Tokyo"}\n' in out
    assert 'get_weather returned {"city": "Tokyo", "celsius": 17, "sky": "cloudy"}' in out
    assert "It is sunny and 21 degrees in Paris, and cloudy and 17 degrees in Tokyo." in out
    assert "the second request sent 4 messages" in out


def test_tool_runner() -> None:
    out = run_example("tool_runner")
    weather = '{"city":"Paris","celsius":21,"sky":"sunny"}'
    assert '[turn 1]\n-> get_weather {"city": "Paris"}\n-> population {"city": "Paris"}\n' in out
    # the two calls ran at once: their results come in the order they end, either way
    assert f"   get_weather returned {weather}\n" in out
    assert "   population returned 2102650\n" in out
    assert f"[turn 2]\nThe tools answered: get_weather said {weather}; population said 2102650.\n" in out
    assert "(2 turns; the conversation: user, assistant, tool, tool, assistant)" in out


def test_many_streams() -> None:
    out = run_example("many_streams")
    summary = re.search(r"^(\d+) streams in [\d.]+ s: \d+ streams/s, (\d+) tokens", out, re.M)
    assert summary is not None, out
    assert summary.group(1) == "300"
    assert int(summary.group(2)) == 300 * len(testing.split_words(testing.DEFAULT_REPLY))
    assert ", 0 failed" in out
    assert "answered 304 requests: 4 retries" in out  # the scripted 503s and 429s


def test_many_streams_on_trio() -> None:
    out = run_example("many_streams_trio")
    assert re.search(r"^50 streams in .*, 0 failed$", out, re.M), out


def test_trio_app() -> None:
    out = run_example("trio_app")
    for name in ("haiku", "fact", "joke"):
        assert re.search(rf"^\[{name}\] \([\d.]+ s\) A reply from the fake server", out, re.M)
    assert re.search(r"^\[story\] cancelled after 1.0 s, [1-9]\d* characters in$", out, re.M)


def test_token_ui_degrades_to_plain_output() -> None:
    out = run_example("token_ui")  # stdout is a file: no live UI
    for model in ("gpt-4o-mini", "claude-sonnet-4-20250514", "deepseek-reasoner"):
        assert f"[{model}] (done, ttft " in out
    assert out.count("Because the first words arrive in milliseconds") == 3
    assert "3 streams in" in out


def test_token_ui_live() -> None:
    pytest.importorskip("rich")
    out = run_example("token_ui_live")
    assert "╭" in out and "done, ttft" in out
    assert "3 streams in" in out


def test_stored_completions() -> None:
    out = run_example("stored_completions")
    assert "first page: 2 completions, has_more=True" in out
    assert re.search(r"\[rivers\].*\n.*\[mountains\].*\n.*\[oceans\]", out)
    assert "was asked by user: One sentence about rivers." in out
    assert "'reviewed': 'yes'" in out
    assert "deleted 3 stored completions" in out


def test_batch_run() -> None:
    out = run_example("batch_run")
    interrupted = re.search(r"^interrupted: (\d+) of 300 answers", out, re.M)
    assert interrupted is not None, out
    half = int(interrupted.group(1))
    assert 150 <= half < 300
    assert f"resumed: {300 - half} done, 0 failed, {half} already in" in out
    assert "300 records, 300 distinct ids, 0 failed" in out
    assert f"square-0: {testing.DEFAULT_REPLY}" in out


def test_blocking() -> None:
    out = run_example("blocking")
    lines = out.splitlines()
    assert lines[1] == lines[2] == testing.DEFAULT_REPLY  # create(), then the stream
    assert re.fullmatch(r"chatcmpl-\S+ gpt-4o-mini", lines[3])


# -- the README's code blocks -----------------------------------------------------------


@dataclass(frozen=True)
class Block:
    line: int
    marker: str
    code: str

    @property
    def script(self) -> str | None:
        match = re.fullmatch(r"test(?::\s*(\w+))?", self.marker)
        if match is None:
            return None
        return match.group(1) or "default"


def readme_blocks() -> list[Block]:
    text = README.read_text(encoding="utf-8")
    blocks = []
    fence = re.compile(r"(?:<!--\s*(.*?)\s*-->\n)?```python\n(.*?)^```", re.S | re.M)
    for match in fence.finditer(text):
        line = text.count("\n", 0, match.start(2))
        blocks.append(Block(line, match.group(1) or "", match.group(2)))
    return blocks


def script_reasoning(server: testing.FakeSudoServer) -> None:
    chunks = testing.text_chunks(
        "1001 = 7 * 11 * 13, so it is not prime.", reasoning="Try 7: 7 * 143 = 1001."
    )
    server.enqueue(testing.Stream(chunks))


def script_tools(server: testing.FakeSudoServer) -> None:
    server.enqueue(
        testing.Stream(testing.tool_call_chunks("get_weather", '{"city": "Paris"}')),
        testing.Stream(testing.text_chunks("It is sunny and 21 degrees in Paris.")),
    )


def script_unauthorized(server: testing.FakeSudoServer) -> None:
    server.enqueue(testing.Error(401, message="Missing or invalid API key."))


def script_stall(server: testing.FakeSudoServer) -> None:
    chunks = testing.text_chunks(" fox jumps over")[:3]  # role, " fox", " jumps"
    server.enqueue(testing.Stream([*chunks, testing.StallItem(None)]))


def script_stored(server: testing.FakeSudoServer) -> None:
    for n in range(3):
        server.store_completion(
            {"id": f"chatcmpl-stored{n}", "model": "gpt-4o-mini", "metadata": {"project": "demo"}},
            [{"role": "user", "content": f"question {n}"}],
        )


@dataclass(frozen=True)
class Script:
    setup: Callable[[testing.FakeSudoServer], None]
    expect: tuple[str, ...]


SCRIPTS: dict[str, Script] = {
    "default": Script(lambda server: None, ()),
    "reasoning": Script(
        script_reasoning, ("Try 7", "so it is not prime.", "finished: stop", "tokens")
    ),
    "tools": Script(script_tools, ('{"city": "Paris"}', "It is sunny and 21 degrees in Paris.")),
    # the fake server's own model: a call to the first tool, then an answer that repeats it
    "tool_loop": Script(
        lambda server: None,
        ('-> get_weather({"city":"text"})', '<- get_weather: {"city":"text","celsius":21}',
         'The tools answered: get_weather said {"city":"text","celsius":21}.', "4 messages"),
    ),
    # the same loop over the Responses API, against the fake server's own model
    "responses_tool_loop": Script(
        lambda server: None,
        ('-> get_weather({"city": "text"})', '<- get_weather: {"city":"text","celsius":21}',
         f"{testing.DEFAULT_REPLY}\n", "6 input items"),
    ),
    "unauthorized": Script(script_unauthorized, ("check SUDO_API_KEY: HTTP 401",)),
    "stall": Script(script_stall, ("gave up (idle bound, 1 s) after ' fox jumps'",)),
    "stored": Script(script_stored, ("chatcmpl-stored0", "question 2")),
    "blocking": Script(script_stored, (f"{testing.DEFAULT_REPLY}\n", "\nchatcmpl-stored2\n")),
}

BLOCKS = readme_blocks()


def test_every_readme_python_block_is_marked() -> None:
    assert len(BLOCKS) >= 8
    for block in BLOCKS:
        assert block.script in SCRIPTS or block.marker.startswith("no-test:"), (
            f"README.md line {block.line}: mark the block <!-- test -->, <!-- test: NAME --> "
            f"(one of {sorted(SCRIPTS)}) or <!-- no-test: reason -->; got {block.marker!r}"
        )


@pytest.fixture
def fake_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[testing.FakeSudoServer]:
    with testing.serve_in_thread() as server:
        monkeypatch.delenv("SUDO_API_KEY", raising=False)
        monkeypatch.setenv("SUDO_SERVER_URL", server.url)
        yield server
        assert server.errors == []


@pytest.mark.parametrize(
    "block",
    [block for block in BLOCKS if block.script is not None],
    ids=lambda block: f"README.md:{block.line}-{block.script}",
)
def test_readme_block(
    block: Block, fake_api: testing.FakeSudoServer, capsys: pytest.CaptureFixture[str]
) -> None:
    script = SCRIPTS[block.script or "default"]
    script.setup(fake_api)
    # A real module, as a script has: msgspec and dataclasses resolve annotations in it.
    module = types.ModuleType("__readme__")
    namespace: dict[str, object] = module.__dict__
    sys.modules[module.__name__] = module
    try:
        exec(compile(block.code, f"README.md:{block.line}", "exec"), namespace)
    finally:
        del sys.modules[module.__name__]
    for name, function in list(namespace.items()):
        if name.startswith("test_") and callable(function):
            if inspect.iscoroutinefunction(function):
                anyio.run(function)
            else:
                function()
    out = re.sub(r"\x1b\[[0-9;]*m", "", capsys.readouterr().out)  # without colours
    for expected in script.expect:
        assert expected in out
    assert fake_api.pending_responses == 0  # the block consumed what was scripted for it
    if block.script == "tools":
        second = fake_api.requests[-1].json()["messages"]
        assert [m["role"] for m in second] == ["user", "assistant", "tool"]
