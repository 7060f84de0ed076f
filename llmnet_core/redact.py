"""Replaces secret values with *** wherever text leaves llmnet (logs, traces, errors, JSON output).

A secret is masked as written, JSON-escaped (both `ensure_ascii` forms) and URL-encoded, because a
server that echoes a request back usually quotes it in one of those forms. A fragment cut by an
excerpt (the start of a secret just before "…", or its end just after) is masked too, and
`excerpt()` masks before it cuts, so that a secret on the cut point leaves no prefix behind.
"""

from __future__ import annotations

import json
import re
import weakref
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

MASK = "***"
MIN_LENGTH = 4  # shorter values would mask ordinary words
CUT = "…"  # what marks a cut in an excerpt (llmnet's plugins and `excerpt()` use it)

#: every Redactor alive in the process, so that `excerpt()` can mask what any pipeline knows
_LIVE: weakref.WeakSet[Redactor] = weakref.WeakSet()


def _forms(value: str) -> set[str]:
    """The ways a secret appears in text: as is, JSON-escaped and URL-encoded."""
    return {
        value,
        json.dumps(value, ensure_ascii=False)[1:-1],
        json.dumps(value)[1:-1],
        quote(value, safe=""),
        quote(value),
        quote_plus(value),
    }


class Redactor:
    """Knows the secret values of a pipeline and masks them in any text.

    It runs on every streamed token: all forms of all secrets are one precompiled alternation
    (longest first), and a redactor without secrets returns the text untouched.
    """

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._values: set[str] = set()
        self._forms: list[str] = []
        self._pattern: re.Pattern[str] | None = None
        self.add(values)
        _LIVE.add(self)

    def add(self, values: Iterable[str]) -> None:
        """Learn more secret values (shorter than MIN_LENGTH characters are ignored)."""
        new = {v for v in values if isinstance(v, str) and len(v) >= MIN_LENGTH} - self._values
        if not new:
            return
        self._values |= new
        forms = {form for value in self._values for form in _forms(value) if len(form) >= MIN_LENGTH}
        ordered = sorted(forms, key=lambda form: (-len(form), form))
        self._pattern = re.compile("|".join(map(re.escape, ordered)))
        self._forms = ordered

    def __call__(self, text: str) -> str:
        if self._pattern is None or not isinstance(text, str):
            return text
        text = self._pattern.sub(MASK, text)
        return _mask_cut_fragments(text, self._forms) if CUT in text else text

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


def redact_known(text: str) -> str:
    """Mask the secrets of every pipeline alive in this process (for text a plugin builds itself)."""
    for redactor in list(_LIVE):
        if redactor:
            text = redactor(text)
    return text


def excerpt(text: str, limit: int = 200, *, keep: str = "start") -> str:
    """`text` on one line, secrets masked, cut to `limit` characters with "…" marking the cut.

    Plugins quote replies and program output with it: masking happens before cutting, so a secret
    that straddles the cut leaves nothing behind. `keep="end"` keeps the end (for stderr output).
    """
    text = " ".join(redact_known(text).split())
    if len(text) <= limit:
        return text
    if keep == "end":
        return CUT + text[len(text) - limit + 1 :]
    return text[: limit - 1] + CUT
