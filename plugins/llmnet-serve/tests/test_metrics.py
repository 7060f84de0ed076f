"""`GET /metrics` of a real `llmnet serve`, scraped over HTTP after requests through fake model servers and
read with prometheus_client's own parser: the figures follow from the requests made."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Mapping
from typing import Any

import httpx
import pytest
from llmnet_testing import count_words
from prometheus_client.parser import text_string_to_metric_families

CHAT = "/v1/chat/completions"
MODEL_KEY = "sk-canary-metrics-0b7e44d1"
SERVER_KEY = "srv-canary-metrics-93aa10"
MARKER = "private-question-marker-51c3"
AUTH = {"authorization": f"Bearer {SERVER_KEY}"}


def chat(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": "any", "messages": [{"role": "user", "content": text}], **extra}


class Scrape:
    """One scrape of /metrics: the raw text, and sample values by name and labels."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.samples = [s for family in text_string_to_metric_families(text) for s in family.samples]

    def value(self, name: str, **labels: str) -> float:
        """The sample's value (0 when the series does not exist)."""
        for sample in self.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
        return 0.0

    def series(self, name: str) -> dict[tuple[tuple[str, str], ...], float]:
        return {tuple(sorted(s.labels.items())): s.value for s in self.samples if s.name == name}


async def scrape(client: httpx.AsyncClient, url: str, headers: Mapping[str, str] = AUTH) -> Scrape:
    reply = await client.get(f"{url}/metrics", headers=dict(headers))
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("text/plain")
    return Scrape(reply.text)


def last_user(request: dict[str, Any]) -> str:
    return [m for m in request["messages"] if m["role"] == "user"][-1]["content"]


def shop_composition(router: str, sales: str, support: str) -> dict[str, Any]:
    """A router model choosing between two handlers: sales (its model needs an API key, from the
    environment) and support (with a shell pre-hook)."""
    return {
        "models": {
            "router-model": {"type": "external", "url": router},
            "sales-model": {"type": "external", "url": sales, "api-key": "$METRICS_SALES_KEY"},
            "support-model": {"type": "external", "url": support},
        },
        "functions": {"noop": {"type": "shell", "command": "true", "stdin": "none"}},
        "architecture": [
            {"name": "router", "layer": 0, "model": "router-model", "output-to": [1]},
            {
                "name": "sales",
                "layer": 1,
                "model": "sales-model",
                "use-case": "prices",
                "output-to": ["output"],
            },
            {
                "name": "support",
                "layer": 1,
                "model": "support-model",
                "use-case": "refunds",
                "output-to": ["output"],
                "hooks": {"pre": [{"function": "noop", "mode": "transform"}]},
            },
            {"name": "output", "adapter": "output"},
        ],
    }


def words_in(request: Any) -> int:
    """The prompt tokens the fake server reports for a recorded request (it counts words)."""
    return sum(count_words(m["content"]) for m in request.json["messages"])


@pytest.fixture
async def client():
    async with httpx.AsyncClient(timeout=30) as http:
        yield http


@pytest.fixture(scope="module")
def shop(fake_model, start_serve, module_dir) -> Any:
    """`llmnet serve --api-key` in front of a routed composition whose sales model needs an API key (from
    the environment) and whose support node runs a shell hook."""
    router = fake_model(lambda r: "support" if "refund" in last_user(r) else "sales", name="router")
    sales = fake_model(lambda r: f"sales answer to: {last_user(r)}", name="sales")
    support = fake_model("we will refund you", name="support")
    path = module_dir / "shop.json"
    path.write_text(json.dumps(shop_composition(router.url, sales.url, support.url)), encoding="utf-8")
    env = {**os.environ, "METRICS_SALES_KEY": MODEL_KEY, "LLMNET_API_KEY": SERVER_KEY}
    server = start_serve(path, env=env)
    return type(
        "Shop",
        (),
        {"url": server.url, "server": server, "router": router, "sales": sales, "support": support},
    )


async def test_metrics_follow_from_the_requests_made(client, shop):
    url = shop.url
    for n in range(3):
        ok = await client.post(f"{url}{CHAT}", json=chat(f"prices {MARKER} {n}"), headers=AUTH)
        assert ok.status_code == 200, ok.text
    for n in range(2):
        ok = await client.post(f"{url}{CHAT}", json=chat(f"a refund {MARKER} {n}"), headers=AUTH)
        assert ok.status_code == 200, ok.text
    streamed = await client.post(f"{url}{CHAT}", json=chat(f"prices {MARKER}", stream=True), headers=AUTH)
    assert streamed.status_code == 200 and "[DONE]" in streamed.text
    shop.sales.push(status=400, body=json.dumps({"error": {"message": f"upstream says {MODEL_KEY}"}}))
    failed = await client.post(f"{url}{CHAT}", json=chat(f"prices {MARKER} fail"), headers=AUTH)
    assert failed.status_code == 502, failed.text
    bad = await client.post(f"{url}{CHAT}", content=b"{not json", headers=AUTH)
    assert bad.status_code == 400
    unauthorised = await client.post(
        f"{url}{CHAT}", json=chat("prices"), headers={"authorization": "Bearer x"}
    )
    assert unauthorised.status_code == 401

    assert (await client.get(f"{url}/metrics")).status_code == 401  # behind the key, like /status
    metrics = await scrape(client, url)

    assert metrics.series("llmnet_requests_total") == {
        (("status", "200"),): 6,
        (("status", "400"),): 1,
        (("status", "401"),): 1,
        (("status", "502"),): 1,
    }
    assert metrics.value("llmnet_requests_in_flight") == 0
    runs = metrics.series("llmnet_request_duration_seconds_count")
    assert runs == {
        (("route", "router>sales>output"),): 4,
        (("route", "router>support>output"),): 2,
        (("route", "router>sales"),): 1,
    }
    assert metrics.series("llmnet_errors_total") == {(("error", "BackendError"), ("node", "sales")): 1}
    assert metrics.series("llmnet_route_decisions_total") == {
        (("node", "router"), ("target", "sales")): 5,
        (("node", "router"), ("target", "support")): 2,
        (("node", "sales"), ("target", "output")): 4,
        (("node", "support"), ("target", "output")): 2,
    }
    assert metrics.series("llmnet_node_duration_seconds_count") == {
        (("node", "router"),): 7,
        (("node", "sales"),): 5,
        (("node", "support"),): 2,
    }
    assert metrics.value("llmnet_route_decision_duration_seconds_count", node="router") == 7
    assert metrics.value("llmnet_model_call_duration_seconds_count", node="sales") == 5
    assert metrics.value("llmnet_model_call_duration_seconds_count", node="router") == 7
    # the fake models count words as tokens
    router_calls = shop.router.chat_requests
    assert len(router_calls) == 7
    assert metrics.value("llmnet_tokens_total", node="router", direction="in") == sum(
        map(words_in, router_calls)
    )
    assert metrics.value("llmnet_tokens_total", node="router", direction="out") == 7  # "sales" or "support"
    support_calls = shop.support.chat_requests
    assert metrics.value("llmnet_tokens_total", node="support", direction="in") == sum(
        map(words_in, support_calls)
    )
    assert metrics.value("llmnet_tokens_total", node="support", direction="out") == 2 * 4
    assert metrics.series("llmnet_hook_calls_total") == {(("function", "noop"), ("status", "ok")): 2}, (
        shop.server.output
    )
    assert metrics.value("llmnet_hook_duration_seconds_count", function="noop") == 2
    assert metrics.value("llmnet_fallbacks_total", node="sales") == 0
    assert metrics.value("llmnet_cache_hits_total", node="sales") == 0
    # labels are composition names only: no request text, and no secret
    assert MARKER not in metrics.text
    assert MODEL_KEY not in metrics.text and SERVER_KEY not in metrics.text

    again = await client.post(f"{url}{CHAT}", json=chat("a refund again"), headers=AUTH)
    assert again.status_code == 200
    later = await scrape(client, url)
    assert later.value("llmnet_requests_total", status="200") == 7
    assert later.value("llmnet_route_decisions_total", node="router", target="support") == 3


async def test_metrics_can_be_turned_off(client, routed, start_serve):
    server = start_serve(routed.path, "--no-metrics")
    reply = await client.get(f"{server.url}/metrics")
    assert reply.status_code == 404
    assert "--no-metrics" in reply.json()["error"]["message"]
    # nor does a 404 list it
    missing = (await client.get(f"{server.url}/v1/embeddings")).json()["error"]["message"]
    assert missing.endswith("GET /health, GET /status") and "/metrics" not in missing


async def test_openmetrics_when_the_scraper_asks(client, routed):
    reply = await client.get(
        f"{routed.url}/metrics", headers={"accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("application/openmetrics-text")
    assert reply.text.rstrip().endswith("# EOF")


async def test_workers_share_one_view(client, routed, start_serve):
    server = start_serve(routed.path, "--workers", "2")
    for n in range(8):
        text = f"a refund {n}" if n % 2 else f"prices {n}"
        # a fresh connection each time, so that both workers get requests
        async with httpx.AsyncClient(timeout=30) as fresh:
            reply = await fresh.post(f"{server.url}{CHAT}", json=chat(text))
        assert reply.status_code == 200, reply.text
    # every scrape sums the workers' figures, whichever worker answers it; the other worker's figures
    # are at most about a second old
    deadline = time.monotonic() + 10
    while (metrics := await scrape(client, server.url, {})).value("llmnet_requests_total", status="200") < 8:
        assert time.monotonic() < deadline, metrics.text
        await asyncio.sleep(0.1)
    assert metrics.value("llmnet_requests_total", status="200") == 8
    assert metrics.value("llmnet_route_decisions_total", node="router", target="support") == 4
    assert metrics.value("llmnet_node_duration_seconds_count", node="router") == 8
    assert metrics.value("llmnet_requests_in_flight") == 0
    again = await scrape(client, server.url, {})
    assert again.value("llmnet_requests_total", status="200") == 8


async def test_fallbacks_and_cache_hits_are_counted(client, fake_model, start_serve, module_dir):
    server = fake_model("from the backup", name="backup")
    data = {
        "models": {
            "primary": {"type": "external", "url": server.fault_url("garbage")},
            "backup": {"type": "external", "url": server.url},
        },
        "architecture": [
            {
                "name": "answer",
                "layer": 0,
                "model": "primary",
                "fallback": "backup",
                "cache": True,
                "output-to": ["output"],
            },
            {"name": "output", "adapter": "output"},
        ],
    }
    path = module_dir / "fallback.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    url = start_serve(path).url
    for _ in range(2):
        reply = await client.post(f"{url}{CHAT}", json=chat("the same question"))
        assert reply.json()["choices"][0]["message"]["content"] == "from the backup"
    metrics = await scrape(client, url, {})
    # the first request finds the primary model broken; the second passes over it (it failed within
    # settings.cooldown) and finds the backup's answer in the cache: two fallbacks, two model calls
    assert metrics.series("llmnet_fallbacks_total") == {(("model", "primary"), ("node", "answer")): 2}
    assert metrics.value("llmnet_cache_hits_total", node="answer") == 1
    assert metrics.value("llmnet_model_call_duration_seconds_count", node="answer") == 2
