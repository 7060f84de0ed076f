"""Lifecycle events of a request, for observers (metrics, traces, request logs): the engine opens a
`span` around the request, each hop, each routing decision, each hook and each model call; observers
see each span start and end. With no observer a span costs a few attribute lookups and nothing else.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, ClassVar

log = logging.getLogger("llmnet.events")

__all__ = [
    "Observer",
    "Span",
    "add_observer",
    "current_span",
    "flush_observers",
    "install_observers",
    "observers",
    "remove_observer",
    "span",
]


@dataclass(eq=False, slots=True)
class Span:
    """One timed piece of a request, seen by observers when it starts and when it ends.

    `kind`: "request" | "hop" | "route" | "hook" | "model_call". `name`: the request id (request), the
    node's name (hop, route, model_call) or the function's name (hook). `attributes` grow while the
    span is open; `error` is set (already redacted) when the span ended by an exception, and the
    attribute `error_type` to the exception's class name (`BackendTimeoutError`, `CancelledError`).
    """

    kind: str
    name: str
    attributes: dict[str, Any]
    parent: Span | None
    start_ns: int
    end_ns: int | None = None
    error: str | None = None
    #: False for the stand-in span handed out when no observer listens: then skip setting attributes
    recording: ClassVar[bool] = True

    @property
    def root(self) -> Span:
        """The outermost span (the request's)."""
        found = self
        while found.parent is not None:
            found = found.parent
        return found

    @property
    def duration_s(self) -> float | None:
        """Seconds from start to end, None while open."""
        return None if self.end_ns is None else (self.end_ns - self.start_ns) / 1e9

    def redact(self, text: str) -> str:
        """`text` with every secret value of the request's composition masked (the request span's
        `redact` attribute), unchanged when there is none."""
        redact = self.root.attributes.get("redact")
        return redact(text) if callable(redact) else text


class Observer:
    """Sees spans start and end. Subclass and override what you need; every method is a no-op here.

    Methods run inline on the request's path: keep them quick (hand slow work to a queue or thread).
    An observer's exception is logged at debug level and never breaks a request.
    """

    #: the span kinds this observer sees ("request", "hop", ...); None: all. A kind no observer wants
    #: is not made at all, so an observer of requests only costs nothing on each hop and model call.
    kinds: ClassVar[frozenset[str] | None] = None

    def span_started(self, span: Span) -> None:
        """A span was opened; its attributes hold what was known at the start."""

    def span_ended(self, span: Span) -> None:
        """A span was closed; `end_ns`, `error` and the attributes added since the start are set."""

    def flush(self, timeout_s: float = 5.0) -> None:
        """Deliver anything buffered (called before a one-shot command exits)."""


class _Discard(dict[str, Any]):
    """The attributes of the stand-in span: writes are dropped, so no request data is kept."""

    def __setitem__(self, key: str, value: Any) -> None:
        pass

    def update(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        pass

    def setdefault(self, key: str, default: Any = None) -> Any:
        return default


@dataclass(eq=False, slots=True)
class _NullSpan(Span):
    recording: ClassVar[bool] = False


_NULL_SPAN = _NullSpan("none", "", _Discard(), None, 0)

#: the observers in effect, replaced as a whole (never mutated) so readers need no lock
_observers: tuple[Observer, ...] = ()
_Methods = tuple[tuple[Callable[[Span], None], ...], tuple[Callable[[Span], None], ...]]
#: what a span of each kind calls when it starts and when it ends: the methods that do something (those
#: the observers override) of the observers that want the kind, bound once; replaced with `_observers`.
#: `_methods` is for kinds not listed (those of observers that want every kind).
_by_kind: dict[str, _Methods] = {}
_methods: _Methods = ((), ())
_installed: set[int] = set()
_lock = threading.Lock()
_current: ContextVar[Span | None] = ContextVar("llmnet_span", default=None)


def _set_observers(found: tuple[Observer, ...]) -> None:
    """Put `found` in effect (under `_lock`), with the methods spans of each kind call."""
    global _observers, _methods, _by_kind
    named = {kind for o in found if o.kinds is not None for kind in o.kinds}
    _by_kind = {
        kind: _methods_for([o for o in found if o.kinds is None or kind in o.kinds]) for kind in named
    }
    _methods = _methods_for([o for o in found if o.kinds is None])
    _observers = found


def _methods_for(observers: list[Observer]) -> _Methods:
    started = tuple(o.span_started for o in observers if type(o).span_started is not Observer.span_started)
    ended = tuple(o.span_ended for o in observers if type(o).span_ended is not Observer.span_ended)
    return started, ended


def add_observer(observer: Observer) -> Callable[[], None]:
    """Start sending spans to `observer`; returns a function that stops it (safe to call twice)."""
    with _lock:
        _set_observers((*_observers, observer))
    return lambda: remove_observer(observer)


def remove_observer(observer: Observer) -> None:
    """Stop sending spans to `observer` (added by `add_observer` or `install_observers`)."""
    with _lock:
        _set_observers(tuple(o for o in _observers if o is not observer))
        _installed.discard(id(observer))


def install_observers(found: Iterable[Observer]) -> None:
    """Add observers that plugins registered (`llmnet_register_observers`), each once per process."""
    with _lock:
        for observer in found:
            if id(observer) not in _installed:
                _installed.add(id(observer))
                _set_observers((*_observers, observer))


def observers() -> tuple[Observer, ...]:
    """The observers in effect."""
    return _observers


def flush_observers(timeout_s: float = 5.0) -> None:
    """Ask every observer to deliver what it buffered (before a one-shot command exits)."""
    for observer in _observers:
        try:
            observer.flush(timeout_s)
        except Exception:  # an observer never breaks llmnet
            log.debug("observer %r failed to flush", observer, exc_info=True)


def current_span() -> Span | None:
    """The innermost open span of this task, None outside any (or when nothing observes)."""
    return _current.get()


class _NullContext:
    """What `span` returns when nothing observes: enters to the shared stand-in span."""

    __slots__ = ()

    def __enter__(self) -> Span:
        return _NULL_SPAN

    def __exit__(self, *exc: object) -> None:
        return None


_NULL_CONTEXT = _NullContext()
#: the stand-in context of a span nobody observes (see `wants`)
NO_SPAN = _NULL_CONTEXT


class _SpanContext:
    __slots__ = ("methods", "span", "token")

    def __init__(self, methods: tuple[tuple[Callable[[Span], None], ...], ...], span: Span) -> None:
        self.methods = methods
        self.span = span
        self.token: Any = None

    def __enter__(self) -> Span:
        current = self.span
        self.token = _current.set(current)
        for started in self.methods[0]:
            try:
                started(current)
            except Exception:  # an observer never breaks a request
                log.debug("observer %r failed in span_started", started, exc_info=True)
        return current

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        current = self.span
        current.end_ns = time.time_ns()
        if exc is not None and current.error is None:
            current.error = current.redact(_describe(exc))
            current.attributes["error_type"] = exc_type.__name__ if exc_type else "Exception"
        try:
            _current.reset(self.token)
        except ValueError:  # closed in another context than it was opened in (a generator's cleanup)
            _current.set(current.parent)
        for ended in self.methods[1]:
            try:
                ended(current)
            except Exception:  # an observer never breaks a request
                log.debug("observer %r failed in span_ended", ended, exc_info=True)


def wants(kind: str) -> bool:
    """Whether some observer wants spans of `kind` now. A caller that would gather many attributes for a
    span can check first and use `NO_SPAN` (what `span` returns then) when none does: on a server that
    observes only requests, the hop, route and model-call spans cost ~20,000 instructions per request."""
    methods = _by_kind.get(kind, _methods)
    return bool(methods[0] or methods[1])


def span(kind: str, name: str, **attributes: Any) -> _SpanContext | _NullContext:
    """A context manager that reports one span to every observer: `with span("hop", node) as s:`.

    The span's parent is the innermost span open in this task. With no observer of its kind it hands
    out a stand-in whose attribute writes are dropped (`s.recording` is False), at near-zero cost.
    """
    if not _observers:
        return _NULL_CONTEXT
    methods = _by_kind.get(kind, _methods)
    if not (methods[0] or methods[1]):
        return _NULL_CONTEXT
    return _SpanContext(methods, Span(kind, name, attributes, _current.get(), time.time_ns()))


def _describe(exc: BaseException) -> str:
    message = getattr(exc, "message", None)
    if isinstance(message, str) and message:
        return message
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
