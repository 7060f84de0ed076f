"""The `env-file` and `env` providers on real files and the real process environment."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from llmnet_env.providers import EnvFileSecrets, EnvSecrets

from llmnet_core import SecretError, SecretSpec, UsageError
from llmnet_core.envfile import load_env_file

SAMPLE = """\
# a comment line
export EXPORTED=from-export
PLAIN=plain-value   # a trailing comment
SINGLE='single $NOT_EXPANDED # not a comment'
DOUBLE="double \\"quoted\\" value"
MULTI="first line
second line"
WITH_EQUALS=a=b=c
EMPTY=
  INDENTED = spaced
BARE_NAME
REFERENCE=${PLAIN}-suffix
"""


def spec(options: dict, base_dir: Path, name: str = "keys", source: str = "env-file") -> SecretSpec:
    return SecretSpec(name=name, source=source, options=options, base_dir=base_dir)


async def load_file(options: dict, base_dir: Path, name: str = "keys") -> dict[str, str]:
    return dict(await EnvFileSecrets(spec(options, base_dir, name)).load())


async def test_env_file_syntax(tmp_path):
    (tmp_path / "app.env").write_text(SAMPLE, encoding="utf-8")
    values = await load_file({"path": "app.env"}, tmp_path)
    assert values == {
        "EXPORTED": "from-export",
        "PLAIN": "plain-value",
        "SINGLE": "single $NOT_EXPANDED # not a comment",
        "DOUBLE": 'double "quoted" value',
        "MULTI": "first line\nsecond line",
        "WITH_EQUALS": "a=b=c",
        "EMPTY": "",
        "INDENTED": "spaced",
        "REFERENCE": "plain-value-suffix",
    }  # BARE_NAME has no value, so it is not a variable of the block


async def test_interpolation_can_be_turned_off(tmp_path):
    (tmp_path / ".env").write_text("A=1\nB=${A}-x\nC=${NOPE:-d}\n", encoding="utf-8")
    assert await load_file({"interpolate": False}, tmp_path) == {"A": "1", "B": "${A}-x", "C": "${NOPE:-d}"}
    assert await load_file({}, tmp_path) == {"A": "1", "B": "1-x", "C": "d"}


async def test_the_secret_source_reads_a_file_as_env_file_does(tmp_path, monkeypatch):
    monkeypatch.setenv("LLMNET_ENV_T_EMPTY", "")
    extra = 'FALLBACK=${EMPTY:-fallback}\nFROM_ENV="${LLMNET_ENV_T_EMPTY:-env-fallback}"\n'
    extra += "SINGLE='${PLAIN}'\n"
    path = tmp_path / ".env"
    path.write_text(SAMPLE + extra, encoding="utf-8")
    values = await load_file({}, tmp_path)
    assert values == load_env_file(path, environ=dict(os.environ))  # what `llmnet run --env-file` sets
    assert (values["FALLBACK"], values["FROM_ENV"]) == ("fallback", "env-fallback")  # unset or empty
    assert values["SINGLE"] == "${PLAIN}"  # single quotes are never expanded


async def test_a_line_that_cannot_be_read_names_block_file_and_line(tmp_path):
    path = tmp_path / "app.env"
    path.write_text('A=1\n# comment\nB="do-not-show-me-4711\nC=3\n', encoding="utf-8")
    with pytest.raises(SecretError) as caught:
        await load_file({"path": "app.env"}, tmp_path, name="api")
    reason = "line 3: the double quote is never closed"
    assert caught.value.message == f"secrets.api: env file {path}, {reason}"
    assert "do-not-show-me-4711" not in str(caught.value)
    with pytest.raises(UsageError) as cli_error:
        load_env_file(path, environ={}, where=f"--env-file {path}")
    assert cli_error.value.message == f"--env-file {path}, {reason}"  # the same reason, the CLI's prefix


async def test_loading_leaves_the_environment_alone(tmp_path, monkeypatch):
    monkeypatch.delenv("LLMNET_ENV_TEST_ONLY", raising=False)
    (tmp_path / ".env").write_text("LLMNET_ENV_TEST_ONLY=value\n", encoding="utf-8")
    assert await load_file({}, tmp_path) == {"LLMNET_ENV_TEST_ONLY": "value"}
    assert "LLMNET_ENV_TEST_ONLY" not in os.environ


async def test_variables_filters_what_is_loaded(tmp_path):
    (tmp_path / "app.env").write_text(SAMPLE, encoding="utf-8")
    values = await load_file({"path": "app.env", "variables": ["PLAIN", "MULTI"]}, tmp_path)
    assert values == {"PLAIN": "plain-value", "MULTI": "first line\nsecond line"}


async def test_relative_path_starts_at_the_composition_folder_not_the_cwd(tmp_path, monkeypatch):
    folder = tmp_path / "project" / "conf"
    folder.mkdir(parents=True)
    (folder / "keys.env").write_text("API_KEY=k-relative\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)  # the working directory is elsewhere
    assert await load_file({"path": "keys.env"}, folder) == {"API_KEY": "k-relative"}
    assert await load_file({"path": "../conf/keys.env"}, folder) == {"API_KEY": "k-relative"}


async def test_tilde_is_the_home_folder(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    (home / ".llmnet.env").write_text("API_KEY=k-home\n", encoding="utf-8")
    monkeypatch.setenv("HOME", str(home))
    assert await load_file({"path": "~/.llmnet.env"}, tmp_path / "elsewhere") == {"API_KEY": "k-home"}


async def test_path_defaults_to_dot_env(tmp_path):
    (tmp_path / ".env").write_text("API_KEY=k-default\n", encoding="utf-8")
    assert await load_file({}, tmp_path) == {"API_KEY": "k-default"}


async def test_a_missing_file_names_the_block_and_the_file(tmp_path):
    with pytest.raises(SecretError) as caught:
        await load_file({"path": "nope.env", "variables": ["API_KEY"]}, tmp_path, name="openai")
    message = str(caught.value)
    assert message.startswith("secrets.openai: the env file ")
    assert str(tmp_path / "nope.env") in message and "does not exist" in message
    assert "secrets.openai.path" in caught.value.hint


async def test_a_folder_is_not_a_file(tmp_path):
    (tmp_path / "conf").mkdir()
    with pytest.raises(SecretError, match="is a folder, not a file"):
        await load_file({"path": "conf"}, tmp_path)


async def test_a_missing_variable_names_block_variable_and_file_but_no_value(tmp_path):
    path = tmp_path / "app.env"
    path.write_text("OTHER=do-not-show-me-4711\nBARE_NAME\n", encoding="utf-8")
    with pytest.raises(SecretError) as caught:
        await load_file({"path": "app.env", "variables": ["OTHER", "API_KEY", "BARE_NAME"]}, tmp_path)
    error = caught.value
    assert error.message == f"secrets.keys: variables API_KEY, BARE_NAME not found in {path}"
    assert "add API_KEY=..." in error.hint and "OTHER" in error.hint  # names are listed, values never
    assert "do-not-show-me-4711" not in str(error)


async def test_a_file_that_is_not_utf8_is_a_clear_error(tmp_path):
    (tmp_path / ".env").write_bytes(b"KEY=\xff\xfe\n")
    with pytest.raises(SecretError, match="not UTF-8"):
        await load_file({}, tmp_path)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"varibles": ["A"]}, 'secrets.keys.varibles: unknown field (did you mean "variables"?)'),
        ({"variables": "A"}, "secrets.keys.variables: Input should be a valid list"),
        ({"variables": ["not a name"]}, "secrets.keys.variables: each name must be letters"),
        ({"path": ""}, "secrets.keys.path: String should have at least 1 character"),
    ],
)
async def test_bad_options_name_the_field(tmp_path, options, expected):
    with pytest.raises(SecretError) as caught:
        await load_file(options, tmp_path)
    assert caught.value.message.startswith(expected)
    assert "path, variables" in caught.value.hint


async def test_env_source_reads_one_variable(monkeypatch):
    monkeypatch.setenv("LLMNET_TEST_KEY", "k-env")
    values = await EnvSecrets(spec({"variable": "LLMNET_TEST_KEY"}, Path(), source="env")).load()
    assert dict(values) == {"LLMNET_TEST_KEY": "k-env"}


async def test_env_source_reads_a_list_and_keeps_empty_values(monkeypatch):
    monkeypatch.setenv("LLMNET_TEST_A", "a-value")
    monkeypatch.setenv("LLMNET_TEST_EMPTY", "")
    options = {"variable": "LLMNET_TEST_A", "variables": ["LLMNET_TEST_EMPTY", "LLMNET_TEST_A"]}
    values = await EnvSecrets(spec(options, Path(), source="env")).load()
    assert dict(values) == {"LLMNET_TEST_A": "a-value", "LLMNET_TEST_EMPTY": ""}


async def test_env_source_names_what_is_unset_with_an_export_hint(monkeypatch):
    monkeypatch.delenv("LLMNET_TEST_UNSET", raising=False)
    monkeypatch.setenv("LLMNET_TEST_SET", "set-value-123")
    options = {"variables": ["LLMNET_TEST_SET", "LLMNET_TEST_UNSET"]}
    with pytest.raises(SecretError) as caught:
        await EnvSecrets(spec(options, Path(), name="ci", source="env")).load()
    assert caught.value.message == "secrets.ci: environment variable LLMNET_TEST_UNSET not set"
    assert caught.value.hint == "export LLMNET_TEST_UNSET=... before running llmnet"
    assert "set-value-123" not in str(caught.value)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, 'secrets.ci: give "variable": "NAME"'),
        ({"variable": "has space"}, "secrets.ci.variable: must be an environment variable name"),
        ({"name": "X"}, "secrets.ci.name: unknown field"),
    ],
)
async def test_env_source_bad_options(options, expected):
    with pytest.raises(SecretError) as caught:
        await EnvSecrets(spec(options, Path(), name="ci", source="env")).load()
    assert caught.value.message.startswith(expected)


def test_both_sources_are_registered_through_the_entry_point(host):
    providers = host.registries.secret_providers
    assert providers.get("env-file") is EnvFileSecrets
    assert providers.get("env") is EnvSecrets
    assert set(host.registries.provided_by("llmnet-env")["secret sources"]) >= {"env", "env-file"}


def test_importing_the_plugin_does_not_import_the_parser_or_pydantic():
    heavy = "{'llmnet_core.envfile', 'pydantic'}"
    code = f"import sys, llmnet_env; sys.exit(1 if {heavy} & set(sys.modules) else 0)"
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


def test_python_dotenv_is_not_a_dependency():
    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text(encoding="utf-8"))
    assert not [name for name in project["project"]["dependencies"] if "dotenv" in name.lower()]
