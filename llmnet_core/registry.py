"""Typed registries filled by the `llmnet_register_*` hooks, remembering which plugin provided what."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from .base import Backend, Deployer, NodeKind, Router, SecretProvider, Transport
from .events import Observer
from .response_cache import ResponseCache

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


def _observer(value: Any) -> str | None:
    if isinstance(value, Observer):
        return None
    return f"must be an instance of llmnet_core.Observer, got {value!r}"


def _callable(value: Any) -> str | None:
    return None if callable(value) else f"must be callable, got {value!r}"


class Registrar:
    """The `register` object a plugin's hook receives: `register(name, value, description=...)`."""

    def __init__(self, registries: Registries, kind: Kind, plugin: str) -> None:
        self._registry: Registry[Any] = getattr(registries, kind.attr)
        self._plugin = plugin

    def __call__(self, name: str, value: Any, *, description: str = "") -> None:
        self._registry.add(name, value, self._plugin, description)


class ConditionRegistrar(Registrar):
    """`register(name, fn)` adds a condition function; `register.variable(name, fn)` adds a variable
    whose value `fn(variables)` computes from the request's other variables."""

    def __init__(self, registries: Registries, kind: Kind, plugin: str) -> None:
        super().__init__(registries, kind, plugin)
        self._variables = registries.condition_variables

    def variable(self, name: str, fn: Callable[..., Any], *, description: str = "") -> None:
        self._variables.add(name, fn, self._plugin, description)


@dataclass(frozen=True)
class Kind:
    """One kind of registered thing: where it is kept, what it is called, which hook fills it."""

    attr: str  #: the `Registries` attribute
    noun: str  #: in messages: 'no installed plugin provides the backend "x"'
    label: str  #: in `llmnet plugins`: "backends: openai-api"
    check: Callable[[Any], str | None]
    hook: str | None = None  #: None: filled through another kind's registrar (condition variables)
    registrar: type[Registrar] = Registrar
    suffix: str = ""  #: shown after each name in `llmnet plugins` ("()" for functions)


#: every kind of registration; adding one here adds its registry, its hook's registrar and its label
KINDS: tuple[Kind, ...] = (
    Kind("backends", "backend", "backends", _subclass_of(Backend), "llmnet_register_backends"),
    Kind("transports", "transport", "transports", _subclass_of(Transport), "llmnet_register_transports"),
    Kind(
        "secret_providers",
        "secret source",
        "secret sources",
        _subclass_of(SecretProvider),
        "llmnet_register_secret_providers",
    ),
    Kind("node_kinds", "node kind", "node kinds", _subclass_of(NodeKind), "llmnet_register_node_kinds"),
    Kind(
        "condition_functions",
        "condition function",
        "conditions",
        _callable,
        "llmnet_register_conditions",
        ConditionRegistrar,
        "()",
    ),
    Kind("condition_variables", "condition variable", "variables", _callable),
    Kind("routers", "router", "routers", _subclass_of(Router), "llmnet_register_routers"),
    Kind("observers", "observer", "observers", _observer, "llmnet_register_observers"),
    Kind("caches", "cache backend", "cache backends", _subclass_of(ResponseCache), "llmnet_register_caches"),
    Kind("deployers", "deployer", "deployers", _subclass_of(Deployer), "llmnet_register_deployers"),
)
KIND_BY_NOUN = {kind.noun: kind for kind in KINDS}


class Registries:
    """Everything the loaded plugins registered, one `Registry` per kind in `KINDS`."""

    backends: Registry[type[Backend]]
    transports: Registry[type[Transport]]
    secret_providers: Registry[type[SecretProvider]]
    node_kinds: Registry[type[NodeKind]]
    condition_functions: Registry[Callable[..., Any]]
    condition_variables: Registry[Callable[..., Any]]
    routers: Registry[type[Router]]
    observers: Registry[Observer]
    caches: Registry[type[ResponseCache]]
    deployers: Registry[type[Deployer]]

    def __init__(self) -> None:
        for kind in KINDS:
            setattr(self, kind.attr, Registry(kind.noun, kind.check))
        #: the plugins that failed to load (`PluginFailure`s: name, version, error), so that a message
        #: about a missing name can say that its plugin may be one of them
        self.failed: list[Any] = []

    def provided_by(self, plugin: str) -> dict[str, list[str]]:
        """What one plugin registered, by kind label, for `llmnet plugins`."""
        out: dict[str, list[str]] = {}
        for kind in KINDS:
            names = [f"{name}{kind.suffix}" for name in getattr(self, kind.attr).by_plugin(plugin)]
            if names:
                out[kind.label] = names
        return out

    def shadowing(self, plugin: str) -> dict[str, list[str]]:
        """Where one plugin's registration hides another's of the same name, seen from `plugin`:
        `{"overrides": ["backend openai-api of llmnet-openai"], "overridden": [...]}`."""
        out: dict[str, list[str]] = {"overrides": [], "overridden": []}
        for kind in KINDS:
            registry: Registry[Any] = getattr(self, kind.attr)
            for hidden in registry.shadowed:
                winner = registry.entries[hidden.name].plugin
                what = f"{kind.noun} {hidden.name}{kind.suffix}"
                if hidden.plugin == plugin and winner != plugin:
                    out["overridden"].append(f"{what} by {winner}")
                elif winner == plugin and hidden.plugin != plugin:
                    out["overrides"].append(f"{what} of {hidden.plugin}")
        return {key: items for key, items in out.items() if items}
