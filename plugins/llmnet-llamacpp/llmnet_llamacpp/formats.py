"""JSON answers (`response_format`) in-process: a GBNF grammar that only lets the model write a JSON object
(`json_object`) or a document valid under a JSON schema (`json_schema`), llama.cpp's own converters.

Tool calls are not offered: a small model's chat template seldom has a tool format, and llama-cpp-python's
tool-calling chat handlers do not fit the prompts this backend builds, so a request with tools is refused
before the model is asked (see `LlamaCppBackend.supports`).
"""

from __future__ import annotations

import json
from typing import Any

from llmnet_core import AnswerOptions, BackendError

#: what this backend does of `llmnet_core.FEATURES`
SUPPORTED = frozenset({"json_object", "json_schema"})


def answer_grammar(answer: AnswerOptions, model: str) -> Any:
    """The `LlamaGrammar` of a JSON response format, None for a text answer; a schema llama.cpp cannot
    turn into a grammar is a BackendError naming the model."""
    kind = answer.format_type
    if kind is None:
        return None
    from llama_cpp import LlamaGrammar
    from llama_cpp.llama_grammar import JSON_GBNF

    try:
        if kind == "json_object":
            return LlamaGrammar.from_string(JSON_GBNF, verbose=False)
        return LlamaGrammar.from_json_schema(json.dumps(answer.json_schema or {}), verbose=False)
    except Exception as exc:  # noqa: BLE001 - llama.cpp's converter raises several kinds
        raise BackendError(
            f"model {model}: llama.cpp cannot turn the response_format's JSON schema into a grammar: {exc}",
            hint="simplify the schema (types, properties, required, enum, arrays), or use json_object",
        ) from None
