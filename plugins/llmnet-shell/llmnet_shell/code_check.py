"""A warning for a shell function that hands a request's text to an interpreter as code.

The transport never runs a shell, but the program it runs may be one: `sh -c "echo $INPUT"` or
`python3 -c "print('$INPUT')"` make the text part of a program, so a request can run commands. So does
an interpreter that reads its program from stdin while the hook's data is written there. `validate`
warns about both; the safe forms pass the value as its own argument, or on stdin to a script.
"""

from __future__ import annotations

import os
import re

from llmnet_core import REQUEST_VARIABLES, Problem, substitute

from .options import ShellOptions

_SHELLS = ("sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "fish")
#: interpreters by program name (without directory, `.exe` or version: `python3.12` is `python`), and
#: the options after which the next argument is a program; None for awk, whose first operand is one
CODE_OPTIONS: dict[str, tuple[str, ...] | None] = {
    **dict.fromkeys(_SHELLS, ("-c", "--command")),
    **dict.fromkeys(("python", "pypy"), ("-c",)),
    **dict.fromkeys(("perl", "ruby", "lua", "luajit", "rscript", "osascript"), ("-e", "-E")),
    **dict.fromkeys(("node", "nodejs", "bun"), ("-e", "--eval", "-p", "--print")),
    "php": ("-r",),
    **dict.fromkeys(("pwsh", "powershell"), ("-c", "-command", "-encodedcommand")),
    "cmd": ("/c", "/k"),
    **dict.fromkeys(("awk", "gawk", "mawk", "nawk"), None),
}
#: programs that run the program named in their arguments (`env sh -c ...`, `busybox sh -c ...`)
WRAPPERS = ("env", "busybox", "nice", "nohup", "stdbuf", "timeout", "sudo", "doas", "exec")
SAFE_FORM = (
    "pass each value as its own argument after the code (sh -c reads it as $1, python -c as "
    'sys.argv[1]) or on stdin ("stdin": "text"); the llmnet-shell README shows both'
)


def code_problems(options: ShellOptions, place: str) -> list[Problem]:
    """Warnings for the argument that an interpreter runs as code when it holds request variables,
    and for an interpreter that reads its program from the stdin the hook's data is written to."""
    words = [options.command, *options.args]
    at = _interpreter_at(words)
    if at is None:
        return []
    name = _program(words[at])
    code = _code_index(name, words[at + 1 :])
    if code is None:
        return _stdin_problems(name, words[at + 1 :], options.stdin, place)
    index = at + 1 + code  # in `words`, where the command comes first: args[index - 1]
    names = [v for v in REQUEST_VARIABLES if substitute(words[index], {v: "\0"}) != words[index]]
    if not names:
        return []
    shown = ", ".join(f"${v}" for v in names)
    message = f"runs {shown} as {name} code: a request's values become program text that can run commands"
    return [Problem(f"{place}.args[{index - 1}]", message, SAFE_FORM, "warning")]


def _stdin_problems(name: str, args: list[str], stdin: str, place: str) -> list[Problem]:
    if stdin == "none" or CODE_OPTIONS[name] is None or not _program_on_stdin(args):
        return []
    message = f"{name} reads its program from stdin here, so the hook's data ({stdin}) runs as code"
    hint = f'give {name} a script file and pass the data to it, or set "stdin": "none"'
    return [Problem(f"{place}.stdin", message, hint, "warning")]


def _program(word: str) -> str:
    """`/usr/bin/python3.12` → `python`, `BASH.EXE` → `bash`: the interpreter a program name means."""
    base = os.path.basename(word.replace("\\", "/")).lower().removesuffix(".exe")
    return re.sub(r"[0-9.]+$", "", base) or base


def _interpreter_at(words: list[str]) -> int | None:
    """The index of the interpreter among the command and its arguments: the command itself, or the
    program a wrapper runs (`env X=1 sh -c ...`); None when there is none."""
    for index, word in enumerate(words):
        program = _program(word)
        if program in CODE_OPTIONS:
            return index
        wrapper_part = program in WRAPPERS or word.startswith("-") or "=" in word or word[:1].isdigit()
        if not wrapper_part or (index == 0 and program not in WRAPPERS):
            return None
    return None


#: options whose value is the next argument (`bash -o pipefail -c ...`, `python3 -W error -c ...`)
_VALUE_OPTIONS = ("-o", "+o", "-O", "+O", "-W", "-X")


def _code_index(name: str, args: list[str]) -> int | None:
    """The index in `args` of the argument `name` runs as code, None when there is none: the value of
    a code option among the interpreter's own options, which end at `--` or at a script file."""
    flags = CODE_OPTIONS[name]
    if flags is None:  # awk: the first operand, unless -f names a program file
        return _awk_program(args)
    prefixes = ("/",) if name == "cmd" else ("-", "+")
    index = 0
    while index < len(args) - 1:
        arg = args[index]
        # a code option alone, or last in short options written together: `-ec` (sh), `-lne` (perl)
        if arg.lower() in flags or (re.fullmatch(r"-[a-zA-Z]+", arg) and f"-{arg[-1]}" in flags):
            return index + 1
        if arg == "--" or not arg.startswith(prefixes):
            return None  # the end of the options, or a script file: the rest are its arguments
        index += 2 if arg in _VALUE_OPTIONS else 1
    return None


def _awk_program(args: list[str]) -> int | None:
    skip = False
    for index, arg in enumerate(args):
        if skip:
            skip = False
        elif arg in ("-f", "--file") or arg.startswith("-f"):
            return None
        elif arg in ("-F", "-v"):
            skip = True
        elif not arg.startswith("-") or arg == "-":
            return index
    return None


def _program_on_stdin(args: list[str]) -> bool:
    """Whether an interpreter given these arguments (and no code option) reads its program from
    stdin: no script file before the first operand, or `-` / `-s` in its place."""
    for arg in args:
        if arg in ("-", "-s"):
            return True
        if not arg.startswith("-"):
            return False
    return True
