"""`llmnet chat` in a terminal, as a person meets it: the prompt, an answer streaming in, Ctrl-C in the
middle of it (the answer stops, the conversation goes on), line editing, Ctrl-D to leave. On a
pseudo-terminal always; in tmux (a real terminal emulator: keys sent, the pane's text captured) where
tmux is installed."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

LLMNET = Path(sys.executable).with_name("llmnet")
DEADLINE = 60.0  # seconds: a bound for something to happen, never a measure of speed


def one_node(url: str) -> dict:
    return {
        "models": {"m": {"type": "external", "url": url, "api-key": None, "retries": 0}},
        "architecture": [
            {"name": "chat", "layer": 0, "model": "m", "output-to": ["output"]},
            {"name": "output", "adapter": "output"},
        ],
    }


def test_ctrl_c_stops_an_answer_and_the_chat_goes_on(terminal, slow_model, story, write_composition):
    term = terminal("chat", write_composition(one_node(slow_model.url)))
    seen = term.wait_for("/help for commands")
    seen = term.wait_for("> ", after=seen)
    term.send("My name is Ada\r")
    seen = term.wait_for("Nice to meet you.", after=seen)
    seen = term.wait_for("→ chat · entry", after=seen)
    seen = term.wait_for("> ", after=seen)

    term.send("tell me a story\r")
    seen = term.wait_for("word2 ", after=seen)  # the answer is streaming
    term.send("\x03")  # Ctrl-C
    seen = term.wait_for("(stopped)", after=seen)
    seen = term.wait_for("> ", after=seen)
    assert story.split()[-1] not in term.screen

    term.send("What is my name?\r")
    seen = term.wait_for("Your name is Ada.", after=seen)
    seen = term.wait_for("> ", after=seen)
    third = [(m["role"], m["content"]) for m in slow_model.chat_requests[2].json["messages"]]
    assert third == [
        ("user", "My name is Ada"),
        ("assistant", "Nice to meet you."),
        ("user", "What is my name?"),
    ]

    term.send("\x04")  # Ctrl-D at the prompt
    assert term.exit_status() == 0
    assert "Traceback" not in term.screen


def test_line_editing_and_ctrl_c_at_the_prompt(terminal, model, write_composition):
    term = terminal("chat", write_composition(one_node(model.url)))
    seen = term.wait_for("> ")
    term.send("this line is dropped")
    # readline echoed it, so it is reading: a Ctrl-C that came before its wait began would wait for
    # the next key (CPython checks for signals only when that wait is interrupted)
    seen = term.wait_for("this line is dropped", after=seen)
    term.send("\x03")  # Ctrl-C while typing: the line is dropped, a new prompt comes
    seen = term.wait_for("> ", after=seen)
    term.send("gain\x01a\r")  # readline: Ctrl-A goes to the start of the line
    seen = term.wait_for("You said: again", after=seen)
    seen = term.wait_for("> ", after=seen)
    term.send("/exit\r")
    assert term.exit_status() == 0
    assert [r.json["messages"][-1]["content"] for r in model.chat_requests] == ["again"]
    assert "\x1b[2m→ chat" in term.screen  # the route line is dim


class Tmux:
    """A private tmux server (its own socket) running one command in a detached session."""

    def __init__(self, socket: str, command: str, env: dict[str, str]) -> None:
        self.base = ["tmux", "-S", socket, "-f", "/dev/null"]
        self.env = env
        self._tmux("new-session", "-d", "-s", "chat", "-x", "200", "-y", "50", command)

    def _tmux(self, *args: str) -> str:
        return subprocess.run(
            [*self.base, *args], env=self.env, capture_output=True, text=True, check=True, timeout=DEADLINE
        ).stdout

    def keys(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", "chat", *keys)

    def pane(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "chat", "-S", "-200")

    def wait_for(self, text: str, *, count: int = 1) -> str:
        """Poll the pane until `text` shows `count` times (bounded); returns the pane."""
        end = time.monotonic() + DEADLINE
        while time.monotonic() < end:
            pane = self.pane()
            if pane.count(text) >= count:
                return pane
            time.sleep(0.1)
        raise AssertionError(f"{text!r} did not appear {count} time(s); the pane:\n{self.pane()}")

    def wait_for_prompt(self) -> str:
        """Poll the pane until its last line is an empty prompt (tmux drops the space after `>`)."""
        end = time.monotonic() + DEADLINE
        while time.monotonic() < end:
            pane = self.pane()
            if pane.rstrip().splitlines()[-1:] == [">"]:
                return pane
            time.sleep(0.1)
        raise AssertionError(f"no prompt; the pane:\n{self.pane()}")

    def kill(self) -> None:
        subprocess.run([*self.base, "kill-server"], env=self.env, capture_output=True, timeout=DEADLINE)


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (apt-get install -y tmux)")
def test_in_tmux(slow_model, story, write_composition, chat_env, tmp_path):
    path = write_composition(one_node(slow_model.url))
    status = tmp_path / "status"
    tmux = Tmux(str(tmp_path / "tmux.sock"), f"{LLMNET} chat {path}; echo $? > {status}", chat_env)
    try:
        tmux.wait_for_prompt()
        tmux.keys("My name is Ada", "Enter")
        tmux.wait_for("→ chat · entry")
        tmux.wait_for_prompt()
        tmux.keys("tell me a story", "Enter")
        tmux.wait_for("word2 ")
        tmux.keys("C-c")
        tmux.wait_for("(stopped)")
        tmux.wait_for_prompt()
        tmux.keys("What is my name?", "Enter")
        pane = tmux.wait_for("Your name is Ada.")
        assert story.split()[-1] not in pane
        tmux.wait_for_prompt()
        tmux.keys("C-d")
        end = time.monotonic() + DEADLINE
        while not (status.exists() and status.read_text().strip()) and time.monotonic() < end:
            time.sleep(0.1)
        assert status.read_text().strip() == "0"
    finally:
        tmux.kill()
