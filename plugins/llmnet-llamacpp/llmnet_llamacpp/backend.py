"""The `llama-cpp` backend: GGUF models in-process: generation (restricted to fixed choices on request),
streaming, embeddings, choice scoring."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

from llmnet_core import (
    Backend,
    BackendError,
    ChatRequest,
    ChatResponse,
    Message,
    ModelSpec,
    Problem,
    Resources,
    StreamChunk,
    Usage,
    option_problems,
    parse_options,
)

from .bundled import bundled_model_path
from .choices import choose
from .evaluation import evaluate
from .formats import SUPPORTED, answer_grammar
from .generation import generate
from .models import LoadSettings, LocalModel, shared_model
from .options import DEFAULT_MAX_TOKENS, HINT, ModelOptions, Parameters, request_sampling
from .prompting import Prompt, TemplatePrompter, completion_prompt
from .vectors import VectorStore

Prompter = Callable[[Sequence[Message]], Prompt]


class LlamaCppBackend(Backend):
    """Runs a GGUF model in this process with llama.cpp (the bundled Gemma 3 270M when no source is given)."""

    description = "GGUF models in-process with llama.cpp; the offline default"

    def __init__(self, spec: ModelSpec, resources: Resources) -> None:
        super().__init__(spec, resources)
        where = f"models.{spec.name}"
        self.options = parse_options(ModelOptions, spec.options, where, error=BackendError, hint=HINT)
        self.parameters = parse_options(
            Parameters, spec.parameters, f"{where}.parameters", error=BackendError, hint=HINT
        )
        self._model: LocalModel | None = None
        self._prompter: Prompter | None = None
        self._vectors: VectorStore | None = None
        self._lock = asyncio.Lock()

    @classmethod
    def check(cls, spec: ModelSpec) -> list[Problem]:
        """The problems `run` would meet when loading the model: bad options or parameters, a missing
        GGUF file (so `validate` refuses what `run` would refuse)."""
        where = f"models.{spec.name}"
        options, problems = option_problems(ModelOptions, spec.options, where, hint=HINT)
        problems += option_problems(Parameters, spec.parameters, f"{where}.parameters", hint=HINT)[1]
        if options is not None and options.source is not None:
            missing = _missing_source(spec, options.source)
            if missing is not None:
                problems.append(missing)
        return problems

    @property
    def location(self) -> str:
        return self.options.source or "the bundled model"

    # -- loading -----------------------------------------------------------------------------------

    def _path(self) -> str:
        if self.options.source is None:
            return str(bundled_model_path())
        missing = _missing_source(self.spec, self.options.source)
        if missing is not None:
            raise BackendError(f"{missing.path}: {missing.message}", hint=missing.hint)
        return str(_source_path(self.spec, self.options.source))

    async def model(self) -> LocalModel:
        """The shared loaded model this backend uses (resolved once)."""
        if self._model is None:
            async with self._lock:
                if self._model is None:
                    path = await asyncio.to_thread(self._path)
                    p = self.parameters
                    self._model = shared_model(
                        LoadSettings(path, p.n_ctx, p.n_threads, p.n_batch, p.n_gpu_layers)
                    )
        return self._model

    async def prepare(self) -> None:
        """Start loading the model on its own thread, so it is ready by the time routing is done."""
        with contextlib.suppress(BackendError):
            (await self.model()).generation.submit(lambda llama: None)

    def _prompter_for(self, llama: Any) -> Prompter:
        if self._prompter is None:
            fmt = self.options.prompt_format
            template = self.options.chat_template or llama.metadata.get("tokenizer.chat_template")
            if fmt == "template" and not template:
                raise BackendError(
                    f'models.{self.spec.name}: prompt-format "template" but the model has no chat template',
                    hint='add "chat-template" to the model, or use prompt-format "completion"',
                )
            if template and fmt != "completion":
                bos = llama.detokenize([llama.token_bos()], special=True).decode("utf-8", "replace")
                eos = llama.detokenize([llama.token_eos()], special=True).decode("utf-8", "replace")
                self._prompter = TemplatePrompter(template, bos, eos)
            else:
                self._prompter = completion_prompt
        return self._prompter

    def _prompt(self, llama: Any, messages: Sequence[Message]) -> tuple[Prompt, list[int]]:
        """The prompt for `messages` and its tokens (on the model's thread)."""
        prompt = self._prompter_for(llama)(messages)
        return prompt, llama.tokenize(prompt.text.encode("utf-8"), add_bos=not prompt.has_bos, special=True)

    def _prepare(
        self, llama: Any, request: ChatRequest
    ) -> tuple[Prompt, list[int], dict[str, Any], list[str]]:
        """The prompt and its tokens, the sampling arguments and the stop sequences of one request (on the
        model's thread). An answer among `choices` gets the few tokens it needs, whatever the entry's
        `max_tokens` (a limit the request sets still holds); a JSON response format, its grammar."""
        prompt, tokens = self._prompt(llama, request.messages)
        asked = request_sampling(request.parameters)
        sampling = {**self.parameters.sampling(), **asked}
        stop = sampling.pop("stop", None)
        stops = [*prompt.stops, *([stop] if isinstance(stop, str) else stop or [])]
        if request.choices:
            answer = len(prompt.answer_prefix)
            sampling["max_tokens"] = asked.get("max_tokens") or request.choice_max_tokens(answer)
        sampling.setdefault("max_tokens", DEFAULT_MAX_TOKENS)
        grammar = answer_grammar(request.answer, self.spec.name)
        if grammar is not None:
            sampling["grammar"] = grammar
        n_ctx = min(llama.n_ctx(), len(llama.input_ids))  # llama.cpp may pad its own figure
        room = n_ctx - len(tokens)
        if room < 1:
            raise BackendError(
                f"model {self.spec.name}: the prompt has {len(tokens)} tokens, more than n_ctx {n_ctx}",
                hint=f"raise models.{self.spec.name}.parameters.n_ctx, or send a shorter conversation",
            )
        sampling["max_tokens"] = min(sampling["max_tokens"], room)
        return prompt, tokens, sampling, stops

    # -- generation --------------------------------------------------------------------------------

    def _generate(
        self,
        llama: Any,
        request: ChatRequest,
        emit: Callable[[str], None],
        cancelled: threading.Event | None = None,
    ) -> tuple[Usage, str | None]:
        """Answer `request` on the model's thread, handing each piece of text to `emit`; an answer among
        `request.choices` is one of them (see `choices.py`), handed over whole."""
        prompt, tokens, sampling, stops = self._prepare(llama, request)
        choices = request.choices

        def pick() -> tuple[Usage, str | None]:
            assert choices is not None
            text, usage, finish = choose(llama, tokens, choices, prompt.answer_prefix, sampling)
            if text:
                emit(text)
            return usage, finish

        def run() -> tuple[Usage, str | None]:
            evaluate(llama, tokens, last_run=False)
            return generate(llama, tokens, sampling, stops, emit, cancelled)

        return _guard(pick if choices else run, self.spec.name)

    async def complete(self, request: ChatRequest) -> ChatResponse:
        model = await self.model()

        def work(llama: Any) -> ChatResponse:
            parts: list[str] = []
            usage, finish = self._generate(llama, request, parts.append)
            text = "".join(parts)  # a choice is given exactly as it is
            return ChatResponse(text if request.choices else text.lstrip(), usage, request.model, finish)

        return await model.generation.run(work)

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamChunk]:
        model = await self.model()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        cancelled = threading.Event()

        def put(kind: str, item: Any) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, (kind, item))
            except RuntimeError:  # the loop is gone: nobody is listening any more
                cancelled.set()

        def work(llama: Any) -> None:
            try:
                put("end", self._generate(llama, request, lambda text: put("text", text), cancelled))
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting side
                put("error", exc)

        model.generation.submit(work)
        started = False
        try:
            while True:
                kind, item = await queue.get()
                if kind == "text":
                    text = item if started or request.choices else item.lstrip()
                    if text:
                        started = True
                        yield StreamChunk(text=text)
                elif kind == "end":
                    usage, finish = item
                    yield StreamChunk(text="", usage=usage, finish_reason=finish)
                    return
                else:
                    raise item
        finally:
            cancelled.set()

    # -- routing capabilities ----------------------------------------------------------------------

    def supports(self, feature: str) -> bool:
        """JSON answers (`response_format`, under a grammar); not tools or log-probabilities."""
        return feature in SUPPORTED

    def constrains_choices(self) -> bool:
        """Yes: an answer among `request.choices` is sampled under a grammar of them (see `choices.py`)."""
        return True

    async def embed(self, texts: Sequence[str], *, persist: bool = False) -> list[list[float]]:
        model = await self.model()
        items = list(texts)
        if not items:
            return []
        store = self._store(model) if persist else None
        known: dict[str, list[float]] = {}
        if store is not None:
            found = await asyncio.to_thread(lambda: {t: store.get(t) for t in items})
            known = {t: v for t, v in found.items() if v is not None}
        missing = list(dict.fromkeys(t for t in items if t not in known))
        if missing:
            vectors = await model.embedding.run(lambda llama: [list(v) for v in llama.embed(missing)])
            fresh = dict(zip(missing, vectors, strict=True))
            if store is not None:
                await asyncio.to_thread(store.put, fresh)
            known.update(fresh)
        return [known[t] for t in items]

    def _store(self, model: LocalModel) -> VectorStore:
        if self._vectors is None:
            self._vectors = VectorStore(model.settings.path)
        return self._vectors

    async def score_choices(self, messages: Sequence[Message], choices: Sequence[str]) -> dict[str, float]:
        model = await self.model()

        def work(llama: Any) -> dict[str, float]:
            from .scoring import score_continuations

            prompt, prefix = self._prompt(llama, messages)
            return score_continuations(llama, prefix, [prompt.answer_prefix + c for c in choices], choices)

        return await model.generation.run(work)


def _guard(call: Callable[[], Any], name: str) -> Any:
    try:
        return call()
    except ValueError as exc:
        raise BackendError(f"model {name}: llama.cpp refused the request: {exc}") from None


def _source_path(spec: ModelSpec, source: str) -> Path:
    """A `source` as a path: `~` expanded, relative to the composition's folder."""
    path = Path(source).expanduser()
    return path if path.is_absolute() else spec.base_dir / path


def _missing_source(spec: ModelSpec, source: str) -> Problem | None:
    """The problem of a `source` that names no file, None when the file is there."""
    path = _source_path(spec, source)
    if path.is_file():
        return None
    return Problem(
        f"models.{spec.name}.source",
        f"{path} does not exist",
        "give the path of a .gguf file (relative paths start at the composition's folder)",
    )
