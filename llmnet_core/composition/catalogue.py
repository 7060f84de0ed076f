"""The catalogue (`data/catalogue.json`): which distribution provides a name no installed plugin
registers, for "install llmnet-X" hints, and which backend serves each `runner` of the format."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any


@cache
def catalogue() -> dict[str, Any]:
    """The parsed catalogue, read once per process."""
    path = Path(__file__).resolve().parent.parent / "data" / "catalogue.json"
    return json.loads(path.read_text(encoding="utf-8"))


def provider_of(noun: str, name: str) -> str | None:
    """The distribution known to provide the `noun` (`backend`, `node kind`...) called `name`."""
    for dist, provides in catalogue()["plugins"].items():
        if name in provides.get(noun, ()):
            return dist
    return None


def providers_of(noun: str) -> list[str]:
    """The distributions known to provide some `noun` (a `condition function`...)."""
    return [dist for dist, provides in catalogue()["plugins"].items() if provides.get(noun)]


def container_runners() -> frozenset[str]:
    """Runners that would start a container, which llmnet does not do."""
    return frozenset(catalogue()["container-runners"])


def runners() -> dict[str, dict[str, str]]:
    """Each runner llmnet can use, with the backend that serves it."""
    return catalogue()["runners"]


def type_runners() -> dict[str, str]:
    """A model `type` other than "external" that names a runner (`"type": "ollama"`), with that runner."""
    return {k: v for k, v in catalogue()["model-types"].items() if k != "about"}
