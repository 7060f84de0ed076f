"""Plugin options validated with pydantic: every problem named at its place (`functions.audit.url`), an
unknown key answered with the closest known one, and a hint listing what the entry takes.

Backends, transports, secret providers and routers all read options from the composition the same way;
these helpers give them one vocabulary for it ("is required", "unknown field (did you mean ...)").
Messages never contain the values given, which may be secrets.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import LLMNetError, Problem, TransportError

M = TypeVar("M", bound=BaseModel)
#: where an entry's options live: a prefix (`functions.audit`), or a function from a field's dotted
#: name ("" for the entry as a whole) to its place, for entries that are not named by a JSON path
Where = str | Callable[[str], str]

DEFAULT_HINT = "known fields: {known}"
#: pydantic errors that only say "the input is not of this branch's type" (noise when a union is tried)
_TYPE_MISMATCH = ("_type", "_parsing")


def kebab(name: str) -> str:
    """`max_connections` → `max-connections`, the spelling compositions use."""
    return name.replace("_", "-")


class PluginOptions(BaseModel):
    """Base of a plugin's options model: kebab-case keys (snake_case accepted too), unknown keys refused,
    values frozen. Override `model_config` keys in a subclass where an entry needs otherwise."""

    model_config = ConfigDict(alias_generator=kebab, populate_by_name=True, extra="forbid", frozen=True)


def known_fields(model: type[BaseModel]) -> list[str]:
    """The keys `model` accepts, as compositions spell them (aliases), in declaration order."""
    return [field.alias or name for name, field in model.model_fields.items()]


def option_problems(
    model: type[M],
    data: Mapping[str, Any],
    where: Where,
    *,
    hint: str | None = None,
    unknown: Literal["error", "warn"] = "error",
) -> tuple[M | None, list[Problem]]:
    """Validate `data` with `model`: the options, or every problem at its place.

    `hint` (default "known fields: {known}") goes with unknown and missing fields; `{known}` in it
    becomes the list of accepted keys. `unknown="warn"`: an unknown key of the entry itself (not of a
    nested object) is a warning, and the options are read without it, as the earlier llmnet read them.
    """
    data = dict(data) if isinstance(data, Mapping) else data
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        found: dict[tuple[str, str], Problem] = {}
        ignored: set[str] = set()
        for item in _relevant(model, exc.errors()):
            problem = _problem(item, where, _hint(model, hint))
            error, loc = item[0], item[0].get("loc", ())
            if unknown == "warn" and error.get("type") == "extra_forbidden" and len(loc) == 1:
                ignored.add(str(loc[0]))
                problem = Problem(problem.path, f"{problem.message}, ignored", problem.hint, "warning")
            found.setdefault((problem.path, problem.message), problem)
        problems = list(found.values())
        if ignored and isinstance(data, dict) and all(p.severity == "warning" for p in problems):
            kept = {k: v for k, v in data.items() if k not in ignored}
            return model.model_validate(kept), problems
        return None, problems


def parse_options(
    model: type[M],
    data: Mapping[str, Any],
    where: Where,
    *,
    error: type[LLMNetError] = TransportError,
    hint: str | None = None,
    unknown: Literal["error", "warn"] = "error",
) -> M:
    """Validate `data` with `model`; problems become one `error` (every problem on one line) with `hint`.
    With `unknown="warn"`, unknown keys of the entry are left out (validate reports them)."""
    options, problems = option_problems(model, data, where, hint=hint, unknown=unknown)
    if options is None:
        errors = [p for p in problems if p.severity == "error"]
        raise error("; ".join(f"{p.path}: {p.message}" for p in errors), hint=_hint(model, hint))
    return options


def _hint(model: type[BaseModel], hint: str | None) -> str:
    return (hint or DEFAULT_HINT).replace("{known}", ", ".join(known_fields(model)))


# -- from pydantic's errors to problems ------------------------------------------------------------------


class _Located:
    """One pydantic error walked through the model: its place, the model it ended in, its union branch."""

    def __init__(self, model: type[BaseModel], loc: tuple[Any, ...]) -> None:
        self.field = ""  # the dotted place below the entry, e.g. `tls.ca-file` or `args[0]`
        self.model: type[BaseModel] | None = model  # the model the last part was looked up in
        self.union: tuple[str, str] | None = None  # (place of the first union, branch label)
        self.at_branch_root = False  # the error is about the union's input itself, not inside a branch
        self.last = ""  # the last key or index, as written
        self._walk(model, loc)

    def _add(self, part: Any, *, index: bool = False) -> None:
        self.last = str(part)
        if index:
            self.field += f"[{part}]"
        else:
            self.field = f"{self.field}.{part}" if self.field else str(part)

    def _walk(self, tp: Any, loc: tuple[Any, ...]) -> None:
        parts = list(loc)
        while parts:
            tp = _unwrap(tp)
            part = parts.pop(0)
            if isinstance(tp, type) and issubclass(tp, BaseModel):
                self.model = tp
                field = tp.model_fields.get(str(part)) or next(
                    (f for f in tp.model_fields.values() if f.alias == part), None
                )
                self._add(part)
                tp = field.annotation if field else None
                continue
            self.model = None
            members = _union_members(tp)
            if members:  # pydantic names the branch it tried: not a place the user wrote
                if self.union is None:
                    self.union = (self.field, str(part))
                    self.at_branch_root = not parts
                tp = _branch(members, str(part))
                continue
            origin = typing.get_origin(tp)
            if origin in (dict, Mapping) or tp is dict:
                self._add(part)
                if parts and parts[0] == "[key]":
                    parts.pop(0)
                args = typing.get_args(tp)
                tp = args[1] if len(args) == 2 else None
            elif origin in (list, tuple, set, frozenset) or tp in (list, tuple):
                self._add(part, index=True)
                args = typing.get_args(tp)
                tp = args[0] if args else None
            else:
                self._add(part, index=isinstance(part, int))
                tp = None


def _unwrap(tp: Any) -> Any:
    """`Annotated[X, ...]` → X, `X | None` → X (pydantic reports neither as a place of its own)."""
    while True:
        if typing.get_origin(tp) is typing.Annotated:
            tp = typing.get_args(tp)[0]
            continue
        members = _union_members(tp, keep_single=True)
        if members is not None and len(members) == 1:
            tp = members[0]
            continue
        return tp


def _union_members(tp: Any, *, keep_single: bool = False) -> list[Any] | None:
    """The non-None members of a union, or None when `tp` is not a union (or only an Optional)."""
    if typing.get_origin(tp) not in (typing.Union, types.UnionType):
        return None
    members = [arg for arg in typing.get_args(tp) if arg is not type(None)]
    return members if keep_single or len(members) > 1 else None


def _branch(members: list[Any], label: str) -> Any:
    """The union member pydantic's branch label stands for (`TlsOptions`, `function-after[..., X]`,
    `dict[str,any]`), or None when it cannot be told."""
    for member in members:
        if isinstance(member, type) and issubclass(member, BaseModel):
            if member.__name__ in label:
                return member
            continue
        origin = typing.get_origin(member) or member
        if getattr(origin, "__name__", None) == label.split("[", 1)[0]:
            return member
    return None


def _relevant(model: type[BaseModel], errors: list[Any]) -> list[tuple[Any, _Located]]:
    """Each error with its place; where a union was tried, drop the branches that only say "not my type"
    when another branch has something to say (tls given as an object: its own fields' errors matter)."""
    located = [(error, _Located(model, tuple(error.get("loc", ())))) for error in errors]

    def mismatch(error: Any, place: _Located) -> bool:
        return place.at_branch_root and str(error.get("type", "")).endswith(_TYPE_MISMATCH)

    informative = {place.union[0] for error, place in located if place.union and not mismatch(error, place)}
    return [
        (error, place)
        for error, place in located
        if not (place.union and place.union[0] in informative and mismatch(error, place))
    ]


def _problem(item: tuple[Any, _Located], where: Where, hint: str) -> Problem:
    error, place = item
    path = _place(where, place.field)
    kind = error.get("type", "")
    if kind == "missing":
        return Problem(path, "is required", hint)
    if kind == "model_type" and not place.field:
        return Problem(path, "must be an object", hint)
    if kind == "extra_forbidden":
        return Problem(path, _unknown(place.model, place.last), hint)
    return Problem(path, str(error.get("msg", "invalid value")).removeprefix("Value error, "))


def _place(where: Where, field: str) -> str:
    if callable(where):
        return where(field)
    return f"{where}.{field}" if field else where


def _unknown(model: type[BaseModel] | None, key: str) -> str:
    """The message for an unknown key: with the closest known key, or the spelling it duplicates."""
    if model is None:
        return "unknown field"
    config = model.model_config
    field = model.model_fields.get(key)
    by_name = config.get("populate_by_name") or config.get("validate_by_name")
    if field is not None and field.alias and field.alias != key and by_name:
        return f"given twice, as {key} and {field.alias}"
    close = difflib.get_close_matches(key, known_fields(model), n=1)
    return f'unknown field (did you mean "{close[0]}"?)' if close else "unknown field"
