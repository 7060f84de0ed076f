"""Checks a parsed composition and lists *every* problem, each with its JSON path and a hint."""

from __future__ import annotations

import difflib
import os
from collections import deque
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from ..errors import ConditionSyntaxError, Problem
from ..interpolate import ENV_REFERENCE_RE, find_secret_references
from ..registry import Registries
from ..response_cache import MEMORY, CacheSpec, MemoryCache
from .catalogue import container_runners, provider_of, runners
from .deploy import deploy_problems
from .plugin_checks import plugin_problems
from .schema import (
    LEGACY_MODEL_KEYS,
    LEGACY_NODE_KEYS,
    CompositionFile,
    FunctionConfig,
    ModelConfig,
    NodeConfig,
    SecretConfig,
    SettingsConfig,
)
from .specs import cache_spec, node_models, resolve_backend

#: the adapters of the format itself; any other names a node kind that a plugin provides (`ws`)
MODEL_ADAPTER = "openai-api"
OUTPUT_ADAPTER = "output"
TOP_LEVEL_KEYS = (
    "name",
    "models",
    "architecture",
    "functions",
    "secrets",
    "settings",
    "$schema",
    "description",
)


def join(path: str, loc: Iterable[Any]) -> str:
    """Append a pydantic location to a JSON path: ("output-to", 0) → `.output-to[0]`."""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f'did you mean "{close[0]}"?' if close else None


def _listing(names: Iterable[str]) -> str:
    names = sorted(names)
    return ", ".join(names) if names else "none"


def missing_hint(
    noun: str, name: str, installed: Iterable[str], fallback: str | None = None, failed: Iterable[Any] = ()
) -> str:
    """How to get a `noun` no installed plugin registers: the plugin the catalogue knows provides it, a
    close installed name, or what is installed; and the plugins that `failed` to load (`PluginFailure`s),
    as the provider may be one of them."""
    dist = provider_of(noun, name)
    failures = {failure.name: failure.error for failure in failed}
    for plugin, error in failures.items():
        if dist and plugin.split(":")[0].lower().replace("_", "-") == dist:
            return f"the plugin {plugin} is installed but failed to load: {error}"
    if dist:
        hint = f"install the plugin that provides it: pip install {dist}"
    else:
        hint = did_you_mean(name, installed) or fallback or f"installed: {_listing(installed)}"
    if failures:
        hint += "; plugins that failed to load: " + ", ".join(f"{n} ({e})" for n, e in failures.items())
    return hint


class Validator:
    """Collects problems while turning raw JSON into a `CompositionFile`."""

    def __init__(self, raw: Any, registries: Registries, *, check_env: bool = True) -> None:
        self.raw = raw
        self.regs = registries
        self.check_env = check_env
        self.problems: list[Problem] = []

    def error(self, path: str, message: str, hint: str | None = None) -> None:
        self.problems.append(Problem(path, message, hint, "error"))

    def warn(self, path: str, message: str, hint: str | None = None) -> None:
        self.problems.append(Problem(path, message, hint, "warning"))

    def error_if(self, reachable: bool, path: str, message: str, hint: str | None = None) -> None:
        """An error where the request can get to it, a warning where it cannot."""
        (self.error if reachable else self.warn)(path, message, hint)

    # -- structure -------------------------------------------------------------------------------

    def parse(self) -> CompositionFile | None:
        raw = self.raw
        if not isinstance(raw, dict):
            self.error("", "the top level must be a JSON object with models and architecture")
            return None
        for key in raw:
            if key not in TOP_LEVEL_KEYS:
                self.warn(key, f'unknown key "{key}" is ignored', did_you_mean(key, TOP_LEVEL_KEYS))
        models = self._mapping(raw, "models", ModelConfig, LEGACY_MODEL_KEYS)
        functions = self._mapping(raw, "functions", FunctionConfig, frozenset())
        secrets = self._mapping(raw, "secrets", SecretConfig, frozenset())
        nodes = self._architecture(raw.get("architecture"))
        name = raw.get("name")
        if name is not None and (not isinstance(name, str) or not name.strip()):
            self.error("name", "must be a non-empty string (the pipeline's name, e.g. its model id in serve)")
        settings = SettingsConfig()
        if "settings" in raw:
            settings = self._item("settings", raw["settings"], SettingsConfig, frozenset()) or settings
        if any(p.severity == "error" for p in self.problems):
            return None
        return CompositionFile(
            name=name,
            models=models,
            architecture=nodes,
            functions=functions,
            secrets=secrets,
            settings=settings,
        )

    def _architecture(self, arch: Any) -> list[NodeConfig]:
        if arch is None:
            self.error("architecture", "missing: a composition needs an architecture list of nodes")
            return []
        if not isinstance(arch, list):
            self.error("architecture", f"must be a list of nodes, not {type(arch).__name__}")
            return []
        nodes = [
            self._item(f"architecture[{i}]", item, NodeConfig, LEGACY_NODE_KEYS)
            for i, item in enumerate(arch)
        ]
        return [node for node in nodes if node is not None]

    def _mapping(self, raw: dict[str, Any], key: str, cls: type[BaseModel], legacy: frozenset[str]) -> Any:
        value = raw.get(key, {})
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.error(key, f"must be an object mapping names to entries, not {type(value).__name__}")
            return {}
        out = {}
        for name, item in value.items():
            parsed = self._item(f"{key}.{name}", item, cls, legacy)
            if parsed is not None:
                out[name] = parsed
        return out

    def _item(self, path: str, item: Any, cls: type[BaseModel], legacy: frozenset[str]) -> Any:
        if not isinstance(item, dict):
            self.error(path, f"must be an object, not {type(item).__name__}")
            return None
        try:
            parsed = cls.model_validate(item)
        except ValidationError as exc:
            for err in exc.errors():
                self.error(join(path, err["loc"]), _pydantic_message(err))
            return None
        # models, functions and secrets carry options for their plugin: warn only on likely typos there
        # so do nodes of a kind a plugin provides: their extra keys are the plugin's options
        strict = cls is NodeConfig and parsed.adapter not in self.regs.node_kinds
        known = {f.alias or n for n, f in cls.model_fields.items()}
        for key in parsed.__pydantic_extra__ or {}:
            hint = did_you_mean(key, known)
            if key not in legacy and (strict or hint):
                self.warn(f"{path}.{key}", f'unknown key "{key}" is ignored', hint)
        return parsed


def _pydantic_message(err: dict[str, Any]) -> str:
    kind = err.get("type", "")
    if kind == "missing":
        return "required key is missing"
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        return f"{err['input']!r} is not allowed; expected {expected}"
    if kind == "extra_forbidden":
        return "unknown key"
    message = err.get("msg", "invalid value")
    return message.removeprefix("Value error, ")


class SemanticChecks:
    """Cross-references between models, nodes, functions, secrets and plugins."""

    def __init__(self, v: Validator, comp: CompositionFile, base_dir: Path | None = None) -> None:
        self.v = v
        self.comp = comp
        self.base_dir = base_dir or Path.cwd()
        self.nodes = comp.architecture
        self.position = {id(node): i for i, node in enumerate(self.nodes)}
        self.index: dict[str, int] = {}
        self.targets: dict[str, list[str]] = {}
        self.entry: str | None = None
        self.reachable: set[str] = set()

    def run(self) -> None:
        self._names()
        self._adapters_and_targets()
        self._entry_and_outputs()
        self.reachable = self._reach()
        self._models()
        self._node_details()
        if "router" in (self.v.raw.get("settings") or {}):
            self._router(self.comp.settings.router, "settings.router")
        self._functions()
        self._caches()
        self._secrets()
        # fields that hold $secrets are checked once the secrets are loaded (Composition.check_secrets)
        self.v.problems += plugin_problems(self.comp, self.v.regs, self.base_dir, self.reachable)
        self.v.problems += deploy_problems(self.comp, self.v.regs, self.reachable)
        for node in self.nodes:
            if self.entry and node.name not in self.reachable and node.name in self.index:
                self.v.warn(
                    self.path(node),
                    f'node "{node.name}" is never reached from layer 0',
                    "name it in some node's output-to, or remove it",
                )

    def path(self, node: NodeConfig, suffix: str = "") -> str:
        # by identity: two nodes with identical content (a duplicate) are still two places
        return f"architecture[{self.position[id(node)]}]{suffix}"

    def _names(self) -> None:
        for i, node in enumerate(self.nodes):
            if node.name in self.index:
                first = self.index[node.name]
                self.v.error(
                    f"architecture[{i}].name",
                    f'duplicate node name "{node.name}" (also architecture[{first}])',
                    "node names must be unique",
                )
            else:
                self.index[node.name] = i

    def _adapters_and_targets(self) -> None:
        layers: dict[int, list[NodeConfig]] = {}
        for node in self.nodes:
            layers.setdefault(node.level, []).append(node)
        outputs = [n.name for n in self.nodes if n.adapter == OUTPUT_ADAPTER]
        for node in self.nodes:
            self._adapter(node)
            if node.adapter == OUTPUT_ADAPTER:
                if node.output_to:
                    self.v.warn(self.path(node, ".output-to"), "an output node's output-to is ignored")
            elif node.output_to is None:
                self.targets[node.name] = outputs
            elif self._output_to_usable(node):
                self.targets[node.name] = self._resolve_targets(node, layers)

    def _adapter(self, node: NodeConfig) -> None:
        kinds = self.v.regs.node_kinds
        if node.adapter in (MODEL_ADAPTER, OUTPUT_ADAPTER) or node.adapter in kinds:
            return
        known = [MODEL_ADAPTER, OUTPUT_ADAPTER, *kinds]
        fallback = f"use {MODEL_ADAPTER} (a model node), {OUTPUT_ADAPTER}, or a node kind a plugin provides"
        fallback = f"{fallback} (installed: {_listing(kinds)})"
        hint = missing_hint("node kind", node.adapter, known, fallback, self.v.regs.failed)
        self.v.error(self.path(node, ".adapter"), f'unknown adapter "{node.adapter}"', hint)

    def _output_to_usable(self, node: NodeConfig) -> bool:
        """An `output-to` that is neither empty nor a mix of layer numbers and node names."""
        if not node.output_to:
            self.v.error(
                self.path(node, ".output-to"),
                "is empty: the node's result has nowhere to go",
                "name the next node(s) or the output node, or leave output-to out to go to the output",
            )
            return False
        if len({type(t) for t in node.output_to}) > 1:
            self.v.error(
                self.path(node, ".output-to"),
                "mixes layer numbers and node names",
                "use all layer numbers or all node names",
            )
            return False
        return True

    def _resolve_targets(self, node: NodeConfig, layers: dict[int, list[NodeConfig]]) -> list[str]:
        """Node names stay as written; a layer number stands for that layer's handlers (the node itself
        included: a loop), or for its output nodes when it has no handlers."""
        resolved: list[str] = []
        for j, target in enumerate(node.output_to or []):
            here = self.path(node, f".output-to[{j}]")
            if isinstance(target, int):
                members = layers.get(target, [])
                names = [n.name for n in members if n.adapter != OUTPUT_ADAPTER] or [n.name for n in members]
                if not names:
                    self.v.error(here, f"no nodes in layer {target}", f"layers used: {sorted(layers)}")
                resolved += names
            elif target not in self.index:
                hint = did_you_mean(target, self.index) or f"nodes: {_listing(self.index)}"
                self.v.error(here, f'no node named "{target}"', hint)
            else:
                resolved.append(target)
        return list(dict.fromkeys(resolved))

    def _entry_and_outputs(self) -> None:
        entries = [n for n in self.nodes if n.layer == 0 and n.adapter == MODEL_ADAPTER]
        if not entries:
            # a file that gives no layers at all: its entry is the one model node nothing targets
            named = {t for n in self.nodes for t in (n.output_to or []) if isinstance(t, str)}
            unplaced = [
                n
                for n in self.nodes
                if n.layer is None and n.adapter == MODEL_ADAPTER and n.name not in named
            ]
            entries = unplaced if len(unplaced) == 1 else []
        if not entries:
            self.v.error(
                "architecture",
                "no entry node: a request needs a layer-0 node that is not an output node",
                'add a node with "layer": 0 and a model',
            )
        elif len(entries) > 1:
            for extra in entries[1:]:
                self.v.error(
                    self.path(extra, ".layer"),
                    f'a second layer-0 node "{extra.name}" (the entry is "{entries[0].name}")',
                    "only one node may be the entry; give the others a layer of 1 or more",
                )
        else:
            self.entry = entries[0].name
        if not any(n.adapter == OUTPUT_ADAPTER for n in self.nodes):
            self.v.error(
                "architecture",
                "no output node: a request has nowhere to end",
                'add {"name": "output", "adapter": "output"}',
            )

    def _reach(self) -> set[str]:
        if not self.entry:
            return set()
        seen, queue = {self.entry}, deque([self.entry])
        while queue:
            for target in self.targets.get(queue.popleft(), []):
                if target not in seen:
                    seen.add(target)
                    queue.append(target)
        return seen

    def _used_by_reachable(self, model: str) -> bool:
        return any(n.name in self.reachable and model in self._node_models(n) for n in self.nodes)

    def _node_models(self, node: NodeConfig) -> list[str]:
        return node_models(node, self.comp.settings.router, self.v.regs.routers)

    def _models(self) -> None:
        for name, model in self.comp.models.items():
            path = f"models.{name}"
            used = self._used_by_reachable(name)
            known = {*runners(), *container_runners()}
            if model.runner and model.runner not in known:
                self.v.error(
                    f"{path}.runner",
                    f'unknown runner "{model.runner}"',
                    did_you_mean(model.runner, known) or f"use {', '.join(runners())}",
                )
                continue
            backend, refusal = resolve_backend(model)
            if refusal:
                self.v.error_if(used, f"{path}.runner", refusal)
                continue
            if backend is None:
                self.v.error(
                    path,
                    "cannot tell how to reach this model",
                    'give "type": "external" with a "url", or a "runner"',
                )
                continue
            self._provided("backend", backend, f"{path}", self.v.regs.backends, used)
            key = model.api_key
            match = ENV_REFERENCE_RE.match(key) if key else None
            if match and used and match.group(1) not in os.environ:
                # a run stops here before its first model call; without secrets checks, a note
                report = self.v.error if self.v.check_env else self.v.warn
                report(
                    f"{path}.api-key",
                    f"environment variable {match.group(1)} is not set",
                    f"export {match.group(1)}=... before running",
                )

    def _provided(self, kind: str, name: str, path: str, registry: Any, reachable: bool = True) -> None:
        if name in registry:
            return
        hint = missing_hint(kind, name, registry, failed=self.v.regs.failed)
        self.v.error_if(reachable, path, f'no installed plugin provides the {kind} "{name}"', hint)

    def _condition(self, text: str | None, path: str) -> None:
        if text is None:
            return
        from ..conditions import parse_condition

        try:
            condition = parse_condition(text)
        except ConditionSyntaxError as exc:
            self.v.error(path, str(exc))
            return
        functions = self.v.regs.condition_functions
        for fn in sorted(condition.functions - set(functions)):
            available = f"available: {_listing(functions)}"
            hint = missing_hint("condition function", fn, functions, available, self.v.regs.failed)
            self.v.error(path, f'unknown condition function "{fn}"', hint)

    def _node_details(self) -> None:
        for node in self.nodes:
            self._condition(node.if_, self.path(node, ".if"))
            if node.model is not None and node.model not in self.comp.models:
                hint = did_you_mean(node.model, self.comp.models)
                defined = f"models defined: {_listing(self.comp.models)}"
                self.v.error(self.path(node, ".model"), f'unknown model "{node.model}" ({defined})', hint)
            for other in self._node_models(node)[1 if node.model else 0 :]:
                if other not in self.comp.models and other not in node.fallback:
                    self.v.error(
                        self.path(node, ".router-options"),
                        f'names model "{other}", which is not defined in models',
                        did_you_mean(other, self.comp.models)
                        or f"models defined: {_listing(self.comp.models)}",
                    )
            routes_without_model = node.name == self.entry and len(self._node_models(node)) > 0
            if (
                node.model is None
                and node.adapter == MODEL_ADAPTER
                and not self._passes_through(node)
                and not routes_without_model
            ):
                self.v.warn(
                    self.path(node),
                    f'node "{node.name}" has no model: a request that reaches it fails',
                    'add "model": "<key of models>"',
                )
            if node.router:
                self._router(node.router, self.path(node, ".router"))
            elif len(self.targets.get(node.name, [])) > 1 and "router" not in (
                self.v.raw.get("settings") or {}
            ):
                # the default strategy decides between its targets
                self._router(self.comp.settings.router, self.path(node), node.name in self.reachable)
            self._hooks(node)
            self._fallbacks(node)

    def _fallbacks(self, node: NodeConfig) -> None:
        """A node's `fallback`: models of the file, tried after the node's own model."""
        if not node.fallback:
            return
        path = self.path(node, ".fallback")
        if node.adapter != MODEL_ADAPTER:
            self.v.warn(path, "this node calls no model: its fallback is ignored")
            return
        if node.model is None:
            self.v.error(path, "the node has no model to fall back from", 'add "model", the one tried first')
        seen = {node.model}
        for j, name in enumerate(node.fallback):
            if name not in self.comp.models:
                defined = f"models defined: {_listing(self.comp.models)}"
                hint = did_you_mean(name, self.comp.models)
                self.v.error(f"{path}[{j}]", f'unknown model "{name}" ({defined})', hint)
            elif name in seen:
                self.v.warn(f"{path}[{j}]", f'model "{name}" is tried before already; it is tried once')
            seen.add(name)

    def _caches(self) -> None:
        """Each response cache turned on: the pipeline's, and a node's that names its own backend or url."""
        pipeline = self.comp.settings.cache
        if pipeline is not None and pipeline.enabled:
            self._cache(cache_spec(pipeline, None), reachable=True)
        for node in self.nodes:
            if node.cache is None:
                continue
            place = self.path(node, ".cache")
            if node.adapter != MODEL_ADAPTER:
                self.v.warn(place, "this node calls no model: its cache is ignored")
            elif node.cache.backend is not None or node.cache.url is not None:
                spec = cache_spec(pipeline, node.cache, place)
                if spec is not None:
                    self._cache(spec, node.name in self.reachable)

    def _cache(self, spec: CacheSpec, reachable: bool) -> None:
        """A cache's backend is installed, its url's $ENV_VAR is set, and the backend's `check` passes."""
        caches = self.v.regs.caches
        cls = caches.get(spec.backend) or (MemoryCache if spec.backend == MEMORY else None)
        if cls is None:
            hint = missing_hint("cache backend", spec.backend, [MEMORY, *caches], failed=self.v.regs.failed)
            message = f'no installed plugin provides the cache backend "{spec.backend}"'
            self.v.error_if(reachable, f"{spec.place}.backend", message, hint)
            return
        match = ENV_REFERENCE_RE.match(spec.url or "")
        if match and match.group(1) not in os.environ:
            report = self.v.error if self.v.check_env and reachable else self.v.warn
            report(f"{spec.place}.url", f"environment variable {match.group(1)} is not set")
            return
        if match:
            spec = replace(spec, url=os.environ[match.group(1)])
        if find_secret_references(spec.url):
            return  # checked once the secrets are loaded: the value is not known here
        try:
            problems = cls.check(spec)
        except Exception as exc:  # noqa: BLE001 - a plugin's bug must not stop validation
            self.v.warn(spec.place, f"the plugin could not check this cache ({type(exc).__name__})")
            return
        for p in problems:
            path = f"{spec.place}.{p.path}" if p.path else spec.place
            self.v.error_if(reachable and p.severity == "error", path, p.message, p.hint)

    def _passes_through(self, node: NodeConfig) -> bool:
        """An entry that never calls its model: one target it routes to, or targets all conditional."""
        if node.name != self.entry:
            return False
        targets = self.targets.get(node.name, [])
        conditional = bool(targets) and all(self.comp.architecture[self.index[t]].if_ for t in targets)
        return (len(targets) == 1 and not self._entry_answers(node)) or conditional

    def _hooks(self, node: NodeConfig) -> None:
        for phase in ("pre", "post"):
            for k, hook in enumerate(getattr(node.hooks, phase)):
                hpath = self.path(node, f".hooks.{phase}[{k}]")
                self._condition(hook.if_, f"{hpath}.if")
                if hook.function not in self.comp.functions:
                    self.v.error(
                        f"{hpath}.function",
                        f'unknown function "{hook.function}"',
                        did_you_mean(hook.function, self.comp.functions)
                        or f"functions defined: {_listing(self.comp.functions)}",
                    )

    def _router(self, strategy: str, path: str, reachable: bool = True) -> None:
        routers = self.v.regs.routers
        if strategy in routers:
            return
        hint = missing_hint(
            "router", strategy, routers, f"available: {_listing(routers)}", self.v.regs.failed
        )
        self.v.error_if(reachable, path, f'unknown routing strategy "{strategy}"', hint)

    def _entry_answers(self, node: NodeConfig) -> bool:
        targets = self.targets.get(node.name, [])
        return len(targets) == 1 and self.comp.architecture[self.index[targets[0]]].adapter == "output"

    def _functions(self) -> None:
        used = {
            hook.function
            for node in self.nodes
            if node.name in self.reachable
            for hook in (*node.hooks.pre, *node.hooks.post)
        }
        for name, fn in self.comp.functions.items():
            self._provided(
                "transport", fn.type, f"functions.{name}.type", self.v.regs.transports, name in used
            )

    def _secrets(self) -> None:
        for name, secret in self.comp.secrets.items():
            self._provided(
                "secret source", secret.source, f"secrets.{name}.source", self.v.regs.secret_providers
            )
        raw = self.v.raw
        for section in ("models", "architecture", "functions", "settings"):
            for path, block, _var in find_secret_references(raw.get(section), section):
                if block not in self.comp.secrets:
                    self.v.error(
                        path,
                        f'refers to secret block "{block}", which is not defined',
                        did_you_mean(block, self.comp.secrets)
                        or f"secrets defined: {_listing(self.comp.secrets)}",
                    )
