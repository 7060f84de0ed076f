"""Checks a parsed composition and lists *every* problem, each with its JSON path and a hint."""

from __future__ import annotations

import difflib
import os
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from ..errors import ConditionSyntaxError, Problem
from ..interpolate import ENV_REFERENCE_RE, find_secret_references
from ..registry import Registries
from .schema import (
    ADAPTERS,
    CONTAINER_RUNNERS,
    KNOWN_RUNNERS,
    LEGACY_MODEL_KEYS,
    LEGACY_NODE_KEYS,
    CompositionFile,
    FunctionConfig,
    ModelConfig,
    NodeConfig,
    SecretConfig,
    SettingsConfig,
)
from .specs import plugin_problems

#: which built-in distribution provides a name that no installed plugin registers
KNOWN_PROVIDERS: dict[str, dict[str, str]] = {
    "backend": {"openai-api": "llmnet-openai", "ollama": "llmnet-ollama", "llama-cpp": "llmnet-llamacpp"},
    "transport": {
        "rest": "llmnet-rest",
        "shell": "llmnet-shell",
        "websocket": "llmnet-websocket",
        "grpc": "llmnet-grpc",
    },
    "secret source": {"env-file": "llmnet-env", "env": "llmnet-env", "vault": "llmnet-vault"},
}
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


def resolve_backend(model: ModelConfig) -> tuple[str | None, str | None]:
    """Which backend plugin serves a model entry; returns (backend, reason it cannot be used)."""
    if model.backend:
        return model.backend, None
    runner = model.runner
    if runner in CONTAINER_RUNNERS:
        return None, (
            f'runner "{runner}" starts a container, which llmnet does not do; start the server yourself '
            'and describe it with "type": "external" and its "url"'
        )
    if runner == "ollama":
        return "ollama", None
    if runner == "vllm":
        return "openai-api", None
    if runner == "llama-cpp":
        return ("openai-api" if (model.url or model.endpoint) else "llama-cpp"), None
    if runner in (None, "external") and (model.type == "external" or runner == "external" or model.url):
        return model.interface or "openai-api", None
    return None, None


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
        nodes: list[NodeConfig] = []
        arch = raw.get("architecture")
        if arch is None:
            self.error("architecture", "missing: a composition needs an architecture list of nodes")
        elif not isinstance(arch, list):
            self.error("architecture", f"must be a list of nodes, not {type(arch).__name__}")
        else:
            for i, item in enumerate(arch):
                node = self._item(f"architecture[{i}]", item, NodeConfig, LEGACY_NODE_KEYS)
                if node is not None:
                    nodes.append(node)
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
        strict = cls is NodeConfig
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
        self._secrets()
        # fields that hold $secrets are checked once the secrets are loaded (Composition.check_secrets)
        self.v.problems += plugin_problems(self.comp, self.v.regs, self.base_dir, self.reachable)
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
        layers: dict[int, list[str]] = {}
        for node in self.nodes:
            layers.setdefault(node.layer, []).append(node.name)
        outputs = [n.name for n in self.nodes if n.adapter == "output"]
        for node in self.nodes:
            if node.adapter not in ADAPTERS:
                self.v.error(
                    self.path(node, ".adapter"),
                    f'unknown adapter "{node.adapter}"',
                    "use openai-api (a model node), output, or ws",
                )
            if node.adapter == "output":
                if node.output_to:
                    self.v.warn(self.path(node, ".output-to"), "an output node's output-to is ignored")
                continue
            if node.output_to is None:
                self.targets[node.name] = outputs
                continue
            if not node.output_to:
                self.v.error(
                    self.path(node, ".output-to"),
                    "is empty: the node's result has nowhere to go",
                    "name the next node(s) or the output node, or leave output-to out to go to the output",
                )
                continue
            kinds = {type(t) for t in node.output_to}
            if len(kinds) > 1:
                self.v.error(
                    self.path(node, ".output-to"),
                    "mixes layer numbers and node names",
                    "use all layer numbers or all node names",
                )
                continue
            resolved: list[str] = []
            for j, target in enumerate(node.output_to):
                here = self.path(node, f".output-to[{j}]")
                if isinstance(target, int):
                    names = [n for n in layers.get(target, []) if n != node.name or target != node.layer]
                    if not names:
                        self.v.error(here, f"no nodes in layer {target}", f"layers used: {sorted(layers)}")
                    resolved += names
                elif target not in self.index:
                    hint = did_you_mean(target, self.index) or f"nodes: {_listing(self.index)}"
                    self.v.error(here, f'no node named "{target}"', hint)
                else:
                    resolved.append(target)
            self.targets[node.name] = list(dict.fromkeys(resolved))

    def _entry_and_outputs(self) -> None:
        entries = [n for n in self.nodes if n.layer == 0 and n.adapter not in ("output", "ws")]
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
        if not any(n.adapter == "output" for n in self.nodes):
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
        return any(n.model == model and n.name in self.reachable for n in self.nodes)

    def _models(self) -> None:
        for name, model in self.comp.models.items():
            path = f"models.{name}"
            used = self._used_by_reachable(name)
            if model.runner and model.runner not in KNOWN_RUNNERS:
                self.v.error(
                    f"{path}.runner",
                    f'unknown runner "{model.runner}"',
                    did_you_mean(model.runner, KNOWN_RUNNERS) or "use external, ollama, vllm or llama-cpp",
                )
                continue
            backend, refusal = resolve_backend(model)
            if refusal:
                self.v.warn(f"{path}.runner", refusal)
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
            if match and self.v.check_env and used and match.group(1) not in os.environ:
                self.v.warn(
                    f"{path}.api-key",
                    f"environment variable {match.group(1)} is not set",
                    f"export {match.group(1)}=... before running",
                )

    def _provided(self, kind: str, name: str, path: str, registry: Any, reachable: bool = True) -> None:
        if name in registry:
            return
        dist = KNOWN_PROVIDERS.get(kind, {}).get(name)
        hint = (
            f"install the plugin that provides it: pip install {dist}"
            if dist
            else did_you_mean(name, registry) or f"installed: {_listing(registry)}"
        )
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
            self.v.error(
                path,
                f'unknown condition function "{fn}"',
                did_you_mean(fn, functions) or f"available: {_listing(functions)}",
            )

    def _node_details(self) -> None:
        for node in self.nodes:
            reachable = node.name in self.reachable
            self._condition(node.if_, self.path(node, ".if"))
            if node.adapter == "ws":
                if not node.url:
                    self.v.error_if(reachable, self.path(node, ".url"), "a ws node needs the url of its peer")
                self._provided("transport", "websocket", self.path(node), self.v.regs.transports, reachable)
            if node.model is not None and node.model not in self.comp.models:
                hint = did_you_mean(node.model, self.comp.models) or ""
                defined = f"models defined: {_listing(self.comp.models)}"
                self.v.error(
                    self.path(node, ".model"),
                    f'unknown model "{node.model}" ({defined})',
                    hint or None,
                )
            targets = self.targets.get(node.name, [])
            conditional = bool(targets) and all(self.comp.architecture[self.index[t]].if_ for t in targets)
            passes_through = node.name == self.entry and (
                (len(targets) == 1 and not self._entry_answers(node)) or conditional
            )
            needs_model = node.adapter == "openai-api" and not passes_through
            if node.model is None and needs_model:
                self.v.warn(
                    self.path(node),
                    f'node "{node.name}" has no model: a request that reaches it fails',
                    'add "model": "<key of models>"',
                )
            if node.router:
                self._router(node.router, self.path(node, ".router"))
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

    def _router(self, strategy: str, path: str) -> None:
        if strategy not in self.v.regs.routers:
            self.v.error(
                path,
                f'unknown routing strategy "{strategy}"',
                did_you_mean(strategy, self.v.regs.routers) or f"available: {_listing(self.v.regs.routers)}",
            )

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
        for section in ("models", "architecture", "functions"):
            for path, block, _var in find_secret_references(raw.get(section), section):
                if block not in self.comp.secrets:
                    self.v.error(
                        path,
                        f'refers to secret block "{block}", which is not defined',
                        did_you_mean(block, self.comp.secrets)
                        or f"secrets defined: {_listing(self.comp.secrets)}",
                    )
