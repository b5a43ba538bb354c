"""The blocking facade ``Sudo`` against the fake server in a thread."""

from __future__ import annotations

import _thread
import signal
import threading
import time
from collections.abc import Iterator

import pytest

import sudo_stream as ss
from sudo_stream import _blocking, testing
from sudo_stream.models import ChatCompletionList
from sudo_stream.models.events import TextDelta

from .helpers import MESSAGES


@pytest.fixture
def server() -> Iterator[testing.FakeSudoServer]:
    with testing.serve_in_thread() as fake:
        yield fake


def wait_for_no_connections(server: testing.FakeSudoServer, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while server.stats.open_connections:
        assert time.monotonic() < deadline, server.stats
        time.sleep(0.01)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_blocking_surface(server: testing.FakeSudoServer, backend: str) -> None:
    threads_before = threading.active_count()
    with ss.Sudo(server_url=server.url, api_key="sk-secret-value-123", backend=backend) as sudo:  # type: ignore[arg-type]
        assert "sk-secret" not in repr(sudo)
        completion = sudo.router.create(messages=MESSAGES, model="m")
        assert completion.choices[0].message.content
        server.enqueue(testing.Stream(testing.text_chunks("one two three")))
        with sudo.router.create_streaming(messages=MESSAGES, model="m") as stream:
            texts = [c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta]
        assert "".join(t or "" for t in texts) == "one two three"
        server.enqueue(testing.Stream(testing.text_chunks("alpha beta")))
        events = list(sudo.router.create_streaming(messages=MESSAGES, model="m").events())
        assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "alpha beta"
        server.enqueue(testing.Stream(testing.text_chunks("gamma")))
        assert sudo.router.create_streaming(messages=MESSAGES, model="m").final_completion().choices[0].message.content == "gamma"
    assert threading.active_count() == threads_before
    wait_for_no_connections(server)


def test_list_walks_every_page(server: testing.FakeSudoServer) -> None:
    ids = [server.store_completion({"model": "m", "choices": []})["id"] for _ in range(7)]
    with ss.Sudo(server_url=server.url) as sudo:
        page = sudo.router.list_chat_completions(limit=3)
        assert [c.id for c in page.data] == ids[:3] and page.has_more
        assert page.object == "list" and isinstance(page.page, ChatCompletionList)
        assert sudo.router.get_chat_completion(ids[0]).id == ids[0]  # by position, too
        assert sudo.router.delete_chat_completion(ids[0]).deleted
        assert [c.id for c in page] == ids
        assert "ChatCompletionList(" in repr(page)


def test_leaving_a_stream_early_closes_it(server: testing.FakeSudoServer) -> None:
    server.enqueue(testing.Endless(interval=0.001))
    with ss.Sudo(server_url=server.url) as sudo:
        with sudo.router.create_streaming(messages=MESSAGES, model="m") as stream:
            for _ in stream:
                break
        assert stream.closed
        wait_for_no_connections(server)


def test_breaking_out_of_a_stream_without_with_closes_it(server: testing.FakeSudoServer) -> None:
    with ss.Sudo(server_url=server.url) as sudo:
        for _ in range(5):
            server.enqueue(testing.Endless(interval=0.001))
            for _ in sudo.router.create_streaming(messages=MESSAGES, model="m"):
                break
        wait_for_no_connections(server)  # closed once dropped, not when the client closes
        # Iterators keep their stream open while in use, even when nothing else refers to it.
        server.enqueue(testing.Stream(testing.text_chunks("one two three")))
        text = sudo.router.create_streaming(messages=MESSAGES, model="m").text()
        assert "".join(text) == "one two three"


def test_a_named_event_does_not_hold_back_chunks_that_came_before_it(
    server: testing.FakeSudoServer,
) -> None:
    chunks = testing.text_chunks("one two three")
    server.enqueue(testing.Stream([*chunks[:2], "event: ping\ndata: {}\n\n", testing.StallItem(), *chunks[2:]]))
    with ss.Sudo(server_url=server.url, timeout=ss.Timeout(5, idle=2)) as sudo:
        with sudo.router.create_streaming(messages=MESSAGES, model="m") as stream:
            received = [next(stream), next(stream)]
            assert stream.current_completion().choices[0].message.content == "one"
            assert stream.headers["content-type"].startswith("text/event-stream")
            # Both came without waiting out the stall (which would end in an idle timeout).
            assert not stream.closed and received[1].choices[0].delta.content == "one"
            with pytest.raises(ss.APITimeoutError):
                next(stream)


def test_closing_the_client_closes_open_streams(server: testing.FakeSudoServer) -> None:
    server.enqueue(testing.Endless(interval=0.001))
    sudo = ss.Sudo(server_url=server.url)
    stream = sudo.router.create_streaming(messages=MESSAGES, model="m")
    next(iter(stream))
    sudo.close()
    assert stream.closed
    wait_for_no_connections(server)


def ctrl_c() -> None:
    """What Ctrl-C at a terminal does: SIGINT to the main thread, which interrupts its
    blocked wait (``_thread.interrupt_main`` only flags it for the next Python code)."""
    main = threading.main_thread().ident
    if hasattr(signal, "pthread_kill") and main is not None:
        signal.pthread_kill(main, signal.SIGINT)
    else:  # Windows
        _thread.interrupt_main()


def test_ctrl_c_stops_a_blocking_stream(server: testing.FakeSudoServer) -> None:
    # Python raises KeyboardInterrupt on SIGINT unless it started with SIGINT ignored, as
    # a shell's background job does (`pytest &`): then nothing would stop the stream.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        server.enqueue(testing.Endless(interval=0.01))
        with ss.Sudo(server_url=server.url) as sudo:
            stream = sudo.router.create_streaming(messages=MESSAGES, model="m")
            timer = threading.Timer(0.3, ctrl_c)
            started = time.monotonic()
            timer.start()
            with pytest.raises(KeyboardInterrupt):
                for _ in stream:
                    pass
            # A safety net: an interrupt that did not stop the stream would leave it running.
            assert time.monotonic() - started < 10
    finally:
        signal.signal(signal.SIGINT, previous)
    wait_for_no_connections(server)


def test_chunks_before_an_error_are_delivered_first(server: testing.FakeSudoServer) -> None:
    chunks = testing.text_chunks("one two three", include_usage=False)[:4]
    error = {"error": {"message": "went wrong", "type": "server_error"}}
    server.enqueue(testing.Stream([*chunks, error], done=False))  # all in one piece
    received = []
    with ss.Sudo(server_url=server.url) as sudo:
        stream = sudo.router.create_streaming(messages=MESSAGES, model="m")
        with pytest.raises(ss.StreamError, match="went wrong"):
            for chunk in stream:
                received.append(chunk)
        assert stream.closed
    assert len(received) == len(chunks)
    wait_for_no_connections(server)


@pytest.mark.parametrize("kind", ["chunks", "events", "text"])
def test_a_trip_to_the_loop_takes_everything_already_here(
    server: testing.FakeSudoServer, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks, events and text alike: one trip to the loop's thread per batch of what
    has arrived, not one per item (a trip costs far more than an item)."""
    words = " ".join(f"w{i}" for i in range(600))
    server.enqueue(testing.Stream(testing.text_chunks(words), piece_size=1 << 20))  # at once
    trips = 0
    original = _blocking._Runner.run

    def counted(self: _blocking._Runner, func: object) -> object:
        nonlocal trips
        trips += 1
        return original(self, func)  # type: ignore[arg-type]

    monkeypatch.setattr(_blocking._Runner, "run", counted)
    with ss.Sudo(server_url=server.url) as sudo:
        stream = sudo.router.create_streaming(messages=MESSAGES, model="m")
        before = trips
        if kind == "chunks":
            got = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        elif kind == "events":
            got = "".join(e.text for e in stream.events() if isinstance(e, TextDelta))
        else:
            got = "".join(stream.text())
        assert got == words
        assert trips - before < 20, trips - before  # ~600 items
    wait_for_no_connections(server)
