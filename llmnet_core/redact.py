"""Replaces secret values with *** wherever text leaves llmnet (logs, traces, errors, JSON output).

A secret is masked as written, JSON-escaped (both `ensure_ascii` forms), `repr`-quoted, URL-encoded and
base64-encoded, because a server that echoes a request back (or a log line that quotes it) usually writes
it in one of those forms: base64 covers `base64(key)` and an HTTP basic-auth value `base64("user:" +
key)` for any user name, and the whole base64 token around the secret is masked. A fragment cut by an
excerpt (the start of a secret just before "…", or its end just after) is masked too, and `excerpt()`
masks before it cuts, so that a secret on the cut point leaves no prefix behind.

Text that arrives in pieces (a streamed answer) goes through a `StreamRedactor`, which masks a secret
split across pieces.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus

if TYPE_CHECKING:  # pragma: no cover
    from .types import TokenLogprob

MASK = "***"
MIN_LENGTH = 4  # shorter values would mask ordinary words
#: base64 characters that depend on a secret alone: fewer could match ordinary text (a secret needs six
#: bytes or more to have base64 forms)
MIN_BASE64 = 8
#: the characters of a base64 token (standard and URL-safe alphabets); `=` pads its end
_BASE64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_")
_URL_SAFE = str.maketrans("+/", "-_")
CUT = "…"  # what marks a cut in an excerpt (llmnet's plugins and `excerpt()` use it)

#: every Redactor alive in the process, so that `excerpt()` can mask what any pipeline knows
_LIVE: weakref.WeakSet[Redactor] = weakref.WeakSet()


def _forms(value: str) -> set[str]:
    """The ways a secret appears in text: as is, JSON-escaped, URL-encoded, and each of those as Python's
    `repr` quotes it (log lines quote answers with `%r`)."""
    forms = {
        value,
        json.dumps(value, ensure_ascii=False)[1:-1],
        json.dumps(value)[1:-1],
        quote(value, safe=""),
        quote(value),
        quote_plus(value),
    }
    for form in list(forms):
        escaped = form.encode("unicode_escape").decode("ascii")  # backslashes and control characters
        forms |= {repr(form)[1:-1], escaped, escaped.replace("'", "\\'")}
    return forms


def _base64_forms(value: str) -> set[str]:
    """The secret's UTF-8 bytes in base64 (standard and URL-safe): whole with its padding, and, for each
    of the three places it can start relative to base64's 3-byte groups, the characters computed from
    its bytes alone. Inside a longer encoded text (`base64("user:" + key)`, any user name) one of
    those three always appears, whatever comes before or after the secret."""
    data = value.encode("utf-8")
    forms = {base64.b64encode(data).decode("ascii")}
    for shift in range(3):
        encoded = base64.b64encode(bytes(shift) + data).decode("ascii")
        # a character holds 6 bits: skip those that hold a bit of the `shift` bytes before the secret,
        # and the last one when the secret's final bits share it with whatever follows
        forms.add(encoded[-(-8 * shift // 6) : 8 * (shift + len(data)) // 6])
    forms |= {form.translate(_URL_SAFE) for form in forms}
    return {form for form in forms if len(form.rstrip("=")) >= MIN_BASE64}


def _base64_token(text: str, start: int, end: int) -> tuple[int, int]:
    """The bounds of the base64 token around `text[start:end]`, its `=` padding included."""
    while start > 0 and text[start - 1] in _BASE64_CHARS:
        start -= 1
    while end < len(text) and text[end] in _BASE64_CHARS:
        end += 1
    while end < len(text) and text[end] == "=":
        end += 1
    return start, end


class Redactor:
    """Knows the secret values of a pipeline and masks them in any text.

    It runs on every streamed token: all forms of all secrets are one precompiled alternation
    (longest first), and a redactor without secrets returns the text untouched.
    """

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._values: set[str] = set()
        self._forms: list[str] = []
        self._base64: frozenset[str] = frozenset()
        self._by_first: dict[str, list[str]] = {}
        self._pattern: re.Pattern[str] | None = None
        self.add(values)
        _LIVE.add(self)

    def add(self, values: Iterable[str]) -> None:
        """Learn more secret values (shorter than MIN_LENGTH characters are ignored)."""
        new = {v for v in values if isinstance(v, str) and len(v) >= MIN_LENGTH} - self._values
        if not new:
            return
        self._values |= new
        encoded = {form for value in self._values for form in _base64_forms(value)}
        forms = {form for value in self._values for form in _forms(value) if len(form) >= MIN_LENGTH}
        ordered = sorted(forms | encoded, key=lambda form: (-len(form), form))
        self._pattern = re.compile("|".join(map(re.escape, ordered)))
        self._forms = ordered
        self._base64 = frozenset(encoded - forms)
        self._by_first = {}
        for form in ordered:
            self._by_first.setdefault(form[0], []).append(form)

    def __call__(self, text: str) -> str:
        if self._pattern is None or not isinstance(text, str):
            return text
        text = self._mask(text)
        return _mask_cut_fragments(text, self._forms) if CUT in text else text

    def _mask(self, text: str) -> str:
        """Every form replaced by ***; a base64 form takes its whole base64 token with it."""
        assert self._pattern is not None
        if not self._base64:
            return self._pattern.sub(MASK, text)
        pieces: list[str] = []
        done = 0  # text before this index is in `pieces`, or covered by the last ***
        for match in self._pattern.finditer(text):
            start, end = match.span()
            if match.group() in self._base64:
                start, end = _base64_token(text, start, end)
            if start < done:  # within the token the previous *** covers
                done = max(done, end)
                continue
            pieces += [text[done:start], MASK]
            done = end
        if not pieces:
            return text
        pieces.append(text[done:])
        return "".join(pieces)

    def stream_cut(self, text: str) -> int:
        """How much of `text`, the latest pieces of a stream, can be masked and shown now: all of it up to
        the first place where a form of a secret may begin but the text ends too soon to tell (at most one
        character less than the longest form is kept back)."""
        if self._pattern is None:
            return len(text)
        position = 0
        for match in self._pattern.finditer(text):
            undecided = self._may_start_form(text, position, match.start())
            if undecided is not None:
                return undecided
            if self._starts_longer_form(text, match.start()):
                return match.start()  # a longer form may match here once more text arrives
            position = match.end()
        undecided = self._may_start_form(text, position, len(text))
        return len(text) if undecided is None else undecided

    def _may_start_form(self, text: str, start: int, end: int) -> int | None:
        """The first index in [start, end) from which the rest of `text` begins some form without
        completing it; None when there is none."""
        longest = len(self._forms[0])
        for index in range(max(start, len(text) - longest + 1), end):
            if self._starts_longer_form(text, index):
                return index
        return None

    def _starts_longer_form(self, text: str, index: int) -> bool:
        """Whether `text[index:]` is the beginning of a form longer than it."""
        rest = text[index:]
        return any(
            len(form) > len(rest) and form.startswith(rest) for form in self._by_first.get(rest[:1], ())
        )

    def mask_cut_end(self, text: str) -> str:
        """`text` masked, and a beginning of a secret at its very end (MIN_LENGTH characters or more) too:
        for the last piece of a stream that stopped in the middle of a secret."""
        return _mask_tail(self(text), self._forms) if self._forms else text

    def __bool__(self) -> bool:
        return bool(self._values)


def _mask_cut_fragments(text: str, forms: list[str]) -> str:
    """Mask the start of a secret just before each "…" and the end of one just after it."""
    pieces = text.split(CUT)
    for i in range(len(pieces)):
        if i < len(pieces) - 1:
            pieces[i] = _mask_tail(pieces[i], forms)
        if i > 0:
            pieces[i] = _mask_head(pieces[i], forms)
    return CUT.join(pieces)


def _mask_tail(piece: str, forms: list[str]) -> str:
    """`piece` with its longest ending that starts a secret (MIN_LENGTH characters or more) masked."""
    best = len(piece)
    for form in forms:
        window_start = max(0, len(piece) - len(form) + 1)
        start = piece.find(form[:MIN_LENGTH], window_start)
        while start != -1 and start < best:
            if form.startswith(piece[start:]):
                best = start
                break
            start = piece.find(form[:MIN_LENGTH], start + 1)
    return piece if best == len(piece) else piece[:best] + MASK


def _mask_head(piece: str, forms: list[str]) -> str:
    """`piece` with its longest beginning that ends a secret (MIN_LENGTH characters or more) masked."""
    best = 0
    for form in forms:
        window = piece[: len(form) - 1]
        end = window.rfind(form[-MIN_LENGTH:])
        while end != -1 and end + MIN_LENGTH > best:
            if form.endswith(window[: end + MIN_LENGTH]):
                best = end + MIN_LENGTH
                break
            end = window.rfind(form[-MIN_LENGTH:], 0, end + MIN_LENGTH - 1)
    return piece if best == 0 else MASK + piece[best:]


class StreamRedactor:
    """Masks the secrets of a `Redactor` in text that arrives in pieces (a streamed answer), also when a
    secret is split across pieces (`key=` then the key three characters at a time).

    `feed(piece)` returns what can be shown now: everything except a tail that may still become a
    secret, never longer than the longest form of a secret less one character; `flush()` returns that
    tail once the stream has ended, masked if it is the cut-off beginning of a secret. Without secrets,
    pieces pass through unchanged and nothing is kept back.
    """

    def __init__(self, redactor: Redactor) -> None:
        self._redactor = redactor
        self._held = ""

    def feed(self, piece: str) -> str:
        """The masked text that can be shown now, after `piece` (may be empty)."""
        text = self._held + piece
        cut = self._redactor.stream_cut(text)
        self._held = text[cut:]
        return self._redactor(text[:cut])

    def flush(self) -> str:
        """The text kept back, masked; call it once the stream has ended (or failed)."""
        held, self._held = self._held, ""
        return self._redactor.mask_cut_end(held) if held else ""


def redact_known(text: str) -> str:
    """Mask the secrets of every pipeline alive in this process (for text a plugin builds itself)."""
    for redactor in list(_LIVE):
        if redactor:
            text = redactor(text)
    return text


class SecretFilter(logging.Filter):
    """A logging filter for handlers that write where people read (stderr, a server's log): it masks the
    secrets of every pipeline alive in the process in each record's message, as `redact_known` does."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = redact_known(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def excerpt(text: str, limit: int = 200, *, keep: str = "start") -> str:
    """`text` on one line, secrets masked, cut to `limit` characters with "…" marking the cut.

    Plugins quote replies and program output with it: masking happens before cutting, so a secret
    that straddles the cut leaves nothing behind. `keep="end"` keeps the end (for stderr output).
    Control characters (a hostile peer's terminal escape sequences, NUL) are shown as `\x1b`, never sent.
    """
    text = " ".join(redact_known(text).split())
    text = _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)
    if len(text) <= limit:
        return text
    if keep == "end":
        return CUT + text[len(text) - limit + 1 :]
    return text[: limit - 1] + CUT


def masked_spans(raw: str, masked: str) -> list[tuple[int, int]]:
    """The spans of `raw` that masking changed into `masked` (a removal: the characters around it)."""
    if raw == masked:
        return []
    import difflib

    spans = []
    for tag, start, end, _, _ in difflib.SequenceMatcher(None, raw, masked, autojunk=False).get_opcodes():
        if tag != "equal":
            spans.append((start, end) if end > start else (max(start - 1, 0), start + 1))
    return spans


def shown_token(
    token: TokenLogprob,
    start: int,
    end: int,
    secrets: Sequence[tuple[int, int]],
    redact: Callable[[str], str] | None,
) -> dict[str, Any]:
    """OpenAI's entry of the token at `start`-`end` of an answer: `***` (its alternatives too) when it
    overlaps a span where a secret was masked (`masked_spans`), or holds a secret itself."""
    hidden = any(a < max(end, start + 1) and start < b for a, b in secrets)
    if not hidden and redact:
        hidden = redact(token.token) != token.token
    if not hidden:
        return token.to_dict()
    top = [{"token": MASK, "logprob": t.logprob, "bytes": None} for t in token.top]
    return {"token": MASK, "logprob": token.logprob, "bytes": None, "top_logprobs": top}
