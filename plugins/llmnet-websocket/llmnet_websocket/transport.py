"""The `websocket` transport: sends a hook's message to a WebSocket peer; transforms use its reply."""

from __future__ import annotations

import json
import os
import socket
from functools import partial
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from llmnet_core import (
    FunctionSpec,
    HookCall,
    Problem,
    Resources,
    Transport,
    TransportError,
    TransportTimeoutError,
    decode_reply,
    option_problems,
    parse_options,
    substitute,
    substitute_json,
)

from .options import HINT, WebSocketOptions, place_of
from .pool import Peer, PeerTimeout


class WebSocketTransport(Transport):
    """Sends a message to a WebSocket peer; transform hooks and `ws` nodes wait for its one reply."""

    description = "WebSocket peers (ws:// and wss://), with pooled, reused connections"

    def __init__(self, spec: FunctionSpec, resources: Resources) -> None:
        super().__init__(spec, resources)
        self.options = parse_options(
            WebSocketOptions, spec.options, partial(place_of, spec.name), hint=HINT, unknown="warn"
        )
        template = self.options.message
        self._template: Any = _json_template(template) if isinstance(template, str) else template
        self._shown_url = display_url(self.options.url)

    @classmethod
    def check(cls, spec: FunctionSpec) -> list[Problem]:
        """The problems of the function's fields (the same checks as when it is first used)."""
        return option_problems(
            WebSocketOptions, spec.options, partial(place_of, spec.name), hint=HINT, unknown="warn"
        )[1]

    @property
    def peer(self) -> Peer:
        """The pipeline-wide connection pool for this function's URL and headers."""
        options = self.options
        key = (
            "llmnet-websocket",
            options.url,
            tuple(sorted(options.headers.items())),
            options.max_connections,
        )
        return self.resources.get(
            key,
            lambda: Peer(options.url, options.headers, options.max_connections),
            close=lambda peer: peer.aclose(),
        )

    async def call(self, call: HookCall) -> Any:
        """Send the message; return None for observe hooks, else the reply as `decode_reply` reads it."""
        message = self.render(call)
        try:
            if call.mode == "observe":
                await self.peer.send(message, self.spec.timeout)
                return None
            return parse_reply(await self.peer.exchange(message, self.spec.timeout))
        except PeerTimeout:
            what = f"sent no reply within {self.spec.timeout:g} s"
            raise self._error(call, what, TransportTimeoutError) from None
        except Exception as exc:  # noqa: BLE001 - every library failure becomes one clear line
            # a TimeoutError here is the opening handshake running past the function's timeout
            kind = TransportTimeoutError if isinstance(exc, TimeoutError) else TransportError
            raise self._error(call, describe_failure(exc), kind) from None

    def render(self, call: HookCall) -> str:
        """The message for this call: the template with variables substituted, or the hook's data."""
        template = self._template
        if template is None:
            data = call.data
            return data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
        if isinstance(template, str):
            return substitute(template, call.variables)
        return json.dumps(substitute_json(template, call.variables), ensure_ascii=False)

    def _error(
        self, call: HookCall, what: str, kind: type[TransportError] = TransportError
    ) -> TransportError:
        who = f'node "{call.node}"' if call.phase == "node" else f'function "{self.spec.name}"'
        return kind(
            f"{who}: WebSocket peer {self._shown_url} {what}",
            hint=f"is the peer running and answering? check {place_of(self.spec.name, 'url')}",
        )


def _json_template(text: str) -> Any:
    """A message written as JSON text becomes a structure, so substituted values keep it valid JSON."""
    if text.lstrip()[:1] in ("{", "["):
        try:
            return json.loads(text)
        except ValueError:
            pass
    return text


def parse_reply(raw: str | bytes) -> Any:
    """A text or binary (UTF-8) message, read by the rule every transport shares (`decode_reply`)."""
    return decode_reply(raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw)


def display_url(url: str) -> str:
    """The URL without credentials or query string, for messages (either may hold a secret)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def describe_failure(exc: BaseException) -> str:
    """One line saying what went wrong with the connection, from a websockets or OS exception."""
    from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

    if isinstance(exc, ConnectionClosed):
        frame = exc.rcvd or exc.sent
        code = f" (code {frame.code}{': ' + frame.reason if frame and frame.reason else ''})" if frame else ""
        return f"closed the connection{code}"
    if isinstance(exc, InvalidStatus):
        return f"refused the WebSocket handshake (HTTP {exc.response.status_code})"
    if isinstance(exc, InvalidHandshake):
        return f"failed the WebSocket handshake ({type(exc).__name__})"
    if isinstance(exc, TimeoutError):
        return "did not accept the connection in time"
    if isinstance(exc, OSError):
        # asyncio words a refused connection as "Connect call failed (...)"; the errno says it better
        known = exc.errno is not None and exc.errno > 0 and not isinstance(exc, socket.gaierror)
        reason = os.strerror(exc.errno) if known else exc.strerror or type(exc).__name__
        return f"could not be reached ({reason.lower()})"
    return f"failed: {type(exc).__name__}: {exc}"
