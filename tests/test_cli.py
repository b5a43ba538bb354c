"""The command line, end to end: ``python -m sudo_stream`` in a subprocess for what a user
sees (offline demo, stdin, --json, models, a 401, Ctrl-C, a closed pipe), and ``main()`` in
this process, against a fake server in a thread, for the rendering and each error path."""

from __future__ import annotations

import io
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import sudo_stream.__main__ as cli
from sudo_stream import testing

TIMEOUT = 30
POSIX = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and pipes")
SUMMARY = re.compile(
    r"^(?P<model>\S+) · (?P<finish>\w+) · (?P<count>\d+) (?P<unit>tokens|chunks)"
    r"(?: · first token \d+ ms(?: · [\d.]+ (?:tokens|chunks)/s)?)?$"
)


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SUDO_") and k not in ("FORCE_COLOR", "NO_COLOR")
    }
    env["PYTHONIOENCODING"] = "utf-8"
    env.update(extra)
    return env


def run_cli(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sudo_stream", *args],
        input=stdin if stdin is not None else "",
        capture_output=True,
        encoding="utf-8",
        timeout=TIMEOUT,
        env=env if env is not None else clean_env(),
    )


def one_line(stderr: str) -> str:
    """The single line of an error report (no traceback)."""
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.fixture
def server() -> Iterator[testing.FakeSudoServer]:
    with testing.serve_in_thread() as fake:
        yield fake
        assert fake.errors == []


# -- subprocess: what a user sees --------------------------------------------------------


def test_offline_demo_streams_token_by_token() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "sudo_stream", "chat", "Tell me about streaming."],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(),
    )
    assert process.stdout is not None
    reads = []
    while data := process.stdout.read1(65536):
        reads.append(data)
    stderr = process.communicate(timeout=TIMEOUT)[1].decode()
    assert process.returncode == 0, stderr
    out = b"".join(reads).decode()
    assert out == f"thinking: {cli.OFFLINE_THOUGHT}\n\n{cli.OFFLINE_REPLY}\n"
    assert len(reads) > 20  # the reply arrived in many pieces, not at once
    note, summary = stderr.splitlines()
    assert re.fullmatch(
        r"sudo-stream: no SUDO_API_KEY: answering from the embedded fake server at "
        r"http://127\.0\.0\.1:\d+",
        note,
    )
    match = SUMMARY.match(summary)
    assert match is not None, summary
    words = len(testing.split_words(cli.OFFLINE_REPLY + " " + cli.OFFLINE_THOUGHT))
    assert match.group("model", "finish", "count") == ("gpt-4o-mini", "stop", str(words))
    assert "first token" in summary and "tokens/s" in summary


def test_models_offline() -> None:
    result = run_cli("models")
    assert result.returncode == 0, result.stderr
    assert [line.split()[0] for line in result.stdout.splitlines()] == list(testing.DEFAULT_MODELS)
    assert "embedded fake server" in one_line(result.stderr)


def test_json_lines(server: testing.FakeSudoServer) -> None:
    chunks = testing.text_chunks("Raw chunks, one a line.", model="gpt-x")
    server.enqueue(testing.Stream(chunks))
    result = run_cli(
        "chat", "--json", "hi", "--server-url", server.url, env=clean_env(SUDO_API_KEY="k")
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # stdout is data only; no summary, no note
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines == [cli._compact(chunk) for chunk in chunks]  # as sent, less the nulls


def test_prompt_from_stdin(server: testing.FakeSudoServer) -> None:
    prompt = "A prompt\nover two lines.\n"
    result = run_cli(
        "--server-url",
        server.url,
        "chat",
        "-",
        "-m",
        "claude-x",
        env=clean_env(SUDO_API_KEY="k"),
        stdin=prompt,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == testing.DEFAULT_REPLY + "\n"
    body = server.requests[-1].json()
    assert body["messages"] == [{"role": "user", "content": prompt}]
    assert body["model"] == "claude-x"
    assert SUMMARY.match(one_line(result.stderr))


def test_wrong_key_is_one_line_and_exit_1() -> None:
    with testing.serve_in_thread(api_key="right") as server:
        result = run_cli(
            "chat", "hi", "--server-url", server.url, env=clean_env(SUDO_API_KEY="wrong")
        )
        assert server.requests[0].headers["authorization"] == "Bearer wrong"
    assert result.returncode == 1
    assert result.stdout == ""
    line = one_line(result.stderr)
    assert line.startswith("sudo-stream: error: AuthenticationError: HTTP 401")
    assert "check SUDO_API_KEY" in line and "wrong" not in line


def read_until(process: subprocess.Popen[bytes], text: bytes, timeout: float = 10) -> bytes:
    assert process.stdout is not None
    fd, seen, deadline = process.stdout.fileno(), b"", time.monotonic() + timeout
    while text not in seen:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no {text!r} in {seen!r}"
        if select.select([fd], [], [], remaining)[0]:
            data = os.read(fd, 4096)
            assert data, f"the CLI closed its output after {seen!r}"
            seen += data
    return seen


@POSIX
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_ctrl_c_stops_the_stream(server: testing.FakeSudoServer, backend: str) -> None:
    server.enqueue(testing.Endless(interval=0.01))
    process = subprocess.Popen(
        [sys.executable, "-m", "sudo_stream", "--backend", backend, "chat", "go"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(SUDO_API_KEY="k", SUDO_SERVER_URL=server.url),
    )
    try:
        read_until(process, b"tick tick")
        sent = time.monotonic()
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=5)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert time.monotonic() - sent < 3
    assert process.returncode == 130
    assert one_line(err.decode()) == "sudo-stream: interrupted"
    assert out.endswith(b"\n")  # the line was ended
    deadline = time.monotonic() + 5
    while server.stats.open_connections:  # the server saw the connection go
        assert time.monotonic() < deadline
        time.sleep(0.01)


@POSIX
def test_closed_pipe_exits_quietly(server: testing.FakeSudoServer) -> None:
    server.enqueue(testing.Endless(interval=0.005))
    process = subprocess.Popen(
        [sys.executable, "-m", "sudo_stream", "chat", "go", "--server-url", server.url],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(SUDO_API_KEY="k"),
    )
    assert process.stdout is not None and process.stderr is not None
    try:
        read_until(process, b"tick")
        process.stdout.close()  # like `| head -c 4`
        assert process.wait(timeout=10) == cli.EXIT_BROKEN_PIPE
        assert process.stderr.read() == b""
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stderr.close()


def test_console_script_and_version() -> None:
    script = Path(sys.executable).with_name("sudo-stream")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "sudo_stream"]
    result = subprocess.run(
        [*command, "--version"], capture_output=True, encoding="utf-8", timeout=TIMEOUT
    )
    assert result.returncode == 0
    assert re.fullmatch(r"sudo_stream \S+\n", result.stdout)


# -- in process: rendering and error paths -----------------------------------------------


@pytest.fixture
def online(monkeypatch: pytest.MonkeyPatch, server: testing.FakeSudoServer) -> str:
    """Point the CLI at the fake server in a thread as if it were the real API."""
    for name in ("SUDO_SERVER_URL", "FORCE_COLOR", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SUDO_API_KEY", "sk-test")
    return server.url


def invoke(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_tool_calls_render_as_their_arguments_stream(
    server: testing.FakeSudoServer, online: str, capsys: pytest.CaptureFixture[str]
) -> None:
    calls = [("get_weather", '{"city": "Paris"}'), ("get_time", '{"tz": "UTC"}')]
    server.enqueue(testing.Stream(testing.tool_call_chunks(calls, fragment_size=3)))
    code, out, err = invoke(capsys, "chat", "hi", "--server-url", online)
    assert code == 0, err
    assert out == 'tool call: get_weather({"city": "Paris"})\ntool call: get_time({"tz": "UTC"})\n'
    assert SUMMARY.match(one_line(err)).group("finish") == "tool_calls"  # type: ignore[union-attr]


def test_reasoning_text_and_tool_call_sections(
    server: testing.FakeSudoServer, online: str, capsys: pytest.CaptureFixture[str]
) -> None:
    text = testing.text_chunks("Let me check.", reasoning="Need the weather.")
    call = testing.tool_call_chunks("get_weather", '{"city": "Oslo"}')
    # One stream: reasoning, text, then a tool call.
    server.enqueue(testing.Stream([*text[:-2], *call]))
    code, out, err = invoke(capsys, "chat", "hi", "--server-url", online)
    assert code == 0, err
    assert out == (
        'thinking: Need the weather.\n\nLet me check.\n\ntool call: get_weather({"city": "Oslo"})\n'
    )


def test_invalid_tool_arguments_are_flagged(
    server: testing.FakeSudoServer, online: str, capsys: pytest.CaptureFixture[str]
) -> None:
    server.enqueue(testing.Stream(testing.tool_call_chunks("f", '{"a": tru')))
    code, out, _ = invoke(capsys, "chat", "hi", "--server-url", online)
    assert code == 0
    assert out.startswith('tool call: f({"a": tru)\n(f: invalid arguments: ')


def test_colors_on_a_terminal(
    server: testing.FakeSudoServer,
    online: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    server.enqueue(testing.Stream(testing.text_chunks("Answer.", reasoning="Hmm.")))
    code, out, err = invoke(capsys, "chat", "hi", "--server-url", online)
    assert code == 0
    assert out == f"{cli.DIM}thinking: {cli.RESET}{cli.DIM}Hmm.{cli.RESET}\n\nAnswer.\n"
    assert err.startswith(cli.DIM) and err.endswith(f"{cli.RESET}\n")
    monkeypatch.setenv("NO_COLOR", "1")
    server.enqueue(testing.Stream(testing.text_chunks("Answer.", reasoning="Hmm.")))
    assert invoke(capsys, "chat", "hi", "--server-url", online)[1] == (
        "thinking: Hmm.\n\nAnswer.\n"
    )


def test_refusal_and_summary_without_usage(
    server: testing.FakeSudoServer, online: str, capsys: pytest.CaptureFixture[str]
) -> None:
    chunks = testing.text_chunks("x", include_usage=False)
    chunks[1]["choices"][0]["delta"] = {"refusal": "I can't help with that."}
    server.enqueue(testing.Stream(chunks))
    code, out, err = invoke(capsys, "chat", "hi", "--server-url", online)
    assert code == 0
    assert out == "refusal: I can't help with that.\n"
    match = SUMMARY.match(one_line(err))
    assert match is not None and match.group("count", "unit") == ("1", "chunks")


def test_request_carries_the_options(
    server: testing.FakeSudoServer, online: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["chat", "q", "-m", "o3-mini", "-s", "Be brief.", "-t", "0.5", "--max-tokens", "99"]
    code, _, err = invoke(capsys, "--server-url", online, *argv)
    assert code == 0, err
    request = server.requests[-1]
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.json() == {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "q"},
        ],
        "model": "o3-mini",
        "max_completion_tokens": 99,
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": 0.5,
    }


def test_server_url_from_the_environment_without_a_key(
    server: testing.FakeSudoServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("SUDO_API_KEY", raising=False)
    monkeypatch.setenv("SUDO_SERVER_URL", server.url)  # e.g. python -m sudo_stream.testing
    code, out, err = invoke(capsys, "models", "--json")
    assert code == 0 and "fake server" not in err
    assert json.loads(out.splitlines()[0])["id"] == testing.DEFAULT_MODELS[0]
    assert "authorization" not in server.requests[-1].headers


def test_offline_flag_wins_over_a_key(
    online: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "OFFLINE_DELAY", 0.0)
    code, out, err = invoke(capsys, "chat", "hi", "--offline", "--backend", "trio")
    assert code == 0
    assert out.endswith(cli.OFFLINE_REPLY + "\n")
    assert err.startswith("sudo-stream: --offline: answering from the embedded fake server")


@pytest.mark.parametrize(
    ("response", "args", "expected"),
    [
        (
            testing.Stream([*testing.text_chunks("half")[:2], testing.StallItem(None)]),
            ("--timeout", "0.3"),
            "APITimeoutError: timed out: idle bound of 0.3 s",
        ),
        (
            testing.Stream([*testing.text_chunks("half")[:2], {"error": {"message": "boom"}}]),
            (),
            "StreamError: error event in stream: boom",
        ),
        (testing.Error(500), ("--retries", "0"), "InternalServerError: HTTP 500"),
        (testing.Error(404, message="No such model."), (), "NotFoundError: HTTP 404"),
    ],
    ids=["stall", "error-event", "500", "404"],
)
def test_errors_are_one_line_and_exit_1(
    server: testing.FakeSudoServer,
    online: str,
    capsys: pytest.CaptureFixture[str],
    response: testing.ScriptedResponse,
    args: tuple[str, ...],
    expected: str,
) -> None:
    server.enqueue(response)
    code, out, err = invoke(capsys, "chat", "hi", "--server-url", online, *args)
    assert code == cli.EXIT_ERROR
    assert one_line(err).startswith(f"sudo-stream: error: {expected}")
    if "stall" in expected or "error event" in expected:
        assert out == "half\n"  # what arrived stays, on a finished line


def test_unreachable_server(online: str, capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code, _, err = invoke(
        capsys, "models", "--server-url", f"http://127.0.0.1:{port}", "--retries", "0"
    )
    assert code == cli.EXIT_ERROR
    line = one_line(err)
    assert line.startswith("sudo-stream: error: APIConnectionError:")
    assert line.endswith("(is the server URL right and reachable?)")


@pytest.mark.parametrize(
    ("argv", "stdin", "expected"),
    [
        (("chat", "-"), "  \n", "the prompt is empty"),
        (("chat", "hi", "--server-url", "ftp://example"), "", "server_url"),
        (("chat", "hi", "--timeout", "0"), "", "--timeout"),
        (("chat", "hi", "--timeout", "nan"), "", "--timeout"),
        (("chat", "hi", "-t", "5"), "", "temperature"),
        (("chat", "hi", "--max-tokens", "-1"), "", "max_completion_tokens"),
        (("chat", "hi", "-m", ""), "", "model"),
        (("models", "--retries", "-1"), "", "max_retries"),
    ],
)
def test_usage_errors_exit_2(
    online: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: tuple[str, ...],
    stdin: str,
    expected: str,
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code, out, err = invoke(capsys, *argv)
    assert code == cli.EXIT_USAGE
    assert out == ""
    assert one_line(err).startswith("sudo-stream: error: ") and expected in err


@pytest.mark.parametrize("argv", [(), ("chat",), ("chat", "hi", "--bogus"), ("nope",)])
def test_bad_command_lines_exit_2(capsys: pytest.CaptureFixture[str], argv: tuple[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(list(argv))
    assert exit_info.value.code == 2
    assert "usage: sudo-stream" in capsys.readouterr().err


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert "chat" in out and "models" in out and "SUDO_API_KEY" in out


# -- what the server sends never drives the terminal -------------------------------------

# A reply as a model could stream it: a window title, a cleared screen, 8-bit CSI colours,
# a clipboard write, a bell, a NUL, carriage returns, sequences split across deltas.
HOSTILE_PIECES = [
    "Hello ", "\x1b]0;pw", "ned\x07", "world", "\x1b[2", "J!", " \x9b31mred\x9b0m", "\r\n",
    "tab\there", "\x1b]52;c;ZXZpbA==\x07", "\x07\x00bell\x1b", "\\", " \x1b(Bend", "\x1b",
]  # fmt: skip
HOSTILE_SHOWN = "Hello world! red\ntab\therebell end"
HOSTILE_REASONING = "quiet \x1b[8mhidden\x1b[28m \x1bPq#0;2;0;0;0\x1b\\done"
HOSTILE_MODEL = "gpt-4o\x1b]0;owned\x07"
# Any control but newline and tab, 7-bit or 8-bit (ESC, BEL, CR, NUL, DEL, C1 like 0x9b).
CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def hostile_chunks() -> list[dict[str, object]]:
    chunks = testing.text_chunks("x", reasoning=HOSTILE_REASONING, model=HOSTILE_MODEL)
    at = next(i for i, c in enumerate(chunks) if c["choices"] and c["choices"][0]["delta"].get("content") == "x")
    pieces = []
    for piece in HOSTILE_PIECES:
        chunk = json.loads(json.dumps(chunks[at]))
        chunk["choices"][0]["delta"]["content"] = piece
        pieces.append(chunk)
    return [*chunks[:at], *pieces, *chunks[at + 1 :]]


def without_our_styles(text: str) -> str:
    for style in (cli.DIM, cli.BOLD, cli.CYAN, cli.YELLOW, cli.RESET):
        text = text.replace(style, "")
    return text


def test_control_sequences_from_the_model_never_reach_the_output(
    server: testing.FakeSudoServer,
    online: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")  # as on a terminal: our own styles stay
    server.enqueue(testing.Stream(hostile_chunks()))
    code, out, err = invoke(capsys, "chat", "hi", "--server-url", online)
    assert code == 0, err
    assert cli.DIM in out
    out = without_our_styles(out)
    assert out == f"thinking: quiet hidden done\n\n{HOSTILE_SHOWN}\n"
    summary = without_our_styles(one_line(err))
    assert not CONTROLS.search(summary)
    assert SUMMARY.match(summary).group("model") == "gpt-4o"  # type: ignore[union-attr]


def test_control_sequences_in_tool_calls_are_removed(
    server: testing.FakeSudoServer, online: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Raw controls inside a JSON string make the arguments invalid: the error quotes them.
    calls = [("get\x1b[2J_weather", '{"city": "\x1b]0;x\x07Paris\x9b2J"}')]
    server.enqueue(testing.Stream(testing.tool_call_chunks(calls, fragment_size=3)))
    code, out, err = invoke(capsys, "chat", "hi", "--server-url", online)
    assert code == 0, err
    assert out.startswith('tool call: get_weather({"city": "Paris"})\n(get_weather: invalid arguments: ')
    assert not CONTROLS.search(out.replace("\n", ""))


def test_json_keeps_the_chunks_exactly_with_every_control_escaped(
    server: testing.FakeSudoServer,
) -> None:
    chunks = hostile_chunks()
    server.enqueue(testing.Stream(chunks))
    result = run_cli(
        "chat", "--json", "hi", "--server-url", server.url, env=clean_env(SUDO_API_KEY="k")
    )
    assert result.returncode == 0, result.stderr
    assert not CONTROLS.search(result.stdout.replace("\n", ""))  # escaped: \u001b, \u009b
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines == [cli._compact(chunk) for chunk in chunks]  # the data as it came


def test_error_messages_and_model_names_from_the_server_are_made_safe() -> None:
    with testing.serve_in_thread(models=["evil\x1b]0;owned\x07-model", "ok\x9b2J"]) as server:
        server.enqueue(testing.Error(500, message="upstream \x1b]0;owned\x07failed\x1b[2J"))
        env = clean_env(SUDO_API_KEY="k", SUDO_SERVER_URL=server.url)
        failed = run_cli("chat", "hi", "--retries", "0", env=env)
        listed = run_cli("models", env=env)
        as_json = run_cli("models", "--json", env=env)
    assert failed.returncode == 1
    line = one_line(failed.stderr)
    assert "upstream failed" in line and not CONTROLS.search(line)
    assert listed.returncode == 0, listed.stderr
    assert [row.split()[0] for row in listed.stdout.splitlines()] == ["evil-model", "ok"]
    assert not CONTROLS.search(listed.stdout.replace("\n", ""))
    ids = [json.loads(row)["id"] for row in as_json.stdout.splitlines()]
    assert ids == ["evil\x1b]0;owned\x07-model", "ok\x9b2J"]
    assert not CONTROLS.search(as_json.stdout.replace("\n", ""))


@POSIX
def test_a_terminal_gets_our_colours_and_none_of_the_models_sequences(
    server: testing.FakeSudoServer,
) -> None:
    import pty

    server.enqueue(testing.Stream(hostile_chunks()))
    leader, follower = pty.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "sudo_stream", "chat", "hi", "--server-url", server.url],
            stdin=subprocess.DEVNULL,
            stdout=follower,
            stderr=subprocess.PIPE,
            env=clean_env(SUDO_API_KEY="k", TERM="xterm"),
        )
        os.close(follower)
        seen = b""
        while True:
            try:
                data = os.read(leader, 65536)
            except OSError:  # EIO: the process closed the terminal
                break
            if not data:
                break
            seen += data
        err = process.communicate(timeout=TIMEOUT)[1].decode()
    finally:
        os.close(leader)
    assert process.returncode == 0, err
    out = seen.decode().replace("\r\n", "\n")  # the terminal's own line ending
    assert cli.DIM in out  # a terminal: styled
    assert without_our_styles(out) == f"thinking: quiet hidden done\n\n{HOSTILE_SHOWN}\n"


# -- --schema: a JSON object answer, checked ------------------------------------------------

CITY_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}}},
    "required": ["city", "tags"],
    "additionalProperties": False,
}


@pytest.fixture
def schema_file(tmp_path: Path) -> str:
    path = tmp_path / "city info.json"
    path.write_text(json.dumps(CITY_SCHEMA), encoding="utf-8")
    return str(path)


def test_schema_offline_prints_the_object(schema_file: str) -> None:
    result = run_cli("chat", "--schema", schema_file, "Describe Paris.")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)  # stdout is the object alone
    assert set(answer) == {"city", "tags"} and isinstance(answer["tags"], list)
    assert result.stdout.startswith("{\n  ")  # indented for a reader
    assert json.dumps(answer, separators=(", ", ": ")) in result.stderr  # it streamed there


def test_schema_is_sent_strict_and_the_answer_checked(
    server: testing.FakeSudoServer, online: str, schema_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    answer = json.dumps({"city": "Lyon", "tags": ["\x1b]0;x\x07"]})  # escaped, as JSON is
    server.enqueue(testing.Stream(testing.text_chunks(answer)))
    code, out, err = invoke(capsys, "chat", "--schema", schema_file, "hi", "--server-url", online)
    assert code == 0, err
    assert json.loads(out) == {"city": "Lyon", "tags": ["\x1b]0;x\x07"]}
    assert "\x1b" not in out  # escaped as JSON does, never raw
    sent = server.requests[-1].json()["response_format"]
    assert sent == {
        "type": "json_schema",
        "json_schema": {"name": "city_info", "schema": CITY_SCHEMA, "strict": True},
    }


@pytest.mark.parametrize(
    ("answer", "finish", "expected"),
    [
        ('{"city": "Ly', "length", "LengthFinishReasonError"),
        ('{"city": "Lyon"} and more', "stop", "StructuredOutputError: the answer is not a dict"),
        ('["Lyon"]', "stop", "StructuredOutputError"),
    ],
)
def test_schema_answer_cut_short_or_not_an_object_is_an_error(
    server: testing.FakeSudoServer,
    online: str,
    schema_file: str,
    capsys: pytest.CaptureFixture[str],
    answer: str,
    finish: str,
    expected: str,
) -> None:
    server.enqueue(testing.Stream(testing.text_chunks(answer, finish_reason=finish)))
    code, out, err = invoke(capsys, "chat", "--schema", schema_file, "hi", "--server-url", online)
    assert code == cli.EXIT_ERROR
    assert out == ""
    assert f"sudo-stream: error: {expected}" in err


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "No such file"),
        ("{nope", "not JSON"),
        ('{"type": "array"}', "whose root is an object"),
    ],
)
def test_bad_schema_files_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, expected: str
) -> None:
    path = tmp_path / "schema.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    code, out, err = invoke(capsys, "chat", "--schema", str(path), "--offline", "hi")
    assert code == cli.EXIT_USAGE and out == ""
    assert one_line(err).startswith(f"sudo-stream: error: --schema {path}: ") and expected in err
    code, _, err = invoke(capsys, "chat", "--schema", str(path), "--json", "--offline", "hi")
    assert code == cli.EXIT_USAGE and "choose one" in err


# -- respond: the Responses API ---------------------------------------------------------------


def test_respond_offline_streams_reasoning_then_text() -> None:
    result = run_cli("respond", "-r", "low", "Why stream?")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"thinking: {cli.OFFLINE_THOUGHT}\n\n")
    assert cli.OFFLINE_REPLY in result.stdout
    note, summary = result.stderr.splitlines()
    assert "embedded fake server" in note
    assert re.match(r"^\S+ · completed · \d+ tokens · first token \d+ ms$", summary), summary


def test_respond_renders_function_calls_and_sends_the_options(
    server: testing.FakeSudoServer, online: str, capsys: pytest.CaptureFixture[str]
) -> None:
    events = testing.response_events(
        None, function_calls=[("get_weather", '{"city": "Paris"}')], fragment_size=3
    )
    server.enqueue(testing.response_stream(events), path="/v1/responses")
    code, out, err = invoke(
        capsys, "respond", "hi", "-i", "Be brief.", "--max-tokens", "50", "-t", "0.5",
        "--server-url", online,
    )  # fmt: skip
    assert code == 0, err
    assert out == 'tool call: get_weather({"city": "Paris"})\n'
    sent = server.requests[-1].json()
    assert sent["instructions"] == "Be brief." and sent["max_output_tokens"] == 50
    assert sent["temperature"] == 0.5 and sent["stream"] is True and sent["input"] == "hi"


def test_respond_json_prints_the_events(
    server: testing.FakeSudoServer, online: str, capsys: pytest.CaptureFixture[str]
) -> None:
    events = testing.response_events("Two words.")
    server.enqueue(testing.response_stream(events), path="/v1/responses")
    code, out, err = invoke(capsys, "respond", "--json", "hi", "--server-url", online)
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["type"] for line in lines] == [event["type"] for event in events]
    assert [line["sequence_number"] for line in lines] == list(range(len(events)))


def test_respond_failed_stream_is_one_line_and_exit_1(
    server: testing.FakeSudoServer, online: str, capsys: pytest.CaptureFixture[str]
) -> None:
    body = (Path(__file__).parent / "data" / "responses" / "failed.sse").read_bytes()
    server.enqueue(testing.Stream([body], done=False), path="/v1/responses")
    code, _, err = invoke(capsys, "respond", "hi", "--server-url", online, "--retries", "0")
    assert code == cli.EXIT_ERROR
    assert "sudo-stream: error: StreamError: " in err and "Traceback" not in err


def test_respond_bad_option_is_a_usage_error(
    online: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = invoke(capsys, "respond", "hi", "-t", "9", "--server-url", online)
    assert code == cli.EXIT_USAGE and out == ""
    assert "temperature" in one_line(err)
