"""`llmnet chat --set PATH=VALUE`: the conversation runs on the composition with the changes; a bad change
is a usage error at its place before the first turn."""

from __future__ import annotations


def unreachable_bot() -> dict:
    """A one-node chatbot whose model, as written in the file, is nowhere."""
    return {
        "models": {"m": {"type": "external", "url": "http://127.0.0.1:9", "retries": 0}},
        "architecture": [
            {"name": "chat", "layer": 0, "model": "m", "output-to": ["output"]},
            {"name": "output", "adapter": "output"},
        ],
    }


def test_chat_talks_to_the_overridden_composition(chat, model, write_composition):
    path = write_composition(unreachable_bot())
    overrides = ["--set", f"models.m.url={model.url}", "-o", "models.m.parameters.temperature=0.3"]
    result = chat(path, *overrides, input="My name is Ada\nWhat is my name?\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["Nice to meet you.", "Your name is Ada."]
    assert [r.json["temperature"] for r in model.chat_requests] == [0.3, 0.3]


def test_a_bad_override_stops_chat_before_the_first_turn(chat, model, write_composition):
    path = write_composition(unreachable_bot())
    result = chat(path, "--set", "architecture.chat.output-to=[7]", input="hello\n")
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {path}: 1 problem")
    assert "architecture[0].output-to[0]" in result.stderr and not result.stdout
    assert not model.chat_requests
