"""An answer on its way to the client, with the composition's secrets masked in all of it: the text, the
tool calls' names and arguments, and the tokens of its log-probabilities.

Text that arrives in pieces is masked as `StreamRedactor` masks it (a secret split across pieces too),
and where a secret was masked is remembered: a log-probability token that overlaps it is masked as well
(its alternatives too), and a token is sent only once the text it belongs to has been. Each tool call's
arguments are a stream of their own. `EventPieces` turns the pipeline's streamed pieces into chunk
events; `whole_answer` masks a complete answer the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from llmnet_core import (
    Redactor,
    StreamChunk,
    StreamRedactor,
    TokenLogprob,
    ToolCall,
    ToolCallDelta,
    masked_spans,
    shown_token,
)

if TYPE_CHECKING:
    from llmnet_core import RunResult

    from .wire import ChunkWriter


class AnswerMasker:
    """Masks one answer that arrives in pieces (see the module's docstring)."""

    def __init__(self, redact: Redactor) -> None:
        self._redact = redact
        self._held = ""
        self._released = 0  # characters of the raw text handed on
        self._secrets: list[tuple[int, int]] = []
        self._tokens: list[tuple[int, int, TokenLogprob]] = []  # waiting: start, end, token
        self._position = 0  # where the next token starts in the raw text
        self._arguments: dict[int, StreamRedactor] = {}

    def _note(self, raw: str, masked: str) -> str:
        self._secrets += [(self._released + a, self._released + b) for a, b in masked_spans(raw, masked)]
        self._released += len(raw)
        return masked

    def text(self, piece: str) -> str:
        """The masked text that can be shown now, after `piece`."""
        if not self._redact:
            self._released += len(piece)
            return piece
        text = self._held + piece
        cut = self._redact.stream_cut(text)
        self._held = text[cut:]
        return self._note(text[:cut], self._redact(text[:cut]))

    def flush_text(self) -> str:
        """The text kept back, masked (once the answer has ended)."""
        held, self._held = self._held, ""
        return self._note(held, self._redact.mask_cut_end(held)) if held else ""

    def add_tokens(self, tokens: Iterable[TokenLogprob]) -> None:
        for token in tokens:
            end = self._position + len(token.token)
            self._tokens.append((self._position, end, token))
            self._position = end

    def tokens(self, *, final: bool = False) -> list[dict[str, Any]] | None:
        """The tokens whose text has been handed on (all of them when `final`), as OpenAI's dicts, those
        that overlap a secret masked; None when there are none."""
        ready = [t for t in self._tokens if final or t[1] <= self._released]
        if not ready:
            return None
        self._tokens = self._tokens[len(ready) :]
        return [shown_token(token, start, end, self._secrets, self._redact) for start, end, token in ready]

    def tool_delta(self, delta: ToolCallDelta) -> dict[str, Any]:
        """A piece of a tool call as OpenAI's dict, its name and arguments masked."""
        stream = self._arguments.setdefault(delta.index, StreamRedactor(self._redact))
        name = self._redact(delta.name) if delta.name is not None else None
        shown = ToolCallDelta(delta.index, delta.id, name, stream.feed(delta.arguments))
        return shown.to_dict()

    def flush_tools(self) -> list[dict[str, Any]]:
        """The ends of tool call arguments kept back, as pieces (once the answer has ended)."""
        ends = [ToolCallDelta(index, arguments=stream.flush()) for index, stream in self._arguments.items()]
        return [end.to_dict() for end in ends if end.arguments]


class EventPieces:
    """Turns the pieces a streamed pipeline hands on (text, or `StreamChunk`s with tool calls and
    log-probabilities) into `chat.completion.chunk` events, masked; the first event carries the role."""

    def __init__(self, writer: ChunkWriter, redact: Redactor) -> None:
        self._writer = writer
        self._masker = AnswerMasker(redact)
        self._started = False
        self._text = ""

    def _event(self, delta: dict[str, Any], logprobs: list[dict[str, Any]] | None = None) -> bytes:
        if not self._started:
            self._started = True
            delta = {"role": "assistant", "content": None if "tool_calls" in delta else "", **delta}
        return self._writer.delta(delta, logprobs)

    def _flush_text(self, *, final: bool = False) -> list[bytes]:
        text, self._text = self._text, ""
        logprobs = self._masker.tokens(final=final)
        if text or logprobs is not None:
            return [self._event({"content": text}, logprobs)]
        return []

    def feed(self, items: Sequence[str | StreamChunk]) -> list[bytes]:
        """The events for `items`, in order (the first call always gives at least the opening event)."""
        events: list[bytes] = []
        for item in items:
            chunk = item if isinstance(item, StreamChunk) else StreamChunk(text=item)
            if chunk.text:
                self._text += self._masker.text(chunk.text)
            self._masker.add_tokens(chunk.logprobs)
            if chunk.tool_calls:
                events += self._flush_text()
                calls = [self._masker.tool_delta(delta) for delta in chunk.tool_calls]
                events.append(self._event({"tool_calls": calls}))
        events += self._flush_text()
        if not self._started:
            events.append(self._event({"content": ""}))
        return events

    def end(self) -> list[bytes]:
        """The events for what was kept back, once the answer has ended."""
        self._text += self._masker.flush_text()
        events = self._flush_text(final=True)
        ends = self._masker.flush_tools()
        if ends:
            events.append(self._event({"tool_calls": ends}))
        return events


def whole_answer(
    result: RunResult, redact: Redactor
) -> tuple[str, list[dict[str, Any]] | None, list[dict[str, Any]] | None]:
    """A complete answer's text, tool calls (OpenAI's dicts) and log-probabilities, masked."""
    if not redact and not result.tool_calls and result.logprobs is None:
        return result.output, None, None  # no secret to mask, nothing but text
    masker = AnswerMasker(redact)
    text = masker.text(result.output) + masker.flush_text()
    calls = [_masked_call(call, redact) for call in result.tool_calls] or None
    logprobs = None
    if result.logprobs is not None:
        masker.add_tokens(result.logprobs)
        logprobs = masker.tokens(final=True) or []
    return text, calls, logprobs


def _masked_call(call: ToolCall, redact: Redactor) -> dict[str, Any]:
    return ToolCall(call.id, redact(call.name), redact(call.arguments)).to_dict()


def streamed_answer(result: RunResult) -> list[StreamChunk]:
    """A complete answer as the pieces a stream would have handed on (for a final node that did not
    stream: post-hooks, a ws node)."""
    deltas = tuple(ToolCallDelta(i, c.id, c.name, c.arguments) for i, c in enumerate(result.tool_calls))
    return [StreamChunk(text=result.output, tool_calls=deltas, logprobs=result.logprobs or ())]
