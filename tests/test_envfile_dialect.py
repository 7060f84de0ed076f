"""The core's dotenv parser as both its callers use it: `--env-file` (load_env_file) and a secret source
(parse_env_file with its own prefix, error type and interpolation switch)."""

from __future__ import annotations

import pytest

from llmnet_core import SecretError, UsageError, parse_env_file
from llmnet_core.envfile import load_env_file


def write(tmp_path, text: str):
    path = tmp_path / "test.env"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_default_is_used_when_the_name_is_unset_or_empty(tmp_path):
    path = write(
        tmp_path,
        "EMPTY=\n"
        "FROM_FILE=${EMPTY:-fallback}\n"
        "FROM_ENV=${LLMNET_T_EMPTY:-fallback}\n"
        'UNSET="${LLMNET_T_UNSET:-fallback}"\n'
        "SET=${LLMNET_T_SET:-fallback}\n",
    )
    environ = {"LLMNET_T_EMPTY": "", "LLMNET_T_SET": "value"}
    expected = {
        "EMPTY": "",
        "FROM_FILE": "fallback",
        "FROM_ENV": "fallback",
        "UNSET": "fallback",
        "SET": "value",
    }
    assert parse_env_file(path, environ) == expected
    assert load_env_file(path, environ=dict(environ)) == expected


def test_interpolation_can_be_turned_off(tmp_path):
    path = write(tmp_path, 'A=1\nB=${A}-x\nC="${NOPE:-d}"\n')
    assert parse_env_file(path, {}, interpolate=False) == {"A": "1", "B": "${A}-x", "C": "${NOPE:-d}"}


def test_errors_start_with_the_callers_prefix_and_name_the_line(tmp_path):
    path = write(tmp_path, "A=1\n\nB='secret-ish value\n")
    with pytest.raises(SecretError) as caught:
        parse_env_file(path, {}, where=f"secrets.api: env file {path}", error=SecretError)
    assert caught.value.message == f"secrets.api: env file {path}, line 3: the single quote is never closed"
    assert "secret-ish" not in str(caught.value)
    with pytest.raises(UsageError) as caught:
        load_env_file(path, environ={}, where=f"--env-file {path}")
    assert caught.value.message.startswith(f"--env-file {path}, line 3: ")
    with pytest.raises(UsageError, match=r"^env file .*test\.env, line 3: "):
        parse_env_file(path, {})  # without a prefix, the file is still named


def test_an_unreadable_file_is_the_callers_error(tmp_path):
    missing = tmp_path / "nope.env"
    with pytest.raises(SecretError) as caught:
        parse_env_file(missing, where=f"secrets.api: env file {missing}", error=SecretError)
    assert caught.value.message == f"secrets.api: env file {missing}: no such file"
    (tmp_path / "bad.env").write_bytes(b"A=\xff\n")
    with pytest.raises(UsageError, match="is not UTF-8 text"):
        parse_env_file(tmp_path / "bad.env")
