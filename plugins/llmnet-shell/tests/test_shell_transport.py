"""Unit-level tests of the shell transport: options, argument passing, environment, stdin/stdout,
failures and timeouts, with small real Python programs (see conftest.py)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from llmnet_shell.transport import ShellTransport
from llmnet_testing import REPLY_CASES

from llmnet_core import (
    FunctionSpec,
    HookCall,
    Redactor,
    Resources,
    StepTimeoutError,
    TransportError,
    TransportTimeoutError,
    decode_reply,
)

REPORT = """
    import json, os, sys
    stdin = sys.stdin.read()
    print(json.dumps({"argv": sys.argv[1:], "stdin": stdin, "cwd": os.getcwd(), "env": dict(os.environ)}))
"""
HOSTILE = "\"; touch {marker}; echo $(id) `id` && rm -rf ~ | cat > {marker} ' $NODE ${{INPUT}} \\ *"

#: starts a grandchild that records its pid, sleeps, then writes a marker file; then sleeps itself
SPAWNER = """
    import subprocess, sys, time
    pidfile, marker = sys.argv[1], sys.argv[2]
    code = (
        "import os, sys, time; open(sys.argv[1] + '.tmp', 'w').write(str(os.getpid())); "
        "os.replace(sys.argv[1] + '.tmp', sys.argv[1]); time.sleep(4); open(sys.argv[2], 'w').write('late')"
    )
    subprocess.Popen([sys.executable, "-c", code, pidfile, marker])
    time.sleep(60)
"""


def make(
    timeout: float = 10.0, name: str = "tool", base_dir: Path | None = None, **options: Any
) -> ShellTransport:
    spec = FunctionSpec(
        name=name, type="shell", options=options, timeout=timeout, base_dir=base_dir or Path.cwd()
    )
    return ShellTransport(spec, Resources())


def hook(data: str = "hello world", **variables: str) -> HookCall:
    values = {"INPUT": data, "NODE": "chat", "WORD_COUNT": str(len(data.split())), **variables}
    return HookCall("tool", "pre", "transform", "chat", data, values, 10.0)


# -- options ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, "functions.tool.command: is required"),
        ({"command": "$PROGRAM"}, "functions.tool.command: the program cannot come from a $VARIABLE"),
        ({"command": "true", "args": "-v"}, "functions.tool.args: Input should be a valid list"),
        ({"command": "true", "args": [True]}, "functions.tool.args[0]: Input should be a valid string"),
        ({"command": "true", "env": {"A=B": "x"}}, "functions.tool.env: 'A=B' is not an environment"),
        ({"command": "true", "pass-env": ["1X"]}, "functions.tool.pass-env: '1X' is not an environment"),
        ({"command": "true", "stdin": "yaml"}, "functions.tool.stdin: Input should be 'json', 'text' or"),
        ({"command": "true", "max-output": 0}, "functions.tool.max-output: Input should be greater than 0"),
        (
            {"command": "no-such-program-xyz"},
            'functions.tool.command: program "no-such-program-xyz" not found',
        ),
        ({"command": sys.executable, "cwd": "/no/such/dir"}, "functions.tool.cwd: /no/such/dir is not a dir"),
    ],
)
def test_bad_options_name_the_field(options, expected):
    with pytest.raises(TransportError) as info:
        make(**options)
    assert expected in info.value.message
    assert info.value.hint


def test_a_program_that_is_not_executable(tmp_path):
    script = tmp_path / "tool.sh"
    script.write_text("echo hi\n")
    with pytest.raises(TransportError, match=r"functions.tool.command: .*tool.sh is not an executable file"):
        make(command=str(script))


async def test_a_relative_command_runs_from_cwd(tmp_path):
    script = tmp_path / "tool.py"
    script.write_text(f"#!{sys.executable}\nimport os\nprint(os.getcwd())\n")
    script.chmod(0o755)
    assert await make(command="./tool.py", cwd=str(tmp_path)).call(hook()) == str(tmp_path)


async def test_relative_paths_start_at_the_composition_folder(tmp_path, monkeypatch):
    folder = tmp_path / "project"
    (folder / "hooks").mkdir(parents=True)
    script = folder / "hooks" / "tool.py"
    script.write_text(f"#!{sys.executable}\nimport os\nprint(os.getcwd())\n")
    script.chmod(0o755)
    monkeypatch.chdir(tmp_path)  # llmnet started elsewhere: the composition's folder still counts
    in_folder = make(base_dir=folder, command="./hooks/tool.py")
    assert in_folder.program == str(script)
    assert await in_folder.call(hook()) == str(tmp_path)  # without cwd: llmnet's own directory
    with_cwd = make(base_dir=folder, command="./tool.py", cwd="hooks")
    assert with_cwd.cwd == str(folder / "hooks")
    assert await with_cwd.call(hook()) == str(folder / "hooks")
    with pytest.raises(TransportError, match=r"functions\.tool\.cwd: .*project/nowhere is not a directory"):
        make(base_dir=folder, command=sys.executable, cwd="nowhere")


def test_check_reports_each_bad_field_at_its_path():
    spec = FunctionSpec("tool", "shell", {"command": "$X", "stdin": "yaml", "shel": True})
    problems = {p.path: p.message for p in ShellTransport.check(spec)}
    assert problems.keys() == {"functions.tool.command", "functions.tool.stdin", "functions.tool.shel"}
    assert problems["functions.tool.shel"] == "unknown field, ignored"
    shel = next(p for p in ShellTransport.check(spec) if p.path == "functions.tool.shel")
    assert shel.severity == "warning"  # an unknown key is ignored, as the earlier llmnet ignored it
    assert "cannot come from a $VARIABLE" in problems["functions.tool.command"]
    assert ShellTransport.check(FunctionSpec("tool", "shell", {"command": "no-such-program-xyz"})) == []


# -- arguments, stdin, environment ------------------------------------------------------------------


async def test_each_value_is_exactly_one_argument_and_stdin_carries_the_envelope(program, tmp_path):
    transport = make(**program(REPORT, "$INPUT", "--node=$NODE", "$WORD_COUNT words", 42, cwd=str(tmp_path)))
    report = await transport.call(hook("two  words"))
    assert report["argv"] == ["two  words", "--node=chat", "2 words", "42"]
    assert report["cwd"] == str(tmp_path)
    assert json.loads(report["stdin"]) == {
        "function": "tool",
        "phase": "pre",
        "mode": "transform",
        "node": "chat",
        "data": "two  words",
        "variables": {"INPUT": "two  words", "NODE": "chat", "WORD_COUNT": "2"},
    }


async def test_shell_metacharacters_are_never_interpreted(program, tmp_path):
    marker = tmp_path / "pwned"
    hostile = HOSTILE.format(marker=marker)
    report = await make(**program(REPORT, "$INPUT", "$INPUT$NODE")).call(hook(hostile))
    assert report["argv"] == [hostile, hostile + "chat"]
    assert json.loads(report["stdin"])["data"] == hostile
    assert not marker.exists()


async def test_a_minimal_environment_plus_env_and_pass_env(program, monkeypatch):
    monkeypatch.setenv("LLMNET_TEST_CANARY", "do-not-leak")
    monkeypatch.setenv("LLMNET_TEST_PASSED", "passed on purpose")
    monkeypatch.setenv("LC_TEST_LOCALE", "C")
    fields = program(REPORT, env={"GREETING": "hi $NODE", "N": 3}, **{"pass-env": ["LLMNET_TEST_PASSED"]})
    env = (await make(**fields).call(hook()))["env"]
    assert "LLMNET_TEST_CANARY" not in env
    assert env["LLMNET_TEST_PASSED"] == "passed on purpose"
    assert (env["GREETING"], env["N"], env["LC_TEST_LOCALE"]) == ("hi chat", "3", "C")
    assert env["PATH"] == os.environ["PATH"]


@pytest.mark.parametrize(
    ("stdin", "expected"),
    [("text", "raw data\n with lines"), ("none", "")],
)
async def test_stdin_modes(program, stdin, expected):
    transport = make(**program("import sys, json; print(json.dumps(sys.stdin.read()))", stdin=stdin))
    assert await transport.call(hook("raw data\n with lines")) == expected


async def test_a_program_that_ignores_a_large_stdin(program):
    transport = make(**program("print('did not read')"))
    assert await transport.call(hook("x" * 2_000_000)) == "did not read"


# -- stdout -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stdout", "expected"),
    [
        ('{"label": "spam"}\n', {"label": "spam"}),
        ("[1, 2]", [1, 2]),
        ('"a JSON string"\n', "a JSON string"),
        ("plain text\n", "plain text"),
        ("two\nlines\n\n", "two\nlines"),
        ("{not json\n", "{not json"),
        ("null\n", None),
        ("", None),
        (" \n\n", None),
    ],
)
async def test_stdout_is_json_text_or_nothing(program, stdout, expected):
    transport = make(**program(f"import sys; sys.stdout.write({stdout!r})"))
    assert await transport.call(hook()) == expected


@pytest.mark.parametrize(("reply", "expected"), REPLY_CASES)
async def test_a_reply_means_what_it_means_over_every_transport(program, reply, expected):
    transport = make(**program(f"import sys; sys.stdout.write({reply!r})"))
    assert await transport.call(hook()) == expected == decode_reply(reply)


async def test_too_much_output_is_stopped(program):
    transport = make(
        **program("import sys\nfor _ in range(100): sys.stdout.write('x' * 10000)", **{"max-output": 1000})
    )
    with pytest.raises(TransportError, match="printed more than 1000 bytes on stdout and was stopped"):
        await transport.call(hook())


# -- failures ---------------------------------------------------------------------------------------


async def test_a_non_zero_exit_quotes_the_end_of_stderr(program):
    code = "import sys\nsys.stderr.write('noise ' * 200 + '\\nValueError: the real cause\\n')\nsys.exit(3)"
    with pytest.raises(TransportError) as info:
        await make(**program(code)).call(hook())
    message = info.value.message
    assert not isinstance(info.value, StepTimeoutError)  # a failure, not a timeout
    assert message.startswith(f'function "tool": {sys.executable} exited with status 3: …')
    assert message.endswith("ValueError: the real cause")
    assert len(message) < 400


async def test_a_secret_on_the_cut_of_the_stderr_excerpt_leaves_nothing(program):
    secret = "s3cr3t-" + "0123456789abcdef" * 2
    live = Redactor([secret])  # as a running pipeline knows its secrets
    # 39 + 180 characters: cut to the last 199 first, the secret's end would remain
    code = f"import sys\nsys.stderr.write({secret!r} + 'e' * 180)\nsys.exit(1)"
    with pytest.raises(TransportError) as info:
        await make(**program(code)).call(hook())
    assert info.value.message.endswith(": ***" + "e" * 180)
    del live


async def test_a_program_killed_by_a_signal(program):
    code = "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"
    with pytest.raises(TransportError, match="was killed by SIGTERM"):
        await make(**program(code)).call(hook())


async def test_a_nul_character_from_a_variable_is_refused(program):
    with pytest.raises(TransportError, match="contains a NUL character after substitution"):
        await make(**program("print(1)", "$INPUT")).call(hook("a\0b"))


async def test_timeout_kills_the_whole_process_group(program, tmp_path, stopped):
    pidfile, marker = tmp_path / "grandchild.pid", tmp_path / "written-later"
    transport = make(timeout=2.0, **program(SPAWNER, str(pidfile), str(marker)))
    with pytest.raises(
        TransportTimeoutError, match=r"did not finish within 2 s \(its process group was killed\)"
    ) as info:
        await transport.call(hook())
    assert isinstance(info.value, TransportError) and isinstance(info.value, StepTimeoutError)
    assert pidfile.exists(), "the grandchild should have started within the timeout"
    assert stopped(int(pidfile.read_text()))
    assert not marker.exists()


async def test_cancelling_a_call_kills_the_whole_process_group(program, tmp_path, stopped, wait_for_file):
    pidfile, marker = tmp_path / "grandchild.pid", tmp_path / "written-later"
    transport = make(timeout=60, **program(SPAWNER, str(pidfile), str(marker)))
    task = asyncio.create_task(transport.call(hook()))
    grandchild = int(await wait_for_file(pidfile))
    task.cancel()  # what the engine does when its own timeout for the hook runs out
    with pytest.raises(asyncio.CancelledError):
        await task
    assert stopped(grandchild)
    assert not marker.exists()


async def test_closing_the_transport_kills_calls_still_running(program, tmp_path, stopped, wait_for_file):
    pidfile, marker = tmp_path / "grandchild.pid", tmp_path / "written-later"
    transport = make(timeout=60, **program(SPAWNER, str(pidfile), str(marker)))
    task = asyncio.create_task(transport.call(hook()))
    grandchild = int(await wait_for_file(pidfile))
    await transport.aclose()  # the pipeline closes while the call is still in flight
    with pytest.raises(TransportError, match="was killed by SIGKILL"):
        await task
    assert stopped(grandchild)
    assert not marker.exists()


def test_the_entry_point_registers_shell(host):
    assert host.registries.transports.get("shell") is ShellTransport
    assert Path(sys.executable).exists()


def test_a_program_that_exits_without_reading_stdin_is_not_a_failure_under_uvloop():
    """uvloop reports a write to a pipe the program already closed as a RuntimeError, not a broken pipe:
    the same choice of the program's, so the hook succeeds on either event loop."""
    uvloop = pytest.importorskip("uvloop")

    async def calls() -> list[Any]:
        transport = make(command="true")
        try:
            big = hook("x" * 1_000_000)  # more than a pipe holds: the write outlives the program
            return [await transport.call(big) for _ in range(5)]
        finally:
            await transport.aclose()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        results = runner.run(calls())
    assert len(results) == 5 and len(set(map(repr, results))) == 1  # five successes, alike
