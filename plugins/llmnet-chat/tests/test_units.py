"""The pure parts in-process: how lines become turns, which turns are commands, the route line."""

from __future__ import annotations

import io

from llmnet_chat.display import route_line
from llmnet_chat.turns import TurnReader, as_message, is_command


def turns(text: str) -> list[str]:
    reader = TurnReader(io.StringIO(text), interactive=False)
    found = []
    while (turn := reader.read()) is not None:
        found.append(turn)
    return found


def test_lines_become_turns():
    assert turns("one\n\n  \ntwo\r\n") == ["one", "two"]
    assert turns("a \\\nb\\\nc\n") == ["a \nb\nc"]
    assert turns('"""\nx\n\n  y\n"""\nz\n') == ["x\n\n  y", "z"]
    assert turns('"""\n"""\nafter\n') == ["after"]  # an empty block sends nothing
    assert turns('"""\nnever closed\n') == ["never closed"]  # the input ended: what is open is sent
    assert turns('x \\\n"""\ny\n"""\n') == ["x \ny"]  # a block goes on a continued line
    assert turns("") == []


def test_commands_and_slashes():
    assert is_command("/trace") and is_command("  /reset  ") and is_command("/bogus")
    assert not is_command("/etc is a folder") and not is_command("//trace") and not is_command("hi /x")
    assert as_message("//trace") == "/trace" and as_message("plain") == "plain"


def _hop(node: str, role: str, chosen_by: str, decision: dict | None = None) -> dict:
    return {"node": node, "role": role, "chosen_by": chosen_by, "decision": decision}


def test_the_route_line():
    semantic = {"strategy": "semantic", "scores": {"billing": 0.912, "tech": 0.4}}
    trace = {
        "hops": [
            _hop("router", "router", "entry"),
            _hop("billing", "handler", "semantic router 0.91", semantic),
            _hop("polish", "handler", "only target"),
            _hop("output", "output", "only target"),
        ],
        "total_ms": 1432.0,
        "usage": {"total_tokens": 187},
    }
    assert route_line(trace) == "→ billing → polish · semantic 0.91 · 1.4 s · 187 tokens"
    llm = {"strategy": "llm", "scores": {}}
    quick = {
        "hops": [_hop("r", "router", "entry"), _hop("faq", "handler", "llm router", llm)],
        "total_ms": 80,
    }
    assert route_line(quick) == "→ faq · llm · 80 ms"
    alone = {
        "hops": [_hop("chat", "handler", "entry"), _hop("output", "output", "only target")],
        "total_ms": 5,
    }
    assert route_line(alone) == "→ chat · entry · 5 ms"
