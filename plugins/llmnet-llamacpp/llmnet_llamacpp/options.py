"""The options of a `llama-cpp` model entry and its `parameters`, validated with errors that name them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import ConfigDict, Field

from llmnet_core import PluginOptions

#: parameters that shape sampling, per request; the rest of `Parameters` is fixed when the model loads
SAMPLING = (
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "typical_p",
    "max_tokens",
    "stop",
    "seed",
    "repeat_penalty",
    "presence_penalty",
    "frequency_penalty",
)
DEFAULT_MAX_TOKENS = 256


HINT = "known here: {known}"


class Parameters(PluginOptions):
    """A model entry's `parameters`: sampling defaults plus how the model is loaded."""

    temperature: float | None = Field(None, ge=0)
    top_p: float | None = Field(None, gt=0, le=1)
    top_k: int | None = Field(None, ge=0)
    min_p: float | None = Field(None, ge=0, le=1)
    typical_p: float | None = Field(None, gt=0, le=1)
    max_tokens: int | None = Field(None, ge=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    repeat_penalty: float | None = Field(None, gt=0)
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    n_ctx: int = Field(4096, ge=64, description="context length in tokens")
    n_threads: int | None = Field(None, ge=1, description="CPU threads (default: all cores)")
    n_batch: int = Field(512, ge=1)
    n_gpu_layers: int = Field(0, ge=-1)

    def sampling(self) -> dict[str, Any]:
        return {k: v for k in SAMPLING if (v := getattr(self, k)) is not None}


class ModelOptions(PluginOptions):
    """The entry's own keys this backend reads (others, such as `runner`, are the core's)."""

    model_config = ConfigDict(extra="ignore")

    source: str | None = Field(None, description="GGUF file; absent: the bundled model")
    chat_template: str | None = Field(None, description="Jinja chat template overriding the file's")
    prompt_format: Literal["auto", "template", "completion"] = "auto"


def request_sampling(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """Per-request parameters (from routers and callers) that sampling understands; others are ignored."""
    out = {}
    for key, value in parameters.items():
        name = key.replace("-", "_")
        if name in SAMPLING and value is not None:
            out[name] = value
    return out
