"""Every hookspec, exercised by a plugin registered in-process and observed through a real pipeline."""

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import click
import pytest
from click.testing import CliRunner

from llmnet_core import (
    Backend,
    CacheSpec,
    ChatRequest,
    ChatResponse,
    HookCall,
    NodeKind,
    NodeSpec,
    Observer,
    Pipeline,
    Problem,
    ResponseCache,
    RouteDecision,
    Router,
    RouteRequest,
    SecretError,
    SecretProvider,
    Span,
    Transport,
    Usage,
    hookimpl,
    hookspecs,
)
from llmnet_core.composition import validate_composition
from llmnet_core.registry import KINDS, Registries


class UpperBackend(Backend):
    """Answers with the last message upper-cased."""

    async def complete(self, request: ChatRequest) -> ChatResponse:
        return ChatResponse(text=request.messages[-1].content.upper(), usage=Usage(1, 2))


class BackendPlugin:
    @hookimpl
    def llmnet_register_backends(self, register: Any) -> None:
        register("upper", UpperBackend)


def chatbot(model: dict[str, Any], **node: Any) -> dict[str, Any]:
    return {
        "models": {"m": model},
        "architecture": [
            {"name": "chat", "layer": 0, "model": "m", "output-to": ["output"], **node},
            {"name": "output", "adapter": "output"},
        ],
    }


async def answer(data: dict[str, Any], prompt: str = "hello", **kwargs: Any) -> Any:
    async with Pipeline.from_dict(data) as pipe:
        return await pipe.run(prompt, **kwargs)


async def test_register_backends(register_plugin):
    register_plugin(BackendPlugin(), "upper-plugin")
    result = await answer(chatbot({"backend": "upper"}))
    assert result.output == "HELLO"
    assert result.usage.total_tokens == 3


async def test_third_party_backend_overrides_the_trylast_builtin(register_plugin, fake_server, host):
    class Override:
        @hookimpl
        def llmnet_register_backends(self, register: Any) -> None:
            register("openai-api", UpperBackend)

    server = fake_server("from the server")
    data = chatbot({"type": "external", "url": server.url})
    assert (await answer(data)).output == "from the server"
    register_plugin(Override(), "override")
    assert (await answer(data)).output == "HELLO"
    assert host.registries.backends.entries["openai-api"].plugin == "override"
    assert any(r.plugin == "llmnet-openai" for r in host.registries.backends.shadowed)


class Recorder(Transport):
    """Records every call; a transform answers with the data in brackets."""

    calls: list[HookCall] = []

    async def call(self, call: HookCall) -> Any:
        Recorder.calls.append(call)
        return f"[{call.data}]" if call.mode == "transform" else "ignored"


class TransportPlugin:
    @hookimpl
    def llmnet_register_transports(self, register: Any) -> None:
        register("recorder", Recorder)


async def test_register_transports(register_plugin):
    register_plugin(BackendPlugin(), "upper-plugin")
    register_plugin(TransportPlugin(), "recorder-plugin")
    Recorder.calls = []
    data = chatbot(
        {"backend": "upper"},
        hooks={
            "pre": [{"function": "rec", "mode": "transform"}],
            "post": [{"function": "rec", "mode": "observe"}, {"function": "rec", "mode": "transform"}],
        },
    )
    data["functions"] = {"rec": {"type": "recorder", "url": "http://example.invalid", "timeout": 5}}
    result = await answer(data, "hi")
    assert result.output == "[[HI]]"  # pre adds brackets, the model upper-cases, post adds brackets
    phases = [(c.phase, c.mode, c.data) for c in Recorder.calls]
    assert ("pre", "transform", "hi") in phases and ("post", "transform", "[HI]") in phases
    assert ("post", "observe", "[HI]") in phases  # observe sees the data, cannot change it
    post = next(c for c in Recorder.calls if c.phase == "post")
    assert post.variables["INPUT"] == "[hi]" and post.variables["OUTPUT"] == "[HI]"
    assert post.variables["NODE"] == "chat" and post.timeout == 5
    hooks = result.trace.hops[0].hooks
    assert [(h.phase, h.mode, h.status) for h in hooks] == [
        ("pre", "transform", "ok"),
        ("post", "observe", "ok"),
        ("post", "transform", "ok"),
    ]


class StaticSecrets(SecretProvider):
    """Returns the `values` option as the secret block."""

    async def load(self) -> Mapping[str, str]:
        return dict(self.spec.options.get("values", {}))


class SecretPlugin:
    @hookimpl
    def llmnet_register_secret_providers(self, register: Any) -> None:
        register("static", StaticSecrets)


CANARY = "sk-canary-7d41c2e9b0"


async def test_register_secret_providers(register_plugin, fake_server):
    register_plugin(SecretPlugin(), "secret-plugin")
    server = fake_server("ok")
    data = chatbot({"type": "external", "url": server.url, "api-key": "$secrets.keys.API_KEY"})
    data["secrets"] = {"keys": {"source": "static", "values": {"API_KEY": CANARY}}}
    async with Pipeline.from_dict(data) as pipe:
        result = await pipe.run("hi")
        dumped = str(result.to_dict(pipe.redactor))
    assert server.chat_requests[0].headers["authorization"] == f"Bearer {CANARY}"
    assert CANARY not in dumped


async def test_missing_secret_variable_is_an_error_naming_it(register_plugin, fake_server):
    register_plugin(SecretPlugin(), "secret-plugin")
    server = fake_server("ok")
    data = chatbot({"type": "external", "url": server.url, "api-key": "$secrets.keys.NOPE"})
    data["secrets"] = {"keys": {"source": "static", "values": {"API_KEY": CANARY}}}
    with pytest.raises(SecretError) as info:
        await answer(data)
    assert 'secret "keys" has no variable NOPE' in str(info.value)
    assert "models.m.api-key" in str(info.value)
    assert CANARY not in str(info.value)
    assert server.chat_requests == []


class ConditionPlugin:
    @hookimpl
    def llmnet_register_conditions(self, register: Any) -> None:
        register("is_question", lambda text: str(text).rstrip().endswith("?"))
        register.variable("SHOUTING", lambda v: str(v["INPUT"]).isupper())


def two_ways(if_a: str) -> dict[str, Any]:
    return {
        "models": {"m": {"backend": "upper"}},
        "architecture": [
            {"name": "entry", "layer": 0, "model": "m", "output-to": [1]},
            {"name": "a", "layer": 1, "model": "m", "if": if_a, "output-to": ["output"]},
            {"name": "b", "layer": 1, "model": "m", "if": f"not ({if_a})", "output-to": ["output"]},
            {"name": "output", "adapter": "output"},
        ],
    }


async def test_register_conditions(register_plugin):
    register_plugin(BackendPlugin(), "upper-plugin")
    register_plugin(ConditionPlugin(), "condition-plugin")
    data = two_ways("is_question($INPUT)")
    assert (await answer(data, "why?")).trace.path[1] == "a"
    assert (await answer(data, "because.")).trace.path[1] == "b"
    data = two_ways("$SHOUTING")
    assert (await answer(data, "HELP")).trace.path[1] == "a"
    assert (await answer(data, "help")).trace.path[1] == "b"


class LongestUseCase(Router):
    """Picks the candidate with the longest use-case, with a score."""

    async def choose(self, request: RouteRequest) -> RouteDecision:
        best = max(request.candidates, key=lambda c: len(c.use_case))
        return RouteDecision(best.name, "longest use-case", scores={best.name: 0.9})


class RouterPlugin:
    @hookimpl
    def llmnet_register_routers(self, register: Any) -> None:
        register("longest", LongestUseCase)


async def test_register_routers(register_plugin):
    register_plugin(BackendPlugin(), "upper-plugin")
    register_plugin(RouterPlugin(), "router-plugin")
    data = {
        "models": {"m": {"backend": "upper"}},
        "architecture": [
            {"name": "entry", "layer": 0, "model": "m", "router": "longest", "output-to": [1]},
            {"name": "a", "layer": 1, "model": "m", "use-case": "short", "output-to": ["output"]},
            {"name": "b", "layer": 1, "model": "m", "use-case": "a much longer one", "output-to": ["output"]},
            {"name": "output", "adapter": "output"},
        ],
    }
    result = await answer(data)
    assert result.trace.path == ["entry", "b", "output"]
    assert result.trace.hops[1].chosen_by == "longest router 0.90"
    assert result.trace.hops[1].decision["reason"] == "longest use-case"


class SpanRecorder(Observer):
    """Keeps every span that ends, in order."""

    def __init__(self) -> None:
        self.ended: list[Span] = []

    def span_ended(self, span: Span) -> None:
        self.ended.append(span)


async def test_register_observers(register_plugin, host):
    recorder = SpanRecorder()

    class ObserverPlugin:
        @hookimpl
        def llmnet_register_observers(self, register: Any) -> None:
            register("recorder", recorder)

    register_plugin(BackendPlugin(), "upper-plugin")
    register_plugin(RouterPlugin(), "router-plugin")
    name = register_plugin(ObserverPlugin(), "observer-plugin")
    assert host.registries.provided_by(name) == {"observers": ["recorder"]}
    data = {
        "models": {"m": {"backend": "upper"}},
        "architecture": [
            {"name": "entry", "layer": 0, "model": "m", "router": "longest", "output-to": [1]},
            {"name": "a", "layer": 1, "model": "m", "use-case": "short", "output-to": ["output"]},
            {"name": "b", "layer": 1, "model": "m", "use-case": "a much longer one", "output-to": ["output"]},
            {"name": "output", "adapter": "output"},
        ],
    }
    result = await answer(data, "hi")
    kinds = [(s.kind, s.name) for s in recorder.ended]
    assert kinds == [
        ("route", "entry"),
        ("hop", "entry"),
        ("model_call", "b"),
        ("route", "b"),
        ("hop", "b"),
        ("request", result.trace.request_id),
    ]
    request = recorder.ended[-1]
    assert request.attributes["source"] == "library" and request.attributes["answer"] == "HI"
    assert all(s.parent is request for s in recorder.ended if s.kind == "hop")
    route = recorder.ended[0]
    assert route.attributes["chosen"] == "b" and route.attributes["scores"] == {"b": 0.9}
    host.unregister(name)  # its observers stop with it
    await answer(data, "again")
    assert len(recorder.ended) == len(kinds)


class DictCache(ResponseCache):
    """Keeps answers in a dict of the class, as a server that pipelines share would; `check` wants a url."""

    kept: ClassVar[dict[str, tuple[str, float]]] = {}

    @classmethod
    def check(cls, spec: CacheSpec) -> list[Problem]:
        return [] if spec.url else [Problem("url", "is required")]

    async def get(self, key: str) -> str | None:
        return DictCache.kept.get(key, (None, 0.0))[0]

    async def set(self, key: str, value: str, ttl: float) -> None:
        DictCache.kept[key] = (value, ttl)


class CachePlugin:
    @hookimpl
    def llmnet_register_caches(self, register: Any) -> None:
        register("dict", DictCache)


async def test_register_caches(register_plugin, host):
    register_plugin(BackendPlugin(), "upper-plugin")
    name = register_plugin(CachePlugin(), "cache-plugin")
    assert host.registries.provided_by(name) == {"cache backends": ["dict"]}
    DictCache.kept = {}
    data = chatbot({"backend": "upper"}, cache={"backend": "dict", "url": "mem://shared", "ttl": 30})
    first, second = await answer(data, "hi"), await answer(data, "hi")  # two pipelines, one store
    assert first.output == second.output == "HI"
    assert [first.trace.hops[0].cache, second.trace.hops[0].cache] == ["miss", "hit"]
    assert second.usage.total_tokens == 0 and second.trace.model_calls == 0
    [(value, ttl)] = DictCache.kept.values()
    assert json.loads(value)["text"] == "HI" and ttl == 30
    unchecked = chatbot({"backend": "upper"}, cache={"backend": "dict"})
    _, problems = validate_composition(unchecked, registries=host.registries)
    assert [(p.path, p.message) for p in problems] == [("architecture[0].cache.url", "is required")]


def test_register_deployers():
    from llmnet_core import Deployer
    from llmnet_core.plugins import PluginHost

    class Counted(Deployer):
        """Runs nodes on counted machines."""

        @classmethod
        def check(cls, section: Mapping[str, Any], path: str) -> list[Problem]:
            if set(section) - {"machines"}:
                return [Problem(f"{path}.{sorted(set(section) - {'machines'})[0]}", "unknown field")]
            return []

    class DeployerPlugin:
        @hookimpl
        def llmnet_register_deployers(self, register: Any) -> None:
            register("counted", Counted)

    host = PluginHost(environ={"LLMNET_LOAD_PLUGINS": ""})  # this deployer alone checks the sections
    host.register(BackendPlugin(), "upper-plugin")
    host.register(DeployerPlugin(), "deployer-plugin")
    data = chatbot({"backend": "upper", "deploy": {"machines": 2}}, deploy={"machine": 2})
    data["architecture"].append({"name": "spare", "layer": 1, "model": "m", "deploy": {"cpus": 1}})
    _, problems = validate_composition(data, registries=host.registries)
    found = [(p.path, p.message, p.severity) for p in problems if ".deploy" in p.path]
    assert found == [
        ("architecture[0].deploy.machine", "unknown field", "error"),
        ("architecture[2].deploy.cpus", "unknown field", "warning"),  # no request reaches "spare"
    ]
    assert host.registries.deployers.get("counted") is Counted


def test_register_commands(register_plugin):
    from llmnet_core.cli import cli

    class CommandPlugin:
        @hookimpl
        def llmnet_register_commands(self, cli: click.Group) -> None:
            @cli.command()
            def hello() -> None:
                """Say hello."""
                click.echo("hello from a plugin")

    register_plugin(CommandPlugin(), "command-plugin")
    cli._plugins_added = False
    try:
        result = CliRunner().invoke(cli, ["hello"])
        assert result.exit_code == 0, result.output
        assert result.output == "hello from a plugin\n"
        assert "hello" in CliRunner().invoke(cli, ["--help"]).output
    finally:
        cli.commands.pop("hello", None)
        cli._plugins_added = False


def test_a_failing_register_hook_is_reported_and_the_rest_keeps_working(register_plugin, host):
    class Broken:
        @hookimpl
        def llmnet_register_backends(self, register: Any) -> None:
            raise RuntimeError("cannot start")

    register_plugin(Broken(), "broken")
    regs = host.registries
    assert "openai-api" in regs.backends
    assert any(f.name == "broken" and "cannot start" in f.error for f in host.failures)


def test_misspelled_hook_fails_loudly(host):
    class Typo:
        @hookimpl
        def llmnet_register_backend(self, register: Any) -> None:  # missing "s"
            pass

    with pytest.raises(ValueError, match="did you mean llmnet_register_backends"):
        host.register(Typo(), "typo")
    assert host.pm.get_plugin("typo") is None


def test_registering_something_that_is_not_a_backend_is_reported(register_plugin, host):
    class Wrong:
        @hookimpl
        def llmnet_register_backends(self, register: Any) -> None:
            register("bad", object)

    register_plugin(Wrong(), "wrong")
    assert "bad" not in host.registries.backends
    assert any("subclass of llmnet_core.Backend" in f.error for f in host.failures)


async def test_secrets_resolve_in_node_fields_too(register_plugin, fake_server):
    register_plugin(SecretPlugin(), "secret-plugin")
    server = fake_server("ok")
    data = chatbot({"type": "external", "url": server.url}, context="Team code: $secrets.keys.CODE")
    data["secrets"] = {"keys": {"source": "static", "values": {"CODE": "c0de-1234"}}}
    await answer(data)
    assert server.chat_requests[0].json["messages"][0]["content"] == "Team code: c0de-1234"


class Reverser(NodeKind):
    """A node answered elsewhere: here, by reversing its input; `check` wants a `direction`."""

    calls: ClassVar[list[HookCall]] = []

    @classmethod
    def check(cls, spec: NodeSpec) -> list[Problem]:
        if spec.options.get("direction") not in (None, "backwards"):
            return [Problem("direction", "only backwards is supported")]
        return []

    async def call(self, call: HookCall) -> Any:
        Reverser.calls.append(call)
        return call.data[::-1]


class NodeKindPlugin:
    @hookimpl
    def llmnet_register_node_kinds(self, register: Any) -> None:
        register("reverse", Reverser)


def delegated(**node: Any) -> dict[str, Any]:
    return {
        "architecture": [
            {"name": "entry", "layer": 0, "output-to": ["flip"]},
            {"name": "flip", "layer": 1, "adapter": "reverse", "output-to": ["output"], **node},
            {"name": "output", "adapter": "output"},
        ],
    }


async def test_register_node_kinds(register_plugin, host):
    register_plugin(NodeKindPlugin(), "reverse-plugin")
    Reverser.calls = []
    result = await answer(delegated())
    assert result.output == "olleh"
    assert result.trace.path == ["entry", "flip", "output"]
    assert result.trace.hops[1].role == "reverse"
    assert [(c.node, c.phase, c.data) for c in Reverser.calls] == [("flip", "node", "hello")]
    assert host.registries.provided_by("reverse-plugin") == {"node kinds": ["reverse"]}


def test_a_node_kinds_check_is_placed_in_the_architecture(register_plugin, host):
    register_plugin(NodeKindPlugin(), "reverse-plugin")
    _, problems = validate_composition(delegated(direction="sideways"), registries=host.registries)
    assert [(p.path, p.message, p.severity) for p in problems] == [
        ("architecture[1].direction", "only backwards is supported", "error")
    ]


def test_an_adapter_no_plugin_provides_is_an_error_with_a_hint(host):
    _, problems = validate_composition(delegated(), registries=host.registries)
    [problem] = [p for p in problems if p.path == "architecture[1].adapter"]
    assert problem.message == 'unknown adapter "reverse"'
    assert "installed: " in (problem.hint or "")


def test_llmnet_plugins_shows_which_registration_overrides_which(register_plugin):
    class Override:
        @hookimpl
        def llmnet_register_backends(self, register: Any) -> None:
            register("openai-api", UpperBackend)

    register_plugin(Override(), "override")
    from llmnet_core.cli import cli

    report = json.loads(CliRunner().invoke(cli, ["plugins", "--json"]).output)
    rows = {row["name"]: row for row in report["plugins"]}
    assert rows["override"]["overrides"] == ["backend openai-api of llmnet-openai"]
    assert rows["llmnet-openai"]["overridden"] == ["backend openai-api by override"]
    text = CliRunner().invoke(cli, ["plugins"]).output
    assert "overridden: backend openai-api by override" in text


# -- a guard, in the spirit of datasette's: every hook is tested and documented ---------------------------


def hookspec_names() -> list[str]:
    return sorted(name for name in dir(hookspecs) if name.startswith("llmnet_"))


@pytest.mark.parametrize("hook", hookspec_names())
def test_every_hookspec_has_a_test_a_docstring_and_a_documented_signature(hook: str) -> None:
    root = Path(__file__).resolve().parent.parent
    spec = getattr(hookspecs, hook)
    assert (spec.__doc__ or "").strip(), f"{hook} has no docstring"
    [argument] = inspect.signature(spec).parameters
    tests = Path(__file__).read_text(encoding="utf-8")
    assert f"def test_{hook.removeprefix('llmnet_')}(" in tests, f"{hook} has no test here"
    guide = (root / "docs" / "plugins.md").read_text(encoding="utf-8")
    assert f"{hook}({argument}" in guide, f"docs/plugins.md does not show {hook}({argument}: ...)"


def test_every_registration_hook_fills_a_kind_of_the_one_table() -> None:
    hooks = {kind.hook for kind in KINDS if kind.hook}
    assert hooks == set(hookspec_names()) - {"llmnet_register_commands"}
    assert len({kind.attr for kind in KINDS}) == len(KINDS) == len({kind.label for kind in KINDS})
    registries = Registries()
    for kind in KINDS:
        assert getattr(registries, kind.attr).kind == kind.noun
