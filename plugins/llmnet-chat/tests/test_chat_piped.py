"""`llmnet chat` with its input piped, as a script or another program drives it: each line a turn, the
answers alone on stdout, the route lines and commands' output on stderr, no prompt and no colour."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

LLMNET = Path(sys.executable).with_name("llmnet")


def one_node(url: str) -> dict:
    """A one-node chatbot answered by the model at `url`."""
    return {
        "models": {"m": {"type": "external", "url": url, "api-key": None, "retries": 0}},
        "architecture": [
            {"name": "chat", "layer": 0, "model": "m", "output-to": ["output"]},
            {"name": "output", "adapter": "output"},
        ],
    }


def _messages(server, index: int) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in server.chat_requests[index].json["messages"]]


def test_the_conversation_is_sent_with_each_turn(chat, model, write_composition):
    path = write_composition(one_node(model.url))
    result = chat(path, input="My name is Ada\nWhat is my name?\nThanks\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["Nice to meet you.", "Your name is Ada.", "You said: Thanks"]
    assert _messages(model, 1) == [
        ("user", "My name is Ada"),
        ("assistant", "Nice to meet you."),
        ("user", "What is my name?"),
    ]
    assert len(_messages(model, 2)) == 5
    routes = [line for line in result.stderr.splitlines() if line.startswith("→ ")]
    assert len(routes) == 3 and all(line.startswith("→ chat · entry · ") for line in routes)
    assert "\x1b" not in result.stdout + result.stderr and "> " not in result.stdout


def test_reset_trace_and_exit(chat, model, write_composition):
    path = write_composition(one_node(model.url))
    script = "/trace\nMy name is Ada\n/trace\n/reset\nWhat is my name?\n/exit\nnever sent\n"
    result = chat(path, input=script)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["Nice to meet you.", "I do not know your name."]
    assert _messages(model, 1) == [("user", "What is my name?")]
    assert len(model.chat_requests) == 2  # nothing after /exit
    assert "(no request yet" in result.stderr
    table = result.stderr[result.stderr.index("hop  node") :].splitlines()
    assert [row.split()[1] for row in table[1:3]] == ["chat", "output"] and table[3].startswith("total ")
    assert "(conversation forgotten" in result.stderr


def test_several_lines_make_one_turn(chat, model, write_composition, tmp_path):
    path = write_composition(one_node(model.url))
    script = 'first line \\\nsecond line\n"""\nblock one\n\nblock two\n"""\n//etc is a folder\n/nope\n'
    result = chat(path, input=script)
    assert result.returncode == 0, result.stderr
    sent = [r.json["messages"][-1]["content"] for r in model.chat_requests]
    assert sent == ["first line \nsecond line", "block one\n\nblock two", "/etc is a folder"]
    assert "unknown command /nope" in result.stderr


def test_routing_is_shown_and_a_system_prompt_sent(chat, model, write_composition):
    composition = {
        "models": {"m": {"type": "external", "url": model.url, "api-key": None}},
        "architecture": [
            {"name": "router", "layer": 0, "output-to": [1]},
            {"name": "short", "layer": 1, "model": "m", "if": "$WORD_COUNT < 4", "output-to": ["output"]},
            {"name": "long", "layer": 1, "model": "m", "if": "$WORD_COUNT >= 4", "output-to": ["output"]},
            {"name": "output", "adapter": "output"},
        ],
    }
    result = chat(
        write_composition(composition), "--system", "Be brief.", input="hi\nthis one has more words\n"
    )
    assert result.returncode == 0, result.stderr
    routes = [line for line in result.stderr.splitlines() if line.startswith("→ ")]
    assert [line.split(" · ")[:2] for line in routes] == [["→ short", "condition"], ["→ long", "condition"]]
    assert _messages(model, 0)[0] == ("system", "Be brief.")
    quiet = chat(write_composition(composition), "--no-route", input="hi\n")
    assert "→" not in quiet.stderr


def test_a_failed_turn_is_reported_and_the_chat_goes_on(chat, model, write_composition):
    path = write_composition(one_node(model.url))
    model.push(status=400)  # the model refuses the first request
    result = chat(path, input="My name is Ada\nMy name is Bob\nWhat is my name?\n")
    assert result.returncode == 1  # piped: a failed turn shows in the exit code
    assert result.stderr.startswith("error: ") and "400" in result.stderr
    assert result.stdout.splitlines() == ["Nice to meet you.", "Your name is Bob."]
    assert _messages(model, 2)[0] == ("user", "My name is Bob")  # the failed turn is not in the history


def test_secrets_are_masked_in_answers(chat, fake_server, write_composition, tmp_path):
    (tmp_path / "keys.env").write_text("KEY=sk-chat-canary-0123456789\n")
    server = fake_server("here you go", fault="echo-key-split")  # the key streamed 3 characters at a time
    composition = one_node(server.url)
    composition["secrets"] = {
        "k": {"source": "env-file", "path": str(tmp_path / "keys.env"), "variables": ["KEY"]}
    }
    composition["models"]["m"]["api-key"] = "$secrets.k.KEY"
    result = chat(write_composition(composition), input="hello\n/trace\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "here you go key=*** ok\n"
    assert "canary" not in result.stdout + result.stderr


def test_bad_compositions_and_empty_input(chat, write_composition, tmp_path):
    broken = write_composition({"architecture": [{"name": "x", "model": "nope"}]})
    result = chat(broken, input="hi\n")
    assert result.returncode == 2 and result.stderr.startswith(f"error: {broken}: ")
    missing = chat(tmp_path / "missing.json", input="hi\n")
    assert missing.returncode == 2 and "no such file" in missing.stderr
    nothing = chat(write_composition(one_node("http://127.0.0.1:9")), input="\n\n")
    assert (nothing.returncode, nothing.stdout) == (0, "")


def test_a_closed_or_full_stdout_ends_the_chat_as_llmnet_run_does(fake_server, write_composition, chat_env):
    server = fake_server("word " * 20000)
    path = write_composition(one_node(server.url))
    pipeline = f'printf "one\\ntwo\\n" | {LLMNET} chat {path} | head -c 4; echo " ${{PIPESTATUS[1]}}"'
    closed = subprocess.run(
        ["bash", "-c", pipeline], capture_output=True, text=True, env=chat_env, timeout=120
    )
    assert (closed.stdout, closed.stderr) == ("word 141\n", "")  # quiet, 128 + SIGPIPE
    if not Path("/dev/full").exists():
        return
    with open("/dev/full", "w") as full_disk:
        full = subprocess.run(
            [str(LLMNET), "chat", str(path)],
            input="one\n",
            stdout=full_disk,
            stderr=subprocess.PIPE,
            text=True,
            env=chat_env,
            timeout=120,
        )
    assert full.returncode == 1
    assert full.stderr == "error: cannot write the answer: No space left on device\n"
