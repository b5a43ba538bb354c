"""Secrets and input safety: the API key never shows in reprs, logs, exceptions or
tracebacks; header injection is refused; TLS is verified; server_url is http(s); redirects
are not followed, so the key never reaches another host."""

from __future__ import annotations

import json
import logging
import os
import shutil
import ssl
import subprocess
import traceback
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import httpx
import pytest
from anyio.streams.tls import TLSListener

import sudo_stream as ss
from sudo_stream import testing

from .helpers import MESSAGES, splice
from .soak import BlockingCallDetector, settle, watch_loop

KEY = "sk-live-SECRET-4f3c2b1a0987654321"
FAST = ss.Timeout(connect=5, first_event=5, idle=5)
NO_RETRY = ss.RetryConfig(max_retries=0)
SHORT = ss.Timeout(5, first_event=0.3, idle=0.3)


@pytest.fixture
async def hygiene() -> AsyncIterator[None]:
    with BlockingCallDetector() as blocking:
        async with watch_loop(1.0) as loop:
            yield
    assert not blocking.violations, "\n".join(blocking.violations)
    assert not loop.problems(), loop.problems()


def everything_about(exc: BaseException) -> str:
    """Every text an exception shows: str, repr, its attributes, the formatted traceback
    of the whole chain."""
    parts = ["".join(traceback.format_exception(type(exc), exc, exc.__traceback__))]
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts += [str(current), repr(current), repr(current.args)]
        parts += [repr(value) for value in vars(current).values()]
        current = current.__cause__ or current.__context__
    return "\n".join(parts)


# -- reprs ----------------------------------------------------------------------------------


def test_reprs_redact_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    client = ss.AsyncSudo(api_key=KEY, server_url="http://127.0.0.1:9")
    for text in (repr(client), str(client), repr(client._transport), repr(client.router)):
        assert KEY not in text and "SECRET" not in text
    assert "4321" in repr(client)  # the last four characters identify it
    monkeypatch.setenv("SUDO_API_KEY", KEY)
    from_env = ss.AsyncSudo(server_url="http://127.0.0.1:9")
    assert KEY not in repr(from_env)
    with ss.Sudo(api_key=KEY, server_url="http://127.0.0.1:9") as blocking:
        assert KEY not in repr(blocking) and KEY not in str(blocking)


# -- logs and exceptions --------------------------------------------------------------------


class _Everything(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.texts.append(self.format(record))  # message, args, exc_info and stack_info


@pytest.fixture
def debug_logs() -> Iterator[_Everything]:
    handler = _Everything()
    root = logging.getLogger()
    names = ("", "httpx", "httpcore", "h11", "sudo_stream", "anyio", "asyncio", "trio")
    levels = {name: logging.getLogger(name).level for name in names}
    root.addHandler(handler)
    for name in names:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


@pytest.mark.anyio
@pytest.mark.usefixtures("hygiene")
async def test_the_key_is_never_logged_or_raised(debug_logs: _Everything) -> None:
    errors: list[BaseException] = []
    async with testing.FakeSudoServer() as server:
        chunks = testing.text_chunks("hello")
        server.enqueue(
            testing.Stream(chunks),
            testing.JSON(testing.completion_from_chunks(chunks)),
            # A server that echoes the key back in an error message.
            testing.Error(401, message=f"Incorrect API key provided: {KEY}."),
            testing.Stream([*chunks[:2], {"error": {"message": f"boom {KEY}", "type": "x", "param": KEY}}], done=False),
            testing.Stream([*chunks[:2], f"data: {{not json {KEY}\n\n"], done=False),
            testing.Stream([*chunks[:2], "event: error\ndata: " + json.dumps({"error": {"message": KEY}}) + "\n\n"], done=False),
            testing.JSON({"not": "a stream", "key": KEY}),
            testing.Stall(),
            testing.Stream([*chunks[:2], testing.Drop(reset=True)]),
            testing.Error(307, headers=[("Location", f"http://127.0.0.1:9/elsewhere?key={KEY}")]),
            testing.JSON(b"{broken " + KEY.encode()),
            testing.Error(503),
        )
        async with ss.AsyncSudo(api_key=KEY, server_url=server.url, timeout=FAST, retries=NO_RETRY) as sudo:
            async with sudo.router.create_streaming(messages=MESSAGES, model="m") as stream:
                await stream.final_completion()
                assert KEY not in repr(stream) and KEY not in repr(stream.statistics())
            await sudo.router.create(messages=MESSAGES, model="m")
            for call in (
                lambda: sudo.router.create(messages=MESSAGES, model="m"),
                lambda: _drain(sudo),
                lambda: _drain(sudo),
                lambda: _drain(sudo),
                lambda: _drain(sudo),
                lambda: _drain(sudo, timeout=SHORT),
                lambda: _drain(sudo),
                lambda: _drain(sudo),
                lambda: sudo.router.create(messages=MESSAGES, model="m"),
                lambda: sudo.router.create(messages=MESSAGES, model="m"),
            ):
                with pytest.raises(ss.SudoError) as caught:
                    await call()
                errors.append(caught.value)
        assert server.requests[0].headers["authorization"] == f"Bearer {KEY}"  # it was sent
    # ... and connection errors, which carry httpx's request (with its headers) inside.
    async with ss.AsyncSudo(api_key=KEY, server_url="http://127.0.0.1:9", retries=NO_RETRY) as sudo:
        with pytest.raises(ss.APIConnectionError) as caught:
            await _drain(sudo)
        errors.append(caught.value)
    kinds = {type(e).__name__ for e in errors}
    assert {"AuthenticationError", "StreamError", "APIResponseValidationError", "APITimeoutError",
            "APIStatusError", "InternalServerError", "APIConnectionError"} <= kinds, kinds
    for exc in errors:
        assert KEY not in everything_about(exc), type(exc)
        assert "SECRET" not in everything_about(exc), type(exc)
    assert errors[0].text.count("[redacted]") == 1  # type: ignore[attr-defined]
    assert any("HTTP Request" in text for text in debug_logs.texts)  # logging was on
    assert any(text.startswith("sudo_stream.http") for text in debug_logs.texts)  # our connections
    for text in debug_logs.texts:
        assert KEY not in text and "SECRET" not in text, text


async def _drain(sudo: ss.AsyncSudo, timeout: ss.Timeout = FAST) -> None:
    async with sudo.router.create_streaming(messages=MESSAGES, model="m", timeout=timeout) as stream:
        await stream.final_completion()


# -- header injection and bad keys ----------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    ["sk-abc\r\nX-Evil: 1", "sk-abc\n", "sk-abc\r", "sk-\x00abc", "sk-\x7fabc", "sk-ключ-123"],
    ids=["crlf", "lf", "cr", "nul", "del", "non-ascii"],
)
def test_a_bad_key_is_refused_without_echoing_it(key: str) -> None:
    with pytest.raises(ValueError) as caught:
        ss.AsyncSudo(api_key=key, server_url="http://127.0.0.1:9")
    assert key.strip() not in everything_about(caught.value)
    assert "abc" not in str(caught.value) and "ключ" not in str(caught.value)


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Trace": "a\r\nX-Evil: 1"},
        {"X-Trace": "a\nb"},
        {"X-Trace": "a\rb"},
        {"X-Trace": "a\x00b"},
        {"X-Trace\r\nX-Evil": "1"},
        {"X-Trace: x": "1"},
        {"": "1"},
        {"X Trace": "1"},
        {"X-Trace": "é"},
    ],
    ids=["value-crlf", "value-lf", "value-cr", "value-nul", "name-crlf", "name-colon", "name-empty",
         "name-space", "value-non-ascii"],
)
@pytest.mark.anyio
@pytest.mark.usefixtures("hygiene")
async def test_header_injection_is_refused(headers: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        ss.AsyncSudo(server_url="http://127.0.0.1:9", default_headers=headers)
    async with testing.FakeSudoServer() as server:
        async with ss.AsyncSudo(server_url=server.url, retries=NO_RETRY) as sudo:
            with pytest.raises(ValueError):
                await sudo.router.create(messages=MESSAGES, model="m", extra_headers=headers)
            with pytest.raises(ValueError):
                await sudo.router.create_streaming(messages=MESSAGES, model="m", extra_headers=headers)
        assert server.requests == []  # refused before anything was sent


TRANSPORT_OWNED = [
    ("Content-Length", "5"),
    ("Transfer-Encoding", "chunked"),
    ("Connection", "upgrade"),
    ("Keep-Alive", "timeout=5"),
    ("TE", "trailers"),
    ("Trailer", "x-checksum"),
    ("Upgrade", "h2c"),
    ("Host", "elsewhere.example"),
    ("Proxy-Connection", "keep-alive"),
    ("Expect", "100-continue"),
    ("HTTP2-Settings", "AAMAAABkAAQAoAAAAAIAAAAA"),
]


@pytest.mark.parametrize(("name", "value"), TRANSPORT_OWNED, ids=[n for n, _ in TRANSPORT_OWNED])
@pytest.mark.anyio
async def test_headers_the_transport_owns_are_refused(name: str, value: str) -> None:
    # Given by a caller, they would contradict the request actually sent (Transfer-Encoding
    # beside Content-Length is request smuggling's shape) or ask for a protocol switch.
    for spelling in (name, name.lower(), name.upper()):
        with pytest.raises(ValueError, match=f"header {spelling!r} is set by the transport"):
            ss.AsyncSudo(server_url="http://127.0.0.1:9", default_headers={spelling: value})
    async with testing.FakeSudoServer() as server:
        async with ss.AsyncSudo(server_url=server.url, retries=NO_RETRY) as sudo:
            with pytest.raises(ValueError, match=f"header {name!r}"):
                await sudo.router.create(messages=MESSAGES, model="m", extra_headers={name: value})
            with pytest.raises(ValueError, match=f"header {name!r}"):
                await sudo.router.create_streaming(
                    messages=MESSAGES, model="m", extra_headers={name: value}
                )
            with pytest.raises(ValueError, match=f"header {name!r}"):
                await sudo.router.list_chat_completions(extra_headers={name: value})
        assert server.requests == []  # refused before anything was sent


@pytest.mark.parametrize("ours", [True, False], ids=["our-stack", "httpx-stack"])
@pytest.mark.anyio
async def test_a_request_the_http_layer_refuses_is_a_typed_error_never_retried(ours: bool) -> None:
    # A borrowed client's own headers are not ours to vet: a Content-Length that does not
    # match the body makes h11 refuse the request. That is the caller's bug, not a network
    # fault: an InvalidRequestError (a ValueError), on the first attempt.
    from sudo_stream._deadline import LazyTLS
    from sudo_stream._http import PoolTransport
    from sudo_stream._transport import DEFAULT_TLS

    transport = PoolTransport(LazyTLS(DEFAULT_TLS.build)) if ours else None
    async with testing.FakeSudoServer() as server:
        async with httpx.AsyncClient(transport=transport, headers={"content-length": "5"}) as client:
            async with ss.AsyncSudo(server_url=server.url, http_client=client, retries=3) as sudo:
                with pytest.raises(ss.InvalidRequestError, match="cannot be sent as built") as caught:
                    await sudo.router.create(messages=MESSAGES, model="m")
                assert isinstance(caught.value, ValueError)
                assert not isinstance(caught.value, ss.APIConnectionError)
                with pytest.raises(ss.InvalidRequestError):
                    await sudo.router.create_streaming(messages=MESSAGES, model="m")
        assert server.stats.total_connections <= 2  # one attempt each, no retries


# -- server_url -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/api",
        "file:///etc/passwd",
        "ws://example.com",
        "javascript:alert(1)",
        "example.com/api",
        "localhost:8000",
        "//example.com",
        "http://",
        "https:///path",
        KEY,  # the key pasted in the wrong argument
        "http://user:hunter2@example.com/api",
        "https://example.com/api?key=hunter2",
        "https://example.com/api#frag",
        "http://[::1",
    ],
)
def test_server_url_must_be_plain_http_or_https(url: str) -> None:
    with pytest.raises(ValueError) as caught:
        ss.AsyncSudo(api_key="sk-x", server_url=url)
    text = everything_about(caught.value)
    assert "hunter2" not in text and KEY not in text


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000", "https://sudoapp.dev/api/", "HTTPS://Example.com"])
def test_server_url_accepts_http_and_https(url: str) -> None:
    assert ss.AsyncSudo(server_url=url).server_url == url.rstrip("/")


# -- TLS ------------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.usefixtures("hygiene")
async def test_tls_is_verified_by_default() -> None:
    """The context the client handshakes with verifies certificates and host names
    against a CA bundle loaded (lazily, off the event loop) on first use."""
    sudo = ss.AsyncSudo(server_url="https://sudoapp.dev/api")
    backend = sudo._transport._client._transport._pool._network_backend  # type: ignore[attr-defined]
    tls = backend.tls
    assert tls.placeholder.verify_mode == ssl.CERT_REQUIRED and tls.placeholder.check_hostname
    assert tls.placeholder.get_ca_certs() == []  # trusts nothing until the real one loads
    context = await tls.context()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.get_ca_certs() or os.environ.get("SSL_CERT_DIR")
    await sudo.aclose()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is needed to make a self-signed certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    return cert, key


@asynccontextmanager
async def tls_front(server: testing.FakeSudoServer, context: ssl.SSLContext) -> AsyncIterator[str]:
    """A TLS-terminating relay in front of the fake server; yields its https URL."""

    async def relay(client: anyio.abc.ByteStream) -> None:
        async with client, await anyio.connect_tcp(server.host, server.port) as upstream:
            await splice(client, upstream)

    tcp = await anyio.create_tcp_listener(local_host="127.0.0.1")
    listener = TLSListener(tcp, context, standard_compatible=False)
    port = tcp.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, relay, group)
        yield f"https://127.0.0.1:{port}"
        group.cancel_scope.cancel()


@pytest.mark.anyio
@pytest.mark.usefixtures("hygiene")
async def test_an_untrusted_certificate_is_refused(
    certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    cert, key = certificate
    context = await anyio.to_thread.run_sync(_server_context, cert, key)
    caplog.set_level(logging.CRITICAL, "anyio.streams.tls")  # the relay's failed handshakes
    async with testing.FakeSudoServer() as server:
        async with tls_front(server, context) as url:
            async with ss.AsyncSudo(api_key=KEY, server_url=url, retries=NO_RETRY, timeout=FAST) as sudo:
                with pytest.raises(ss.APIConnectionError) as caught:
                    await sudo.router.create(messages=MESSAGES, model="m")
                assert "CERTIFICATE_VERIFY_FAILED" in everything_about(caught.value)
                assert server.requests == []  # the key never left
            # Trusting that certificate (SSL_CERT_FILE, as httpx honours it), it works.
            monkeypatch.setenv("SSL_CERT_FILE", str(cert))
            monkeypatch.delenv("SSL_CERT_DIR", raising=False)
            async with ss.AsyncSudo(api_key=KEY, server_url=url, retries=NO_RETRY, timeout=FAST) as sudo:
                server.enqueue(testing.Stream(testing.text_chunks("over tls")))
                async with sudo.router.create_streaming(messages=MESSAGES, model="m") as stream:
                    final = await stream.final_completion()
                assert final.choices[0].message.content == "over tls"
                assert server.requests[-1].headers["authorization"] == f"Bearer {KEY}"
            # A certificate for another name is refused even when trusted.
            async with ss.AsyncSudo(
                api_key=KEY, server_url=url.replace("127.0.0.1", "localhost"), retries=NO_RETRY, timeout=FAST
            ) as sudo:
                with pytest.raises(ss.APIConnectionError):
                    await sudo.router.create(messages=MESSAGES, model="m")
            assert len(server.requests) == 1


@pytest.mark.anyio
async def test_a_long_stream_over_tls_arrives_whole(
    certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many TLS records, read 16 KiB at a time: decrypted bytes left in the TLS layer
    after a read are read before the socket is waited on (else the stream would hang)."""
    cert, key = certificate
    context = await anyio.to_thread.run_sync(_server_context, cert, key)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    text = " ".join(f"word{i}" for i in range(20_000))
    async with testing.FakeSudoServer() as server, tls_front(server, context) as url:
        server.enqueue(testing.Stream(testing.text_chunks(text), piece_size=40_000))
        async with ss.AsyncSudo(api_key=KEY, server_url=url, retries=NO_RETRY, timeout=FAST) as sudo:
            with anyio.fail_after(20):
                async with sudo.router.create_streaming(messages=MESSAGES, model="m") as stream:
                    final = await stream.final_completion()
    assert final.choices[0].message.content == text


def _server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


# -- redirects ------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.usefixtures("hygiene")
async def test_a_redirect_to_another_host_is_not_followed() -> None:
    async with testing.FakeSudoServer() as server, testing.FakeSudoServer() as elsewhere:
        target = f"{elsewhere.url}/v1/chat/completions"
        for status in (301, 302, 303, 307, 308):
            server.enqueue(testing.Error(status, headers=[("Location", target)]))
            server.enqueue(
                testing.JSON(testing.completion_from_chunks(testing.text_chunks("moved")),
                             status=status, headers=[("Location", target)])
            )
        async with ss.AsyncSudo(api_key=KEY, server_url=server.url, timeout=FAST) as sudo:
            for status in (301, 302, 303, 307, 308):
                with pytest.raises(ss.APIStatusError) as caught:
                    await sudo.router.create_streaming(messages=MESSAGES, model="m")
                assert caught.value.status_code == status and "not followed" in str(caught.value)
                with pytest.raises(ss.APIStatusError) as caught:
                    await sudo.router.create(messages=MESSAGES, model="m")
                assert caught.value.status_code == status
        assert len(server.requests) == 10  # not retried either
        assert elsewhere.requests == []


@pytest.mark.anyio
@pytest.mark.usefixtures("hygiene")
async def test_a_borrowed_client_that_follows_redirects_drops_the_key() -> None:
    """With a user's httpx client set to follow redirects, httpx strips Authorization on a
    redirect to another origin: the key still never reaches the other host."""
    async with testing.FakeSudoServer() as server, testing.FakeSudoServer() as elsewhere:
        target = f"{elsewhere.url}/v1/chat/completions"
        server.enqueue(testing.Error(307, headers=[("Location", target)]))
        http = await anyio.to_thread.run_sync(lambda: httpx.AsyncClient(follow_redirects=True))
        async with http:
            sudo = ss.AsyncSudo(api_key=KEY, server_url=server.url, http_client=http, timeout=FAST)
            async with sudo.router.create_streaming(messages=MESSAGES, model="m") as stream:
                await stream.final_completion()
            await sudo.aclose()
        assert len(elsewhere.requests) == 1
        leaked: Any = elsewhere.requests[0]
        assert "authorization" not in leaked.headers
        assert KEY not in repr(leaked)
        assert await settle(lambda: server.stats.open_connections == 0)
