"""`validate` warns about a shell function that hands request variables to an interpreter as code
(`sh -c "echo $INPUT"`), or whose interpreter reads its program from the hook's stdin; the safe forms
the README shows get no warning and keep a hostile input inert."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from llmnet_shell.transport import ShellTransport
from llmnet_testing import hook_composition

from llmnet_core import FunctionSpec, HookCall, Resources
from llmnet_core.cli import cli


def warnings(**options: Any) -> list[str]:
    problems = ShellTransport.check(FunctionSpec("tool", "shell", options))
    assert all(p.severity == "warning" for p in problems)
    return [f"{p.path}: {p.message}" for p in problems]


@pytest.mark.parametrize(
    ("command", "args", "expected"),
    [
        ("sh", ["-c", "echo $INPUT | wc -w"], "functions.tool.args[1]: runs $INPUT as sh code"),
        (
            "/bin/bash",
            ["-ec", "grep -c x <<< '${OUTPUT}'"],
            "functions.tool.args[1]: runs $OUTPUT as bash code",
        ),
        ("bash", ["-o", "pipefail", "-c", "echo $INPUT"], "functions.tool.args[3]: runs $INPUT as bash code"),
        ("python3.12", ["-c", "print('$INITIAL_INPUT')"], "args[1]: runs $INITIAL_INPUT as python code"),
        ("env", ["LC_ALL=C", "sh", "-c", "echo $INPUT"], "functions.tool.args[3]: runs $INPUT as sh code"),
        ("busybox", ["sh", "-c", "echo $NODE $INPUT"], "args[2]: runs $INPUT, $NODE as sh code"),
        ("perl", ["-ne", "print '$CURRENT_INPUT'"], "args[1]: runs $CURRENT_INPUT as perl code"),
        ("node", ["--eval", "console.log(`$INPUT`)"], "args[1]: runs $INPUT as node code"),
        ("awk", ['BEGIN { print "$INPUT" }'], "functions.tool.args[0]: runs $INPUT as awk code"),
    ],
)
def test_request_variables_in_an_interpreters_code_are_warned_about(command, args, expected):
    (found,) = warnings(command=command, args=args)
    assert expected in found and "can run commands" in found


@pytest.mark.parametrize(
    ("command", "stdin"), [("sh", "text"), ("bash", "json"), ("python3", "json"), ("sh -s", "text")]
)
def test_an_interpreter_that_reads_its_program_from_the_hooks_stdin_is_warned_about(command, stdin):
    program, *args = command.split()
    (found,) = warnings(command=program, args=args, stdin=stdin)
    assert found.startswith("functions.tool.stdin: ") and "runs as code" in found


@pytest.mark.parametrize(
    "options",
    [
        {"command": "sh", "args": ["-c", "printf '%s' \"$1\" | wc -w", "sh", "$INPUT"]},
        {"command": "sh", "args": ["-c", "wc -w"], "stdin": "text"},
        {"command": "python3", "args": ["-c", "import sys; print(sys.argv[1].upper())", "$INPUT"]},
        {"command": "sh", "args": ["./hook.sh", "-c", "$INPUT"]},  # -c is the script's own option
        {"command": "sh", "args": ["-c", "echo $HOME $INPUTS"]},  # no request variable
        {"command": "sh", "stdin": "none"},
        {"command": "awk", "args": ["-f", "count.awk", "$INPUT"]},
        {"command": "grep", "args": ["-e", "$INPUT"]},
        {"command": "python3", "args": ["tool.py", "$INPUT"], "stdin": "text"},
    ],
)
def test_the_safe_forms_get_no_warning(options):
    assert warnings(**options) == []


def test_validate_shows_the_warning_at_its_path_and_still_passes(host, write_composition):
    functions = {"count": {"type": "shell", "command": "sh", "args": ["-c", "echo $INPUT | wc -w"]}}
    data = hook_composition("http://127.0.0.1:9", functions, "shell", [{"function": "count"}], [])
    result = CliRunner().invoke(cli, ["validate", str(write_composition(data))])
    assert result.exit_code == 0, result.output
    assert "warning functions.count.args[1]: runs $INPUT as sh code" in result.stdout


@pytest.mark.skipif(shutil.which("sh") is None, reason="needs a POSIX sh")
@pytest.mark.parametrize(
    "options",
    [
        {"command": "sh", "args": ["-c", "printf '%s' \"$1\" | wc -w", "sh", "$INPUT"]},
        {"command": "sh", "args": ["-c", "wc -w"], "stdin": "text"},
        {"command": sys.executable, "args": ["-c", "import sys; print(len(sys.argv[1].split()))", "$INPUT"]},
    ],
)
async def test_the_documented_safe_forms_keep_a_hostile_input_inert(tmp_path: Path, options):
    marker = tmp_path / "pwned"
    hostile = f"a $(touch {marker}) `touch {marker}`; touch {marker}"
    spec = FunctionSpec("count", "shell", options, timeout=10.0, base_dir=tmp_path)
    transport = ShellTransport(spec, Resources())
    call = HookCall("count", "pre", "transform", "chat", hostile, {"INPUT": hostile}, 10.0)
    reply = await transport.call(call)
    assert str(reply).strip() == str(len(hostile.split())) and not marker.exists()
