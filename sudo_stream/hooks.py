"""Hooks: callbacks around every call a client makes, for what cuts across an application
(headers, auth refresh, audit, metrics, tracing) without forking the client::

    class Audit(ss.Hooks):
        def on_request(self, call, request):
            request.headers["x-tenant"] = tenant.get()

        async def on_finish(self, call, outcome):
            await audit_log.write(call.operation, call.model, outcome.usage)

    sudo = ss.AsyncSudo(hooks=[Audit()])

A subclass overrides the methods it needs; each may be a plain or an ``async def`` method,
and runs on the client's event loop (a slow plain one stalls it). Their order for a call:
``on_request`` and ``on_response`` for each attempt (``on_retry`` before each retry is
sent), ``on_first_event`` for a stream, then exactly one of ``on_finish`` (the answer is
whole, or a stream was left early: see :attr:`CallOutcome.complete`) and ``on_error``
(the call failed for good; not for a cancellation, which ends the call with neither), and
last ``on_end``, once for every call however it ended (a cancellation too): the place to
release what a call holds (a span, a timer).

An exception raised by a hook is never swallowed: the call raises it (the connection
released first), as if the call had failed with it. With no hooks, nothing of this runs.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
import msgspec

if TYPE_CHECKING:
    import httpx

__all__ = ["CallInfo", "CallOutcome", "Hooks", "RetryInfo"]

_HOOK_BOUND = 10.0  # seconds a hook may take while its call is being cancelled or closed


@dataclass
class CallInfo:
    """One call of a client, the same object for all its hooks: ``operation`` (``"POST
    /v1/chat/completions"``), ``method``, ``path``, ``stream``, ``model`` (from the request
    body, when it has one), ``started`` (``time.monotonic()``), and ``state``, a dict where
    hooks keep what they need from one callback to the next (a span, a timer)."""

    method: str
    path: str
    stream: bool
    model: str | None
    started: float = field(default_factory=time.monotonic)
    state: dict[Any, Any] = field(default_factory=dict)

    @property
    def operation(self) -> str:
        """``"METHOD /path"``."""
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class RetryInfo:
    """A retry about to be sent: its ``attempt`` number (2 for the first retry), the
    ``error`` that failed the attempt before, and the ``wait`` (seconds) taken before it."""

    attempt: int
    error: BaseException
    wait: float


@dataclass(frozen=True)
class CallOutcome:
    """How a call ended well. ``complete`` is False for a stream left before its end.
    ``status_code`` is the answer's; ``elapsed`` the seconds since the call started;
    ``time_to_first_event`` a stream's; ``usage`` the answer's token usage (a
    :class:`~sudo_stream.Usage`, or a Responses usage), ``response_model`` the model that
    answered, ``finish_reasons`` each choice's (or a response's status), ``response_id``
    the answer's ``id`` (``chatcmpl-...``, ``resp_...``) when it has one."""

    complete: bool
    status_code: int
    elapsed: float
    time_to_first_event: float | None = None
    usage: Any = None
    response_model: str | None = None
    finish_reasons: tuple[str, ...] = ()
    response_id: str | None = None


class Hooks:
    """Callbacks around a client's calls; override the ones you need (plain or async)."""

    def on_request(self, call: CallInfo, request: httpx.Request) -> Any:
        """Before each attempt is sent; may change ``request.headers``."""

    def on_response(self, call: CallInfo, response: httpx.Response) -> Any:
        """After each attempt's response head arrived (any status; the body unread)."""

    def on_retry(self, call: CallInfo, retry: RetryInfo) -> Any:
        """Before a retry is sent, after its wait."""

    def on_first_event(self, call: CallInfo, seconds: float) -> Any:
        """A stream's first event arrived, ``seconds`` after the call started."""

    def on_finish(self, call: CallInfo, outcome: CallOutcome) -> Any:
        """The call ended well (see :class:`CallOutcome`)."""

    def on_error(self, call: CallInfo, error: BaseException) -> Any:
        """The call failed for good with ``error`` (it is raised after the hooks ran)."""

    def on_end(self, call: CallInfo, error: BaseException | None) -> Any:
        """Last, once for every call, however it ended: ``error`` is None when it ended
        well (after ``on_finish``), else what ended it: the error ``on_error`` had, a
        cancellation (which has no ``on_error``), or an exception a hook raised. (A stream
        must be closed, as always: one dropped unclosed ends with no hooks.)"""


class _ModelOnly(msgspec.Struct):
    model: Any = None


class HookRunner:
    """The hooks of one client, called in the order given. Internal."""

    __slots__ = ("_hooks",)

    def __init__(self, hooks: Sequence[Hooks]) -> None:
        self._hooks = tuple(hooks)

    @staticmethod
    def of(hooks: Hooks | Sequence[Hooks] | None) -> HookRunner | None:
        """The runner for the ``hooks`` a client was given (None for none)."""
        if hooks is None:
            return None
        listed = [hooks] if isinstance(hooks, Hooks) else list(hooks)
        for hook in listed:
            if not isinstance(hook, Hooks):
                raise TypeError(
                    f"hooks must be ss.Hooks objects (subclass ss.Hooks), got {type(hook).__name__}"
                )
        return HookRunner(listed) if listed else None

    def call(self, method: str, path: str, content: bytes | None, stream: bool) -> CallInfo:
        """A new call's info (the model read from the body, if it names one)."""
        model = None
        if content:
            try:
                found = msgspec.json.decode(content, type=_ModelOnly).model
            except (msgspec.DecodeError, msgspec.ValidationError):
                found = None
            model = found if isinstance(found, str) else None
        return CallInfo(method=method, path=path, stream=stream, model=model)

    async def _run(self, name: str, *args: Any) -> None:
        for hook in self._hooks:
            result = getattr(hook, name)(*args)
            if inspect.isawaitable(result):
                await result

    async def request(self, call: CallInfo, request: httpx.Request) -> None:
        """Run ``on_request``."""
        await self._run("on_request", call, request)

    async def response(self, call: CallInfo, response: httpx.Response) -> None:
        """Run ``on_response``."""
        await self._run("on_response", call, response)

    async def retry(self, call: CallInfo, retry: RetryInfo) -> None:
        """Run ``on_retry``."""
        await self._run("on_retry", call, retry)

    async def first_event(self, call: CallInfo, seconds: float) -> None:
        """Run ``on_first_event``."""
        await self._run("on_first_event", call, seconds)

    async def finish(self, call: CallInfo, outcome: CallOutcome, *, shielded: bool = False) -> None:
        """Run ``on_finish`` (``shielded``: while the call is being closed, bounded)."""
        if shielded:
            with anyio.move_on_after(_HOOK_BOUND, shield=True):
                await self._run("on_finish", call, outcome)
        else:
            await self._run("on_finish", call, outcome)

    async def error(self, call: CallInfo, error: BaseException) -> None:
        """Run ``on_error``, shielded and bounded: the call is failing, maybe cancelled."""
        with anyio.move_on_after(_HOOK_BOUND, shield=True):
            await self._run("on_error", call, error)

    async def end(self, call: CallInfo, error: BaseException | None) -> None:
        """Run every hook's ``on_end`` (one that raises does not keep the others from
        theirs; the first exception is raised after), shielded and bounded: the call may
        be being cancelled."""
        raised: BaseException | None = None
        with anyio.move_on_after(_HOOK_BOUND, shield=True):
            for hook in self._hooks:
                try:
                    result = hook.on_end(call, error)
                    if inspect.isawaitable(result):
                        await result
                except BaseException as exc:
                    raised = raised or exc
        if raised is not None:
            raise raised

    async def succeeded(
        self, call: CallInfo, outcome: CallOutcome, *, shielded: bool = False
    ) -> None:
        """The call ended well: ``on_finish``, then ``on_end`` (with the exception a
        finishing hook raised, if one did, which is then raised)."""
        try:
            await self.finish(call, outcome, shielded=shielded)
        except BaseException as exc:
            await self.end(call, exc)
            raise
        await self.end(call, None)

    async def failed(self, call: CallInfo, error: BaseException) -> None:
        """The call ended with ``error``: ``on_error`` (not for a cancellation, nor any
        other exception that is not an ``Exception``), then ``on_end`` whatever happens."""
        try:
            if isinstance(error, Exception):
                await self.error(call, error)
        finally:
            await self.end(call, error)
