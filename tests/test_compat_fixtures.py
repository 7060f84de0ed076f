"""The compositions printed in the earlier llmnet's documentation (shared/compat/book/) validate, or fail
for their documented reason, and the runnable ones run against stand-in servers on 127.0.0.1: the route
taken, what conditions saw, and what each server received. (The published example files are run by
test_validation.py.) Skipped where shared/compat is not beside the checkout."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from llmnet_core.cli import cli
from llmnet_core.composition import read_composition

BOOK = Path(__file__).resolve().parents[2] / "shared" / "compat" / "book"
BOOK_FILES = sorted(p.name for p in BOOK.glob("*.jsonc"))
pytestmark = pytest.mark.skipif(not BOOK_FILES, reason="shared/compat is not beside this checkout")

#: files the earlier tool could not run either, and the message that says why
REFUSED = {
    "configuration_composition_0.jsonc": "no entry node",  # the empty skeleton
    "edge-devices_jetson_0.jsonc": 'runner "tensorrt-llm" starts a container',
    # the GGUF its reader downloads first (the run test below puts the bundled model in its place)
    "edge-devices_raspberry-pi_0.jsonc": "tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf does not exist",
}


def invoke(*args: str) -> Any:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert "Traceback" not in result.output + result.stderr
    return result


@pytest.mark.parametrize("name", BOOK_FILES)
def test_book_compositions_validate(host, monkeypatch, name):
    monkeypatch.setenv("VALIDATOR_API_KEY", "validator-canary-1f2e")
    monkeypatch.setenv("OPENROUTER_API_KEY", "or-canary-3c4d")
    result = invoke("validate", str(BOOK / name))
    if name in REFUSED:
        assert result.exit_code == 2 and REFUSED[name] in result.stderr, result.output
        return
    assert result.exit_code == 0, result.stderr
    assert "canary" not in result.output


class Validator(BaseHTTPRequestHandler):
    """The multiplication example's `validate-math` service: records each call and answers with the
    result it was sent, wrapped as the example's hook expects."""

    calls: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Validator.calls.append(body)
        reply = json.dumps({"valid": True, "result": body["result"]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def validator() -> Iterator[str]:
    Validator.calls = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Validator)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def stand_in(fake_server: Any, pick: str) -> Any:
    """One model server for every model of a file: a routing request (its system prompt lists the
    candidates) is answered with `pick`; any other with its last message and a `|` appended."""

    def reply(body: dict[str, Any]) -> str:
        system = " ".join(m["content"] for m in body["messages"] if m["role"] == "system")
        if pick and pick in system:
            return pick
        return body["messages"][-1]["content"] + "|"

    return fake_server(reply)


def localised(name: str, server: Any, write_composition: Any, **urls: str) -> str:
    data, _ = read_composition(BOOK / name)
    for model in data["models"].values():
        model["url"] = server.url + "/v1"
    for function, url in urls.items():
        data["functions"][function]["url"] = url
    return str(write_composition(data))


#: file → (prompt, route taken before the output node, what the last answering node was sent)
RUNS = {
    "configuration_composition_1.jsonc": ("hello", ["router", "handler"], "hello"),
    "getting-started_quick-start_0.jsonc": ("hello", ["router", "assistant"], "hello"),
    "examples_basic-chatbot_0.jsonc": ("hello", None, "hello"),
    "examples_dual-expert_0.jsonc": ("my app crashes on start", ["router", "support-expert"], None),
    "examples_multi-layer_0.jsonc": (
        "a poem about tides",
        ["router", "draft-writer", "editor", "fact-checker"],
        "a poem about tides||",
    ),
    "examples_conditional-routing_0.jsonc": ("quick one", ["router", "quick-responder"], "quick one"),
    "examples_openrouter_0.jsonc": ("explain tcp", None, None),
}


@pytest.mark.parametrize("name", sorted(RUNS))
def test_book_compositions_run_against_stand_in_servers(
    host, fake_server, write_composition, monkeypatch, name
):
    monkeypatch.setenv("OPENROUTER_API_KEY", "or-canary-3c4d")
    prompt, route, last_input = RUNS[name]
    pick = route[1] if route and len(route) > 1 else ""
    server = stand_in(fake_server, pick)
    result = invoke("run", localised(name, server, write_composition), prompt, "--format", "json")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    path = [h["node"] for h in out["trace"]["hops"]][:-1]
    if route is not None:
        assert path == route
    answered = [r.json for r in server.chat_requests]
    handler_calls = [b for b in answered if not (pick and pick in str(b["messages"][0]))]
    if last_input is not None:
        assert handler_calls[-1]["messages"][-1]["content"] == last_input
    assert out["output"] == handler_calls[-1]["messages"][-1]["content"] + "|"
    assert "canary" not in result.stdout + result.stderr


def test_conditional_routing_book_example_follows_the_word_count(host, fake_server, write_composition):
    server = stand_in(fake_server, "")
    path = localised("examples_conditional-routing_0.jsonc", server, write_composition)
    long_prompt = "please give me a detailed comparison of these two rather different approaches today"
    for prompt, handler in [("quick one", "quick-responder"), (long_prompt, "detailed-responder")]:
        result = invoke("run", path, prompt, "--format", "json")
        hop = json.loads(result.stdout)["trace"]["hops"][1]
        assert hop["node"] == handler and hop["chosen_by"] == "condition"
    assert len(server.chat_requests) == 2  # conditions chose: the router's model was never asked


def test_multiplication_example_validates_each_answer_through_its_hook(
    host, fake_server, write_composition, validator, monkeypatch
):
    monkeypatch.setenv("VALIDATOR_API_KEY", "validator-canary-1f2e")
    server = fake_server(lambda body: json.dumps({"result": 42}))
    name = "examples_multiplication-calculator_0.jsonc"
    path = localised(name, server, write_composition, **{"validate-math": validator + "/validate"})
    result = invoke("run", path, "What is 6 times 7?", "--format", "json")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert [h["node"] for h in out["trace"]["hops"]] == ["router", "initial-calc", "doubler", "output"]
    # each handler's answer went through validate-math, which saw the node's input and its answer
    assert Validator.calls[0]["expression"] == "What is 6 times 7?"
    assert all(json.loads(c["result"]) == {"result": 42} for c in Validator.calls)
    assert len(Validator.calls) == 2
    systems = [r.json["messages"][0]["content"] for r in server.chat_requests]
    assert systems[0].startswith("You are a calculator") and systems[1].startswith("You receive a number")
    assert "validator-canary" not in result.stdout + result.stderr


def test_raspberry_pi_example_runs_on_a_local_gguf(host, write_composition):
    """The Pi example names a GGUF the reader downloads first; with the bundled model's file in its
    place, it runs as written: one llama-cpp node that answers, its parameters accepted."""
    from llmnet_llamacpp.bundled import bundled_model_path

    data, _ = read_composition(BOOK / "edge-devices_raspberry-pi_0.jsonc")
    data["models"]["assistant"]["source"] = str(bundled_model_path())
    data["models"]["assistant"]["parameters"].update(n_threads=2, max_tokens=8, temperature=0)
    result = invoke("run", str(write_composition(data)), "What is the capital of France?", "--format", "json")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert [h["node"] for h in out["trace"]["hops"]] == ["router", "output"]
    assert out["trace"]["hops"][0]["role"] == "handler" and out["output"].strip()
