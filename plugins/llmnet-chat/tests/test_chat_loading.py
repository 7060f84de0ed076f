"""`llmnet chat` while its models load: a spinner on the terminal (the line cleared into a mark and the
time it took), before the prompt for a model that loads as the pipeline starts, and during the first
turn for one that loads in the background (as the bundled model does); nothing of it when the input is
piped."""

from __future__ import annotations

from pathlib import Path

import pytest
from llmnet_testing import install_plugin

#: a backend whose model takes a moment to load, announced as slow work, then answers "ready"
LOADING_PLUGIN = """
import asyncio
import threading
import time

from llmnet_core import Backend, ChatResponse, activity, hookimpl


class Loading(Backend):
    async def prepare(self):
        with activity("loading the test model"):
            await asyncio.sleep(0.5)

    async def complete(self, request):
        return ChatResponse(text="ready")


class Background(Backend):
    async def prepare(self):
        self.ready = threading.Event()

        def load():
            with activity("loading the background model"):
                time.sleep(3.0)
            self.ready.set()

        threading.Thread(target=load, daemon=True).start()

    async def complete(self, request):
        await asyncio.to_thread(self.ready.wait)
        return ChatResponse(text="loaded and ready")


@hookimpl
def llmnet_register_backends(register):
    register("loading-test", Loading)
    register("background-test", Background)
"""

COMPOSITION = {
    "models": {"m": {"backend": "loading-test"}},
    "architecture": [
        {"name": "chat", "layer": 0, "model": "m", "output-to": ["output"]},
        {"name": "output", "adapter": "output"},
    ],
}


@pytest.fixture
def chat_env(chat_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    site = install_plugin(
        tmp_path / "site",
        "loading-llmnet-test",
        {"loading_llmnet_test": LOADING_PLUGIN},
        {"loading": "loading_llmnet_test"},
    )
    return chat_env | {"PYTHONPATH": str(site)}


def test_a_spinner_shows_while_the_models_load_then_the_prompt(terminal, write_composition):
    term = terminal("chat", write_composition(COMPOSITION))
    seen = term.wait_for("loading the test model")  # the spinner's line, drawn while it loads
    seen = term.wait_for("✓ loading the test model (", after=seen)  # its line once it has loaded
    seen = term.wait_for("> ", after=seen)
    term.send("hello\r")
    seen = term.wait_for("ready", after=seen)
    seen = term.wait_for("> ", after=seen)
    term.send("\x04")
    assert term.exit_status() == 0


def test_a_turn_that_waits_for_a_model_loading_in_the_background_shows_it(terminal, write_composition):
    background = {**COMPOSITION, "models": {"m": {"backend": "background-test"}}}
    term = terminal("chat", write_composition(background))
    seen = term.wait_for("> ")  # the prompt comes at once: the model loads meanwhile
    term.send("hello\r")
    seen = term.wait_for("loading the background model", after=seen)  # the spinner, during the turn
    seen = term.wait_for("✓ loading the background model (", after=seen)
    seen = term.wait_for("loaded and ready", after=seen)
    seen = term.wait_for("> ", after=seen)
    term.send("\x04")
    assert term.exit_status() == 0


def test_piped_input_gets_no_spinner(chat, write_composition):
    result = chat(write_composition(COMPOSITION), input="hello\n")
    assert result.returncode == 0 and result.stdout == "ready\n"
    assert "loading the test model" not in result.stderr
