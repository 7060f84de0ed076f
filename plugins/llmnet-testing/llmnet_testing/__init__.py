"""llmnet-testing: real HTTP servers on 127.0.0.1 that speak the OpenAI and Ollama wire protocols, with
scriptable faults, for llmnet's tests and plugin authors'.

- `FakeOpenAIServer`: `/v1/chat/completions` (JSON and SSE streaming) and `/v1/models`; `FAULTS` it can
  inject per model URL (`fault_url()`).
- `FakeOllamaServer`: Ollama's native `/api/chat` (NDJSON streaming), `/api/tags`, `/api/version`.
- Both follow structured-output requests (OpenAI `response_format`, vLLM's guided choice, Ollama's
  `format`) or, as servers without support do, refuse or ignore them: `STRUCTURED_MODES`.
- Both call tools when a reply function returns `ToolCalls(...)`, as each protocol does (tool_calls,
  streamed pieces, ids); the OpenAI fake also returns `logprobs` and checks tool messages as OpenAI does.
- `FakeHTTPServer` and `FakeHTTPHandler`: the base both are built on, for fakes of other protocols.
- `REPLY_CASES`: the replies every hook transport must read alike, with the data each means.
- `free_port()`, `word_pieces()`, `count_words()`, `hook_composition()`: small helpers; `stop_process()`
  and `llama_cpp_server()` for servers the tests run as processes; `install_plugin()` puts a plugin on a
  test's PYTHONPATH (`PLACED_DEPLOYER`: a deployer that never serves).

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
from .openai import FAULTS, FakeOpenAIServer, hook_composition
from .plugins import PLACED_DEPLOYER, install_plugin
from .processes import llama_cpp_server, stop_process
from .replies import REPLY_CASES
from .structured import STRUCTURED_MODES
from .tools import ToolCalls

__version__ = "0.1.0"

__all__ = [
    "FAULTS",
    "PLACED_DEPLOYER",
    "REPLY_CASES",
    "STRUCTURED_MODES",
    "FakeHTTPHandler",
    "FakeHTTPServer",
    "FakeOllamaServer",
    "FakeOpenAIServer",
    "OllamaScriptedResponse",
    "RecordedRequest",
    "ScriptedResponse",
    "ToolCalls",
    "__version__",
    "count_words",
    "free_port",
    "hook_composition",
    "install_plugin",
    "llama_cpp_server",
    "stop_process",
    "word_pieces",
]
