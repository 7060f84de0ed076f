{%- set registered = cookiecutter.__registered -%}
{%- if cookiecutter.kind == "backend" -%}
"""An echo backend: answers with the last user message, prefixed with "echo: ".

A model backend serves one `models` entry of a composition:

    "models": {
        "tiny": {
            "backend": "{{ registered }}",
            "prefix": "echo: "
        }
    }

Keys of the entry that llmnet does not know itself (here `prefix`) arrive in
`self.spec.options`; `url`, `api-key`, `model` and `parameters` have their own fields on
`self.spec`. `EchoOptions` reads and checks them: `llmnet validate` reports a misspelt key
at its JSON path (through `check`), and the constructor refuses what `check` reports. A real
backend sends `request.messages` to its model (sharing connections through
`self.resources`) and raises `BackendError` with a message that names the server and how to
fix it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from llmnet_core import (
    Backend,
    BackendError,
    ChatRequest,
    ChatResponse,
    ModelSpec,
    PluginOptions,
    Problem,
    Resources,
    StreamChunk,
    Usage,
    option_problems,
    parse_options,
)

DEFAULT_PREFIX = "echo: "
#: goes with an unknown or missing key (`{known}` lists the keys EchoOptions accepts)
HINT = "a model entry of this backend takes backend, model, parameters and {known}"


class EchoOptions(PluginOptions):
    """The keys of a model entry this backend reads. PluginOptions refuses any other key, so a
    typo is an error ("unknown field (did you mean ...)"), not a setting silently ignored."""

    prefix: str = DEFAULT_PREFIX
    # llmnet passes these two on to every backend when the entry has them: an entry
    # {"type": "external", "interface": BACKEND_NAME} selects this backend too
    runner: str | None = None
    interface: str | None = None


def count_tokens(text: str) -> int:
    """A stand-in tokenizer: one token per whitespace-separated word."""
    return len(text.split())


class EchoBackend(Backend):
    """Answers every request with "echo: " and the last user message, and reports token usage."""

    description = 'answers with "echo: " and the last user message'

    def __init__(self, spec: ModelSpec, resources: Resources) -> None:
        super().__init__(spec, resources)
        where = f"models.{spec.name}"
        self.options = parse_options(
            EchoOptions, spec.options, where, error=BackendError, hint=HINT
        )

    @classmethod
    def check(cls, spec: ModelSpec) -> list[Problem]:
        """The problems `llmnet validate` reports about a model entry, before anything runs."""
        return option_problems(EchoOptions, spec.options, f"models.{spec.name}", hint=HINT)[1]

    async def complete(self, request: ChatRequest) -> ChatResponse:
        prompt = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
        text = self.options.prefix + prompt
        usage = Usage(
            prompt_tokens=sum(count_tokens(m.content) for m in request.messages),
            completion_tokens=count_tokens(text),
        )
        return ChatResponse(text=text, usage=usage, model=request.model, finish_reason="stop")

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamChunk]:
        """Yield the answer word by word; the last piece carries the usage and the finish reason."""
        response = await self.complete(request)
        words = response.text.split(" ")
        for i, word in enumerate(words):
            last = i == len(words) - 1
            yield StreamChunk(
                text=word if i == 0 else " " + word,
                usage=response.usage if last else None,
                finish_reason=response.finish_reason if last else None,
            )
{%- elif cookiecutter.kind == "transport" -%}
"""An upper-casing function type: a hook function whose reply is the hook's data upper-cased.

A transport carries the hook calls of one `functions` entry of a composition:

    "functions": {"shout": {"type": "{{ registered }}"}}

and a node calls it with "hooks": {"post": [{"function": "shout", "mode": "transform"}]}.

Keys of the entry other than `type` and `timeout` arrive in `self.spec.options`. A real
transport sends `call.data` (and `call.variables`, which `llmnet_core.substitute` fills
into templates) to the outside world and raises `TransportError` on failure; the hook's
`on_failure` decides what happens then. In `transform` mode the reply replaces the data
(None or "" keeps it); in `observe` mode it is ignored.
"""

from __future__ import annotations

from typing import Any

from llmnet_core import HookCall, Transport


def upper(value: Any) -> Any:
    """`value` with every string in it upper-cased (JSON objects and lists are walked)."""
    if isinstance(value, str):
        return value.upper()
    if isinstance(value, dict):
        return {key: upper(item) for key, item in value.items()}
    if isinstance(value, list):
        return [upper(item) for item in value]
    return value


class UpperTransport(Transport):
    """Replies with the hook's data upper-cased."""

    description = "replies with the hook's data upper-cased"

    async def call(self, call: HookCall) -> Any:
        return upper(call.data)
{%- elif cookiecutter.kind == "secret_provider" -%}
"""A static secret source: the variables are written in the block's `values` option.

A secret provider loads one `secrets` entry of a composition, once, before the pipeline
starts:

    "secrets": {
        "demo": {
            "source": "{{ registered }}",
            "values": {"TOKEN": "s3cret"}
        }
    }

and a model uses it with "api-key": "$secrets.demo.TOKEN".

Keys of the entry other than `source` arrive in `self.spec.options`; `self.spec.base_dir`
is the composition file's folder (for relative paths). A real provider reads a vault, a
file or a service and raises `SecretError` naming the block and the variable, never a
value.
"""

from __future__ import annotations

from collections.abc import Mapping

from llmnet_core import SecretError, SecretProvider


class StaticProvider(SecretProvider):
    """Returns the variables given in the secret block's `values` option."""

    description = "variables written in the block's `values` option"

    async def load(self) -> Mapping[str, str]:
        where = f"secrets.{self.spec.name}"
        values = self.spec.options.get("values")
        if not isinstance(values, Mapping) or not values:
            raise SecretError(
                f'{where}: source "{self.spec.source}" needs "values", an object of variables',
                hint='for example "values": {"TOKEN": "..."}',
            )
        for name, value in values.items():
            if not isinstance(value, str):
                raise SecretError(
                    f"{where}.values.{name} must be a string, not {type(value).__name__}"
                )
        return dict(values)
{%- else -%}
"""A condition function, usable in any `if` of a composition:

    {"name": "faq", "if": "{{ registered }}($INPUT)"}
    {"name": "notes", "if": "not {{ registered }}($INPUT)"}

Condition functions receive the values of their arguments (a missing variable arrives as None) and
must not raise for ordinary input: answer false (or None, "missing") instead.
"""

from __future__ import annotations

from typing import Any

QUESTION_WORDS = frozenset(
    {
        "who",
        "what",
        "when",
        "where",
        "why",
        "how",
        "which",
        "whose",
        "is",
        "are",
        "am",
        "was",
        "were",
        "do",
        "does",
        "did",
        "can",
        "could",
        "will",
        "would",
        "should",
    }
)


def is_question(text: Any) -> bool:
    """True when `text` ends with "?" or starts with a question word (who, what, is, can, ...)."""
    if text is None:
        return False
    stripped = str(text).strip()
    if stripped.endswith("?"):
        return True
    words = stripped.split(maxsplit=1)
    return bool(words) and words[0].lower().strip(",.!:;") in QUESTION_WORDS
{%- endif %}
