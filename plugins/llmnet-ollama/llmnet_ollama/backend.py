"""The `ollama` backend: chat over Ollama's native API (`POST /api/chat`), whole or streamed as NDJSON.

One pooled `httpx.AsyncClient` per server (shared through `Resources`), connect and read timeouts,
retries with exponential backoff on connection failures, 429 and 5xx (never after a read timeout: a
slow model is not asked twice), and one-line errors that name the URL and say what to do: start
Ollama (`ollama serve`), pull the model (`ollama pull NAME`), fix a parameter.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

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
    Usage,
    connect_reason,
    mask_userinfo,
    option_problems,
    parse_options,
    plural,
    status_problem,
)

from .config import HINT, OllamaOptions, base_url, default_url, is_local, snake, split_parameters
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

if TYPE_CHECKING:  # pragma: no cover
    import httpx

log = logging.getLogger("llmnet.ollama")
USER_AGENT = "llmnet-ollama/0.1.0"


def _httpx() -> Any:
    import httpx

    return httpx


class OllamaBackend(Backend):
    """Chat with models served by Ollama, through its native API (`/api/chat`)."""

    description: ClassVar[str] = "Ollama's native chat API (/api/chat), local or remote"

    def __init__(self, spec: ModelSpec, resources: Resources) -> None:
        super().__init__(spec, resources)
        name = spec.name
        options = dict(spec.options or {})
        place = f"models.{name}"
        self.settings = parse_options(OllamaOptions, options, place, error=BackendError, hint=HINT)
        self.backoff = self.settings.backoff
        self._base = base_url(spec.url) if spec.url else default_url()
        parts = urlsplit(self._base)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise BackendError(
                f"models.{name}.url {mask_userinfo(spec.url or self._base)!r} is not an http(s) URL",
                hint="Use Ollama's address, e.g. http://localhost:11434.",
            )
        self._origin = f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"
        self._chat_url = self._base + "/api/chat"
        self._shown_base = mask_userinfo(self._base)
        self._shown_url = mask_userinfo(self._chat_url)
        # Ollama itself needs no API key; proxies in front of it and ollama.com do
        self._headers, self._secrets = self.settings.request_headers(place, spec.api_key, USER_AGENT)
        keep_alive_key = next((k for k in options if snake(str(k)) == "keep_alive"), None)
        self._layers: list[tuple[str, Mapping[str, Any]]] = [
            (f"models.{name}", {"options": self.settings.options}),
            (f"models.{name}", {keep_alive_key: options[keep_alive_key]} if keep_alive_key else {}),
            (f"models.{name}.parameters", spec.parameters or {}),
        ]
        split_parameters(self._layers)  # a bad parameter fails now, naming its place

    @classmethod
    def check(cls, spec: ModelSpec) -> list[Problem]:
        """The problems of the entry's options (the same checks as when the model is first used)."""
        return option_problems(OllamaOptions, spec.options, f"models.{spec.name}", hint=HINT)[1]

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
            "messages": [m.to_dict() for m in request.messages],
            "stream": stream,
        }
        if options:
            body["options"] = options
        body.update(top)
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

    def _client(self) -> httpx.AsyncClient:
        httpx = _httpx()

        def factory() -> httpx.AsyncClient:
            return httpx.AsyncClient(
                limits=httpx.Limits(max_connections=64, max_keepalive_connections=16, keepalive_expiry=30),
                follow_redirects=False,
            )

        return self.resources.get(("llmnet-ollama", self._origin), factory, close=lambda c: c.aclose())

    def _timeout(self) -> httpx.Timeout:
        return _httpx().Timeout(self.settings.timeout, connect=self.settings.connect_timeout)

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

    async def _send(self, body: dict[str, Any]) -> httpx.Response:
        """POST `body` and return the open (streamed) 2xx response, retrying what is worth retrying."""
        httpx = _httpx()
        client = self._client()
        attempts = self.settings.retries + 1
        for attempt in range(1, attempts + 1):
            final = attempt == attempts
            reason: str | None = None
            try:
                request = client.build_request(
                    "POST", self._chat_url, json=body, headers=self._headers, timeout=self._timeout()
                )
                response = await client.send(request, stream=True)
            except httpx.ConnectTimeout:
                reason = f"no connection within {seconds_text(self.settings.connect_timeout)} s"
            except httpx.ConnectError as exc:
                reason = connect_reason(exc)
            except httpx.PoolTimeout:
                raise self._error(
                    f"no free connection to {self._shown_url} (too many requests in flight)",
                    kind=BackendTimeoutError,
                ) from None
            except httpx.TimeoutException:
                raise self._timeout_error() from None
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
                reason = "connection closed before an answer"
            except httpx.HTTPError as exc:
                raise self._error(f"request to {self._shown_url} failed: {type(exc).__name__}") from None
            if reason is not None:
                if final:
                    raise self._unreachable(reason, attempts)
                await asyncio.sleep(self.backoff.delay(attempt))
                continue
            status = response.status_code
            if 200 <= status < 300:
                return response
            try:
                data = await response.aread()
            except httpx.HTTPError:
                data = b""
            finally:
                await response.aclose()
            if status == 404 and is_missing_model(data):
                raise await self._missing_model(body["model"])
            if (status == 429 or status >= 500) and not final:
                await asyncio.sleep(self.backoff.wait(attempt, response.headers.get("retry-after")))
                continue
            raise self._status_error(status, data, attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def _unreachable(self, reason: str, attempts: int) -> BackendError:
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
            kind=BackendTimeoutError if reason.startswith("no connection within") else BackendError,
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
        httpx = _httpx()
        try:
            timeout = httpx.Timeout(min(self.settings.timeout, 10.0), connect=self.settings.connect_timeout)
            reply = await self._client().get(self._base + "/api/tags", headers=self._headers, timeout=timeout)
        except httpx.HTTPError:
            return None
        return model_names(reply.content) if reply.status_code == 200 else None

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

    async def _read(self, response: httpx.Response) -> bytes:
        httpx = _httpx()
        try:
            return await response.aread()
        except httpx.TimeoutException:
            raise self._timeout_error() from None
        except httpx.HTTPError:
            raise self._error(f"the connection to {self._shown_url} broke while reading the answer") from None
        finally:
            await response.aclose()

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
        try:
            payload = json.loads(data)
        except ValueError:
            raise self._not_chat("not JSON", data) from None
        return self._part(payload, data, mid_answer=False)

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Send the messages and return the whole answer, with token usage from Ollama's counts."""
        body = self._body(request, stream=False)
        part = self._parse_whole(await self._read(await self._send(body)))
        return ChatResponse(
            text=part.text,
            usage=part.usage or Usage(),
            model=part.model or body["model"],
            finish_reason=part.finish_reason,
        )

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamChunk]:
        """Yield the answer as Ollama generates it; the last chunk carries usage and the finish reason."""
        httpx = _httpx()
        body = self._body(request, stream=True)
        response = await self._send(body)
        content_type = response.headers.get("content-type", "")
        if "ndjson" not in content_type and "json" in content_type:  # a single object, maybe pretty
            part = self._parse_whole(await self._read(response))
            yield StreamChunk(text=part.text)
            yield StreamChunk(usage=part.usage, finish_reason=part.finish_reason)
            return
        lines = response.aiter_lines()
        final: ChatPart | None = None
        try:
            async for line in lines:
                if not line.strip():
                    continue
                try:
                    payload = json.loads(line)
                except ValueError:
                    raise self._not_chat("a line that is not JSON", line) from None
                part = self._part(payload, line, mid_answer=True)
                if part.text:
                    yield StreamChunk(text=part.text)
                if part.done:
                    final = part
                    break
            if final is not None:  # read the end of the chunked body so the connection is reused
                async with asyncio.timeout(1.0):
                    async for _ in lines:
                        pass
        except httpx.TimeoutException:
            raise self._timeout_error() from None
        except httpx.HTTPError:
            raise self._error(
                f"the connection to {self._shown_url} broke in the middle of the answer",
                hint="Ollama may have stopped or crashed; its log (ollama serve's output) says why.",
            ) from None
        except TimeoutError:
            pass  # the server kept the stream open after "done"; the connection is simply dropped
        finally:
            close = getattr(lines, "aclose", None)
            if close is not None:
                await close()
            await response.aclose()
        if final is None:
            raise self._error(
                f"the answer from {self._shown_url} ended before Ollama said it was done",
                hint="Ollama may have stopped or crashed; its log (ollama serve's output) says why.",
            )
        yield StreamChunk(usage=final.usage, finish_reason=final.finish_reason)
