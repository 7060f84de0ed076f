"""The catalogue of known plugins is data, and it tells the truth about the plugins in this repository."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmnet_core.composition.catalogue import catalogue, provider_of
from llmnet_core.registry import KIND_BY_NOUN

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = sorted(catalogue()["plugins"])


@pytest.mark.parametrize("dist", PLUGINS)
def test_each_catalogued_plugin_registers_what_the_catalogue_says(dist: str, host) -> None:
    assert (ROOT / "plugins" / dist / "pyproject.toml").exists(), f"{dist} is not a plugin of this repository"
    registries = host.registries
    for noun, names in catalogue()["plugins"][dist].items():
        kind = KIND_BY_NOUN[noun]
        registered = getattr(registries, kind.attr).by_plugin(dist)
        assert set(names) <= set(registered), (
            f"{dist} does not register {noun} {sorted(set(names) - set(registered))}"
        )


def test_the_catalogue_is_plain_json_that_names_known_kinds_only() -> None:
    data = json.loads((ROOT / "llmnet_core" / "data" / "catalogue.json").read_text(encoding="utf-8"))
    assert {noun for provides in data["plugins"].values() for noun in provides} <= set(KIND_BY_NOUN)
    assert provider_of("node kind", "ws") == "llmnet-websocket"
    assert provider_of("backend", "no-such-backend") is None


def test_the_core_names_no_plugin_in_its_code() -> None:
    """Plugin names live in the catalogue; the engine and the validator have no branch for any plugin."""
    for module in ("engine.py", "composition/validate.py", "composition/specs.py", "model_calls.py"):
        code = (ROOT / "llmnet_core" / module).read_text(encoding="utf-8")
        for name in [*PLUGINS, '"ws"', '"websocket"', '"ollama"', '"llama-cpp"', '"vllm"']:
            assert name not in code, f"{module} names {name}"
