"""The `sentence-encoder` backend: embeddings from a small sentence encoder, for the `semantic` router."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from pydantic import ConfigDict, Field

from llmnet_core import (
    Backend,
    BackendError,
    ChatRequest,
    ChatResponse,
    ModelSpec,
    PluginOptions,
    Problem,
    Resources,
    option_problems,
)

from .model import (
    BUNDLED_NAME,
    SOURCE_HINT,
    LoadSettings,
    ModelFiles,
    SharedEncoder,
    bundled_files,
    find_files,
    shared_encoder,
    source_path,
)

HINT = "a sentence-encoder model takes source and parameters"
PARAMETERS_HINT = "a sentence-encoder model's parameters: {known}"
#: one thread per request: a short text gains little from more, and the cores are shared with the pipeline
DEFAULT_THREADS = 1
#: a single text up to this long (a request being routed: a few milliseconds of work) is embedded on the
#: event loop's thread; longer texts and batches go to the model's worker thread
INLINE_CHARS = 400


class EncoderOptions(PluginOptions):
    """The entry's own keys this backend reads (others, such as `runner`, are the core's)."""

    model_config = ConfigDict(extra="ignore")

    source: str | None = Field(
        None, min_length=1, description="model folder or .onnx file; absent: the bundled all-MiniLM-L6-v2"
    )


class EncoderParameters(PluginOptions):
    """The entry's `parameters`: how the model runs (it has no sampling)."""

    n_threads: int = Field(DEFAULT_THREADS, ge=1, le=256, strict=True, description="CPU threads per run")
    max_length: int | None = Field(
        None, ge=2, strict=True, description="tokens kept of each text (default and most: the model's)"
    )
    batch_size: int = Field(32, ge=1, le=4096, strict=True, description="texts per run (float only)")
    quantize: bool = Field(
        True, strict=True, description="int8 weights and arithmetic (about twice as fast); false: float"
    )


def entry_problems(spec: ModelSpec) -> tuple[LoadSettings | None, list[Problem]]:
    """The settings of a model entry, or every problem with it at its JSON path (validate and run alike)."""
    place = f"models.{spec.name}"
    options, problems = option_problems(EncoderOptions, spec.options, place, hint=HINT)
    parameters, found = option_problems(
        EncoderParameters, spec.parameters, f"{place}.parameters", hint=PARAMETERS_HINT
    )
    problems += found
    if spec.url:
        problems.append(
            Problem(
                f"{place}.url",
                "a sentence-encoder model runs in this process and has no address",
                'remove "url", or use another runner for a model served elsewhere',
            )
        )
    files: ModelFiles | None = None
    if options is not None:
        try:
            if options.source is None:
                files = bundled_files()
            else:
                files = find_files(source_path(options.source, spec.base_dir))
        except BackendError as exc:
            problems.append(Problem(place, exc.message, exc.hint))
        except ValueError as exc:
            problems.append(Problem(f"{place}.source", str(exc), SOURCE_HINT))
    if problems or files is None or parameters is None:
        return None, problems
    length = min(parameters.max_length or files.max_length, files.max_length)
    settings = LoadSettings(files, parameters.n_threads, length, parameters.batch_size, parameters.quantize)
    return settings, []


class SentenceEncoderBackend(Backend):
    """Embeds texts with a small sentence encoder in-process (the bundled all-MiniLM-L6-v2 by default)."""

    description = "sentence embeddings in-process (all-MiniLM-L6-v2 by default), for semantic routing"

    def __init__(self, spec: ModelSpec, resources: Resources) -> None:
        super().__init__(spec, resources)
        settings, problems = entry_problems(spec)
        if settings is None:
            hint = next((p.hint for p in problems if p.hint), None)
            raise BackendError("; ".join(f"{p.path}: {p.message}" for p in problems), hint=hint)
        self.settings = settings

    @classmethod
    def check(cls, spec: ModelSpec) -> list[Problem]:
        """Bad options and parameters, an address, and a source that is not a usable model, by JSON path."""
        return entry_problems(spec)[1]

    @property
    def location(self) -> str:
        source = self.spec.options.get("source")
        return str(source) if source else f"the bundled {BUNDLED_NAME}"

    def _encoder(self) -> SharedEncoder:
        return shared_encoder(self.settings)

    async def prepare(self) -> None:
        """Start loading the model on its worker thread, so that it is ready for the first request."""
        with contextlib.suppress(BackendError):
            self._encoder().start()

    async def embed(self, texts: Sequence[str], *, persist: bool = False) -> list[list[float]]:
        items = list(texts)
        if not items:
            return []
        unique = list(dict.fromkeys(items))
        small = len(unique) == 1 and len(unique[0]) <= INLINE_CHARS
        vectors = await self._encoder().run(lambda encoder: encoder.encode(unique), inline=small)
        by_text = dict(zip(unique, vectors, strict=True))
        return [by_text[text] for text in items]

    async def complete(self, request: ChatRequest) -> ChatResponse:
        raise BackendError(
            f'model "{self.spec.name}" is a sentence encoder: it computes embeddings and cannot answer',
            hint=(
                f'name it in a semantic router\'s router-options: "embedding-model": "{self.spec.name}", '
                "and give answering nodes a chat model"
            ),
        )
