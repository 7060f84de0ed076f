"""The `ollama` backend: chat over Ollama's native API (`POST /api/chat`), whole or streamed as NDJSON;
answers among fixed choices through a JSON schema `format`.

One pool of connections per server (`llmnet_http.Upstream`, shared through `Resources`), connect and
read timeouts, retries with jittered exponential backoff on connection failures, 429 and 5xx (never
after a read timeout: a slow model is not asked twice), and one-line errors that name the URL and say
what to do: start Ollama (`ollama serve`), pull the model (`ollama pull NAME`), fix a parameter.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Mapping
from functools import partial
from typing import Any, ClassVar
from urllib.parse import urlsplit

from llmnet_http import (
    ChoiceAsker,
    Exchange,
    NoAnswer,
    NoFreeConnection,
    ReadFailed,
    ReadTimeout,
    Retryable,
    Upstream,
    UpstreamPoster,
    api_key_problem,
    client_timeout,
    iter_lines,
    mask_userinfo,
    plural,
    retry,
    status_problem,
)

from llmnet_core import (
    Backend,
    BackendError,
    BackendTimeoutError,
    ChatRequest,
    ChatResponse,
    ModelSpec,
    Problem,
    Resources,
    StreamChunk,
    ToolCallDelta,
    Usage,
    option_problems,
    parse_options,
)

from .config import (
    HINT,
    FieldError,
    OllamaOptions,
    is_local,
    server_base,
    snake,
    split_parameters,
)
from .features import SUPPORTED, answer_fields, messages_for
from .wire import (
    ChatPart,
    ErrorObject,
    NotChat,
    chat_part,
    error_text,
    is_missing_model,
    model_names,
    one_line,
    seconds_text,
)

log = logging.getLogger("llmnet.ollama")
USER_AGENT = "llmnet-ollama/0.1.0"
#: tokens of the JSON around a choice (`{"choice": "` and `"}`), with room for whitespace between them
JSON_OVERHEAD = 12


def parameter_layers(spec: ModelSpec, settings: OllamaOptions) -> list[tuple[str, Mapping[str, Any]]]:
    """The entry's parameter layers for `split_parameters`, each with its place: its Ollama `options`,
    its keep-alive and its `parameters` (a request's own come last, when it is sent)."""
    place, options = f"models.{spec.name}", spec.options or {}
    keep_alive_key = next((k for k in options if snake(str(k)) == "keep_alive"), None)
    return [
        (place, {"options": settings.options}),
        (place, {keep_alive_key: options[keep_alive_key]} if keep_alive_key else {}),
        (f"{place}.parameters", spec.parameters or {}),
    ]


class OllamaBackend(UpstreamPoster, Backend):
    """Chat with models served by Ollama, through its native API (`/api/chat`)."""

    description: ClassVar[str] = "Ollama's native chat API (/api/chat), local or remote"

    def __init__(self, spec: ModelSpec, resources: Resources) -> None:
        super().__init__(spec, resources)
        name = spec.name
        options = dict(spec.options or {})
        place = f"models.{name}"
        self.settings = parse_options(OllamaOptions, options, place, error=BackendError, hint=HINT)
        self.retry_policy = self.settings.retry_policy
        base = server_base(spec.url, f"{place}.url")
        if isinstance(base, Problem):
            raise BackendError(f"{base.path} {base.message}", hint=base.hint)
        self._base = base
        parts = urlsplit(self._base)
        self._origin = f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"
        self._chat_url = self._base + "/api/chat"
        self._shown_base = mask_userinfo(self._base)
        self._shown_url = mask_userinfo(self._chat_url)
        # Ollama itself needs no API key; proxies in front of it and ollama.com do
        self._headers, self._secrets = self.settings.request_headers(place, spec.api_key, USER_AGENT)
        self._post_headers = {**self._headers, "Content-Type": "application/json"}
        self._timeouts: Any = None  # llmnet_http.Timeouts, made on first use
        self._layers = parameter_layers(spec, self.settings)
        split_parameters(self._layers)  # a bad parameter fails now, naming its place
        self._choices = ChoiceAsker(log, spec.name, f"Ollama at {self._shown_base}", "a JSON schema format")

    @classmethod
    def check(cls, spec: ModelSpec) -> list[Problem]:
        """The problems of the entry's options, server address, API key and parameters: everything
        the backend refuses when the model is first used, so that `validate` refuses it too, alike."""
        place = f"models.{spec.name}"
        settings, problems = option_problems(OllamaOptions, spec.options, place, hint=HINT)
        base = server_base(spec.url, f"{place}.url")
        found = [base if isinstance(base, Problem) else None, api_key_problem(place, spec.api_key)]
        if settings is not None:
            try:
                split_parameters(parameter_layers(spec, settings))
            except FieldError as exc:
                found.append(exc.problem)
        return problems + [problem for problem in found if problem is not None]

    @property
    def location(self) -> str:
        """The `/api/chat` URL requests go to."""
        return self._shown_url

    # -- configuration -------------------------------------------------------------------------

    def _body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        layers = [*self._layers, ("parameters", request.parameters or {})]
        top, options = split_parameters(layers)
        body: dict[str, Any] = {
            "model": request.model or self.spec.wire_model or self.spec.name,
            "messages": messages_for(request.messages),
            "stream": stream,
        }
        if options:
            body["options"] = options
        body.update(top)
        body.update(answer_fields(request.answer))
        return body

    # -- helpers -------------------------------------------------------------------------------

    def _error(
        self,
        message: str,
        *,
        hint: str | None = None,
        status: int | None = None,
        kind: type[BackendError] = BackendError,
    ) -> BackendError:
        """A BackendError (or `kind`) on one line, with every secret (API key, auth headers) masked."""
        message = " ".join(message.split())
        for secret in self._secrets:
            message = message.replace(secret, "***")
            hint = hint.replace(secret, "***") if hint else hint
        return kind(message, hint=hint, url=self._shown_url, status=status)

    def _upstream(self) -> Upstream:
        """The pooled session of this server, shared by every model entry that uses it."""
        return self.resources.get(("llmnet-ollama", self._origin), self._new_upstream, close=Upstream.aclose)

    def _new_upstream(self) -> Upstream:
        return Upstream(self._origin)

    def _timeout(self) -> Any:
        """The timeouts of a chat request, made once."""
        if self._timeouts is None:
            self._timeouts = client_timeout(self.settings.connect_timeout, self.settings.timeout)
        return self._timeouts

    def _timeout_error(self) -> BackendError:
        return self._error(
            f"Ollama at {self._shown_url} did not answer within {seconds_text(self.settings.timeout)} s",
            hint="The first request loads the model, which can be slow: raise "
            f"models.{self.spec.name}.timeout (seconds), or keep the model loaded with keep-alive.",
            kind=BackendTimeoutError,
        )

    def _not_chat(self, what: str, data: bytes | str = b"") -> BackendError:
        text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
        excerpt = f": {one_line(text)}" if text.strip() else ""
        return self._error(
            f"{self._shown_url} answered something that is not an Ollama chat reply ({what}){excerpt}",
            hint=f"Is models.{self.spec.name}.url the address of an Ollama server (e.g. http://localhost:11434)?",
        )

    # -- sending with retries ------------------------------------------------------------------

    def _send(self, body: dict[str, Any]) -> Awaitable[Exchange]:
        """POST `body` and return the open 2xx response, retrying what is worth retrying (the retry loop's
        awaitable itself: a coroutine less on every call)."""
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        return retry(lambda: self._attempt(data, body["model"]), self.retry_policy)

    async def _attempt(self, data: bytes, model: str) -> Exchange:
        """One POST: the open 2xx response, or Retryable for a failure worth another attempt."""
        exchange = await self._post(
            self._chat_url,
            data,
            headers=self._post_headers,
            timeout=self._timeout(),
            slot_wait=self.settings.timeout,
        )
        status = exchange.status
        if 200 <= status < 300:
            return exchange
        retry_after = exchange.headers.get("Retry-After")
        answer = await exchange.read_and_close()
        if status == 404 and is_missing_model(answer):
            raise await self._missing_model(model)
        if status == 429 or status >= 500:
            raise Retryable(partial(self._status_error, status, answer), retry_after)
        raise self._status_error(status, answer, 1)

    def _unreachable(self, reason: str, timed_out: bool, attempts: int) -> BackendError:
        name = self.spec.name
        where = (
            f"models.{name}.url" if self.spec.url else f"models.{name}.url (none given: {self._shown_base})"
        )
        local = is_local(self._base)
        start = (
            'Start it with "ollama serve" (or open the Ollama app)'
            if local
            else "Start Ollama on that machine"
        )
        return self._error(
            f"could not reach Ollama at {self._shown_base} ({reason} after {plural(attempts, 'attempt')})",
            hint=f"Is Ollama running? {start}, or check {where}.",
            kind=BackendTimeoutError if timed_out else BackendError,
        )

    def _status_error(self, status: int, data: bytes, attempts: int) -> BackendError:
        name = self.spec.name
        message, hint = status_problem(
            self._shown_url,
            status,
            error_text(data),
            model=name,
            has_key=bool(self.spec.api_key),
            attempts=attempts,
            hints={
                404: f"Is models.{name}.url the address of an Ollama server (e.g. http://localhost:11434)?",
                400: f"Check models.{name}.parameters (Ollama options such as num_ctx, temperature, stop).",
                429: "Try again later, or send fewer requests at once.",
                "5xx": "Ollama failed; its log (ollama serve's output) says why.",
            },
        )
        return self._error(message, hint=hint, status=status)

    async def _installed(self) -> list[str] | None:
        """The models the server has (`GET /api/tags`); None when it cannot be asked."""
        wait = min(self.settings.timeout, 10.0)
        timeout = client_timeout(self.settings.connect_timeout, wait)
        try:
            exchange = await self._upstream().send(
                "GET", self._base + "/api/tags", headers=self._headers, timeout=timeout, slot_wait=wait
            )
        except (NoAnswer, NoFreeConnection, ReadTimeout, ReadFailed, TimeoutError):
            return None
        status = exchange.status
        data = await exchange.read_and_close()
        return model_names(data) if status == 200 else None

    async def _missing_model(self, model: str) -> BackendError:
        names = await self._installed()
        netloc = urlsplit(self._base).netloc.rsplit("@", 1)[-1]
        pull = f"ollama pull {model}" if is_local(self._base) else f"OLLAMA_HOST={netloc} ollama pull {model}"
        if names:
            shown = ", ".join(names[:10]) + (", …" if len(names) > 10 else "")
            have = f" Installed there: {shown}."
        else:
            have = " No models are installed there yet." if names == [] else ""
        return self._error(
            f'model "{model}" is not available on the Ollama server at {self._shown_base}',
            hint=f'Download it with "{pull}", or use another name in models.{self.spec.name}.model.{have}',
            status=404,
        )

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

    def _part(self, payload: Any, raw: bytes | str, *, mid_answer: bool) -> ChatPart:
        try:
            part = chat_part(payload)
        except ErrorObject as exc:
            when = "in the middle of the answer" if mid_answer else "instead of an answer"
            raise self._error(
                f"Ollama at {self._shown_base} reported an error {when}: {exc}",
                hint="Ollama's log (ollama serve's output) says more.",
            ) from None
        except NotChat as exc:
            raise self._not_chat(str(exc), raw) from None
        if part.done:
            log.debug("ollama %s: %s", self._shown_base, part.stats)
        return part

    def _parse_whole(self, data: bytes) -> ChatPart:
        """The answer in one JSON object; an object without `"done": true` is a piece of a stream that
        was cut (or a server that streamed one line despite `"stream": false`), not a whole answer."""
        try:
            payload = json.loads(data)
        except ValueError:
            raise self._not_chat("not JSON", data) from None
        part = self._part(payload, data, mid_answer=False)
        if not part.done:
            raise self._cut_short()
        return part

    def _cut_short(self) -> BackendError:
        return self._error(
            f"the answer from {self._shown_url} ended before Ollama said it was done",
            hint="Ollama may have stopped or crashed; its log (ollama serve's output) says why.",
        )

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Send the messages and return the whole answer, with token usage from Ollama's counts; with
        `request.choices`, an answer restricted to them (see `_complete_choice`)."""
        if request.choices:
            return await self._complete_choice(request)
        return await self._exchange(self._body(request, stream=False))

    async def _exchange(self, body: dict[str, Any]) -> ChatResponse:
        """POST one whole (not streamed) chat request and read its answer."""
        part = self._parse_whole(await self._read(await self._send(body)))
        return ChatResponse(
            text=part.text,
            usage=part.usage or Usage(),
            model=part.model or body["model"],
            finish_reason=_finish(part.finish_reason, bool(part.tool_calls)),
            tool_calls=part.tool_calls,
        )

    # -- answers restricted to fixed choices ------------------------------------------------------

    def constrains_choices(self) -> bool:
        """True until this server refused a JSON schema `format` (see `_complete_choice`)."""
        return self._choices.constrains

    def supports(self, feature: str) -> bool:
        """Tools and JSON answers (`format`); not a forced or single tool call, nor log-probabilities."""
        return feature in SUPPORTED

    def _choice_body(self, request: ChatRequest, *, constrained: bool) -> dict[str, Any]:
        """The request for an answer among `request.choices`: `format` a JSON schema of them when
        `constrained`, and `num_predict` capped to what such an answer needs unless the caller set it."""
        body = self._body(request, stream=False)
        if "num_predict" not in split_parameters([("parameters", request.parameters or {})])[1]:
            overhead = JSON_OVERHEAD if constrained else 0
            body["options"] = {**body.get("options", {}), "num_predict": request.choice_max_tokens(overhead)}
        if constrained:
            body["format"] = request.choice_schema()
        return body

    async def _complete_choice(self, request: ChatRequest) -> ChatResponse:
        """An answer among `request.choices`: asked with a JSON schema `format` and read back as the choice.
        A server that fails that (HTTP 400, as an Ollama before 0.5 does, or 5xx after the usual retries)
        is asked again once with a capped plain request; when that one is answered, the schema was the
        trouble, and this backend never sends it again (`ChoiceAsker`)."""
        return await self._choices.ask(
            request,
            lambda: self._exchange(self._choice_body(request, constrained=True)),
            lambda: self._exchange(self._choice_body(request, constrained=False)),
        )

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamChunk]:
        """Yield the answer as Ollama generates it; the last chunk carries usage and the finish reason.

        A stream that ends before an object with `"done": true` raises BackendError after its pieces.
        """
        body = self._body(request, stream=True)
        exchange = await self._send(body)
        content_type = exchange.headers.get("Content-Type", "")
        if "ndjson" not in content_type and "json" in content_type:  # a single object, maybe pretty
            part = self._parse_whole(await self._read(exchange))
            yield StreamChunk(text=part.text, tool_calls=_deltas(part, 0))
            yield StreamChunk(
                usage=part.usage, finish_reason=_finish(part.finish_reason, bool(part.tool_calls))
            )
            return
        lines = iter_lines(exchange)
        final: ChatPart | None = None
        calls = 0  # tool calls so far: each streamed call gets the next index
        try:
            async for line in lines:
                if not line.strip():
                    continue
                try:
                    payload = json.loads(line)
                except ValueError:
                    raise self._not_chat("a line that is not JSON", line) from None
                part = self._part(payload, line, mid_answer=True)
                if part.text or part.tool_calls:
                    yield StreamChunk(text=part.text, tool_calls=_deltas(part, calls))
                    calls += len(part.tool_calls)
                if part.done:
                    final = part
                    break
            if final is not None:  # read the end of the chunked body so the connection is reused
                async with asyncio.timeout(1.0):
                    async for _ in lines:
                        pass
        except ReadTimeout:
            raise self._timeout_error() from None
        except ReadFailed:
            raise self._error(
                f"the connection to {self._shown_url} broke in the middle of the answer",
                hint="Ollama may have stopped or crashed; its log (ollama serve's output) says why.",
            ) from None
        except TimeoutError:
            pass  # the server kept the stream open after "done"; the connection is simply dropped
        finally:
            await lines.aclose()
            exchange.close()
        if final is None:  # only `"done": true` says the answer is whole; a close alone proves nothing
            raise self._cut_short()
        yield StreamChunk(usage=final.usage, finish_reason=_finish(final.finish_reason, calls > 0))


def _finish(reason: str | None, called: bool) -> str | None:
    """OpenAI's finish reason: "tool_calls" for an answer that calls tools (Ollama says "stop")."""
    return "tool_calls" if called and reason == "stop" else reason


def _deltas(part: ChatPart, first: int) -> tuple[ToolCallDelta, ...]:
    """The whole tool calls of one streamed object as stream pieces, numbered from `first`."""
    return tuple(
        ToolCallDelta(first + n, call.id, call.name, call.arguments) for n, call in enumerate(part.tool_calls)
    )
