"""Secrets that arrive in pieces or in base64: `StreamRedactor` masks a secret split across streamed pieces,
and `Redactor` masks `base64(key)` and `base64("user:" + key)` (HTTP basic auth, any user name). Then the
real `llmnet` command with a model that streams `key=` and the API key three characters at a time, a
model whose error body quotes the key in basic auth, and a hook that writes it in base64 on stderr: the
canary key appears in no output channel (stdout, stderr, `--debug`)."""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from llmnet_testing import FakeOpenAIServer

from llmnet_core import Redactor, StreamRedactor

LLMNET = str(Path(sys.executable).parent / "llmnet")
USERS = ["", "u", "ab", "api", "alice", "deploy-bot"]  # every offset of the key in base64's 3-byte groups


@pytest.fixture
def canary() -> str:
    return f"sk-canary-{secrets.token_hex(12)}"


def in_threes(text: str) -> list[str]:
    return [text[i : i + 3] for i in range(0, len(text), 3)]


def streamed(redactor: Redactor, pieces: list[str]) -> str:
    masker = StreamRedactor(redactor)
    return "".join(masker.feed(piece) for piece in pieces) + masker.flush()


def leaks(text: str, secret: str, window: int = 8) -> list[str]:
    """Every run of `window` characters of `secret` found in `text`."""
    return [secret[i : i + window] for i in range(len(secret) - window + 1) if secret[i : i + window] in text]


def basic_auth(user: str, key: str) -> str:
    return base64.b64encode(f"{user}:{key}".encode()).decode()


# -- the stream redactor -----------------------------------------------------------------------------


def test_a_secret_split_at_every_place_is_masked(canary):
    redactor = Redactor([canary])
    text = f"key={canary} and again {json.dumps(canary)[1:-1]}!"
    expected = redactor(text)
    assert expected == "key=*** and again ***!"
    for size in range(1, len(text) + 1):
        pieces = [text[i : i + size] for i in range(0, len(text), size)]
        assert streamed(redactor, pieces) == expected, size
    for cut in range(1, len(text)):
        for second in range(cut + 1, len(text), 7):
            pieces = [text[:cut], text[cut:second], text[second:]]
            assert streamed(redactor, pieces) == expected, (cut, second)


def test_only_what_may_begin_a_secret_is_held_back(canary):
    masker = StreamRedactor(Redactor([canary]))
    assert masker.feed("hello world, ") == "hello world, "  # nothing like a secret: shown at once
    assert masker.feed("the key is sk-") == "the key is "  # "sk-" may begin the key
    assert masker.feed("can") == ""
    assert masker.feed("dy!") == "sk-candy!"  # it did not: shown as soon as that is certain
    assert masker.feed(canary[:-1]) == ""
    assert masker.feed(canary[-1] + " done") == "*** done"
    assert masker.flush() == ""


def test_the_text_held_back_is_never_longer_than_a_secret(canary):
    redactor = Redactor([canary])
    masker = StreamRedactor(redactor)
    longest = max(len(form) for form in redactor._forms)
    shown = ""
    for piece in in_threes("x" + canary[:-1]) * 3:  # beginnings of the key that never complete
        shown += masker.feed(piece)
    total = ("x" + canary[:-1]) * 3
    assert len(total) - len(shown) < longest
    assert total.startswith(shown)


def test_a_stream_that_stops_inside_a_secret_shows_none_of_it(canary):
    redactor = Redactor([canary])
    for cut in range(4, len(canary)):
        assert streamed(redactor, ["answer: ", *in_threes(canary[:cut])]) == "answer: ***"
    # fewer than four characters at the end are ordinary text
    assert streamed(redactor, ["answer: ", canary[:3]]) == f"answer: {canary[:3]}"


def test_without_secrets_pieces_pass_through_unchanged():
    masker = StreamRedactor(Redactor())
    assert [masker.feed(p) for p in ["sk-", "abc", ""]] == ["sk-", "abc", ""]
    assert masker.flush() == ""


def test_a_secret_in_base64_in_a_stream_is_masked(canary):
    redactor = Redactor([canary])
    for user in USERS:
        token = basic_auth(user, canary)
        shown = streamed(redactor, in_threes(f"Authorization: Basic {token}\n"))
        # the characters that encode the key (past those that also encode "user:") appear nowhere
        key_part = token[-(-8 * (len(user) + 1) // 6) + 1 : -3]
        assert "***" in shown and not leaks(shown, key_part), (user, shown)


# -- base64 forms ------------------------------------------------------------------------------------


@pytest.mark.parametrize("user", USERS)
def test_basic_auth_with_any_user_name_is_masked_whole(canary, user):
    redactor = Redactor([canary])
    token = basic_auth(user, canary)
    assert redactor(f"header Authorization: Basic {token} was refused") == (
        "header Authorization: Basic *** was refused"
    )
    url_safe = base64.urlsafe_b64encode(f"{user}:{canary}".encode()).decode().rstrip("=")
    assert redactor(f'{{"auth": "{url_safe}"}}') == '{"auth": "***"}'


def test_the_base64_of_the_key_itself_is_masked(canary):
    redactor = Redactor([canary])
    encoded = base64.b64encode(canary.encode()).decode()
    assert redactor(f"token={encoded}; next") == "token=***; next"
    assert redactor(f"token={encoded.rstrip('=')}") == "token=***"
    # ordinary base64 and short secrets are left alone
    assert redactor("data: aGVsbG8gd29ybGQ=") == "data: aGVsbG8gd29ybGQ="
    assert Redactor(["abcd"])("YWJjZA== and abcd") == "YWJjZA== and ***"


# -- the real command line -----------------------------------------------------------------------------


def chatbot(url: str) -> dict[str, Any]:
    return {
        "models": {"bot": {"type": "external", "url": url, "api-key": "$CANARY_KEY", "retries": 0}},
        "architecture": [
            {"name": "chat", "layer": 0, "model": "bot", "output-to": ["output"]},
            {"name": "output", "adapter": "output"},
        ],
    }


def run_llmnet(path: Path, canary: str, *args: str, debug: bool = False) -> subprocess.CompletedProcess[str]:
    command = [LLMNET, *(["--debug"] if debug else []), "run", str(path), "hi", *args]
    env = {**os.environ, "CANARY_KEY": canary}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    assert "Traceback" not in done.stderr or debug
    return done


@pytest.mark.parametrize("debug", [False, True], ids=["plain", "debug"])
@pytest.mark.parametrize(
    "mode", [[], ["--no-stream"], ["--format", "json"]], ids=["stream", "no-stream", "json"]
)
def test_a_key_streamed_in_pieces_is_masked_in_every_output(tmp_path, canary, mode, debug):
    with FakeOpenAIServer(f"key={canary} ok", pieces=in_threes) as server:
        path = tmp_path / "c.json"
        path.write_text(json.dumps(chatbot(server.url)))
        done = run_llmnet(path, canary, *mode, debug=debug)
    assert done.returncode == 0, done.stderr
    assert not leaks(done.stdout + done.stderr, canary), done.stdout + done.stderr
    answer = json.loads(done.stdout)["output"] if mode == ["--format", "json"] else done.stdout
    assert answer.strip() == "key=*** ok"


def test_a_key_in_basic_auth_in_an_error_body_is_masked(tmp_path, canary):
    with FakeOpenAIServer("unused") as server:
        header = f"Basic {basic_auth('deploy', canary)}"
        server.push(status=401, body=json.dumps({"error": {"message": f"bad credentials: {header}"}}))
        path = tmp_path / "c.json"
        path.write_text(json.dumps(chatbot(server.url)))
        done = run_llmnet(path, canary, "--no-stream", debug=True)
    assert done.returncode == 1
    assert "HTTP 401" in done.stderr and "Basic ***" in done.stderr
    assert basic_auth("deploy", canary)[:12] not in done.stderr
    assert not leaks(done.stdout + done.stderr, canary)


def test_a_key_in_base64_on_a_hooks_stderr_is_masked(tmp_path, canary):
    program = (
        "import base64, os, sys;"
        "key = os.environ['CANARY_KEY'].encode();"
        "sys.stderr.write('auth ' + base64.b64encode(b'svc:' + key).decode() + ' raw ' + "
        "base64.b64encode(key).decode() + ' failed');"
        "sys.exit(3)"
    )
    with FakeOpenAIServer("fine") as server:
        data = chatbot(server.url)
        data["functions"] = {
            "check": {
                "type": "shell",
                "command": sys.executable,
                "args": ["-c", program],
                "pass-env": ["CANARY_KEY"],
            }
        }
        data["architecture"][0]["hooks"] = {
            "pre": [{"function": "check", "mode": "transform", "on_failure": "abort"}]
        }
        path = tmp_path / "c.json"
        path.write_text(json.dumps(data))
        done = run_llmnet(path, canary, debug=True)
    assert done.returncode == 1
    assert "auth *** raw *** failed" in done.stderr
    for token in (basic_auth("svc", canary), base64.b64encode(canary.encode()).decode()):
        assert token[:12] not in done.stderr
