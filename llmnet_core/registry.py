"""Typed registries filled by the `llmnet_register_*` hooks, remembering which plugin provided what."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from .base import Backend, Router, SecretProvider, Transport

T = TypeVar("T")

NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


class RegistrationError(Exception):
    """A plugin called `register` with something unusable; the plugin is reported, not llmnet stopped."""


@dataclass(frozen=True)
class Registration(Generic[T]):
    """One registered thing: its name, the object, and the plugin that provided it."""

    name: str
    value: T
    plugin: str
    description: str = ""


@dataclass
class Registry(Generic[T]):
    """Name → registration for one kind of thing. The first registration of a name wins (third-party
    plugins run before the built-ins, which are `trylast`), later ones are kept as `shadowed`."""

    kind: str
    check: Callable[[Any], str | None] = lambda value: None
    entries: dict[str, Registration[T]] = field(default_factory=dict)
    shadowed: list[Registration[T]] = field(default_factory=list)

    def add(self, name: str, value: T, plugin: str, description: str = "") -> None:
        if not isinstance(name, str) or not name or not set(name) <= NAME_CHARS:
            raise RegistrationError(f"invalid {self.kind} name {name!r}")
        fault = self.check(value)
        if fault:
            raise RegistrationError(f"{self.kind} {name!r}: {fault}")
        if not description:
            description = getattr(value, "description", "") or _first_doc_line(value)
        reg = Registration(name, value, plugin, description)
        if name in self.entries:
            self.shadowed.append(reg)
        else:
            self.entries[name] = reg

    def get(self, name: str) -> T | None:
        reg = self.entries.get(name)
        return reg.value if reg else None

    def __contains__(self, name: object) -> bool:
        return name in self.entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.entries)

    def names(self) -> list[str]:
        return sorted(self.entries)

    def by_plugin(self, plugin: str) -> list[str]:
        return sorted(n for n, r in self.entries.items() if r.plugin == plugin)


def _first_doc_line(value: Any) -> str:
    doc = inspect.getdoc(value) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def _subclass_of(base: type) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if inspect.isclass(value) and issubclass(value, base):
            return None
        return f"must be a subclass of llmnet_core.{base.__name__}, got {value!r}"

    return check


def _callable(value: Any) -> str | None:
    return None if callable(value) else f"must be callable, got {value!r}"


class Registrar:
    """The `register` object a plugin's hook receives: `register(name, value, description=...)`."""

    def __init__(self, registry: Registry[Any], plugin: str) -> None:
        self._registry = registry
        self._plugin = plugin

    def __call__(self, name: str, value: Any, *, description: str = "") -> None:
        self._registry.add(name, value, self._plugin, description)


class ConditionRegistrar(Registrar):
    """`register(name, fn)` adds a condition function; `register.variable(name, fn)` adds a variable
    whose value `fn(variables)` computes from the request's other variables."""

    def __init__(self, functions: Registry[Any], variables: Registry[Any], plugin: str) -> None:
        super().__init__(functions, plugin)
        self._variables = variables

    def variable(self, name: str, fn: Callable[..., Any], *, description: str = "") -> None:
        self._variables.add(name, fn, self._plugin, description)


@dataclass
class Registries:
    """Everything the loaded plugins registered."""

    backends: Registry[type[Backend]] = field(
        default_factory=lambda: Registry("backend", _subclass_of(Backend))
    )
    transports: Registry[type[Transport]] = field(
        default_factory=lambda: Registry("transport", _subclass_of(Transport))
    )
    secret_providers: Registry[type[SecretProvider]] = field(
        default_factory=lambda: Registry("secret source", _subclass_of(SecretProvider))
    )
    condition_functions: Registry[Callable[..., Any]] = field(
        default_factory=lambda: Registry("condition function", _callable)
    )
    condition_variables: Registry[Callable[..., Any]] = field(
        default_factory=lambda: Registry("condition variable", _callable)
    )
    routers: Registry[type[Router]] = field(default_factory=lambda: Registry("router", _subclass_of(Router)))

    def provided_by(self, plugin: str) -> dict[str, list[str]]:
        """What one plugin registered, by kind label, for `llmnet plugins`."""
        kinds = {
            "backends": self.backends,
            "transports": self.transports,
            "secret sources": self.secret_providers,
            "conditions": self.condition_functions,
            "variables": self.condition_variables,
            "routers": self.routers,
        }
        out: dict[str, list[str]] = {}
        for label, registry in kinds.items():
            names = registry.by_plugin(plugin)
            if label == "conditions":
                names = [f"{n}()" for n in names]
            if names:
                out[label] = names
        return out
