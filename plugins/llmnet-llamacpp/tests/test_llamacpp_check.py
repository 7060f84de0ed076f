"""`validate` refuses what loading the model would refuse: a missing GGUF file, a misspelt parameter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmnet_core.composition import validate_composition


def one_node(model: dict[str, Any]) -> dict[str, Any]:
    return {
        "models": {"local": {"runner": "llama-cpp", **model}},
        "architecture": [
            {"name": "chat", "layer": 0, "model": "local", "output-to": ["output"]},
            {"name": "output", "adapter": "output"},
        ],
    }


def problems(data: dict[str, Any], host: Any, base: Path) -> dict[str, tuple[str, str]]:
    found = validate_composition(data, base_dir=base, registries=host.registries)[1]
    return {p.path: (p.severity, p.message) for p in found}


def test_a_missing_gguf_is_an_error_at_its_source(host, tmp_path):
    found = problems(one_node({"source": "models/tiny.gguf"}), host, tmp_path)
    assert found == {"models.local.source": ("error", f"{tmp_path / 'models' / 'tiny.gguf'} does not exist")}
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "tiny.gguf").write_bytes(b"GGUF")
    assert problems(one_node({"source": "models/tiny.gguf"}), host, tmp_path) == {}


def test_a_misspelt_parameter_is_an_error_before_anything_loads(host, tmp_path):
    found = problems(one_node({"parameters": {"n_thread": 2}}), host, tmp_path)
    assert found["models.local.parameters.n_thread"][0] == "error"
    assert "unknown field" in found["models.local.parameters.n_thread"][1]
