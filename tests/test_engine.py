"""The routing engine against real HTTP servers on 127.0.0.1 (router and handlers are fake model servers)."""

from __future__ import annotations

from typing import Any

import pytest

from llmnet_core import Pipeline, RoutingError
from llmnet_core.errors import HopLimitError


def model(server: Any, **extra: Any) -> dict[str, Any]:
    return {"type": "external", "interface": "openai-api", "url": server.url, "api-key": None, **extra}


def last_user(body: dict[str, Any]) -> str:
    return [m for m in body["messages"] if m["role"] == "user"][-1]["content"]


async def run(data: dict[str, Any], prompt: str, **kwargs: Any) -> Any:
    async with Pipeline.from_dict(data, **{k: v for k, v in kwargs.items() if k == "max_hops"}) as pipe:
        return await pipe.run(prompt, **{k: v for k, v in kwargs.items() if k != "max_hops"})


async def test_one_node_chatbot_answers_itself(host, fake_server):
    chat = fake_server(lambda body: f"echo: {last_user(body)}")
    data = {
        "models": {"chatbot": model(chat)},
        "architecture": [
            {
                "name": "chat",
                "layer": 0,
                "model": "chatbot",
                "adapter": "openai-api",
                "output-to": ["output"],
            },
            {"name": "output", "adapter": "output"},
        ],
    }
    result = await run(data, "hello there")
    assert result.output == "echo: hello there"
    assert len(chat.chat_requests) == 1
    assert chat.chat_requests[0].json["model"] == "chatbot"  # the models key when nothing overrides it
    assert [h.node for h in result.trace.hops] == ["chat", "output"]
    assert result.trace.hops[0].role == "handler"
    assert result.usage.total_tokens > 0


def three_handlers(router: Any, billing: Any, tech: Any, sales: Any) -> dict[str, Any]:
    return {
        "models": {"r": model(router), "b": model(billing), "t": model(tech), "s": model(sales)},
        "architecture": [
            {"name": "router", "layer": 0, "model": "r", "output-to": [1]},
            {
                "name": "billing",
                "layer": 1,
                "model": "b",
                "use-case": "invoices, refunds, charges",
                "output-to": ["output"],
            },
            {
                "name": "tech",
                "layer": 1,
                "model": "t",
                "use-case": "bugs, crashes, errors",
                "output-to": ["output"],
            },
            {
                "name": "sales",
                "layer": 1,
                "model": "s",
                "use-case": "prices, plans, discounts",
                "output-to": ["output"],
            },
            {"name": "output", "adapter": "output"},
        ],
    }


def keyword_router(body: dict[str, Any]) -> str:
    text = last_user(body).lower()
    if "invoice" in text:
        return "Billing."
    if "crash" in text:
        return "I would send this to tech"
    return "sales"


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [("My invoice shows a double charge", "billing"), ("The app crashes", "tech"), ("How much?", "sales")],
)
async def test_router_chooses_among_three_handlers(host, fake_server, prompt, expected):
    router = fake_server(keyword_router)
    servers = {name: fake_server(f"answer from {name}") for name in ("billing", "tech", "sales")}
    result = await run(three_handlers(router, *servers.values()), prompt)
    assert result.output == f"answer from {expected}"
    assert len(router.chat_requests) == 1
    for name, server in servers.items():
        assert len(server.chat_requests) == (1 if name == expected else 0)
    system = router.chat_requests[0].json["messages"][0]["content"]
    assert "billing: invoices, refunds, charges" in system and "tech: bugs, crashes, errors" in system
    assert last_user(servers[expected].chat_requests[0].json) == prompt
    hop = result.trace.hops[1]
    assert hop.node == expected and hop.chosen_by == "llm router"
    assert hop.decision["candidates"] == ["billing", "tech", "sales"]
    assert hop.decision["answer"] == keyword_router(router.chat_requests[0].json)


@pytest.mark.parametrize(("no_match", "output"), [(None, "h0"), ("error", None), ("sales", "h2")])
async def test_an_answer_naming_no_candidate_follows_no_match_and_says_so(
    host, fake_server, no_match, output
):
    router = fake_server("I cannot decide")  # a server that ignores response_format: a plain answer
    servers = [fake_server(f"h{i}") for i in range(3)]
    data = three_handlers(router, *servers)
    if no_match is not None:
        data["architecture"][0]["router-options"] = {"no-match": no_match}
    if output is None:
        with pytest.raises(RoutingError) as caught:
            await run(data, "anything")
        assert caught.value.message.startswith('node "router": the model answered "I cannot decide"')
        assert caught.value.trace.error == caught.value.message
        assert not any(server.chat_requests for server in servers)
    else:
        result = await run(data, "anything")
        assert result.output == output
        target = result.trace.hops[1].node
        reason = f'the answer named no candidate; no-match "{no_match or "first"}" chose {target}'
        assert result.trace.hops[1].decision["reason"] == reason
    asked = router.chat_requests[0].json  # the names as the only answers, and a name's worth of tokens
    assert asked["response_format"]["json_schema"]["schema"]["properties"]["choice"]["enum"] == [
        "billing",
        "tech",
        "sales",
    ]
    assert asked["max_tokens"] <= 32


def conditional(router: Any, handler: Any, form: str) -> dict[str, Any]:
    layer1 = [1] if form == "layers" else ["short", "long"]
    layer2 = [2] if form == "layers" else ["refiner", "reviewer"]
    return {
        "models": {"router": model(router), "handler": model(handler)},
        "architecture": [
            {"name": "router", "layer": 0, "model": "router", "output-to": layer1},
            {
                "name": "short",
                "layer": 1,
                "model": "handler",
                "if": "$WORD_COUNT < 5",
                "output-to": ["output"],
            },
            {"name": "long", "layer": 1, "model": "handler", "if": "$WORD_COUNT >= 5", "output-to": layer2},
            {
                "name": "refiner",
                "layer": 2,
                "model": "handler",
                "if": '$PREV_NODE == "long" && $HOP_COUNT == 1',
                "output-to": ["output"],
            },
            {
                "name": "reviewer",
                "layer": 2,
                "model": "handler",
                "if": '$PREV_NODE == "short"',
                "output-to": ["output"],
            },
            {"name": "output", "adapter": "output"},
        ],
    }


@pytest.mark.parametrize("form", ["layers", "names"])
async def test_conditional_routing_across_two_layers(host, fake_server, form):
    router = fake_server("router must never be asked")
    handler = fake_server(lambda body: f"[{len(body['messages'])}] {last_user(body)}")
    data = conditional(router, handler, form)

    short = await run(data, "hi there")
    assert short.trace.path == ["router", "short", "output"]
    assert short.trace.hops[1].chosen_by == "condition"
    assert short.trace.hops[1].decision == {"conditions": {"short": True, "long": False}}

    long = await run(data, "please explain this rather long question to me")
    assert long.trace.path == ["router", "long", "refiner", "output"]
    assert long.output == "[1] [1] please explain this rather long question to me"
    assert len(router.chat_requests) == 0  # one target left after conditions: the router is never asked
    assert len(handler.chat_requests) == 3


async def test_every_condition_false_is_an_error_naming_node_and_conditions(host, fake_server):
    handler = fake_server("x")
    data = conditional(handler, handler, "layers")
    data["architecture"][2]["if"] = "$WORD_COUNT > 100"
    with pytest.raises(RoutingError) as info:
        await run(data, "a b c d e f")
    message = str(info.value)
    assert 'node "router"' in message and "$WORD_COUNT > 100" in message and "WORD_COUNT=6" in message
    assert "no-match" in str(info.value.hint)


async def test_no_match_all_restores_the_old_behaviour(host, fake_server):
    router = fake_server("long")
    handler = fake_server("done")
    data = conditional(router, handler, "layers")
    data["architecture"][1]["if"] = "$WORD_COUNT > 100"
    data["architecture"][2]["if"] = "$WORD_COUNT > 100"
    data["architecture"][3].pop("if")
    data["settings"] = {"no-match": "all"}
    result = await run(data, "a b c")
    assert result.trace.path[:2] == ["router", "long"]
    assert len(router.chat_requests) == 1


def loop(server: Any, condition: bool) -> dict[str, Any]:
    refine: dict[str, Any] = {"name": "refine", "layer": 1, "model": "m", "output-to": ["refine", "output"]}
    output: dict[str, Any] = {"name": "output", "adapter": "output"}
    if condition:
        refine["if"] = "$HOP_COUNT < 3"
        output["if"] = "$HOP_COUNT >= 3"
    return {
        "models": {"m": model(server)},
        "architecture": [
            {"name": "entry", "layer": 0, "model": "m", "output-to": ["refine"]},
            refine,
            output,
        ],
    }


async def test_loop_ends_through_hop_count_condition(host, fake_server):
    server = fake_server(lambda body: last_user(body) + "+")
    result = await run(loop(server, condition=True), "draft")
    assert result.trace.path == ["entry", "refine", "refine", "refine", "output"]
    assert result.output == "draft+++"
    assert len(server.chat_requests) == 3


async def test_loop_without_condition_hits_the_hop_limit(host, fake_server):
    server = fake_server("refine")  # the routing answer always picks the loop
    with pytest.raises(HopLimitError) as info:
        await run(loop(server, condition=False), "draft", max_hops=5)
    assert "hop limit 5" in str(info.value)
    assert "refine → refine" in str(info.value)
    assert info.value.trace is not None and len(info.value.trace.hops) == 6


async def test_model_override_and_parameters_reach_the_wire(host, fake_server):
    server = fake_server("ok")
    data = {
        "models": {"m": model(server, model="base-name", parameters={"temperature": 0.2, "max_tokens": 7})},
        "architecture": [
            {
                "name": "chat",
                "layer": 0,
                "model": "m",
                "output-to": ["output"],
                "extra-options": {"model_override": "vendor/special-model:free"},
            },
            {"name": "output", "adapter": "output"},
        ],
    }
    await run(data, "hi")
    body = server.chat_requests[0].json
    assert body["model"] == "vendor/special-model:free"
    assert body["temperature"] == 0.2 and body["max_tokens"] == 7


async def test_wire_model_falls_back_to_model_field(host, fake_server):
    server = fake_server("ok")
    data = {
        "models": {"m": model(server, model="qwen3:0.6b")},
        "architecture": [
            {"name": "chat", "layer": 0, "model": "m", "output-to": ["output"]},
            {"name": "output", "adapter": "output"},
        ],
    }
    await run(data, "hi")
    assert server.chat_requests[0].json["model"] == "qwen3:0.6b"


async def test_context_becomes_the_system_prompt_and_history_reaches_handler(host, fake_server):
    server = fake_server("ok")
    data = {
        "models": {"m": model(server)},
        "architecture": [
            {"name": "chat", "layer": 0, "model": "m", "context": "You are terse.", "output-to": ["output"]},
            {"name": "output", "adapter": "output"},
        ],
    }
    history = [
        {"role": "user", "content": "My name is Ada."},
        {"role": "assistant", "content": "Hello Ada."},
        {"role": "user", "content": "What is my name?"},
    ]
    async with Pipeline.from_dict(data) as pipe:
        await pipe.run(history)
    messages = server.chat_requests[0].json["messages"]
    assert messages[0] == {"role": "system", "content": "You are terse."}
    assert [m["content"] for m in messages[1:]] == ["My name is Ada.", "Hello Ada.", "What is my name?"]


async def test_streaming_delivers_the_final_answer_in_pieces(host, fake_server):
    server = fake_server("one two three four")
    data = {
        "models": {"m": model(server)},
        "architecture": [
            {"name": "chat", "layer": 0, "model": "m", "output-to": ["output"]},
            {"name": "output", "adapter": "output"},
        ],
    }
    pieces: list[str] = []
    async with Pipeline.from_dict(data) as pipe:
        result = await pipe.run("go", on_token=pieces.append)
    assert len(pieces) >= 4 and "".join(pieces) == result.output == "one two three four"
    assert server.chat_requests[0].json["stream"] is True


async def test_custom_variables_feed_conditions(host, fake_server):
    server = fake_server("ok")
    data = {
        "models": {"m": model(server)},
        "architecture": [
            {"name": "entry", "layer": 0, "model": "m", "output-to": [1]},
            {"name": "vip", "layer": 1, "model": "m", "if": "$TIER == gold", "output-to": ["output"]},
            {"name": "std", "layer": 1, "model": "m", "if": "not $TIER == gold", "output-to": ["output"]},
            {"name": "output", "adapter": "output"},
        ],
    }
    assert (await run(data, "x", variables={"TIER": "gold"})).trace.path[1] == "vip"
    assert (await run(data, "x", variables={"TIER": "free"})).trace.path[1] == "std"


async def test_route_only_takes_the_decision_without_asking_the_handler(host, fake_server):
    router = fake_server(keyword_router)
    servers = {name: fake_server(f"answer from {name}") for name in ("billing", "tech", "sales")}
    result = await run(three_handlers(router, *servers.values()), "The app crashes", route_only=True)
    assert [h.node for h in result.trace.hops] == ["router", "tech", "output"]
    assert result.trace.hops[1].role == "skipped"
    assert result.output == "The app crashes"  # the handler passed its input on
    assert len(router.chat_requests) == 1
    assert all(not s.chat_requests for s in servers.values())
