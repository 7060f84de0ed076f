"""uvicorn's httptools protocol with bounds on a request's head (request line and headers).

uvicorn bounds only the idle time between two requests on a kept-alive connection (`timeout_keep_alive`),
and its header size limit (`h11_max_incomplete_event_size`) applies to the h11 protocol only: with
httptools, a connection that opens and stays silent, sends its headers a few bytes at a time, or sends
headers without end, is kept (and its headers held in memory) for ever. Here a head must arrive within
`--read-timeout` seconds and fit in MAX_HEAD bytes; otherwise the client gets an HTTP 408 or 431 in
OpenAI-style JSON and the connection is closed. The body's deadline is the chat handler's (`read_body`).

It also gives each request that is not pipelined `RequestSignals` (see `signals.py`): that its body has
all arrived, that its connection closed before the response was complete.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .signals import EXTENSION, RequestSignals
from .wire import error_body

#: the most bytes a request line and its headers may take (httptools itself sets no limit)
MAX_HEAD = 64 * 1024
#: seconds a refused connection stays half-closed, its input dropped, before it is closed
LINGER = 1.0
_REASONS = {408: "Request Timeout", 431: "Request Header Fields Too Large"}


def refusal(status: int, message: str, code: str) -> bytes:
    """A whole error response, bytes ready for the socket, that also closes the connection."""
    body = error_body(status, message, code=code)
    head = (
        f"HTTP/1.1 {status} {_REASONS[status]}\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class BoundedHeadProtocol(HttpToolsProtocol):
    """One connection. A head is being read from the moment the connection opens, and again after each
    request's body, until the headers are complete (uvicorn then hands the request to the app); its clock
    starts when it opens or at the first byte of a later request, and its bytes are counted."""

    def __init__(self, *args: Any, read_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_timeout = read_timeout
        #: when the head being read must be complete (loop time), None while none is being read; one
        #: timer per connection checks it, moved on lazily rather than made again for every request
        self._head_deadline: float | None = None
        self._head_timer: asyncio.TimerHandle | None = None
        self._reading_head = True
        self._head_begun = False
        self._head_bytes = 0
        self._refused = False
        self._signals: RequestSignals | None = None  # those of the request being read

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_clock()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_clock()
        cycle = self.cycle
        super().connection_lost(exc)
        if cycle is not None and cycle.disconnected:  # the response was not complete
            signals = (cycle.scope.get("extensions") or {}).get(EXTENSION)
            if signals is not None:
                signals.fire_gone()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._reading_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._reading_head and self._head_bytes > MAX_HEAD:
            message = f"the request's headers are larger than {MAX_HEAD} bytes"
            self._refuse(431, message, "headers_too_large")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_begun = True
        if self._head_deadline is None:
            self._start_clock()

    def on_headers_complete(self) -> None:
        self._stop_clock()
        self._reading_head = self._head_begun = False
        self._head_bytes = 0
        self._signals = None
        if self.cycle is None or self.cycle.response_complete:  # not pipelined: its connection is read
            self._signals = RequestSignals()
            self.scope["extensions"] = {**(self.scope.get("extensions") or {}), EXTENSION: self._signals}
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._reading_head = True
        if self._signals is not None:
            self._signals.body_complete = True
            self._signals = None

    def _start_clock(self) -> None:
        self._head_deadline = self.loop.time() + self._read_timeout
        if self._head_timer is None:
            self._head_timer = self.loop.call_at(self._head_deadline, self._check_clock)

    def _stop_clock(self) -> None:
        self._head_deadline = None  # the timer, if one is set, finds no deadline when it fires

    def _cancel_clock(self) -> None:
        self._head_deadline = None
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _check_clock(self) -> None:
        self._head_timer = None
        deadline = self._head_deadline
        if deadline is None:
            return
        if self.loop.time() < deadline:  # the clock started again after this timer was set
            self._head_timer = self.loop.call_at(deadline, self._check_clock)
            return
        self._head_deadline = None
        self._head_timed_out()

    def _head_timed_out(self) -> None:
        if self._answering():
            self._start_clock()  # a pipelined request's head waits for the response before it
            return
        if self._head_begun:
            message = f"the request's headers did not arrive within {self._read_timeout:g} s (--read-timeout)"
            self._refuse(408, message, "request_timeout")
        elif not self.transport.is_closing():
            self.transport.close()  # a connection that never sent a request is closed unanswered

    def _answering(self) -> bool:
        """True while a response is being written on this connection."""
        return self.cycle is not None and not self.cycle.response_complete

    def _refuse(self, status: int, message: str, code: str) -> None:
        """Answer the request being read with an error and close the connection (at once and unanswered
        while a response is being written, so as not to mix the two). The answer is followed by a
        half-close, and what the client still sends is dropped for LINGER seconds before the close: a
        close with unread input would reset the connection, and the client could lose the answer."""
        self._cancel_clock()
        if self._refused or self.transport.is_closing():
            return
        self._refused = True
        if self._answering():
            self.transport.close()
            return
        self.transport.write(refusal(status, message, code))
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER, self.transport.close)
