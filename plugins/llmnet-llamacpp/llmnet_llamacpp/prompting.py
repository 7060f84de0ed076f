"""Turning chat messages into the text a local model continues.

A model whose GGUF carries a chat template (or whose composition gives one) gets it. A base model without
one, like the bundled Gemma 3 270M, gets a plain "Question: …\\nAnswer:" layout, which such models continue
with a short answer far more reliably than any chat markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from llmnet_core import Message

#: where a base model starts inventing the next turn of a Question/Answer transcript
COMPLETION_STOPS = ("\nQuestion:", "\nQ:")


@dataclass(frozen=True)
class Prompt:
    """The text to continue, whether it already starts with the BOS token, and where to stop."""

    text: str
    has_bos: bool
    stops: tuple[str, ...]
    #: put before a fixed answer scored right after the prompt ("Answer:" wants a space)
    answer_prefix: str


def completion_prompt(messages: Sequence[Message]) -> Prompt:
    """The Question/Answer layout: system text first, then each turn."""
    system = "\n\n".join(m.content.strip() for m in messages if m.role == "system" and m.content.strip())
    parts = [f"{system}\n\n"] if system else []
    for message in messages:
        if message.role == "user":
            parts.append(f"Question: {message.content.strip()}\nAnswer:")
        elif message.role == "assistant":
            parts.append(f" {message.content.strip()}\n")
    if messages and messages[-1].role == "assistant":
        parts[-1] = parts[-1].rstrip("\n")
    return Prompt("".join(parts), has_bos=False, stops=COMPLETION_STOPS, answer_prefix=" ")


class TemplatePrompter:
    """Renders messages with a Jinja chat template (the GGUF's, or one given in the composition)."""

    def __init__(self, template: str, bos: str, eos: str) -> None:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self._formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)
        self._bos = bos
        self._eos = eos

    def __call__(self, messages: Sequence[Message]) -> Prompt:
        rendered: Any = self._formatter(messages=[{"role": m.role, "content": m.content} for m in messages])
        stops = tuple(s for s in [self._eos, *_as_list(rendered.stop)] if s)
        has_bos = bool(self._bos) and rendered.prompt.startswith(self._bos)
        return Prompt(rendered.prompt, has_bos=has_bos, stops=stops, answer_prefix="")


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)
