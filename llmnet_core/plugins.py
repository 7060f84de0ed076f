"""The plugin manager: loads the `llmnet` entry-point group lazily, guards against broken plugins,
honours LLMNET_LOAD_PLUGINS / LLMNET_BLOCK_PLUGINS, and builds the typed registries."""

from __future__ import annotations

import difflib
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pluggy

from . import hookspecs
from .hookspecs import PROJECT, hookimpl
from .registry import KINDS, Registries

ENTRY_POINT_GROUP = PROJECT

__all__ = [
    "ENTRY_POINT_GROUP",
    "PluginFailure",
    "PluginHost",
    "PluginInfo",
    "get_host",
    "hookimpl",
]


@dataclass
class PluginInfo:
    """A loaded plugin: its name (the distribution's, or the name given to `register`) and version."""

    name: str
    version: str | None = None
    module: str | None = None


@dataclass
class PluginFailure:
    """A plugin that could not be used, and why."""

    name: str
    version: str | None
    error: str


def _split_env(value: str | None) -> set[str] | None:
    if value is None:
        return None
    return {part.strip().lower() for part in value.split(",") if part.strip()}


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _entry_points() -> list[tuple[str, str, str | None, Any]]:
    """Each `llmnet` entry point once, as (plugin name, distribution name, version, entry point).

    A distribution found twice on sys.path counts once. Its plugin name is the distribution's name when
    it declares one entry point, and `distribution:entry-point` for each when it declares several.
    """
    from importlib.metadata import entry_points

    found: dict[tuple[str, str], tuple[str, str | None, Any]] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        dist_name = dist.metadata["Name"] if dist is not None else None
        version = dist.version if dist is not None else None
        found.setdefault((dist_name or ep.name, ep.name), (dist_name or ep.name, version, ep))
    per_dist: dict[str, int] = {}
    for dist_name, _ in found:
        per_dist[dist_name] = per_dist.get(dist_name, 0) + 1
    return [
        (dist_name if per_dist[dist_name] == 1 else f"{dist_name}:{ep.name}", dist_name, version, ep)
        for dist_name, version, ep in found.values()
    ]


@dataclass
class PluginHost:
    """Owns the pluggy PluginManager and what the plugins registered.

    Nothing is imported until `load()` (or any accessor) runs, so `import llmnet_core` stays cheap.
    """

    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    use_entry_points: bool = True

    def __post_init__(self) -> None:
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self.failures: list[PluginFailure] = []
        self._loaded = False
        self._registries: Registries | None = None
        self._commands: dict[str, list[str]] | None = None
        self._lock = threading.RLock()

    # -- loading -------------------------------------------------------------------------------

    def load(self) -> PluginHost:
        """Register every allowed entry-point plugin (once); the core itself registers nothing."""
        with self._lock:
            if self._loaded:
                return self
            self._loaded = True
            if self.use_entry_points:
                self._load_entry_points()
            return self

    def _load_entry_points(self) -> None:
        allow = _split_env(self.environ.get("LLMNET_LOAD_PLUGINS"))
        block = _split_env(self.environ.get("LLMNET_BLOCK_PLUGINS")) or set()
        for name, dist_name, version, ep in _entry_points():
            aliases = {name.lower(), dist_name.lower(), ep.name.lower()}
            if aliases & block:
                continue
            if allow is not None and not aliases & allow:
                continue
            try:
                module = ep.load()
            except BaseException as exc:
                if isinstance(exc, KeyboardInterrupt):
                    raise
                self.failures.append(PluginFailure(name, version, _describe(exc)))
                continue
            info = PluginInfo(name, version, getattr(module, "__name__", ep.value))
            self._register_guarded(module, name, info)

    def _register_guarded(self, plugin: Any, name: str, info: PluginInfo) -> bool:
        try:
            self.pm.register(plugin, name=name)
        except (pluggy.PluginValidationError, ValueError) as exc:
            self.failures.append(PluginFailure(name, info.version, _describe(exc)))
            return False
        unknown = [caller.name for caller in self.pm.get_hookcallers(plugin) or [] if not caller.has_spec()]
        if unknown:
            self.pm.unregister(plugin)
            known = [n for n in dir(hookspecs) if n.startswith("llmnet_")]
            parts = []
            for hook in unknown:
                close = difflib.get_close_matches(hook, known, n=1)
                parts.append(f"{hook} (did you mean {close[0]}?)" if close else hook)
            self.failures.append(PluginFailure(name, info.version, "unknown hook " + ", ".join(parts)))
            return False
        self.plugins[name] = info
        self._forget_registries()
        self._commands = None
        return True

    def register(self, plugin: Any, name: str | None = None, version: str | None = None) -> str:
        """Register a plugin object or module in-process (tests, embedding applications)."""
        self.load()
        name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
        if not self._register_guarded(plugin, name, PluginInfo(name, version)):
            raise ValueError(f"plugin {name!r} could not be registered: {self.failures[-1].error}")
        self.pm.check_pending()
        return name

    def unregister(self, name: str) -> None:
        """Remove a plugin registered with `register` (and the observers it registered)."""
        plugin = self.pm.get_plugin(name)
        if plugin is not None:
            self.pm.unregister(plugin)
        self.plugins.pop(name, None)
        self.failures = [f for f in self.failures if f.name != name]
        self._forget_registries()
        self._commands = None

    # -- registries ----------------------------------------------------------------------------

    @property
    def registries(self) -> Registries:
        """What the plugins registered; rebuilt after any (un)registration."""
        self.load()
        with self._lock:
            if self._registries is None:
                self._registries = self._collect()
            return self._registries

    def _collect(self) -> Registries:
        regs = Registries()
        regs.failed = self.failures
        failures: dict[str, str] = {}
        for kind in KINDS:
            if kind.hook is None:
                continue
            # get_hookimpls() lists implementations in reverse call order (trylast first)
            for impl in reversed(getattr(self.pm.hook, kind.hook).get_hookimpls()):
                try:
                    impl.function(register=kind.registrar(regs, kind, impl.plugin_name))
                except Exception as exc:  # noqa: BLE001 - one plugin's fault is reported, not fatal
                    failures.setdefault(impl.plugin_name, f"{kind.hook} failed: {_describe(exc)}")
        known = {f.name for f in self.failures}
        for plugin, error in failures.items():
            if plugin not in known:
                info = self.plugins.get(plugin)
                self.failures.append(PluginFailure(plugin, info.version if info else None, error))
        return regs

    def install_observers(self) -> None:
        """Send spans to the observers that plugins registered (`llmnet_register_observers`), each once
        per process; called when a pipeline is built."""
        from .events import install_observers

        install_observers(reg.value for reg in self.registries.observers.entries.values())

    def remove_observers(self) -> None:
        """Stop sending spans to the observers this host installed (it is being replaced, or what the
        plugins registered is about to be collected again)."""
        if self._registries is not None:
            from .events import remove_observer

            for reg in self._registries.observers.entries.values():
                remove_observer(reg.value)

    def _forget_registries(self) -> None:
        self.remove_observers()
        self._registries = None

    def add_commands(self, cli: Any) -> None:
        """Let plugins add CLI commands; a plugin whose hook fails is reported and skipped."""
        self.load()
        added: dict[str, list[str]] = {}
        for impl in reversed(self.pm.hook.llmnet_register_commands.get_hookimpls()):
            before = dict(cli.commands)
            try:
                impl.function(cli=cli)
            except Exception as exc:  # noqa: BLE001
                info = self.plugins.get(impl.plugin_name)
                failure = PluginFailure(
                    impl.plugin_name,
                    info.version if info else None,
                    f"llmnet_register_commands failed: {_describe(exc)}",
                )
                if failure not in self.failures:
                    self.failures.append(failure)
            names = [name for name, command in cli.commands.items() if before.get(name) is not command]
            if names:
                added.setdefault(impl.plugin_name, []).extend(names)
        self._commands = {plugin: sorted(names) for plugin, names in added.items()}

    def commands(self) -> dict[str, list[str]]:
        """The CLI commands each plugin adds, by plugin name (for `llmnet plugins`)."""
        if self._commands is None:
            import click

            self.add_commands(click.Group())  # a scratch group: nothing is added to the real CLI
        return dict(self._commands or {})


_host: PluginHost | None = None
_host_lock = threading.Lock()


def get_host() -> PluginHost:
    """The process-wide plugin host, created (not loaded) on first use."""
    global _host
    with _host_lock:
        if _host is None:
            _host = PluginHost()
        return _host


def reset_host(host: PluginHost | None = None) -> PluginHost | None:
    """Replace the process-wide host (tests); returns the previous one."""
    global _host
    with _host_lock:
        previous, _host = _host, host
    if previous is not None and previous is not host:
        previous.remove_observers()
    return previous
