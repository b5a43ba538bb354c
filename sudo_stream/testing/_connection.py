"""One TCP connection of the fake server: read requests with h11, answer each, keep alive.

A client may vanish at any point; that ends the connection quietly. Anything else that goes
wrong is a bug in the fake server: it is answered with a 500 when still possible and kept
in ``ServerState.errors`` for the test to see.
"""

from __future__ import annotations

import contextlib
import secrets
import socket
import time
from http import HTTPStatus
from urllib.parse import parse_qsl

import anyio
import anyio.abc
import h11

from ._api import FakeAPI
from ._exchange import Disconnected, Exchange
from ._play import play
from ._records import RecordedRequest, ServerState

_GONE = (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream, OSError)


async def serve_connection(
    state: ServerState,
    api: FakeAPI,
    send_buffer_size: int | None,
    stream: anyio.abc.ByteStream,
) -> None:
    """Serve ``api`` on ``stream`` (TCP, or TLS over TCP) until either side closes it;
    always close it.

    ``send_buffer_size`` sets the socket's ``SO_SNDBUF`` first.
    """
    state.open += 1
    state.total += 1
    try:
        if send_buffer_size is not None:
            raw = stream.extra(anyio.abc.SocketAttribute.raw_socket)
            with contextlib.suppress(OSError):  # the client left already: it ends below
                raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer_size)
        await _Connection(state, api, stream, state.total).run()
    except Exception as exc:
        state.errors.append(exc)
    finally:
        state.open -= 1
        with anyio.CancelScope(shield=True):
            await stream.aclose()


def _record(head: h11.Request, body: bytes, connection: int) -> RecordedRequest:
    target = head.target.decode("latin-1")
    path, _, query = target.partition("?")
    header_list = tuple(
        (name.decode("latin-1").lower(), value.decode("latin-1")) for name, value in head.headers
    )
    headers: dict[str, str] = {}
    for name, value in header_list:
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return RecordedRequest(
        method=head.method.decode("latin-1").upper(),
        path=path,
        query=tuple(parse_qsl(query, keep_blank_values=True)),
        headers=headers,
        header_list=header_list,
        body=body,
        connection=connection,
        received_at=time.monotonic(),
    )


class _Connection:
    def __init__(
        self, state: ServerState, api: FakeAPI, stream: anyio.abc.ByteStream, number: int
    ) -> None:
        self._state = state
        self._api = api
        self._stream = stream
        self._number = number
        self._h11 = h11.Connection(h11.SERVER)

    async def run(self) -> None:
        while True:
            try:
                request = await self._read_request()
            except h11.RemoteProtocolError:
                await self._send_quietly(400, "Malformed HTTP request.")
                return
            if request is None:
                return
            if not await self._answer(request):
                return
            self._h11.start_next_cycle()

    async def _answer(self, request: RecordedRequest) -> bool:
        """Answer one request; return whether the connection can carry another."""
        state = self._state
        index = state.record(request)
        exchange = Exchange(self._stream, self._h11, state, index)
        state.answering += 1
        try:
            await play(self._api.respond(request), exchange, f"req_{secrets.token_hex(12)}")
        except Disconnected:
            pass
        except Exception as exc:
            state.errors.append(exc)
            if self._h11.our_state is h11.SEND_RESPONSE:
                await self._send_quietly(500, f"Fake Sudo server bug: {exc!r}")
            return False
        finally:
            state.answering -= 1
        if exchange.disconnected:
            state.disconnects += 1
        ours, theirs = self._h11.our_state, self._h11.their_state
        return exchange.keep_alive and ours is h11.DONE and theirs is h11.DONE

    async def _read_request(self) -> RecordedRequest | None:
        head: h11.Request | None = None
        body = bytearray()
        while True:
            event = self._h11.next_event()
            if event is h11.NEED_DATA:
                try:
                    data = await self._stream.receive()
                except _GONE:
                    data = b""
                self._h11.receive_data(data)
            elif isinstance(event, h11.Request):
                head = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage) and head is not None:
                return _record(head, bytes(body), self._number)
            else:  # ConnectionClosed, or PAUSED after a response we could not finish
                return None

    async def _send_quietly(self, status: int, text: str) -> None:
        """Send a plain-text error and close; give up silently if the client is gone."""
        body = text.encode()
        headers = [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        try:
            reason = HTTPStatus(status).phrase.encode()
            response = h11.Response(status_code=status, headers=headers, reason=reason)
            data = self._h11.send(response) or b""
            data += self._h11.send(h11.Data(data=body)) or b""
            data += self._h11.send(h11.EndOfMessage()) or b""
            await self._stream.send(data)
        except (h11.LocalProtocolError, *_GONE):
            return
