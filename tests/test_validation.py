"""`llmnet validate` and `llmnet run` on broken compositions: every problem, its JSON path, exit code 2;
and the published compositions of the old llmnet, which must validate and (pointed at local servers) run."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from llmnet_core import (
    Backend,
    ChatRequest,
    ChatResponse,
    FunctionSpec,
    HookCall,
    ModelSpec,
    Problem,
    SecretProvider,
    Transport,
    hookimpl,
)
from llmnet_core.cli import cli
from llmnet_core.plugins import PluginHost, reset_host

#: the old llmnet's published examples, in shared/ beside the checkout (as for CI)
COMPAT = Path(__file__).resolve().parents[2] / "shared" / "compat"


def invoke(*args: str) -> Any:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert "Traceback" not in result.output + result.stderr
    return result


def base() -> dict[str, Any]:
    return {
        "models": {
            "router": {"type": "external", "url": "http://127.0.0.1:9"},
            "handler": {"type": "external", "url": "http://127.0.0.1:9/v1"},
        },
        "architecture": [
            {"name": "router", "layer": 0, "model": "router", "output-to": [1]},
            {"name": "billing", "layer": 1, "model": "handler", "use-case": "bills", "output-to": ["output"]},
            {"name": "tech", "layer": 1, "model": "handler", "use-case": "bugs", "output-to": ["output"]},
            {"name": "output", "adapter": "output"},
        ],
    }


def broken(change: Any) -> dict[str, Any]:
    data = copy.deepcopy(base())
    change(data)
    return data


CASES: list[tuple[str, Any, str, str]] = [
    (
        "duplicate node",
        lambda d: d["architecture"][2].update(name="billing"),
        "architecture[2].name",
        'duplicate node name "billing" (also architecture[1])',
    ),
    (
        "unknown model",
        lambda d: d["architecture"][1].update(model="gpt-small"),
        "architecture[1].model",
        'unknown model "gpt-small" (models defined: handler, router)',
    ),
    (
        "unknown node",
        lambda d: d["architecture"][1].update({"output-to": ["ouput"]}),
        "architecture[1].output-to[0]",
        'no node named "ouput" (did you mean "output"?)',
    ),
    (
        "empty layer",
        lambda d: d["architecture"][0].update({"output-to": [7]}),
        "architecture[0].output-to[0]",
        "no nodes in layer 7",
    ),
    (
        "empty output-to",
        lambda d: d["architecture"][1].update({"output-to": []}),
        "architecture[1].output-to",
        "is empty",
    ),
    (
        "mixed output-to",
        lambda d: d["architecture"][0].update({"output-to": [1, "output"]}),
        "architecture[0].output-to",
        "mixes layer numbers and node names",
    ),
    (
        "unknown function",
        lambda d: d["architecture"][1].update(hooks={"pre": [{"function": "audit"}]}),
        "architecture[1].hooks.pre[0].function",
        'unknown function "audit"',
    ),
    (
        "no layer 0",
        lambda d: d["architecture"][0].update(layer=3),
        "architecture",
        "no entry node",
    ),
    (
        "a second layer-0 node",
        lambda d: d["architecture"][1].update(layer=0),
        "architecture[1].layer",
        'a second layer-0 node "billing" (the entry is "router")',
    ),
    (
        "no output node",
        lambda d: d["architecture"].pop(),
        "architecture",
        "no output node",
    ),
    (
        "bad if",
        lambda d: d["architecture"][1].update({"if": "$WORD_COUNT >> 10"}),
        "architecture[1].if",
        "at column 13",
    ),
    (
        "unknown condition function",
        lambda d: d["architecture"][1].update({"if": "containz($INPUT, 'x')"}),
        "architecture[1].if",
        'unknown condition function "containz"',
    ),
    (
        "backend nobody provides",
        lambda d: d["models"]["handler"].update(runner="ollama", type=None),
        "models.handler",
        'no installed plugin provides the backend "ollama" (install the plugin that provides it: '
        "pip install llmnet-ollama)",
    ),
    (
        "transport nobody provides",
        lambda d: (
            d.update(functions={"audit": {"type": "rest", "url": "http://x"}}),
            d["architecture"][1].update(hooks={"post": [{"function": "audit"}]}),
        ),
        "functions.audit.type",
        'no installed plugin provides the transport "rest" (install the plugin that provides it: '
        "pip install llmnet-rest)",
    ),
    (
        "secret source nobody provides",
        lambda d: d.update(secrets={"vault1": {"source": "vault", "path": "secret/x"}}),
        "secrets.vault1.source",
        "pip install llmnet-vault",
    ),
    (
        "undefined secret block",
        lambda d: d["models"]["router"].update({"api-key": "$secrets.api.KEY"}),
        "models.router.api-key",
        'refers to secret block "api", which is not defined',
    ),
    (
        "wrong type",
        lambda d: d["architecture"][1].update(layer="one"),
        "architecture[1].layer",
        "valid integer",
    ),
    (
        "missing name",
        lambda d: d["architecture"][1].pop("name"),
        "architecture[1].name",
        "required key is missing",
    ),
    (
        "bad mode",
        lambda d: d["architecture"][1].update(hooks={"pre": [{"function": "f", "mode": "mutate"}]}),
        "architecture[1].hooks.pre[0].mode",
        "'mutate' is not allowed",
    ),
    (
        "unknown adapter",
        lambda d: d["architecture"][1].update(adapter="grpc"),
        "architecture[1].adapter",
        'unknown adapter "grpc"',
    ),
    (
        "unknown router",
        lambda d: d["architecture"][0].update(router="magic"),
        "architecture[0].router",
        'unknown routing strategy "magic"',
    ),
]


@pytest.mark.parametrize(("label", "change", "path", "message"), CASES, ids=[c[0] for c in CASES])
def test_each_problem_is_reported_with_its_json_path(
    write_composition, monkeypatch, label, change, path, message
):
    # the "nobody provides" cases name real plugins: run them on a host where those are not installed
    monkeypatch.setenv("LLMNET_BLOCK_PLUGINS", "llmnet-ollama,llmnet-rest,llmnet-vault")
    previous = reset_host(PluginHost())
    try:
        check_problem_reported(write_composition, change, path, message)
    finally:
        reset_host(previous)


def check_problem_reported(write_composition, change, path, message):
    file = write_composition(broken(change))
    result = invoke("validate", str(file))
    assert result.exit_code == 2
    assert f"{path}: " in result.stderr
    line = next(line for line in result.stderr.splitlines() if f"{path}: " in line)
    assert message in line
    assert line.lstrip().startswith("error")
    run = invoke("run", str(file), "hello")
    assert run.exit_code == 2
    assert f"{path}: " in run.stderr and message in run.stderr


def test_every_problem_is_listed_at_once(host, write_composition):
    def many(d: dict[str, Any]) -> None:
        d["architecture"][1].update(model="gpt-small", **{"if": "$X >> 1"})
        d["architecture"][2].update({"output-to": ["ouput"]})

    result = invoke("validate", str(write_composition(broken(many))))
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0].endswith(": 3 problems")
    assert len([line for line in result.stderr.splitlines() if line.lstrip().startswith("error")]) == 3


def test_run_json_reports_composition_errors_as_json(host, write_composition):
    file = write_composition(broken(lambda d: d["architecture"][1].update(model="nope")))
    result = invoke("run", str(file), "hi", "--format", "json")
    assert result.exit_code == 2
    error = json.loads(result.stdout)["error"]
    assert error["type"] == "CompositionError"
    assert error["problems"][0]["path"] == "architecture[1].model"


def test_json_syntax_error_gives_line_and_column(host, write_composition):
    text = '{\n  // comment\n  "models": {},\n  "architecture": [\n    {"name": "a" "layer": 0}\n  ]\n}\n'
    file = write_composition(text)
    for command in (["validate", str(file)], ["run", str(file), "hi"]):
        result = invoke(*command)
        assert result.exit_code == 2
        assert "line 5, column 18" in result.stderr and "comma is missing" in result.stderr


def test_comments_and_trailing_commas_are_accepted(host, write_composition):
    text = json.dumps(base(), indent=2)
    text = text.replace('"models": {', '"models": { /* block\ncomment */', 1)
    text = text.replace('"output"\n    }\n  ]', '"output", // trailing\n    },\n  ]')
    assert "// trailing" in text and "/* block" in text
    result = invoke("validate", str(write_composition(text)))
    assert result.exit_code == 0, result.stderr
    assert "ok · entry router · 2 handlers · 2 models" in result.stdout


def test_unreachable_node_is_a_warning(host, write_composition):
    data = broken(lambda d: d["architecture"].insert(3, {"name": "archive", "layer": 5, "model": "handler"}))
    result = invoke("validate", str(write_composition(data)))
    assert result.exit_code == 0
    assert re.search(
        r'warning +architecture\[3\]: node "archive" is never reached from layer 0', result.stdout
    )


def test_validate_json_output(host, write_composition):
    file = write_composition(broken(lambda d: d["architecture"][1].update(model="nope")))
    data = json.loads(invoke("validate", str(file), "--json").stdout)
    assert data["valid"] is False
    assert {"severity": "error", "path": "architecture[1].model"}.items() <= data["problems"][0].items()


COMPAT_FILES = sorted(p.name for p in COMPAT.glob("*.json"))


#: published files that a run refuses before calling a model, so validate refuses them too
REFUSED = {"qwen3-80b-simple.json": 'models.qwen3-80b.runner: runner "docker" starts a container'}


@pytest.mark.skipif(not COMPAT_FILES, reason="shared/compat is not beside this checkout")
@pytest.mark.parametrize("name", COMPAT_FILES)
def test_published_compositions_validate(host, monkeypatch, name):
    monkeypatch.setenv("OPENROUTER_API_KEY_FREE", "or-canary-for-validate")
    result = invoke("validate", str(COMPAT / name))
    if name in REFUSED:
        assert result.exit_code == 2 and REFUSED[name] in result.stderr, result.output
        return
    assert result.exit_code == 0, result.stderr
    assert f"{COMPAT / name}: ok" in result.stdout


@pytest.mark.skipif(not COMPAT_FILES, reason="shared/compat is not beside this checkout")
def test_an_unset_env_api_key_fails_validate_as_it_fails_run(host, monkeypatch):
    """What `run` refuses before its first model call, `validate` refuses: same path, same message;
    `--no-secrets` (no secrets at hand on purpose) leaves a warning."""
    monkeypatch.delenv("OPENROUTER_API_KEY_FREE", raising=False)
    path = str(COMPAT / "openrouter-pipeline.json")
    expected = "models.router-gemma.api-key: environment variable OPENROUTER_API_KEY_FREE is not set"
    checked = invoke("validate", path)
    assert checked.exit_code == 2 and expected in checked.stderr
    ran = invoke("run", path, "hello")
    assert ran.exit_code == 2 and expected in ran.stderr
    offline = invoke("validate", "--no-secrets", path)
    assert offline.exit_code == 0 and f"warning {expected}" in offline.stdout


RUNNABLE = {
    "basic-chatbot.json": ["chat"],
    "dual-expert.json": ["router", "support-expert"],
    "multi-layer-pipeline.json": ["router", "creative-handler", "response-refiner"],
    "conditional-routing.json": ["router", "long-input-handler", "response-refiner"],
    "openrouter-pipeline.json": ["router", "technical-handler"],
    "qwen3-80b-external.json": ["chat"],
}


@pytest.mark.skipif(not COMPAT_FILES, reason="shared/compat is not beside this checkout")
@pytest.mark.parametrize("name", sorted(RUNNABLE))
def test_published_compositions_run_against_local_servers(
    host, fake_server, write_composition, monkeypatch, name
):
    canary = "or-canary-5b1f0e"
    monkeypatch.setenv("OPENROUTER_API_KEY_FREE", canary)
    expected = RUNNABLE[name]
    handler_pick = expected[1] if len(expected) > 1 else ""
    server = fake_server(lambda body: handler_pick if body["messages"][0]["role"] == "system" else "answer")
    data = json.loads((COMPAT / name).read_text())
    for model in data["models"].values():
        model["url"] = server.url + ("/v1" if model["url"].endswith("/v1") else "")
    prompt = "please write me a long poem about the sea and the wind tonight"
    result = invoke("run", str(write_composition(data)), prompt, "--format", "json")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert [h["node"] for h in out["trace"]["hops"]][:-1] == expected
    assert out["output"] == "answer"
    uses_key = "OPENROUTER" in (COMPAT / name).read_text()
    for request in server.chat_requests:
        assert (request.headers.get("authorization") == f"Bearer {canary}") is uses_key
    assert canary not in result.stdout and canary not in result.stderr
    overrides = {n.get("extra-options", {}).get("model_override") for n in data["architecture"]}
    assert {r.json["model"] for r in server.chat_requests} <= overrides | set(data["models"])


# -- plugins check their own entries (Transport.check / Backend.check) --------------------------------


class Checked(Transport):
    """Accepts an `endpoint` starting with http and nothing else; its check reports each bad field."""

    @classmethod
    def check(cls, spec: FunctionSpec) -> list[Problem]:
        here = f"functions.{spec.name}"
        problems = [Problem(f"{here}.{key}", "unknown field") for key in spec.options if key != "endpoint"]
        endpoint = spec.options.get("endpoint", "")
        if not endpoint.startswith("http"):
            problems.append(Problem(f"{here}.endpoint", f"{endpoint!r} is not an http URL", "write http://…"))
        return problems

    async def call(self, call: HookCall) -> Any:
        return None


class Crashing(Transport):
    @classmethod
    def check(cls, spec: FunctionSpec) -> list[Problem]:
        raise RuntimeError("a bug in the plugin")

    async def call(self, call: HookCall) -> Any:
        return None


class CheckedBackend(Backend):
    @classmethod
    def check(cls, spec: ModelSpec) -> list[Problem]:
        size = spec.options.get("context-size", 0)
        return [] if size > 0 else [Problem(f"models.{spec.name}.context-size", "must be positive")]

    async def complete(self, request: ChatRequest) -> ChatResponse:
        return ChatResponse(text="ok")


class Memory(SecretProvider):
    async def load(self) -> dict[str, str]:
        return {"URL": "ftp://user:pw-canary-77@files", "GOOD": "http://127.0.0.1:9/hook"}


class CheckingPlugin:
    @hookimpl
    def llmnet_register_transports(self, register: Any) -> None:
        register("checked", Checked)
        register("crashing", Crashing)

    @hookimpl
    def llmnet_register_backends(self, register: Any) -> None:
        register("checked-backend", CheckedBackend)

    @hookimpl
    def llmnet_register_secret_providers(self, register: Any) -> None:
        register("memory", Memory)


def with_functions(**functions: dict[str, Any]) -> dict[str, Any]:
    data = base()
    data["functions"] = functions
    data["architecture"][1]["hooks"] = {"pre": [{"function": "used"}]}
    return data


def test_plugin_checks_report_bad_fields_before_any_run(host, register_plugin, write_composition):
    register_plugin(CheckingPlugin(), "checking-plugin")
    data = with_functions(used={"type": "checked", "endpoint": "ftp://x"}, unused={"type": "checked"})
    data["models"]["local"] = {"backend": "checked-backend", "context-size": 0}
    data["architecture"][2]["model"] = "local"
    file = write_composition(data)
    result = invoke("validate", str(file))
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines[0].endswith(": 2 problems")
    assert any(
        re.match(r" +error +functions\.used\.endpoint: 'ftp://x' is not an http URL", x) for x in lines
    )
    assert any(re.match(r" +error +models\.local\.context-size: must be positive", x) for x in lines)
    # a function no reachable hook uses only gets a warning
    assert any(re.match(r" +warning +functions\.unused\.endpoint: ", x) for x in lines)
    run = invoke("run", str(file), "hello")
    assert run.exit_code == 2 and "functions.used.endpoint" in run.stderr


def test_a_crashing_check_is_a_warning_not_a_failure(host, register_plugin, write_composition):
    register_plugin(CheckingPlugin(), "checking-plugin")
    result = invoke("validate", str(write_composition(with_functions(used={"type": "crashing"}))))
    assert result.exit_code == 0, result.stderr
    assert "functions.used: the plugin could not check this entry (RuntimeError)" in result.stdout


def test_fields_with_secrets_are_checked_once_the_secrets_are_loaded(
    host, register_plugin, write_composition
):
    register_plugin(CheckingPlugin(), "checking-plugin")
    data = with_functions(used={"type": "checked", "endpoint": "$secrets.vault.URL", "retires": 3})
    data["secrets"] = {"vault": {"source": "memory"}}
    file = write_composition(data)
    offline = invoke("validate", "--no-secrets", str(file))
    assert offline.exit_code == 2  # the other fields are checked at once, even without the secrets
    assert "functions.used.retires: unknown field" in offline.stderr
    assert "functions.used.endpoint" not in offline.stderr  # "$secrets.vault.URL" is not a value yet
    assert "functions.used.endpoint" not in invoke("validate", str(file)).stderr  # not loaded: other errors
    data["functions"]["used"].pop("retires")
    result = invoke("validate", str(write_composition(data)))
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0].endswith(": 1 problem")
    assert "functions.used.endpoint: '***' is not an http URL" in result.stderr
    assert "pw-canary-77" not in result.output
    data["functions"]["used"] = {"type": "checked", "endpoint": "$secrets.vault.GOOD"}
    assert invoke("validate", str(write_composition(data))).exit_code == 0
