"""Configuration of the `ollama` backend: the server's address, the entry's settings (validated with
pydantic) and the mapping of composition `parameters` onto Ollama's request (`options`, `keep_alive`...).

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

from llmnet_core import BackendError

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


def mask_userinfo(url: str) -> str:
    """The URL without a password in its authority part (safe for messages)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def is_local(url: str) -> bool:
    """True when the URL points at this machine (so `ollama pull` needs no OLLAMA_HOST)."""
    host = (urlsplit(url).hostname or "").lower()
    return host in ("localhost", "127.0.0.1", "::1", "") or host.startswith("127.")


# -- the entry's settings ---------------------------------------------------------------------------


def _settings_model() -> Any:
    """The pydantic model of a model entry's settings (built on first use: pydantic loads lazily)."""
    from pydantic import BaseModel, ConfigDict, Field

    class OllamaSettings(BaseModel):
        """Transport settings of one `models` entry served by Ollama (other keys are ignored)."""

        model_config = ConfigDict(extra="ignore")

        timeout: float = Field(300.0, gt=0, allow_inf_nan=False)
        connect_timeout: float = Field(10.0, gt=0, allow_inf_nan=False)
        retries: int = Field(2, ge=0, le=20, strict=True)
        retry_backoff: float = Field(0.5, ge=0, allow_inf_nan=False)
        max_retry_wait: float = Field(30.0, ge=0, allow_inf_nan=False)
        options: dict[str, Any] = Field(default_factory=dict)
        headers: dict[str, str] = Field(default_factory=dict)

    return OllamaSettings


_HINTS = {
    "timeout": "a number of seconds > 0, e.g. 300",
    "connect_timeout": "a number of seconds > 0, e.g. 10",
    "retries": "a whole number ≥ 0, e.g. 2",
    "retry_backoff": "a number of seconds ≥ 0, e.g. 0.5",
    "max_retry_wait": "a number of seconds ≥ 0, e.g. 30",
    "options": 'an object of Ollama options, e.g. {"num_ctx": 8192}',
    "headers": 'an object of header names to text values, e.g. {"X-Team": "research"}',
}


def load_settings(name: str, options: Mapping[str, Any]) -> Any:
    """Validate the entry's transport settings; a bad value is an error naming `models.NAME.KEY`."""
    from pydantic import ValidationError

    cls = _settings_model()
    data = {snake(str(k)): v for k, v in options.items()}
    try:
        for key in ("timeout", "connect_timeout", "retry_backoff", "max_retry_wait"):
            if isinstance(data.get(key), bool):  # pydantic would read true as 1 second
                raise _BadSetting((key,), "Input should be a number", data[key])
        return cls.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        problem = _BadSetting(tuple(err["loc"]), err["msg"], err.get("input"))
    except _BadSetting as exc:
        problem = exc
    field = str(problem.loc[0]) if problem.loc else ""
    written = next((str(k) for k in options if snake(str(k)) == field), field.replace("_", "-"))
    rest = "".join(f".{part}" for part in problem.loc[1:])
    what = problem.msg.split(",")[0]
    what = "must be " + what[16:] if what.lower().startswith("input should be ") else what.lower()
    raise BackendError(
        f"models.{name}.{written}{rest} {what}, got {_show(problem.value)}",
        hint=f"Set models.{name}.{written} to {_HINTS.get(field, 'a valid value')}.",
    )


class _BadSetting(Exception):
    def __init__(self, loc: tuple[Any, ...], msg: str, value: Any) -> None:
        super().__init__(msg)
        self.loc, self.msg, self.value = loc, msg, value


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
        raise BackendError(
            f'{place} must be a duration such as "5m" or a number of seconds, got {_show(value)}',
            hint='Use e.g. "10m", "1h", 300, 0 (unload after each request) or -1 (keep loaded).',
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise BackendError(f"{place} must be a finite number of seconds, got {value}")
    if isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            if not _DURATION.fullmatch(text):
                raise BackendError(
                    f"{place} is not a duration: {_show(value)}",
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
        raise BackendError(f"{place} must be a text or a list of texts, got {_show(value)}")
    kind = "int" if key in _INT_OPTIONS else "float" if key in _FLOAT_OPTIONS else None
    if key in _BOOL_OPTIONS:
        if not isinstance(value, bool):
            raise BackendError(f"{place} must be true or false, got {_show(value)}")
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
        raise BackendError(f"{place} must be {what}, got {_show(value)}")
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
                    raise BackendError(f"{where} must be an object of Ollama options, got {_show(value)}")
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
