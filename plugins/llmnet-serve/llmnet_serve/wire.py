"""The OpenAI wire format: validating chat completion requests, building responses, chunks and errors.

Plain functions over dicts and bytes, with no server imports, so they are cheap to test and to call on
the hot path (orjson is imported on first use).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from llmnet_core import AnswerOptions, Message, parameter_problem

from .fields import NO_ANSWER_OPTIONS, FieldError, answer_options, tool_call_id, tool_calls

#: roles a client may send; `developer` is OpenAI's newer name for `system`
ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")

#: HTTP status → (OpenAI error type, default code)
ERROR_KINDS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "invalid_request"),
    401: ("authentication_error", "invalid_api_key"),
    404: ("invalid_request_error", "not_found"),
    405: ("invalid_request_error", "method_not_allowed"),
    408: ("invalid_request_error", "request_timeout"),
    413: ("invalid_request_error", "request_too_large"),
    429: ("rate_limit_error", "too_many_requests"),
    431: ("invalid_request_error", "headers_too_large"),
    500: ("server_error", "internal_error"),
    502: ("upstream_error", "pipeline_error"),
    503: ("server_error", "unavailable"),
    504: ("timeout_error", "backend_timeout"),
}


def _orjson() -> Any:
    import orjson

    return orjson


class RequestError(Exception):
    """A request that cannot be served; becomes an HTTP error with an OpenAI-style JSON body."""

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code


def error_body(
    status: int, message: str, *, param: str | None = None, code: str | None = None, trace: Any = None
) -> bytes:
    """The JSON body of an error response: `{"error": {"message", "type", "param", "code"}}`, plus the
    routing trace as `llmnet_trace` when the client asked for it."""
    kind, default_code = ERROR_KINDS.get(status, ("server_error", "error"))
    payload: dict[str, Any] = {
        "error": {"message": message, "type": kind, "param": param, "code": code or default_code}
    }
    if trace is not None:
        payload["llmnet_trace"] = trace
    return _orjson().dumps(payload)


@dataclass
class ChatInput:
    """A validated chat completion request: what the pipeline needs and how to answer."""

    messages: list[Message]
    stream: bool = False
    include_usage: bool = False
    trace: bool = False
    variables: dict[str, str] = field(default_factory=dict)
    #: the client's sampling parameters, for the answering model (`Pipeline.run(parameters=...)`)
    parameters: dict[str, Any] = field(default_factory=dict)
    #: the client's tools, response format and logprobs request (`Pipeline.run(answer=...)`)
    answer: AnswerOptions = NO_ANSWER_OPTIONS
    #: a legacy text completion (`/v1/completions`), answered as `text_completion` objects
    legacy: bool = False


def _fail(message: str, param: str) -> RequestError:
    return RequestError(400, message, param=param, code="invalid_value")


def _content(value: Any, where: str, role: str) -> str:
    """The text of a message's `content`: a string, null (assistant/tool only) or a list of text parts."""
    if isinstance(value, str):
        return value
    if value is None and role in ("assistant", "tool", "function"):
        return ""
    if isinstance(value, list):
        texts = []
        for index, part in enumerate(value):
            place = f"{where}[{index}]"
            if not isinstance(part, Mapping):
                raise _fail(f"{place} must be an object such as {{'type': 'text', 'text': '...'}}", place)
            if part.get("type") != "text":
                raise _fail(
                    f"{place}.type {part.get('type')!r} is not supported: this server takes text only",
                    f"{place}.type",
                )
            if not isinstance(part.get("text"), str):
                raise _fail(f"{place}.text must be a string", f"{place}.text")
            texts.append(part["text"])
        return "".join(texts)
    raise _fail(f"{where} must be a string or a list of text parts", where)


def _messages(value: Any) -> list[Message]:
    if not isinstance(value, list):
        if value is None:
            raise RequestError(400, "'messages' is required", param="messages", code="missing_required")
        raise _fail("'messages' must be a list of {'role', 'content'} objects", "messages")
    if not value:
        raise _fail("'messages' is empty: send at least one user message", "messages")
    messages = []
    for index, item in enumerate(value):
        where = f"messages[{index}]"
        if not isinstance(item, dict) and not isinstance(item, Mapping):  # a parsed body holds dicts
            raise _fail(f"{where} must be an object with 'role' and 'content'", where)
        role = item.get("role")
        if role not in ROLES:
            allowed = ", ".join(sorted(ROLES))
            raise _fail(f"{where}.role must be one of {allowed}, got {role!r}", f"{where}.role")
        content = item.get("content")
        text = content if isinstance(content, str) else _content(content, f"{where}.content", role)
        name = item.get("name")
        if name is not None and not isinstance(name, str):
            raise _fail(f"{where}.name must be a string", f"{where}.name")
        try:
            calls = tool_calls(item.get("tool_calls"), f"{where}.tool_calls") if role == "assistant" else ()
            answered = tool_call_id(item, where) if role == "tool" else None
        except FieldError as exc:
            raise _fail(exc.message, exc.param) from None
        messages.append(Message("system" if role == "developer" else role, text, calls, answered, name))
    if not any(message.role == "user" for message in messages):
        raise _fail("'messages' has no user message: the pipeline routes on the last one", "messages")
    return messages


#: request field → the per-request sampling parameter it sets, in the order they are checked; the newer
#: `max_completion_tokens` comes after `max_tokens`, so it wins when both are given
SAMPLING_FIELDS: dict[str, str] = {
    "temperature": "temperature",
    "top_p": "top_p",
    "max_tokens": "max_tokens",
    "max_completion_tokens": "max_tokens",
    "seed": "seed",
    "stop": "stop",
}


def _sampling(data: Mapping[str, Any]) -> dict[str, Any]:
    """The sampling fields the pipeline passes to its answering model; null means "not given". Each one is
    checked by the core's rule (`parameter_problem`), the one `Pipeline.run(parameters=...)` applies."""
    out: dict[str, Any] = {}
    if data.keys().isdisjoint(SAMPLING_FIELDS):
        return out
    for name, parameter in SAMPLING_FIELDS.items():
        value = data.get(name)
        if value is None:
            continue
        problem = parameter_problem(parameter, value)
        if problem is not None:
            raise _fail(f"'{name}' {problem}", name)
        out[parameter] = value
    return out


def _flag(value: Any, param: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _fail(f"'{param}' must be true or false", param)
    return value


def _llmnet_options(value: Any, allow_variables: bool) -> tuple[bool, dict[str, str]]:
    if value is None:
        return False, {}
    if not isinstance(value, Mapping):
        raise _fail("'llmnet' must be an object such as {'trace': true}", "llmnet")
    trace = _flag(value.get("trace"), "llmnet.trace")
    raw = value.get("variables")
    if raw is None:
        return trace, {}
    if not allow_variables:
        raise RequestError(
            400,
            "'llmnet.variables' is not accepted by this server (start it with --allow-client-variables)",
            param="llmnet.variables",
            code="variables_not_allowed",
        )
    if not isinstance(raw, Mapping):
        raise _fail("'llmnet.variables' must be an object of NAME: string", "llmnet.variables")
    variables = {}
    for name, text in raw.items():
        place = f"llmnet.variables.{name}"
        if not isinstance(name, str) or not _VARIABLE_NAME.fullmatch(name):
            raise _fail(f"{place}: names are letters, digits and _ (not starting with a digit)", place)
        if not isinstance(text, str | int | float) or isinstance(text, bool):
            raise _fail(f"{place} must be a string or a number", place)
        variables[name] = str(text)
    return trace, variables


def json_body(body: bytes, what: str) -> dict[str, Any]:
    """A request body as a JSON object; raises RequestError (400) saying what is wrong with it."""
    orjson = _orjson()
    if not body:
        raise RequestError(400, f"the request body is empty: send a JSON {what} request")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RequestError(400, f"the request body is not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(data, dict):
        raise RequestError(400, "the request body must be a JSON object", code="invalid_json")
    return data


def request_input(data: Mapping[str, Any], messages: list[Message], allow_variables: bool) -> ChatInput:
    """What every completion request has besides its messages: `model` (any string), `n` (1), streaming
    and its options, llmnet's own options, sampling parameters; raises RequestError naming the field."""
    model = data.get("model")
    if model is not None and not isinstance(model, str):
        raise _fail("'model' must be a string", "model")
    n = data.get("n")
    if n is not None and (isinstance(n, bool) or n != 1):
        raise _fail("'n' must be 1: this server returns one choice", "n")
    stream = _flag(data.get("stream"), "stream")
    options = data.get("stream_options")
    include_usage = False
    if options is not None:
        if not isinstance(options, Mapping):
            raise _fail(
                "'stream_options' must be an object such as {'include_usage': true}", "stream_options"
            )
        include_usage = _flag(options.get("include_usage"), "stream_options.include_usage")
    trace, variables = _llmnet_options(data.get("llmnet"), allow_variables)
    return ChatInput(messages, stream, include_usage, trace, variables, _sampling(data))


def parse_chat_request(body: bytes, *, allow_variables: bool = False) -> ChatInput:
    """Validate a chat completion request body; raises RequestError (400) naming the faulty field."""
    data = json_body(body, "chat completion")
    messages = _messages(data.get("messages"))
    chat = request_input(data, messages, allow_variables)
    try:
        chat.answer = answer_options(data)
    except FieldError as exc:
        raise _fail(exc.message, exc.param) from None
    return chat


def request_id_from(header: str | None) -> str | None:
    """The client's `x-request-id` when it is a sane token (else None: the server makes one)."""
    if header and _REQUEST_ID.fullmatch(header):
        return header
    return None


def completion(
    request_id: str,
    created: int,
    model: str,
    text: str,
    usage: Mapping[str, int],
    trace: Any = None,
    finish_reason: str = "stop",
    tool_calls: list[dict[str, Any]] | None = None,
    logprobs: list[dict[str, Any]] | None = None,
) -> bytes:
    """A whole `chat.completion` object, as JSON bytes: the text, or the tool calls (`content` null when
    there is no text with them), and the tokens' log-probabilities when asked for."""
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if tool_calls:
        message = {"role": "assistant", "content": text or None, "tool_calls": tool_calls}
    payload: dict[str, Any] = {
        "id": f"chatcmpl-{request_id}",
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": {"content": logprobs, "refusal": None} if logprobs is not None else None,
                "finish_reason": finish_reason,
            }
        ],
        "usage": usage,
    }
    if trace is not None:
        payload["llmnet_trace"] = trace
    return _orjson().dumps(payload)


class ChunkWriter:
    """Builds the `data: {...}` lines of one streamed completion (`chat.completion.chunk` objects)."""

    def __init__(self, request_id: str, created: int, model: str) -> None:
        self._base = {
            "id": f"chatcmpl-{request_id}",
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
        }
        self._dumps = _orjson().dumps

    def _event(self, payload: dict[str, Any]) -> bytes:
        return b"data: " + self._dumps(payload) + b"\n\n"

    def first(self, text: str) -> bytes:
        """The opening chunk: the role, and the first piece of text."""
        delta = {"role": "assistant", "content": text}
        return self._event({**self._base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})

    def delta(self, delta: dict[str, Any], logprobs: list[dict[str, Any]] | None = None) -> bytes:
        """A chunk carrying `delta` (text, pieces of tool calls), and its tokens' log-probabilities."""
        choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": None}
        if logprobs is not None:
            choice["logprobs"] = {"content": logprobs, "refusal": None}
        return self._event({**self._base, "choices": [choice]})

    def text(self, text: str) -> bytes:
        """A chunk carrying one more piece of the answer."""
        delta = {"content": text}
        return self._event({**self._base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})

    def finish(self, trace: Any = None, reason: str = "stop") -> bytes:
        """The chunk with the finish reason (and the trace, when this is the last one)."""
        payload: dict[str, Any] = {
            **self._base,
            "choices": [{"index": 0, "delta": {}, "finish_reason": reason}],
        }
        if trace is not None:
            payload["llmnet_trace"] = trace
        return self._event(payload)

    def usage(self, usage: Mapping[str, int], trace: Any = None) -> bytes:
        """The usage chunk sent when `stream_options.include_usage` is set (no choices)."""
        payload: dict[str, Any] = {**self._base, "choices": [], "usage": usage}
        if trace is not None:
            payload["llmnet_trace"] = trace
        return self._event(payload)

    def error(self, status: int, message: str, *, code: str | None = None, trace: Any = None) -> bytes:
        """An `error` event for a failure after the stream started (the stream ends after it)."""
        kind, default_code = ERROR_KINDS.get(status, ("server_error", "error"))
        error = {"message": message, "type": kind, "param": None, "code": code or default_code}
        payload: dict[str, Any] = {"error": error}
        if trace is not None:
            payload["llmnet_trace"] = trace
        return self._event(payload)

    DONE = b"data: [DONE]\n\n"
