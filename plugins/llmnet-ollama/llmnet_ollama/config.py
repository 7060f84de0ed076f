"""Configuration of the `ollama` backend: the server's address, the entry's options (validated with
llmnet-http's `HTTPBackendOptions`) and the mapping of composition `parameters` onto Ollama's request
(`options`, `keep_alive`...).

Every problem is a `BackendError` that names the place (`models.NAME.timeout`) and says how to fix it.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from llmnet_http import HTTPBackendOptions, url_problem
from pydantic import Field

from llmnet_core import BackendError, Problem

DEFAULT_URL = "http://localhost:11434"
DEFAULT_PORT = 11434
#: path suffixes users copy from docs and other clients; the backend always talks to `<base>/api/chat`
_SUFFIXES = ("/api/chat", "/api/generate", "/v1/chat/completions", "/api", "/v1")

#: composition parameter names (OpenAI, llama.cpp and llama-cpp-python spellings) → Ollama option names
OPTION_ALIASES: dict[str, str] = {
    "max_tokens": "num_predict",
    "max_completion_tokens": "num_predict",
    "max_new_tokens": "num_predict",
    "n_predict": "num_predict",
    "n_ctx": "num_ctx",
    "ctx_size": "num_ctx",
    "context_length": "num_ctx",
    "repetition_penalty": "repeat_penalty",
    "n_threads": "num_thread",
    "n_batch": "num_batch",
    "n_gpu_layers": "num_gpu",
}
#: parameters that are fields of the /api/chat request itself, not model options
TOP_LEVEL = ("keep_alive", "format", "think")
#: parameters that the backend sets itself and never forwards
_IGNORED = ("model", "messages", "stream", "stream_options")

_INT_OPTIONS = frozenset(
    {"num_keep", "seed", "num_predict", "top_k", "repeat_last_n", "mirostat", "num_ctx", "num_batch"}
    | {"num_gpu", "main_gpu", "num_thread"}
)
_FLOAT_OPTIONS = frozenset(
    {"temperature", "top_p", "min_p", "typical_p", "tfs_z", "repeat_penalty", "presence_penalty"}
    | {"frequency_penalty", "mirostat_tau", "mirostat_eta"}
)
_BOOL_OPTIONS = frozenset({"penalize_newline", "numa", "low_vram", "vocab_only", "use_mmap", "use_mlock"})
_DURATION = re.compile(r"-?(\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)(\d+(\.\d*)?(ns|us|µs|ms|s|m|h))*")


class FieldError(BackendError):
    """A BackendError about one field of the entry: `problem` holds its place
    (`models.m.parameters.top_k`) and what is wrong there, for `check` to report at that place."""

    def __init__(self, place: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(f"{place} {message}", hint=hint)
        self.problem = Problem(place, message, hint)


def snake(key: str) -> str:
    """`max-tokens` → `max_tokens`: compositions are kebab-case, Ollama is snake_case."""
    return key.strip().replace("-", "_")


# -- the server's address ---------------------------------------------------------------------------


def base_url(url: str) -> str:
    """Normalise a server address to Ollama's base URL (no trailing `/`, no `/api` or `/v1` suffix).

    `localhost:11434`, `http://h:11434/`, `http://h:11434/v1` and `http://h:11434/api/chat` all give
    `http://h:11434`. A host written without scheme and port gets Ollama's port, as `OLLAMA_HOST` does.
    """
    text = url.strip()
    if "://" not in text:
        parts = urlsplit("http://" + text)
        if parts.port is None and parts.hostname:
            text = f"http://{parts.netloc}:{DEFAULT_PORT}{parts.path}"
        else:
            text = "http://" + text
    text = text.rstrip("/")
    stripped = True
    while stripped:
        stripped = False
        for suffix in _SUFFIXES:
            if text.lower().endswith(suffix):
                text, stripped = text[: -len(suffix)].rstrip("/"), True
    return text


def default_url(environ: Mapping[str, str] | None = None) -> str:
    """Where Ollama listens when a model has no url: `$OLLAMA_HOST` (as the ollama CLI reads it), else
    http://localhost:11434. A wildcard bind address (0.0.0.0) is reached through the loopback."""
    host = (os.environ if environ is None else environ).get("OLLAMA_HOST", "").strip()
    if not host:
        return DEFAULT_URL
    url = base_url(host)
    parts = urlsplit(url)
    hostname = parts.hostname or ""
    if hostname in ("", "0.0.0.0", "::"):
        written = "[::]" if hostname == "::" else hostname
        loopback = "[::1]" if hostname == "::" else "127.0.0.1"
        at = parts.netloc.find(written) if written else parts.netloc.rfind(":")
        netloc = parts.netloc[:at] + loopback + parts.netloc[at + len(written) :]
        url = urlunsplit(parts._replace(netloc=netloc))
    return url


def server_base(spec_url: str | None, place: str) -> str | Problem:
    """The base URL of a model entry's Ollama server (its url, else `default_url()`), or the problem
    at `place` when `url_problem` refuses it. `check` and the backend both ask here, so `validate`
    refuses what a run would, in the same words."""
    try:
        base = base_url(spec_url) if spec_url else default_url()
    except ValueError:  # too malformed to split: `url_problem` says why
        base = spec_url or os.environ.get("OLLAMA_HOST", "")
    reason = url_problem(base, spec_url or base)
    if reason is None:
        return base
    origin = "" if spec_url else " (from OLLAMA_HOST)"
    return Problem(place, reason + origin, "Use Ollama's address, e.g. http://localhost:11434.")


def is_local(url: str) -> bool:
    """True when the URL points at this machine (so `ollama pull` needs no OLLAMA_HOST)."""
    host = (urlsplit(url).hostname or "").lower()
    return host in ("localhost", "127.0.0.1", "::1", "") or host.startswith("127.")


# -- the entry's settings ---------------------------------------------------------------------------


HINT = "an ollama model takes url, api-key, model, parameters, keep-alive and: {known}"


class OllamaOptions(HTTPBackendOptions):
    """A model entry's own keys: the shared HTTP options (a first answer may load the model, so the
    timeout is longer) and Ollama `options` for every request."""

    timeout: float = Field(300.0, gt=0, strict=True, allow_inf_nan=False)
    options: dict[str, Any] = Field(default_factory=dict)


def _show(value: Any) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


# -- parameters → the request ------------------------------------------------------------------------


def keep_alive_value(value: Any, place: str) -> str | int | float:
    """Check a keep-alive: a Go duration (`5m`, `1h30m`, `-1s`) or a number of seconds (negative:
    forever, 0: unload at once). Numeric strings become numbers, as Ollama rejects `"300"`."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise FieldError(
            place,
            f'must be a duration such as "5m" or a number of seconds, got {_show(value)}',
            hint='Use e.g. "10m", "1h", 300, 0 (unload after each request) or -1 (keep loaded).',
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise FieldError(place, f"must be a finite number of seconds, got {value}")
    if isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            if not _DURATION.fullmatch(text):
                raise FieldError(
                    place,
                    f"is not a duration: {_show(value)}",
                    hint='Use a number with a unit (s, m, h), e.g. "30s", "10m", "1h30m", '
                    "or a number of seconds.",
                ) from None
            return text
        return int(number) if number == int(number) else number
    return value


def _option_value(key: str, value: Any, place: str) -> Any:
    """Check (and gently convert) the value of a known Ollama option, so a typo fails here with the
    place named instead of as an HTTP 400 from the server."""
    if key == "stop":
        if isinstance(value, str):
            return [value]
        if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            return list(value)
        raise FieldError(place, f"must be a text or a list of texts, got {_show(value)}")
    kind = "int" if key in _INT_OPTIONS else "float" if key in _FLOAT_OPTIONS else None
    if key in _BOOL_OPTIONS:
        if not isinstance(value, bool):
            raise FieldError(place, f"must be true or false, got {_show(value)}")
        return value
    if kind is None:
        return value  # an option this plugin does not know: Ollama decides
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if number is None or not math.isfinite(number) or (kind == "int" and number != int(number)):
        what = "a whole number" if kind == "int" else "a number"
        raise FieldError(place, f"must be {what}, got {_show(value)}")
    return int(number) if kind == "int" else number


def _response_format(value: Any) -> Any:
    """OpenAI's `response_format` as Ollama's `format` ("json" or a JSON schema); None for plain text."""
    if not isinstance(value, Mapping):
        return value
    kind = value.get("type")
    if kind == "json_object":
        return "json"
    if kind == "json_schema":
        schema = value.get("json_schema")
        if isinstance(schema, Mapping) and isinstance(schema.get("schema"), Mapping):
            return dict(schema["schema"])
        return "json"
    return None


def split_parameters(layers: list[tuple[str, Mapping[str, Any]]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Merge parameter layers (later ones win) into Ollama's top-level fields and its `options`.

    Each layer is (place, mapping), the place naming it in errors (`models.m.parameters`). Aliases such
    as `max_tokens` become Ollama's names (`num_predict`); an `options` object is merged as is.
    """
    top: dict[str, Any] = {}
    options: dict[str, Any] = {}
    for place, layer in layers:
        for raw_key, value in layer.items():
            key = snake(str(raw_key))
            where = f"{place}.{raw_key}"
            if key in _IGNORED or value is None:
                continue
            if key == "options":
                if not isinstance(value, Mapping):
                    raise FieldError(where, f"must be an object of Ollama options, got {_show(value)}")
                for sub_key, sub_value in value.items():
                    name = OPTION_ALIASES.get(snake(str(sub_key)), snake(str(sub_key)))
                    options[name] = _option_value(name, sub_value, f"{where}.{sub_key}")
            elif key == "keep_alive":
                top[key] = keep_alive_value(value, where)
            elif key == "response_format":
                fmt = _response_format(value)
                if fmt is not None:
                    top["format"] = fmt
            elif key in TOP_LEVEL:
                top[key] = value
            else:
                name = OPTION_ALIASES.get(key, key)
                options[name] = _option_value(name, value, where)
    return top, options
