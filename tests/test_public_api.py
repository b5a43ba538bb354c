"""The public surface: a complete, sorted ``__all__``; a pure core; a cheap import."""

from __future__ import annotations

import subprocess
import sys

import pytest

import sudo_stream as ss


def test_all_is_sorted_and_resolves() -> None:
    assert ss.__all__ == sorted(ss.__all__)
    for name in ss.__all__:
        assert getattr(ss, name) is not None, name


def test_design_names_are_exported() -> None:
    for name in [
        "AsyncSudo", "Sudo", "ChatStream", "StreamAssembler", "Timeout", "RetryConfig",
        "BackoffStrategy", "ChatCompletion", "ChatCompletionChunk", "SudoError", "APIStatusError",
        "BadRequestError", "AuthenticationError", "PermissionDeniedError", "NotFoundError",
        "RateLimitError", "InternalServerError", "APIConnectionError", "APITimeoutError",
        "StreamError",
    ]:
        assert name in ss.__all__, name
    from sudo_stream.errors import ErrorResponse, SudoDefaultError
    from sudo_stream.sse import ServerSentEvent, SSEParser

    assert issubclass(ErrorResponse, ss.SudoError) and issubclass(SudoDefaultError, ss.SudoError)
    assert SSEParser().feed(b"data: x\n\n") == [ServerSentEvent(data="x")]


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        ss.Nope  # noqa: B018


def _modules_loaded_by(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


IO_LIBRARIES = {"httpx", "httpcore", "anyio", "trio", "tenacity", "asyncio"}


@pytest.mark.parametrize(
    "module",
    [
        "sudo_stream.sse", "sudo_stream._framing", "sudo_stream.models", "sudo_stream.assembler",
        "sudo_stream.errors", "sudo_stream.structured",
    ],
)
def test_pure_core_imports_no_io(module: str) -> None:
    assert not _modules_loaded_by(f"import {module}") & IO_LIBRARIES


def test_import_is_lazy() -> None:
    loaded = _modules_loaded_by("import sudo_stream; sudo_stream.ChatCompletion")
    assert not loaded & IO_LIBRARIES


def test_library_never_imports_testing() -> None:
    loaded = _modules_loaded_by("import sudo_stream; sudo_stream.AsyncSudo; sudo_stream.Sudo")
    assert "sudo_stream.testing" not in loaded


def test_opentelemetry_is_imported_only_by_sudo_stream_otel() -> None:
    statement = "import sudo_stream; sudo_stream.AsyncSudo; sudo_stream.Sudo; sudo_stream.Hooks"
    assert not {m for m in _modules_loaded_by(statement) if m.startswith("opentelemetry")}
    assert "opentelemetry.trace" in _modules_loaded_by("import sudo_stream.otel")
