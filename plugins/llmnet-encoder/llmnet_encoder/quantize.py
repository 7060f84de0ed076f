"""An int8 copy of a model's graph, made once per graph and kept in llmnet's cache folder.

onnxruntime's dynamic quantization stores each weight matrix as int8 with a scale per output channel and
multiplies in int8, about twice as fast as float, for vectors within about 1 % of the float ones. The
weights keep 7 bits (`reduce_range`): CPUs without int8 dot-product instructions (plain AVX2) would
otherwise saturate some sums, so the vectors are the same on every CPU. Weights the graph stores in
another form (as int8 converted to float while it runs, say) are folded into plain float weights first.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from llmnet_core import BackendError, activity, cache_dir

#: bump when the recipe changes, so that cached copies made the old way are not used
RECIPE = "dynamic-int8-per-channel-7bit-1"
_lock = threading.Lock()


def file_sha256(path: Path) -> str:
    """The file's sha256, in hex."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def int8_graph(graph: Path, name: str, sha256: str | None = None) -> Path:
    """The int8 copy of `graph` (whose checksum is `sha256` when known), made on first use."""
    checksum = sha256 or file_sha256(graph)
    key = hashlib.sha256(f"{checksum}:{RECIPE}".encode()).hexdigest()[:24]
    target = cache_dir() / "encoders" / f"{key}.int8.onnx"
    with _lock:
        if target.is_file():
            return target
        try:
            import onnxruntime as ort
            from onnxruntime.quantization import QuantType, quantize_dynamic
        except ImportError:
            raise BackendError(
                "int8 quantization needs the onnx package",
                hint="pip install onnx, or set the model's parameters.quantize to false",
            ) from None
        folded = target.with_name(f".{target.stem}.{os.getpid()}.folded.onnx")
        partial = target.with_name(f".{target.stem}.{os.getpid()}.partial.onnx")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with activity(f"preparing int8 weights of {name} (first run only)"):
                options = ort.SessionOptions()
                # basic optimisations only (constant folding): the file stays valid on any CPU
                options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
                options.optimized_model_filepath = str(folded)
                options.log_severity_level = 3
                ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
                with _quiet_logging():
                    quantize_dynamic(
                        str(folded),
                        str(partial),
                        weight_type=QuantType.QInt8,
                        per_channel=True,
                        reduce_range=True,
                    )
            os.replace(partial, target)
        except BackendError:
            raise
        except Exception as exc:  # noqa: BLE001 - a graph the quantizer cannot handle, a full disk
            raise BackendError(
                f"could not make an int8 copy of {graph}: {type(exc).__name__}: {exc}",
                hint="set LLMNET_CACHE_DIR to a writable folder, or the model's parameters.quantize to false",
            ) from None
        finally:
            for leftover in (folded, partial):
                with contextlib.suppress(OSError):
                    leftover.unlink(missing_ok=True)
        return target


@contextlib.contextmanager
def _quiet_logging() -> Iterator[None]:
    """The quantizer logs advice through the root logger, which would also set up logging for the whole
    process; nothing below ERROR is logged while it runs."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(previous)
