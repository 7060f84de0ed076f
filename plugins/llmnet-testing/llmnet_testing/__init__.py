"""llmnet-testing: real HTTP servers on 127.0.0.1 that speak the OpenAI and Ollama wire protocols, with
scriptable faults, for llmnet's tests and plugin authors'.

- `FakeOpenAIServer`: `/v1/chat/completions` (JSON and SSE streaming) and `/v1/models`.
- `FakeOllamaServer`: Ollama's native `/api/chat` (NDJSON streaming), `/api/tags`, `/api/version`.
- `FakeHTTPServer` and `FakeHTTPHandler`: the base both are built on, for fakes of other protocols.
- `free_port()`, `word_pieces()`, `count_words()`, `hook_composition()`: small helpers.

    from llmnet_testing import FakeOpenAIServer

    with FakeOpenAIServer(reply="hello world") as server:
        server.push(status=503)  # the first chat request fails
        ...  # point a model's `url` at server.url
"""

from __future__ import annotations

from .http import (
    FakeHTTPHandler,
    FakeHTTPServer,
    RecordedRequest,
    ScriptedResponse,
    count_words,
    free_port,
    word_pieces,
)
from .ollama import FakeOllamaServer, OllamaScriptedResponse
from .openai import FakeOpenAIServer, hook_composition

__version__ = "0.1.0"

__all__ = [
    "FakeHTTPHandler",
    "FakeHTTPServer",
    "FakeOllamaServer",
    "FakeOpenAIServer",
    "OllamaScriptedResponse",
    "RecordedRequest",
    "ScriptedResponse",
    "__version__",
    "count_words",
    "free_port",
    "hook_composition",
    "word_pieces",
]
