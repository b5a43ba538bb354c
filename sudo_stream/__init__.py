"""sudo_stream: an async, streaming-first client for the Sudo API.

Names are re-exported here and loaded on first use, so ``import sudo_stream`` stays cheap:
the I/O layers (httpx, anyio, tenacity) load only when a client is created.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from . import batch as batch
    from ._blocking import (
        Sudo as Sudo,
    )
    from ._config import (
        BackoffStrategy as BackoffStrategy,
    )
    from ._config import (
        RetryConfig as RetryConfig,
    )
    from ._config import (
        Timeout as Timeout,
    )
    from ._parsed_stream import (
        ParsedChatStream as ParsedChatStream,
    )
    from ._raw import (
        RawResponse as RawResponse,
    )
    from ._response_stream import (
        ResponseStream as ResponseStream,
    )
    from ._response_tool_loop import (
        ResponseToolRun as ResponseToolRun,
    )
    from ._response_tool_loop import (
        ResponseToolRunResult as ResponseToolRunResult,
    )
    from ._stream import (
        ChatStream as ChatStream,
    )
    from ._stream import (
        StreamRequest as StreamRequest,
    )
    from ._stream import (
        StreamStatistics as StreamStatistics,
    )
    from ._tool_loop import (
        ToolRun as ToolRun,
    )
    from ._tool_loop import (
        ToolRunResult as ToolRunResult,
    )
    from .assembler import (
        StreamAssembler as StreamAssembler,
    )
    from .client import (
        AsyncSudo as AsyncSudo,
    )
    from .errors import (
        APIConnectionError as APIConnectionError,
    )
    from .errors import (
        APIResponseValidationError as APIResponseValidationError,
    )
    from .errors import (
        APIStatusError as APIStatusError,
    )
    from .errors import (
        APITimeoutError as APITimeoutError,
    )
    from .errors import (
        AuthenticationError as AuthenticationError,
    )
    from .errors import (
        BadRequestError as BadRequestError,
    )
    from .errors import (
        ConflictError as ConflictError,
    )
    from .errors import (
        InternalServerError as InternalServerError,
    )
    from .errors import (
        InvalidRequestError as InvalidRequestError,
    )
    from .errors import (
        MaxTurnsExceededError as MaxTurnsExceededError,
    )
    from .errors import (
        NotFoundError as NotFoundError,
    )
    from .errors import (
        PermissionDeniedError as PermissionDeniedError,
    )
    from .errors import (
        RateLimitError as RateLimitError,
    )
    from .errors import (
        ResponseMaxTurnsExceededError as ResponseMaxTurnsExceededError,
    )
    from .errors import (
        StreamError as StreamError,
    )
    from .errors import (
        SudoError as SudoError,
    )
    from .errors import (
        TLSCertificateError as TLSCertificateError,
    )
    from .errors import (
        UnprocessableEntityError as UnprocessableEntityError,
    )
    from .hooks import (
        CallInfo as CallInfo,
    )
    from .hooks import (
        CallOutcome as CallOutcome,
    )
    from .hooks import (
        Hooks as Hooks,
    )
    from .hooks import (
        RetryInfo as RetryInfo,
    )
    from .models import (
        AssistantMessage as AssistantMessage,
    )
    from .models import (
        ChatCompletion as ChatCompletion,
    )
    from .models import (
        ChatCompletionChunk as ChatCompletionChunk,
    )
    from .models import (
        ChatCompletionList as ChatCompletionList,
    )
    from .models import (
        ChatCompletionMessage as ChatCompletionMessage,
    )
    from .models import (
        ChatDeletionConfirmation as ChatDeletionConfirmation,
    )
    from .models import (
        ChatMessageList as ChatMessageList,
    )
    from .models import (
        Choice as Choice,
    )
    from .models import (
        DeveloperMessage as DeveloperMessage,
    )
    from .models import (
        FunctionCall as FunctionCall,
    )
    from .models import (
        FunctionDefinition as FunctionDefinition,
    )
    from .models import (
        ImageGeneration as ImageGeneration,
    )
    from .models import (
        StoredMessage as StoredMessage,
    )
    from .models import (
        SystemMessage as SystemMessage,
    )
    from .models import (
        Tool as Tool,
    )
    from .models import (
        ToolCall as ToolCall,
    )
    from .models import (
        ToolMessage as ToolMessage,
    )
    from .models import (
        Usage as Usage,
    )
    from .models import (
        UserMessage as UserMessage,
    )
    from .models.events import (
        Finished as Finished,
    )
    from .models.events import (
        LogprobsDelta as LogprobsDelta,
    )
    from .models.events import (
        ReasoningDelta as ReasoningDelta,
    )
    from .models.events import (
        RefusalDelta as RefusalDelta,
    )
    from .models.events import (
        StreamEvent as StreamEvent,
    )
    from .models.events import (
        TextDelta as TextDelta,
    )
    from .models.events import (
        ToolArgumentsDelta as ToolArgumentsDelta,
    )
    from .models.events import (
        ToolCallDone as ToolCallDone,
    )
    from .models.events import (
        ToolCallResult as ToolCallResult,
    )
    from .models.events import (
        ToolCallStarted as ToolCallStarted,
    )
    from .models.events import (
        ToolRunEvent as ToolRunEvent,
    )
    from .models.events import (
        TurnStarted as TurnStarted,
    )
    from .models.events import (
        UsageReceived as UsageReceived,
    )
    from .models.parsed import (
        ParsedChatCompletion as ParsedChatCompletion,
    )
    from .models.ratelimit import (
        RateLimitInfo as RateLimitInfo,
    )
    from .models.response_events import (
        ResponseStreamEvent as ResponseStreamEvent,
    )
    from .models.response_events import (
        ResponseToolRunEvent as ResponseToolRunEvent,
    )
    from .models.responses import (
        Response as Response,
    )
    from .structured import (
        ContentFilterFinishReasonError as ContentFilterFinishReasonError,
    )
    from .structured import (
        LengthFinishReasonError as LengthFinishReasonError,
    )
    from .structured import (
        StructuredOutputError as StructuredOutputError,
    )
    from .tools import (
        FunctionTool as FunctionTool,
    )
    from .tools import (
        ToolResult as ToolResult,
    )
    from .tools import tool as tool

# public name -> module that defines it
_LAZY: dict[str, str] = {
    "Sudo": "._blocking",
    "AsyncSudo": ".client",
    "ChatStream": "._stream",
    "StreamRequest": "._stream",
    "StreamStatistics": "._stream",
    "ToolRun": "._tool_loop",
    "ToolRunResult": "._tool_loop",
    "StreamAssembler": ".assembler",
    "BackoffStrategy": "._config",
    "RetryConfig": "._config",
    "Timeout": "._config",
    "APIConnectionError": ".errors",
    "APIResponseValidationError": ".errors",
    "APIStatusError": ".errors",
    "APITimeoutError": ".errors",
    "AuthenticationError": ".errors",
    "BadRequestError": ".errors",
    "ConflictError": ".errors",
    "InternalServerError": ".errors",
    "InvalidRequestError": ".errors",
    "MaxTurnsExceededError": ".errors",
    "NotFoundError": ".errors",
    "PermissionDeniedError": ".errors",
    "RateLimitError": ".errors",
    "ResponseMaxTurnsExceededError": ".errors",
    "StreamError": ".errors",
    "SudoError": ".errors",
    "TLSCertificateError": ".errors",
    "UnprocessableEntityError": ".errors",
    "AssistantMessage": ".models",
    "ChatCompletion": ".models",
    "ChatCompletionChunk": ".models",
    "ChatCompletionList": ".models",
    "ChatCompletionMessage": ".models",
    "ChatDeletionConfirmation": ".models",
    "ChatMessageList": ".models",
    "Choice": ".models",
    "DeveloperMessage": ".models",
    "FunctionCall": ".models",
    "FunctionDefinition": ".models",
    "ImageGeneration": ".models",
    "StoredMessage": ".models",
    "SystemMessage": ".models",
    "Tool": ".models",
    "ToolCall": ".models",
    "ToolMessage": ".models",
    "Usage": ".models",
    "UserMessage": ".models",
    "Finished": ".models.events",
    "LogprobsDelta": ".models.events",
    "ReasoningDelta": ".models.events",
    "RefusalDelta": ".models.events",
    "StreamEvent": ".models.events",
    "TextDelta": ".models.events",
    "ToolArgumentsDelta": ".models.events",
    "ToolCallDone": ".models.events",
    "ToolCallResult": ".models.events",
    "ToolCallStarted": ".models.events",
    "ToolRunEvent": ".models.events",
    "TurnStarted": ".models.events",
    "UsageReceived": ".models.events",
    "RateLimitInfo": ".models.ratelimit",
    "ParsedChatStream": "._parsed_stream",
    "ParsedChatCompletion": ".models.parsed",
    "StructuredOutputError": ".structured",
    "LengthFinishReasonError": ".structured",
    "ContentFilterFinishReasonError": ".structured",
    "FunctionTool": ".tools",
    "ToolResult": ".tools",
    "ResponseStream": "._response_stream",
    "ResponseToolRun": "._response_tool_loop",
    "ResponseToolRunResult": "._response_tool_loop",
    "Response": ".models.responses",
    "ResponseStreamEvent": ".models.response_events",
    "RawResponse": "._raw",
    "ResponseToolRunEvent": ".models.response_events",
    "Hooks": ".hooks",
    "CallInfo": ".hooks",
    "CallOutcome": ".hooks",
    "RetryInfo": ".hooks",
    "tool": ".tools",
}

__all__ = [
    "APIConnectionError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AssistantMessage",
    "AsyncSudo",
    "AuthenticationError",
    "BackoffStrategy",
    "BadRequestError",
    "CallInfo",
    "CallOutcome",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatCompletionList",
    "ChatCompletionMessage",
    "ChatDeletionConfirmation",
    "ChatMessageList",
    "ChatStream",
    "Choice",
    "ConflictError",
    "ContentFilterFinishReasonError",
    "DeveloperMessage",
    "Finished",
    "FunctionCall",
    "FunctionDefinition",
    "FunctionTool",
    "Hooks",
    "ImageGeneration",
    "InternalServerError",
    "InvalidRequestError",
    "LengthFinishReasonError",
    "LogprobsDelta",
    "MaxTurnsExceededError",
    "NotFoundError",
    "ParsedChatCompletion",
    "ParsedChatStream",
    "PermissionDeniedError",
    "RateLimitError",
    "RateLimitInfo",
    "RawResponse",
    "ReasoningDelta",
    "RefusalDelta",
    "Response",
    "ResponseMaxTurnsExceededError",
    "ResponseStream",
    "ResponseStreamEvent",
    "ResponseToolRun",
    "ResponseToolRunEvent",
    "ResponseToolRunResult",
    "RetryConfig",
    "RetryInfo",
    "StoredMessage",
    "StreamAssembler",
    "StreamError",
    "StreamEvent",
    "StreamRequest",
    "StreamStatistics",
    "StructuredOutputError",
    "Sudo",
    "SudoError",
    "SystemMessage",
    "TLSCertificateError",
    "TextDelta",
    "Timeout",
    "Tool",
    "ToolArgumentsDelta",
    "ToolCall",
    "ToolCallDone",
    "ToolCallResult",
    "ToolCallStarted",
    "ToolMessage",
    "ToolResult",
    "ToolRun",
    "ToolRunEvent",
    "ToolRunResult",
    "TurnStarted",
    "UnprocessableEntityError",
    "Usage",
    "UsageReceived",
    "UserMessage",
    "__version__",
    "tool",
]


def __getattr__(name: str) -> Any:
    if name == "batch":  # the subpackage, loaded on first use like the rest
        return importlib.import_module(".batch", __name__)
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'sudo_stream' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
