"""The `openai-api` backend: chat completions over HTTP against vLLM, llama.cpp's server, hosted APIs...

One pool of connections per server (shared through `Resources`, see `llmnet_http.Upstream`), bounded
timeouts, retries with jittered exponential backoff on connection failures, 429 and 5xx (never on read
timeouts: a slow model is not asked twice), SSE streaming, and one-line errors that name the URL and
never contain the API key. The HTTP client is imported on first use so that loading the plugin stays cheap.
"""

from __future__ import annotations

import asyncio
import difflib
import logging
from collections.abc import AsyncIterator, Awaitable, Mapping
from functools import partial
from typing import Any, ClassVar
from urllib.parse import urlsplit

from llmnet_http import (
    ChoiceAsker,
    Exchange,
    HTTPBackendOptions,
    ReadFailed,
    ReadTimeout,
    Retryable,
    Upstream,
    UpstreamPoster,
    api_key_problem,
    client_timeout,
    iter_lines,
    json_bytes,
    json_value,
    mask_userinfo,
    plural,
    retry,
    retry_after_seconds,
    status_problem,
    url_problem,
)

from llmnet_core import (
    FEATURES,
    Backend,
    BackendError,
    BackendTimeoutError,
    ChatRequest,
    ChatResponse,
    ModelSpec,
    Problem,
    Redactor,
    Resources,
    StreamChunk,
    ToolCallDelta,
    Usage,
    option_problems,
    parse_options,
)

from .choices import capped, constrained
from .features import answer_fields, logprobs_from, tool_calls_from, tool_deltas_from
from .options import parameter_problems
from .wire import (
    DEFAULT_URLS,
    USER_AGENT,
    SSEParser,
    chat_completions_url,
    error_excerpt,
    one_line,
    seconds_text,
    usage_from,
)

HINT = "an openai-api model takes url, api-key, model, parameters and: {known}"
log = logging.getLogger("llmnet.openai")


class OpenAIOptions(HTTPBackendOptions):
    """A model entry's own keys: the shared HTTP options, and `runner` for a default URL."""

    runner: str | None = None


def server_url(spec: ModelSpec, runner: str | None) -> str | Problem:
    """The chat completions URL of a model entry (its url, else its runner's default address), or the
    problem: no address, or one that `url_problem` refuses. `check` and the constructor both ask here,
    so `validate` refuses what a run would, in the same words."""
    place = f"models.{spec.name}.url"
    written = spec.url or DEFAULT_URLS.get(runner or "")
    if not written:
        return Problem(place, "is missing", _missing_url_hint(spec))
    url = chat_completions_url(written)
    reason = url_problem(url, written)
    return (
        url if reason is None else Problem(place, reason, "Use an address such as http://localhost:8000/v1.")
    )


def _missing_url_hint(spec: ModelSpec) -> str:
    """How to give a missing address: the key that looks like a typo of `url` (`ulr`), else an example."""
    for key in map(str, spec.options):
        close = difflib.get_close_matches(key, ["url", "endpoint"], n=1, cutoff=0.6)
        if close:
            return f'the entry has "{key}": did you mean "{close[0]}"?'
    return f"Set models.{spec.name}.url to the server's address, e.g. http://localhost:8000/v1."


async def _drain(lines: AsyncIterator[str]) -> None:
    async for _ in lines:
        pass


class OpenAIBackend(UpstreamPoster, Backend):
    """Chat completions from any OpenAI-compatible server (vLLM, llama.cpp server, hosted APIs)."""

    description: ClassVar[str] = "OpenAI-compatible chat completions over HTTP (vLLM, llama.cpp, hosted)"

    def __init__(self, spec: ModelSpec, resources: Resources) -> None:
        super().__init__(spec, resources)
        place = f"models.{spec.name}"
        options = parse_options(OpenAIOptions, spec.options, place, error=BackendError, hint=HINT)
        url = server_url(spec, options.runner)
        if isinstance(url, Problem):
            raise BackendError(f"{url.path} {url.message}", hint=url.hint)
        self._url = url
        parts = urlsplit(self._url)
        self._origin = f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"
        self._shown_url = mask_userinfo(self._url)
        self.timeout = options.timeout
        self.connect_timeout = options.connect_timeout
        self.backoff = options.backoff
        self.retry_policy = options.retry_policy
        self._headers, secrets = options.request_headers(place, spec.api_key, USER_AGENT)
        self._headers["Content-Type"] = "application/json"
        # its own secrets, masked in every form (and in excerpts) even outside a pipeline
        self._redact = Redactor(secrets)
        self._timeouts: Any = None  # llmnet_http.Timeouts, made on first use
        self._runner = options.runner
        self._choices = ChoiceAsker(log, spec.name, self._shown_url, "an answer restricted to fixed choices")

    @classmethod
    def check(cls, spec: ModelSpec) -> list[Problem]:
        """The problems of the entry's options, server address and API key: everything the backend
        refuses when the model is first used, so that `validate` refuses it too, in the same words."""
        place = f"models.{spec.name}"
        options, problems = option_problems(OpenAIOptions, spec.options, place, hint=HINT)
        runner = options.runner if options else spec.options.get("runner")
        url = server_url(spec, runner if isinstance(runner, str) else None)
        found = [url if isinstance(url, Problem) else None, api_key_problem(place, spec.api_key)]
        return problems + [problem for problem in found if problem is not None] + parameter_problems(spec)

    # -- configuration -------------------------------------------------------------------------

    @property
    def location(self) -> str:
        """The full chat completions URL requests go to."""
        return self._url

    # -- helpers -------------------------------------------------------------------------------

    def _error(
        self,
        message: str,
        *,
        hint: str | None = None,
        status: int | None = None,
        kind: type[BackendError] = BackendError,
    ) -> BackendError:
        """A BackendError on one line, with every secret (API key, auth headers) masked."""
        message = self._redact(" ".join(message.split()))
        hint = self._redact(hint) if hint else hint
        return kind(message, hint=hint, url=self._shown_url, status=status)

    def _upstream(self) -> Upstream:
        """The pooled session of this server, shared by every model entry that uses it."""
        return self.resources.get(("llmnet-openai", self._origin), self._new_upstream, close=Upstream.aclose)

    def _new_upstream(self) -> Upstream:
        return Upstream(self._origin)

    def _body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {**self.spec.parameters, **request.parameters}
        body["model"] = request.model or self.spec.wire_model or self.spec.name
        body["messages"] = [m.to_dict() for m in request.messages]
        body.update(answer_fields(request.answer))
        body.pop("stream", None)
        options = body.pop("stream_options", None)
        if stream:
            body["stream"] = True
            body["stream_options"] = {
                **(options if isinstance(options, Mapping) else {}),
                "include_usage": True,
            }
        return body

    def _timeout(self) -> Any:
        """The timeouts of a request, made once."""
        if self._timeouts is None:
            self._timeouts = client_timeout(self.connect_timeout, self.timeout)
        return self._timeouts

    def _timeout_error(self) -> BackendError:
        return self._error(
            f"{self._shown_url} did not answer within {seconds_text(self.timeout)} s",
            hint=f"Raise models.{self.spec.name}.timeout (seconds) if the model is just slow, "
            "or check that the server is not overloaded.",
            kind=BackendTimeoutError,
        )

    def _status_error(self, status: int, data: bytes, attempts: int = 1) -> BackendError:
        name = self.spec.name
        message, hint = status_problem(
            self._shown_url,
            status,
            error_excerpt(data),
            model=name,
            has_key=bool(self.spec.api_key),
            attempts=attempts,
            hints={
                404: f"Check models.{name}.url and the model name sent on the wire.",
                400: f"Check the model name and models.{name}.parameters.",
                422: f"Check the model name and models.{name}.parameters.",
                "5xx": "The server failed; its logs say why.",
            },
        )
        return self._error(message, hint=hint, status=status)

    def _not_completion(self, data: bytes | str, what: str = "a chat completion") -> BackendError:
        text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
        return self._error(
            f"{self._shown_url} answered something that is not {what}: {one_line(text)}",
            hint=f"Is models.{self.spec.name}.url an OpenAI-compatible server?",
        )

    # -- sending with retries ------------------------------------------------------------------

    def _send(self, body: dict[str, Any]) -> Awaitable[Exchange]:
        """POST `body` and return the open 2xx response, retrying what is worth retrying (the retry loop's
        awaitable itself: a coroutine less on every call)."""
        return retry(partial(self._attempt, json_bytes(body)), self.retry_policy)

    async def _attempt(self, data: bytes) -> Exchange:
        """One POST: the open 2xx response, or Retryable for a failure worth another attempt."""
        exchange = await self._post(
            self._url, data, headers=self._headers, timeout=self._timeout(), slot_wait=self.timeout
        )
        status = exchange.status
        if 200 <= status < 300:
            return exchange
        retry_after = exchange.headers.get("Retry-After")
        answer = await exchange.read_and_close()
        if status == 429:
            raise self._rate_limited(retry_after, answer)
        if status >= 500:
            raise Retryable(partial(self._status_error, status, answer), retry_after)
        raise self._status_error(status, answer)

    def _unreachable(self, reason: str, timed_out: bool, attempts: int) -> BackendError:
        return self._error(
            f"could not reach {self._shown_url} ({reason} after {plural(attempts, 'attempt')})",
            hint=f"Is the server running? Check models.{self.spec.name}.url.",
            kind=BackendTimeoutError if timed_out else BackendError,
        )

    def _rate_limited(self, retry_after: str | None, answer: bytes) -> BackendError | Retryable:
        """HTTP 429: worth another attempt, unless the server asks for a wait past max-retry-wait."""
        asked = retry_after_seconds(retry_after)
        if asked is not None and asked > self.backoff.max_wait:
            return self._error(
                f"{self._shown_url} is rate limiting requests (HTTP 429, Retry-After: {retry_after}), "
                f"longer than max-retry-wait {seconds_text(self.backoff.max_wait)} s",
                hint=f"Try again later, or raise models.{self.spec.name}.max-retry-wait.",
                status=429,
            )

        def give_up(attempts: int) -> BackendError:
            return self._error(
                f"{self._shown_url} is rate limiting requests (HTTP 429 after "
                f"{plural(attempts, 'attempt')}): {error_excerpt(answer)}",
                hint="Try again later, or send fewer requests at once.",
                status=429,
            )

        return Retryable(give_up, retry_after)

    async def _read(self, exchange: Exchange) -> bytes:
        try:
            return await exchange.read()
        except ReadTimeout:
            raise self._timeout_error() from None
        except ReadFailed:
            raise self._error(f"the connection to {self._shown_url} broke while reading the answer") from None
        finally:
            exchange.close()

    # -- answers -------------------------------------------------------------------------------

    def _parse_completion(self, data: bytes, sent_model: str) -> ChatResponse:
        try:
            payload = json_value(data)
        except ValueError:
            raise self._not_completion(data) from None
        if isinstance(payload, dict) and payload.get("error") and "choices" not in payload:
            raise self._error(f"{self._shown_url} answered an error: {error_excerpt(data)}")
        try:
            choice = payload["choices"][0]
            content = choice["message"]["content"]
            calls = tool_calls_from(choice["message"])
            logprobs = logprobs_from(choice)
        except (KeyError, IndexError, TypeError, AttributeError, ValueError):
            raise self._not_completion(data) from None
        if not isinstance(content, str) and not (content is None and calls):
            raise self._not_completion(data)
        finish = choice.get("finish_reason")
        model = payload.get("model")
        return ChatResponse(
            text=content or "",
            usage=usage_from(payload.get("usage")) or Usage(),
            model=model if isinstance(model, str) and model else sent_model,
            finish_reason=finish if isinstance(finish, str) else None,
            tool_calls=calls,
            logprobs=logprobs,
        )

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Send the messages and return the whole answer, with token usage when the server reports it;
        with `request.choices`, an answer restricted to them (see `_complete_choice`)."""
        if request.choices:
            return await self._complete_choice(request)
        return await self._exchange(self._body(request, stream=False))

    async def _exchange(self, body: dict[str, Any]) -> ChatResponse:
        """POST one whole (not streamed) chat completion request and read its answer."""
        exchange = await self._send(body)
        return self._parse_completion(await self._read(exchange), body["model"])

    # -- answers restricted to fixed choices -----------------------------------------------------

    def constrains_choices(self) -> bool:
        """True until this server refused a structured-output request (see `_complete_choice`)."""
        return self._choices.constrains

    def supports(self, feature: str) -> bool:
        """Every feature: tools, response formats and logprobs are OpenAI's own fields, passed on as they
        are (a server that lacks one answers an error, which names the server)."""
        return feature in FEATURES

    async def _complete_choice(self, request: ChatRequest) -> ChatResponse:
        """An answer among `request.choices`, asked as `choices.constrained` says for this server and read
        back as the choice. A server that fails that (HTTP 400, 422 or 5xx, after the usual retries) is
        asked again once with a capped plain request; when that one is answered, the constraint was the
        trouble, and this backend never sends it again (`ChoiceAsker`)."""
        return await self._choices.ask(
            request,
            lambda: self._exchange(constrained(self._body(request, stream=False), request, self._runner)),
            lambda: self._exchange(capped(self._body(request, stream=False), request)),
        )

    def _stream_event(self, data: str) -> tuple[StreamChunk, bool]:
        """The piece (text, tool calls, logprobs), usage and finish reason carried by one SSE `data`
        payload, and whether it carried a choice (a usage-only chunk has `choices: []`)."""
        try:
            payload = json_value(data)
        except ValueError:
            raise self._not_completion(data, "a chat completion stream") from None
        if not isinstance(payload, dict):
            raise self._not_completion(data, "a chat completion stream")
        if payload.get("error"):
            raise self._error(
                f"{self._shown_url} reported an error mid-answer: {error_excerpt(data.encode())}"
            )
        text, finish, calls, logprobs = "", None, (), ()
        choices = payload.get("choices")
        has_choice = isinstance(choices, list) and bool(choices) and isinstance(choices[0], dict)
        if has_choice:
            delta = choices[0].get("delta")
            if isinstance(delta, dict) and isinstance(delta.get("content"), str):
                text = delta["content"]
            try:
                calls = tool_deltas_from(delta) if isinstance(delta, dict) else ()
                logprobs = logprobs_from(choices[0]) or ()
            except ValueError:
                raise self._not_completion(data, "a chat completion stream") from None
            reason = choices[0].get("finish_reason")
            finish = reason if isinstance(reason, str) else None
        chunk = StreamChunk(text, usage_from(payload.get("usage")), finish, calls, logprobs)
        return chunk, has_choice

    def _check_whole(self, events: int, ignored: list[str], answered: bool, ended: bool) -> None:
        """Raise unless a stream that closed was a whole answer: it carried a choice, and the server
        marked its end (a finish_reason or [DONE]). A close alone proves nothing: a crashed server, a
        cut proxy and a reset on a body without a length all end a stream that way."""
        if not events:
            raise self._not_completion(" ".join(ignored), "a chat completion stream")
        if not answered:
            raise self._error(
                f"{self._shown_url} sent a chat completion stream with no answer in it (no choices)",
                hint=f"Is models.{self.spec.name}.url an OpenAI-compatible server? Its log may say why.",
            )
        if not ended:
            raise self._error(
                f"the answer from {self._shown_url} ended before the server said it was complete "
                "(no finish_reason, no [DONE])",
                hint="The server (or a proxy on the way) stopped mid-answer; the server's log may say why.",
            )

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamChunk]:
        """Yield the answer as it is generated; the last chunk carries usage and the finish reason.

        A stream that ends before the server marks its end raises BackendError after the pieces it gave.
        """
        body = self._body(request, stream=True)
        exchange = await self._send(body)
        content_type = exchange.headers.get("Content-Type", "")
        if "json" in content_type and "event-stream" not in content_type:  # the server ignored stream
            reply = self._parse_completion(await self._read(exchange), body["model"])
            deltas = tuple(
                ToolCallDelta(i, c.id, c.name, c.arguments) for i, c in enumerate(reply.tool_calls)
            )
            yield StreamChunk(text=reply.text, tool_calls=deltas, logprobs=reply.logprobs or ())
            yield StreamChunk(usage=reply.usage, finish_reason=reply.finish_reason)
            return
        usage: Usage | None = None
        finish: str | None = None
        parser = SSEParser()
        lines = iter_lines(exchange)
        events = 0
        ignored: list[str] = []  # the start of what was not an event, to quote if nothing else came
        answered = ended = False  # a choice came; the server marked the end ([DONE] or a finish_reason)
        try:
            done = False
            while not done:
                try:
                    line = await anext(lines)
                except StopAsyncIteration:
                    payloads, done = parser.flush(), True
                else:
                    payloads = parser.feed(line)
                    if not payloads and line.strip() and len(ignored) < 5:
                        ignored.append(line)
                for payload in payloads:
                    events += 1
                    if payload.strip() == "[DONE]":
                        done = ended = True
                        break
                    piece, has_choice = self._stream_event(payload)
                    usage = piece.usage or usage
                    finish = piece.finish_reason or finish
                    answered = answered or has_choice
                    if piece.text or piece.tool_calls or piece.logprobs:
                        yield StreamChunk(
                            text=piece.text, tool_calls=piece.tool_calls, logprobs=piece.logprobs
                        )
            # read the rest (normally just the end of the chunked body) so the connection can be reused
            async with asyncio.timeout(1.0):
                await _drain(lines)
        except ReadTimeout:
            raise self._timeout_error() from None
        except ReadFailed:
            raise self._error(
                f"the connection to {self._shown_url} broke in the middle of the answer"
            ) from None
        except TimeoutError:
            pass  # the server kept the stream open after [DONE]; the connection is simply dropped
        finally:
            await lines.aclose()
            exchange.close()
        self._check_whole(events, ignored, answered, ended or finish is not None)
        if usage is not None or finish is not None:
            yield StreamChunk(usage=usage, finish_reason=finish)
