"""TLS settings on our own stack: a private CA (by path or by context), no verification,
client certificates (mTLS), the OS trust store (truststore); certificate failures are
typed and not retried; a proxy from the environment keeps the settings and says so.

Real TLS on 127.0.0.1: the fake server with an ``ssl_context``, certificates from trustme.
"""

from __future__ import annotations

import logging
import shutil
import ssl
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import httpx
import pytest
import trustme
from cryptography.hazmat.primitives import serialization

import sudo_stream as ss
from sudo_stream import testing
from sudo_stream._tls import TLSSettings

from .helpers import MESSAGES, splice
from .soak import BlockingCallDetector

KEY = "sk-tls-SECRET-0123456789abcdef"
PASSWORD = "key-PASSWORD-s3cret"
FAST = ss.Timeout(connect=5, first_event=5, idle=5)
NO_RETRY = ss.RetryConfig(max_retries=0)
QUICK_RETRIES = ss.RetryConfig(
    max_retries=3, backoff=ss.BackoffStrategy(initial_interval=1, max_interval=2)
)


@dataclass(frozen=True)
class PKI:
    """A private CA, what it signed, and the files a client is given."""

    ca: trustme.CA
    server: trustme.LeafCert
    ca_file: Path
    other_ca_file: Path  # a CA that signed nothing here
    client_pem: Path  # certificate and key in one file
    client_cert: Path
    client_key: Path
    client_key_encrypted: Path  # the key, encrypted with PASSWORD

    def server_context(self, *, require_client_cert: bool = False) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.server.configure_cert(context)
        if require_client_cert:
            context.verify_mode = ssl.CERT_REQUIRED
            self.ca.configure_trust(context)
        return context


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    folder = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    client = ca.issue_cert("client.example")
    files = {
        name: folder / f"{name}.pem"
        for name in ("ca", "other_ca", "client", "client_cert", "client_key", "client_key_encrypted")
    }
    ca.cert_pem.write_to_path(str(files["ca"]))
    trustme.CA().cert_pem.write_to_path(str(files["other_ca"]))
    client.private_key_and_cert_chain_pem.write_to_path(str(files["client"]))
    client.cert_chain_pems[0].write_to_path(str(files["client_cert"]))
    client.private_key_pem.write_to_path(str(files["client_key"]))
    key = serialization.load_pem_private_key(client.private_key_pem.bytes(), password=None)
    files["client_key_encrypted"].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(PASSWORD.encode()),
        )
    )
    return PKI(
        ca=ca,
        server=ca.issue_cert("127.0.0.1"),
        ca_file=files["ca"],
        other_ca_file=files["other_ca"],
        client_pem=files["client"],
        client_cert=files["client_cert"],
        client_key=files["client_key"],
        client_key_encrypted=files["client_key_encrypted"],
    )


@pytest.fixture(scope="module")
def tls_server_context(pki: PKI) -> ssl.SSLContext:
    return pki.server_context()


@pytest.fixture(scope="module")
def mtls_server_context(pki: PKI) -> ssl.SSLContext:
    return pki.server_context(require_client_cert=True)


@pytest.fixture
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


async def chat(sudo: ss.AsyncSudo, **options: Any) -> str:
    """One streamed and one plain completion; the streamed text."""
    async with sudo.router.create_streaming(messages=MESSAGES, model="m", **options) as stream:
        final = await stream.final_completion()
    await sudo.router.create(messages=MESSAGES, model="m", **options)
    return final.choices[0].message.content or ""


async def handshake_errors(server: testing.FakeSudoServer) -> list[Exception]:
    """The server's handshake failures, once it has seen every handshake through."""
    with anyio.fail_after(10):
        while server.handshakes_in_progress:
            await anyio.sleep(0.01)
    return server.handshake_errors


def tls_of(sudo: ss.AsyncSudo) -> Any:
    """The LazyTLS of a client on our own stack."""
    return sudo._transport._client._transport._pool._network_backend.tls  # type: ignore[attr-defined]


pytestmark = pytest.mark.usefixtures("no_proxy_env")


# -- trusting a private CA ------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.usefixtures("hygiene")  # the CA file is read off the event loop
async def test_a_private_ca_given_as_a_path_is_trusted(pki: PKI, tls_server_context: ssl.SSLContext) -> None:
    async with testing.FakeSudoServer(api_key=KEY, ssl_context=tls_server_context) as server:
        assert server.url.startswith("https://")
        async with ss.AsyncSudo(api_key=KEY, server_url=server.url, verify=pki.ca_file, timeout=FAST) as sudo:
            assert await chat(sudo) == testing.DEFAULT_REPLY
            assert sudo._transport.deadline_reads  # our own stack, not httpx's
        assert server.handshake_errors == [] and server.errors == []
        # The CA file is this client's whole trust store: certifi's roots are not added.
        context = await anyio.to_thread.run_sync(TLSSettings.of(str(pki.ca_file)).build)
        assert len(context.get_ca_certs()) == 1


@pytest.mark.anyio
async def test_a_private_ca_given_as_a_hashed_directory_is_trusted(
    pki: PKI, tls_server_context: ssl.SSLContext, tmp_path: Path
) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is needed to name a CA by its subject hash")
    done = await anyio.run_process([openssl, "x509", "-hash", "-noout", "-in", str(pki.ca_file)])
    (tmp_path / f"{done.stdout.decode().strip()}.0").write_bytes(pki.ca_file.read_bytes())
    async with testing.FakeSudoServer(ssl_context=tls_server_context) as server:
        async with ss.AsyncSudo(server_url=server.url, verify=tmp_path, timeout=FAST) as sudo:
            assert await chat(sudo) == testing.DEFAULT_REPLY


@pytest.mark.anyio
async def test_a_private_ca_given_as_a_context_is_used(pki: PKI, tls_server_context: ssl.SSLContext) -> None:
    context = await anyio.to_thread.run_sync(lambda: ssl.create_default_context(cafile=str(pki.ca_file)))
    async with testing.FakeSudoServer(ssl_context=tls_server_context) as server:
        async with ss.AsyncSudo(server_url=server.url, verify=context, timeout=FAST) as sudo:
            assert await chat(sudo) == testing.DEFAULT_REPLY
            assert await tls_of(sudo).context() is context


@pytest.mark.anyio
async def test_a_certificate_from_another_ca_is_refused_once_not_retried(
    pki: PKI, tls_server_context: ssl.SSLContext
) -> None:
    # Not transient: the same server shows the same certificate on every attempt, so a
    # retry would only delay the error by the backoff (and retry_connection_errors would
    # have made it 4 handshakes).
    async with testing.FakeSudoServer(api_key=KEY, ssl_context=tls_server_context) as server:
        async with ss.AsyncSudo(
            api_key=KEY, server_url=server.url, verify=pki.other_ca_file, retries=QUICK_RETRIES, timeout=FAST
        ) as sudo:
            with pytest.raises(ss.APIConnectionError) as caught:
                await sudo.router.create(messages=MESSAGES, model="m")
            assert isinstance(caught.value, ss.TLSCertificateError)
            assert "certificate" in str(caught.value) and "verify=" in str(caught.value)
            assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)
            with pytest.raises(ss.TLSCertificateError):
                await sudo.router.create_streaming(messages=MESSAGES, model="m")
        assert len(await handshake_errors(server)) == 2  # one attempt per call
        assert server.requests == []  # the key never left


@pytest.mark.anyio
async def test_the_default_trust_store_refuses_a_private_ca(tls_server_context: ssl.SSLContext) -> None:
    async with testing.FakeSudoServer(ssl_context=tls_server_context) as server:
        async with ss.AsyncSudo(server_url=server.url, retries=NO_RETRY, timeout=FAST) as sudo:
            with pytest.raises(ss.TLSCertificateError, match="CERTIFICATE_VERIFY_FAILED"):
                await sudo.router.create(messages=MESSAGES, model="m")


@pytest.mark.anyio
async def test_verify_false_skips_the_certificate_and_the_host_name(tls_server_context: ssl.SSLContext) -> None:
    async with testing.FakeSudoServer(ssl_context=tls_server_context) as server:
        # The certificate is for 127.0.0.1, signed by a CA the client was not given.
        url = server.url.replace("127.0.0.1", "localhost")
        async with ss.AsyncSudo(server_url=url, verify=False, timeout=FAST) as sudo:
            assert await chat(sudo) == testing.DEFAULT_REPLY
            assert sudo._transport.deadline_reads


@pytest.mark.anyio
async def test_a_verified_certificate_must_still_name_the_host(pki: PKI, tls_server_context: ssl.SSLContext) -> None:
    async with testing.FakeSudoServer(ssl_context=tls_server_context) as server:
        url = server.url.replace("127.0.0.1", "localhost")
        async with ss.AsyncSudo(server_url=url, verify=pki.ca_file, retries=NO_RETRY, timeout=FAST) as sudo:
            with pytest.raises(ss.TLSCertificateError):
                await sudo.router.create(messages=MESSAGES, model="m")


# -- client certificates (mTLS) -------------------------------------------------------------


@pytest.mark.anyio
async def test_a_server_that_requires_a_client_certificate_says_so(
    pki: PKI, mtls_server_context: ssl.SSLContext
) -> None:
    async with testing.FakeSudoServer(ssl_context=mtls_server_context) as server:
        async with ss.AsyncSudo(
            server_url=server.url, verify=pki.ca_file, retries=QUICK_RETRIES, timeout=FAST
        ) as sudo:
            with pytest.raises(ss.TLSCertificateError, match="client certificate") as caught:
                await sudo.router.create(messages=MESSAGES, model="m")
            assert "cert=" in str(caught.value)
        assert len(await handshake_errors(server)) == 1  # not retried
        assert server.requests == []


@pytest.mark.anyio
@pytest.mark.parametrize("form", ["one file", "pair", "encrypted key"])
@pytest.mark.usefixtures("hygiene")  # the key is read off the event loop
async def test_a_client_certificate_is_presented(pki: PKI, mtls_server_context: ssl.SSLContext, form: str) -> None:
    cert: Any = {
        "one file": pki.client_pem,
        "pair": (pki.client_cert, pki.client_key),
        "encrypted key": (str(pki.client_cert), str(pki.client_key_encrypted), PASSWORD),
    }[form]
    async with testing.FakeSudoServer(ssl_context=mtls_server_context) as server:
        async with ss.AsyncSudo(server_url=server.url, verify=pki.ca_file, cert=cert, timeout=FAST) as sudo:
            assert await chat(sudo) == testing.DEFAULT_REPLY
        assert server.handshake_errors == []


@pytest.mark.anyio
async def test_a_key_that_cannot_be_loaded_is_a_clear_error_without_the_password(
    pki: PKI, mtls_server_context: ssl.SSLContext
) -> None:
    cert = (pki.client_cert, pki.client_key_encrypted, "not-the-" + PASSWORD)
    async with testing.FakeSudoServer(ssl_context=mtls_server_context) as server:
        async with ss.AsyncSudo(server_url=server.url, verify=pki.ca_file, cert=cert, retries=QUICK_RETRIES) as sudo:
            with pytest.raises(ss.TLSCertificateError, match="could not load the TLS settings") as caught:
                await sudo.router.create(messages=MESSAGES, model="m")
            text = str(caught.value)
            assert "cert:" in text and str(pki.client_cert) in text and PASSWORD not in text
            assert PASSWORD not in repr(sudo) and PASSWORD not in repr(TLSSettings.of(cert=cert))
        assert server.stats.total_connections == 0  # refused before connecting, once


def test_the_blocking_client_takes_the_same_settings(pki: PKI, mtls_server_context: ssl.SSLContext) -> None:
    with testing.serve_in_thread(ssl_context=mtls_server_context) as server:
        for backend in ("asyncio", "trio"):
            with ss.Sudo(
                server_url=server.url, verify=pki.ca_file, cert=pki.client_pem, timeout=FAST, backend=backend
            ) as sudo:
                reply = sudo.router.create(messages=MESSAGES, model="m")
                assert reply.choices[0].message.content == testing.DEFAULT_REPLY
            with ss.Sudo(server_url=server.url, verify=pki.ca_file, retries=0, backend=backend) as sudo:
                with pytest.raises(ss.TLSCertificateError):
                    sudo.router.create(messages=MESSAGES, model="m")


# -- ALPN -----------------------------------------------------------------------------------


def negotiated_protocol(client: ssl.SSLContext, server: ssl.SSLContext) -> str | None:
    """Handshake in memory; the ALPN protocol the server picked from the client's offer."""
    client_in, client_out, server_in, server_out = (ssl.MemoryBIO() for _ in range(4))
    tls_client = client.wrap_bio(client_in, client_out, server_hostname="127.0.0.1")
    tls_server = server.wrap_bio(server_in, server_out, server_side=True)
    for _ in range(10):
        for side in (tls_client, tls_server):
            with suppress(ssl.SSLWantReadError):
                side.do_handshake()
        server_in.write(client_out.read())
        client_in.write(server_out.read())
    return tls_client.selected_alpn_protocol()


@pytest.mark.parametrize("verify", ["path", "context"])
def test_only_http_1_1_is_offered(pki: PKI, verify: str) -> None:
    server = pki.server_context()
    server.set_alpn_protocols(["h2", "http/1.1"])  # it would pick h2 if offered
    given: Any = str(pki.ca_file)
    if verify == "context":
        given = ssl.create_default_context(cafile=str(pki.ca_file))
        given.set_alpn_protocols(["h2", "http/1.1"])
    assert negotiated_protocol(TLSSettings.of(given).build(), server) == "http/1.1"


# -- the OS trust store ---------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.skipif(sys.platform in ("darwin", "win32"), reason="truststore verifies there")
@pytest.mark.usefixtures("hygiene")  # loaded once, off the loop: not at every connection
async def test_the_system_trust_store_is_the_system_bundle_loaded_once(
    pki: PKI, tls_server_context: ssl.SSLContext
) -> None:
    async with testing.FakeSudoServer(ssl_context=tls_server_context) as server:
        async with ss.AsyncSudo(server_url=server.url, system_trust_store=True, verify=pki.ca_file) as sudo:
            assert await chat(sudo) == testing.DEFAULT_REPLY  # the private CA, added
            context = await tls_of(sudo).context()
            assert type(context) is ssl.SSLContext and len(context.get_ca_certs()) > 1
        async with ss.AsyncSudo(server_url=server.url, system_trust_store=True, retries=NO_RETRY) as sudo:
            with pytest.raises(ss.TLSCertificateError):  # the OS does not know our CA
                await sudo.router.create(messages=MESSAGES, model="m")


@pytest.mark.anyio
async def test_the_system_trust_store_goes_through_truststore_built_off_the_loop(
    pki: PKI, tls_server_context: ssl.SSLContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    truststore = pytest.importorskip("truststore")
    monkeypatch.setattr("sudo_stream._tls._OS_VERIFIER", True)  # as on macOS and Windows
    built_on: list[threading.Thread] = []

    class Recording(truststore.SSLContext):  # type: ignore[misc, name-defined]
        def __init__(self, protocol: int) -> None:
            built_on.append(threading.current_thread())
            super().__init__(protocol)

    monkeypatch.setattr(truststore, "SSLContext", Recording)
    async with testing.FakeSudoServer(ssl_context=tls_server_context) as server:
        with BlockingCallDetector() as detector:
            sudo = ss.AsyncSudo(server_url=server.url, system_trust_store=True, verify=pki.ca_file, timeout=FAST)
        assert detector.violations == [] and built_on == []  # nothing built yet
        async with sudo:
            if sys.platform.startswith("linux"):  # OpenSSL verifies: our CA is added to the OS's
                assert await chat(sudo) == testing.DEFAULT_REPLY
            context = await tls_of(sudo).context()
        assert isinstance(context, truststore.SSLContext)
        assert len(built_on) == 1 and built_on[0] is not threading.current_thread()


def test_the_system_trust_store_needs_truststore_where_it_verifies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "truststore", None)  # as if not installed
    monkeypatch.setattr("sudo_stream._tls._OS_VERIFIER", True)
    with pytest.raises(ModuleNotFoundError, match=r"sudo-stream\[truststore\]"):
        ss.AsyncSudo(system_trust_store=True)
    monkeypatch.setattr("sudo_stream._tls._OS_VERIFIER", False)
    ss.AsyncSudo(system_trust_store=True)  # the system's CA bundle: no truststore needed


# -- bad settings are refused when the client is made --------------------------------------


@pytest.mark.parametrize("client", [ss.AsyncSudo, ss.Sudo], ids=["AsyncSudo", "Sudo"])
@pytest.mark.parametrize(
    ("arguments", "error", "words"),
    [
        ({"verify": "/no/such/ca.pem"}, FileNotFoundError, "verify: no such file or directory"),
        ({"verify": 1}, TypeError, "verify must be"),
        ({"verify": None}, TypeError, "verify must be"),
        ({"verify": b"/etc"}, TypeError, "verify must be"),
        ({"cert": "/no/such/cert.pem"}, FileNotFoundError, "cert: no such file"),
        ({"cert": ("/no/such/cert.pem", "/no/such/key.pem")}, FileNotFoundError, "cert: no such file"),
        ({"cert": ["a", "b"]}, TypeError, "cert must be"),
        ({"cert": 7}, TypeError, "cert must be"),
        ({"system_trust_store": "yes"}, TypeError, "system_trust_store must be"),
        ({"system_trust_store": True, "verify": False}, ValueError, "verify=False"),
    ],
)
def test_bad_settings_are_clear_errors(client: Any, arguments: dict[str, Any], error: type, words: str) -> None:
    with pytest.raises(error, match=words):
        client(api_key=KEY, **arguments)


@pytest.mark.parametrize("argument", ["verify", "cert", "system_trust_store"])
def test_settings_for_our_connections_are_refused_with_a_borrowed_client(pki: PKI, argument: str) -> None:
    value = {"verify": pki.ca_file, "cert": pki.client_pem, "system_trust_store": True}[argument]
    with pytest.raises(ValueError, match="with http_client"):
        ss.AsyncSudo(http_client=httpx.AsyncClient(), **{argument: value})


def test_a_client_certificate_with_a_ready_context_is_refused(pki: PKI) -> None:
    context = ssl.create_default_context(cafile=str(pki.ca_file))
    with pytest.raises(ValueError, match="load_cert_chain"):
        ss.AsyncSudo(verify=context, cert=pki.client_pem)
    with pytest.raises(ValueError, match="system_trust_store"):
        ss.AsyncSudo(verify=context, system_trust_store=True)
    with pytest.raises(ValueError, match="server-side"):
        ss.AsyncSudo(verify=ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER))
    wrong_password = (pki.client_cert, pki.client_key, PASSWORD)
    assert PASSWORD not in repr(ss.AsyncSudo(cert=wrong_password)._transport)


# -- a proxy from the environment -----------------------------------------------------------


@asynccontextmanager
async def connect_proxy() -> AsyncIterator[tuple[str, list[str]]]:
    """An HTTP CONNECT proxy on 127.0.0.1; yields its URL and the targets it tunnelled to."""
    targets: list[str] = []

    async def tunnel(client: anyio.abc.SocketStream) -> None:
        async with client:
            head = b""
            while b"\r\n\r\n" not in head:
                head += await client.receive()
            method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
            assert method == "CONNECT"
            targets.append(target)
            host, _, port = target.rpartition(":")
            async with await anyio.connect_tcp(host, int(port)) as upstream:
                await client.send(b"HTTP/1.1 200 Connection established\r\n\r\n")
                await splice(client, upstream)

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, tunnel, group)
        yield f"http://proxy-user:proxy-PASSWORD@127.0.0.1:{port}", targets
        group.cancel_scope.cancel()


def test_going_through_a_proxy_is_logged(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy-user:proxy-PASSWORD@127.0.0.1:9")
    caplog.set_level(logging.DEBUG, "sudo_stream.http")
    sudo = ss.AsyncSudo(server_url="https://sudo.example/api")
    assert not sudo._transport.deadline_reads
    [record] = [r for r in caplog.records if "proxy" in r.getMessage()]
    message = record.getMessage()
    assert record.levelno == logging.DEBUG
    assert "HTTPS_PROXY" in message and "httpx's own transport" in message
    assert "PASSWORD" not in message  # the proxy URL may hold credentials
    caplog.clear()
    monkeypatch.setenv("NO_PROXY", "sudo.example")
    assert ss.AsyncSudo(server_url="https://sudo.example/api")._transport.deadline_reads
    assert not [r for r in caplog.records if "proxy" in r.getMessage()]


@pytest.mark.anyio
async def test_a_proxy_keeps_the_tls_settings(
    pki: PKI, mtls_server_context: ssl.SSLContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with testing.FakeSudoServer(ssl_context=mtls_server_context) as server, connect_proxy() as (proxy, targets):
        monkeypatch.setenv("HTTPS_PROXY", proxy)
        async with ss.AsyncSudo(server_url=server.url, verify=pki.ca_file, cert=pki.client_pem, timeout=FAST) as sudo:
            assert not sudo._transport.deadline_reads  # httpx's transport, for the proxy
            assert await chat(sudo) == testing.DEFAULT_REPLY
        assert targets and set(targets) == {f"127.0.0.1:{server.port}"}
        tunnels = len(targets)
        async with ss.AsyncSudo(server_url=server.url, verify=pki.other_ca_file, retries=QUICK_RETRIES) as sudo:
            with pytest.raises(ss.TLSCertificateError):
                await sudo.router.create(messages=MESSAGES, model="m")
        assert len(targets) == tunnels + 1  # refused, not retried, through httpx's stack too
