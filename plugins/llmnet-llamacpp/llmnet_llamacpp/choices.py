"""Answers restricted to fixed choices: a GBNF grammar whose only sentences are the choices, each after the
prompt's answer prefix (the space after "Answer:"), the way the model would write it unconstrained.

llama.cpp's grammar sampler checks every token it is shown, and over Gemma's 262,144 tokens that costs
~70 ms a step, more than the model's own step. Only a token whose text occurs in a sentence can ever be
accepted, so the grammar is shown those alone (found once per model and set of choices) and the likeliest
it accepts is taken (or one drawn at the request's temperature). Once the text can only end one way (a
single sentence still begins with it), the rest is written without asking the model: choices that differ
in their first token cost one step.
"""

from __future__ import annotations

import ctypes
import math
import random
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

from llmnet_core import BackendError, Usage

from .evaluation import evaluate
from .scoring import last_logits

#: llama-cpp-python's temperature when a request gives none
DEFAULT_TEMPERATURE = 0.8

#: each token's text as the grammar sees it (special tokens rendered), and the tokens that end generation
Vocabulary = tuple[list[bytes], frozenset[int]]

#: per context, its vocabulary
_vocabularies: weakref.WeakKeyDictionary[Any, Vocabulary] = weakref.WeakKeyDictionary()
#: per context, the tokens a grammar of these sentences may accept, by sentences
_shortlists: weakref.WeakKeyDictionary[Any, dict[tuple[bytes, ...], list[int]]] = weakref.WeakKeyDictionary()


def gbnf_literal(text: str) -> str:
    """`text` as a GBNF string literal: quotes and backslashes escaped, anything outside printable ASCII
    written as `\\uXXXX` or `\\UXXXXXXXX`, so that any name gives a grammar llama.cpp parses."""
    out = []
    for char in text:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif 0x20 <= code < 0x7F:
            out.append(char)
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04X}")
        else:
            out.append(f"\\U{code:08X}")
    return '"' + "".join(out) + '"'


def choice_grammar(choices: Sequence[str], prefix: str = "") -> str:
    """The GBNF grammar of `prefix` followed by exactly one of `choices`."""
    alternatives = " | ".join(gbnf_literal(choice) for choice in dict.fromkeys(choices))
    lead = f"{gbnf_literal(prefix)} " if prefix else ""
    return f"root ::= {lead}({alternatives})\n"


def vocabulary(llama: Any) -> Vocabulary:
    """Every token's text as llama.cpp's grammar sees it, and the end-of-generation tokens (found once per
    context, ~0.5 s)."""
    if llama not in _vocabularies:
        import llama_cpp

        vocab = llama_cpp.llama_model_get_vocab(llama.model)
        buffer = ctypes.create_string_buffer(256)
        pieces, ends = [], set()
        for token in range(llama.n_vocab()):
            size = llama_cpp.llama_token_to_piece(vocab, token, buffer, len(buffer), 0, True)
            pieces.append(buffer.raw[:size] if size > 0 else b"")
            if llama_cpp.llama_vocab_is_eog(vocab, token):
                ends.add(token)
        _vocabularies[llama] = (pieces, frozenset(ends))
    return _vocabularies[llama]


def shortlist(llama: Any, sentences: tuple[bytes, ...]) -> list[int]:
    """The tokens a grammar of `sentences` may ever accept: those whose text is a part of a sentence,
    and the end-of-generation tokens."""
    known = _shortlists.setdefault(llama, {})
    if sentences not in known:
        pieces, ends = vocabulary(llama)
        parts = {s[i:j] for s in sentences for i in range(len(s)) for j in range(i + 1, len(s) + 1)}
        known[sentences] = [token for token, piece in enumerate(pieces) if piece in parts or token in ends]
    return known[sentences]


def _accepted(grammar: Any, logits: Any, tokens: list[int]) -> list[tuple[float, int]]:
    """(logit, token) of each of `tokens` the grammar accepts next."""
    import llama_cpp

    data = (llama_cpp.llama_token_data * len(tokens))()
    for slot, token in zip(data, tokens, strict=True):
        slot.id, slot.logit, slot.p = token, float(logits[token]), 0.0
    array = llama_cpp.llama_token_data_array(data=data, size=len(tokens), selected=-1, sorted=False)
    llama_cpp.llama_sampler_apply(grammar, ctypes.byref(array))
    return [(slot.logit, slot.id) for slot in data if slot.logit != -math.inf]


def _pick(accepted: list[tuple[float, int]], temperature: float, rng: random.Random) -> int:
    """The likeliest token, or at a temperature above 0 one drawn from the accepted tokens' softmax."""
    if temperature <= 0:
        return max(accepted)[1]
    top = max(logit for logit, _ in accepted)
    weights = [math.exp((logit - top) / temperature) for logit, _ in accepted]
    return rng.choices([token for _, token in accepted], weights)[0]


def _settled(text: bytes, sentences: Sequence[bytes]) -> bytes | None:
    """The whole sentence when `text` can only end one way, else None."""
    possible = [s for s in sentences if s.startswith(text)]
    return possible[0] if len(possible) == 1 else None


def choose(
    llama: Any, tokens: list[int], choices: Sequence[str], prefix: str, sampling: Mapping[str, Any]
) -> tuple[str, Usage, str]:
    """Answer one of `choices` after the prompt `tokens` (on the model's thread): the choice (without
    `prefix`), the usage (the tokens the model chose) and the finish reason ("length" when
    `sampling["max_tokens"]` ran out first)."""
    import llama_cpp

    sentences = tuple((prefix + choice).encode("utf-8") for choice in dict.fromkeys(choices))
    listed = shortlist(llama, sentences)
    pieces, ends = vocabulary(llama)
    vocab = llama_cpp.llama_model_get_vocab(llama.model)
    grammar = llama_cpp.llama_sampler_init_grammar(vocab, choice_grammar(choices, prefix).encode(), b"root")
    if not grammar:
        raise BackendError(f"llama.cpp could not parse the grammar of the choices {list(choices)}")
    temperature = sampling.get("temperature")
    temperature = DEFAULT_TEMPERATURE if temperature is None else float(temperature)
    rng = random.Random(sampling.get("seed"))
    text, count = b"", 0
    whole = _settled(text, sentences)  # one choice alone needs no model
    evaluated = whole is None
    try:
        if evaluated:
            evaluate(llama, tokens)
        while whole is None and count < sampling["max_tokens"]:
            accepted = _accepted(grammar, last_logits(llama), listed)
            token = _pick(accepted, temperature, rng) if accepted else None
            if token is None or token in ends:  # the grammar lets it end only after a whole sentence
                whole = text
                break
            llama_cpp.llama_sampler_accept(grammar, token)
            text, count = text + pieces[token], count + 1
            whole = _settled(text, sentences)
            if whole is None:
                llama.eval([token])
    finally:
        llama_cpp.llama_sampler_free(grammar)
        if evaluated:  # what was evaluated after the prompt is dropped by the next call
            llama.n_tokens = len(tokens)
    answer = (text if whole is None else whole).removeprefix(prefix.encode("utf-8"))
    return answer.decode("utf-8", "replace"), Usage(len(tokens), count), "length" if whole is None else "stop"
