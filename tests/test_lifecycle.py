"""A blocking client that is never closed: the interpreter still exits, at once and with
status 0; a client collected unclosed closes itself; either way a ResourceWarning says so.

The subprocess runs are hang detectors: their 60 s timeout is a safety net, not a budget.
"""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import textwrap
import threading
import warnings

import anyio
import pytest

import sudo_stream as ss
from sudo_stream import testing

from .helpers import MESSAGES

HANG = 60.0  # seconds: only a process that never exits gets near this

# A fake server on a daemon thread of the script's own: left running at exit, like the
# client, so that the client's connections are still open when the interpreter stops.
SERVER = """
import queue, threading, anyio
from sudo_stream import testing
urls = queue.Queue()
async def serve():
    async with testing.FakeSudoServer() as server:
        urls.put(server.url)
        await anyio.sleep_forever()
threading.Thread(target=anyio.run, args=(serve,), daemon=True).start()
URL = urls.get(timeout=30)
"""


def run_script(body: str) -> subprocess.CompletedProcess[str]:
    """Run ``body`` after ``import sudo_stream as ss``, ResourceWarnings shown. A process
    that hangs is killed with every process it forked, and fails the test."""
    code = "import sudo_stream as ss\n" + textwrap.dedent(body)
    args = [sys.executable, "-W", "always::ResourceWarning", "-c", code]
    with subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=HANG)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise
    return subprocess.CompletedProcess(args, process.returncode, stdout, stderr)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize("used", [False, True], ids=["idle", "used"])
def test_an_unclosed_client_at_module_level_lets_the_interpreter_exit(backend: str, used: bool) -> None:
    body = f"client = ss.Sudo(api_key='sk-unclosed-0123456789', backend={backend!r})\n"
    if used:
        body += SERVER + textwrap.dedent(
            f"""
            client = ss.Sudo(server_url=URL, backend={backend!r})
            print(client.router.create(messages={MESSAGES!r}, model="m").choices[0].message.content)
            stream = client.router.create_streaming(messages={MESSAGES!r}, model="m")
            print(next(stream).id)  # and a stream left open, mid-way
            """
        )
    done = run_script(body)
    assert done.returncode == 0, done.stderr
    if used:
        assert done.stdout.startswith(testing.DEFAULT_REPLY)
    assert "was never closed; closed at exit" in done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr
    assert "sk-unclosed-0123456789" not in done.stderr


def test_every_unclosed_client_is_closed_at_exit_even_when_warnings_are_errors() -> None:
    done = run_script(
        """
        import atexit, warnings
        threads = []  # checked after the client's own atexit hook (hooks run last first)
        atexit.register(lambda: print("loops left running:", sum(t.is_alive() for t in threads)))
        warnings.simplefilter("error", ResourceWarning)
        clients = [ss.Sudo(api_key="k"), ss.Sudo(api_key="k")]
        threads += [client._runner._loop._thread for client in clients]
        """
    )
    assert done.returncode == 0, done.stderr
    assert "loops left running: 0" in done.stdout
    assert "ResourceWarning: Sudo(" in done.stderr  # raised, reported, and no hang


def test_a_closed_client_says_nothing_at_exit() -> None:
    done = run_script("client = ss.Sudo(api_key='k')\nclient.close()\nclient.close()\n")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_client_collected_unclosed_closes_itself(backend: str) -> None:
    with testing.serve_in_thread() as server:
        sudo = ss.Sudo(server_url=server.url, backend=backend)
        sudo.router.create(messages=MESSAGES, model="m")
        loop_thread = sudo._runner._loop._thread
        assert loop_thread.daemon  # never what keeps the process alive
        assert server.stats.open_connections == 1  # kept alive in the pool
        with pytest.warns(ResourceWarning, match="never closed; closed when garbage collected"):
            del sudo
            gc.collect()
        loop_thread.join(HANG)
        assert not loop_thread.is_alive()
        wait_for_no_connections(server)


def test_what_a_client_hands_out_keeps_it_open() -> None:
    # A client made for one call: the stream it returns still needs its event loop.
    with testing.serve_in_thread() as server:
        server.enqueue(testing.Stream(testing.text_chunks("kept open by its stream")))
        ids = [server.store_completion({"model": "m", "choices": []})["id"] for _ in range(3)]
        with pytest.warns(ResourceWarning, match="never closed"):
            stream = ss.Sudo(server_url=server.url).router.create_streaming(messages=MESSAGES, model="m")
            gc.collect()
            text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
            assert text == "kept open by its stream"
            page = ss.Sudo(server_url=server.url).router.list_chat_completions(limit=1)
            gc.collect()
            assert [item.id for item in page] == ids  # two more pages fetched after the gc
            del stream, page
            gc.collect()
        wait_for_no_connections(server)


def test_a_closed_client_is_not_warned_about_when_collected() -> None:
    sudo = ss.Sudo(api_key="k")
    loop_thread = sudo._runner._loop._thread
    sudo.close()
    assert not loop_thread.is_alive()
    del sudo
    gc.collect()  # with warnings as errors, a ResourceWarning here would fail the test


def wait_for_no_connections(server: testing.FakeSudoServer) -> None:
    async def poll() -> None:
        with anyio.fail_after(10):
            while server.stats.open_connections:
                await anyio.sleep(0.01)

    anyio.run(poll)


def test_no_thread_is_left_behind() -> None:
    before = set(threading.enumerate())
    with ss.Sudo(api_key="k") as sudo:
        assert sudo._runner._loop._thread not in before
    assert set(threading.enumerate()) <= before


@pytest.mark.anyio
async def test_an_async_client_collected_unclosed_closes_its_connections() -> None:
    # Nothing of an AsyncSudo runs in the background: collected with connections open, it
    # closes them (no socket is left to the standard library's own warnings) and says so.
    async with testing.FakeSudoServer() as server:
        sudo = ss.AsyncSudo(server_url=server.url)
        await sudo.router.create(messages=MESSAGES, model="m")
        assert server.stats.open_connections == 1
        with pytest.warns(ResourceWarning) as caught:
            del sudo
            gc.collect()
        assert [str(w.message)[:30] for w in caught] == ["unclosed AsyncSudo(server_url="]
        assert "1 open connection" in str(caught[0].message)
        with anyio.fail_after(10):
            while server.stats.open_connections:
                await anyio.sleep(0.01)


def test_an_async_client_that_never_connected_is_collected_quietly() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sudo = ss.AsyncSudo(server_url="http://127.0.0.1:9")
        del sudo
        gc.collect()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_exits_without_its_parents_loop() -> None:
    # The child inherits the client but not its loop's thread: nothing there may wait on it.
    done = run_script(
        """
        import os, sys, warnings
        warnings.simplefilter("ignore", DeprecationWarning)  # fork() with threads running
        client = ss.Sudo(api_key="k")
        child = os.fork()
        if child == 0:
            sys.exit(0)
        _, status = os.waitpid(child, 0)
        print("child exit", os.waitstatus_to_exitcode(status))
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "child exit 0\n"
