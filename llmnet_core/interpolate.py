"""`$VARIABLE` and `$secrets.<name>.<VAR>` substitution that matches whole names and keeps JSON valid."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

#: `$NAME` or `${NAME}`; the longest name wins, so `$INPUT` never eats the start of `$INPUT_LENGTH`.
VARIABLE_RE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|(?!secrets\.)([A-Za-z_][A-Za-z0-9_]*))")
#: `$secrets.<block>.<VAR>` (block names may contain dashes).
SECRET_RE = re.compile(r"\$secrets\.([A-Za-z0-9_][A-Za-z0-9_-]*)\.([A-Za-z_][A-Za-z0-9_]*)")
#: a whole value that names an environment variable, as old compositions write API keys.
ENV_REFERENCE_RE = re.compile(r"^\$([A-Za-z_][A-Za-z0-9_]*)$")


def json_escape(value: str) -> str:
    """Escape `value` for use inside a JSON string literal (quotes, backslashes, control characters)."""
    return json.dumps(value, ensure_ascii=False)[1:-1]


def substitute(text: str, variables: Mapping[str, Any], *, escape: Callable[[str], str] | None = None) -> str:
    """Replace `$NAME` / `${NAME}` with `variables[NAME]`; names not in `variables` are left as written.

    `escape` is applied to each inserted value (e.g. `json_escape` for a JSON body written as text).
    """
    if "$" not in text:
        return text

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in variables:
            return match.group(0)
        value = variables[name]
        value = "" if value is None else value if isinstance(value, str) else _to_text(value)
        return escape(value) if escape else value

    return VARIABLE_RE.sub(replace, text)


def _to_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def substitute_json(value: Any, variables: Mapping[str, Any]) -> Any:
    """Substitute inside every string of a JSON-like structure (keys included); the result stays valid
    JSON whatever the values contain, because values are inserted into strings, never into JSON text."""
    if isinstance(value, str):
        return substitute(value, variables)
    if isinstance(value, list):
        return [substitute_json(item, variables) for item in value]
    if isinstance(value, dict):
        return {substitute(str(k), variables): substitute_json(v, variables) for k, v in value.items()}
    return value


def find_secret_references(value: Any, path: str = "") -> list[tuple[str, str, str]]:
    """Every `$secrets.<name>.<VAR>` in a JSON-like structure, as (json path, name, VAR)."""
    found: list[tuple[str, str, str]] = []
    if isinstance(value, str):
        found += [(path, m.group(1), m.group(2)) for m in SECRET_RE.finditer(value)]
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += find_secret_references(item, f"{path}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            found += find_secret_references(item, f"{path}.{key}" if path else str(key))
    return found


def resolve_secrets(value: Any, secrets: Mapping[str, Mapping[str, str]]) -> Any:
    """Replace every `$secrets.<name>.<VAR>` in a JSON-like structure with its loaded value.

    Callers check with `find_secret_references` first that every reference can be resolved.
    """
    if isinstance(value, str):
        if "$secrets." not in value:
            return value
        return SECRET_RE.sub(lambda m: secrets[m.group(1)][m.group(2)], value)
    if isinstance(value, list):
        return [resolve_secrets(item, secrets) for item in value]
    if isinstance(value, dict):
        return {k: resolve_secrets(v, secrets) for k, v in value.items()}
    return value
