"""The server's settings, validated with pydantic; they travel to worker processes as JSON in an
environment variable, so that `--workers N` can build the same app from an import string."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from llmnet_core import UsageError

from .defaults import DEFAULT_MAX_BODY, DEFAULT_READ_TIMEOUT

SETTINGS_ENV = "LLMNET_SERVE_SETTINGS"


class ServeSettings(BaseModel):
    """Everything `llmnet serve` needs to build the app (one instance per process)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    composition: str = Field(min_length=1)
    #: `--set PATH=VALUE` changes to the composition, applied in every worker process too
    overrides: tuple[str, ...] = ()
    host: str = Field("127.0.0.1", min_length=1)
    port: int = Field(8080, ge=0, le=65535)
    api_key: SecretStr | None = None
    max_concurrent: int = Field(256, ge=1, le=1_000_000)
    workers: int = Field(1, ge=1, le=256)
    max_body: int = Field(DEFAULT_MAX_BODY, ge=64, le=1024**3)
    read_timeout: float = Field(DEFAULT_READ_TIMEOUT, gt=0, le=3600)
    model_id: str | None = Field(None, min_length=1, max_length=200)
    allow_client_variables: bool = False
    variables: dict[str, str] = Field(default_factory=dict)
    graceful_timeout: float = Field(30.0, ge=0, le=3600)
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "warning"
    access_log: bool = False
    metrics: bool = True


def make_settings(**values: Any) -> ServeSettings:
    """Validate the options; a bad one raises UsageError naming its `--option` and the fix."""
    if values.get("api_key") is not None and not str(values["api_key"]).strip():
        raise UsageError("--api-key is empty", hint="give a key, or leave out --api-key and LLMNET_API_KEY")
    try:
        return ServeSettings(**values)
    except ValidationError as exc:
        error = exc.errors()[0]
        place = str(error["loc"][0]) if error["loc"] else "options"
        option = "--" + place.replace("_", "-")
        got = "" if place == "api_key" else f" (got {error.get('input')!r})"  # never echo a key
        raise UsageError(
            f"{option}: {error['msg']}{got}", hint=f"see `llmnet serve --help` for {option}"
        ) from None


def to_environ(settings: ServeSettings) -> None:
    """Put the settings (with the API key) into this process's environment for worker processes."""
    data = settings.model_dump(mode="json")
    data["api_key"] = settings.api_key.get_secret_value() if settings.api_key else None
    data["composition"] = str(Path(settings.composition).resolve())
    os.environ[SETTINGS_ENV] = json.dumps(data)


def from_environ() -> ServeSettings:
    """The settings a parent `llmnet serve` left in the environment (worker processes)."""
    raw = os.environ.get(SETTINGS_ENV)
    if not raw:
        raise UsageError(
            f"{SETTINGS_ENV} is not set",
            hint="start the server with `llmnet serve COMPOSITION`, which sets it for its workers",
        )
    try:
        values = json.loads(raw)
    except ValueError:
        raise UsageError(f"{SETTINGS_ENV} is not valid JSON") from None
    if not isinstance(values, dict):
        raise UsageError(f"{SETTINGS_ENV} must hold a JSON object")
    return make_settings(**values)
