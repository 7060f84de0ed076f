"""The lean metric store behind /metrics, in-process: bucket edges, the exposition prometheus_client reads
back, and how the figures of several workers add up."""

from __future__ import annotations

import math

from llmnet_serve.instruments import COUNTER, HISTOGRAM, Collector, Family, SharedFolder, merge, snapshot
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families


def exposed(families: list[Family]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Collector(lambda: families))
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_a_value_on_a_bucket_edge_counts_in_that_bucket():
    seconds = Family("t_seconds", "time", HISTOGRAM, ("node",), (0.1, 1.0, math.inf))
    for value in (0.1, 0.5, 1.0, 7.0):
        seconds.get("a").observe(value)
    samples = exposed([seconds])
    assert samples[("t_seconds_bucket", (("le", "0.1"), ("node", "a")))] == 1
    assert samples[("t_seconds_bucket", (("le", "1.0"), ("node", "a")))] == 3
    assert samples[("t_seconds_bucket", (("le", "+Inf"), ("node", "a")))] == 4
    assert samples[("t_seconds_count", (("node", "a"),))] == 4
    assert samples[("t_seconds_sum", (("node", "a"),))] == 8.6


def test_workers_figures_add_up(tmp_path):
    def worker(requests: int, seconds: list[float]) -> list[Family]:
        counted = Family("r", "requests", COUNTER, ("status",))
        counted.get("200").inc(requests)
        timed = Family("d_seconds", "time", HISTOGRAM, ("route",), (1.0, math.inf))
        for value in seconds:
            timed.get("a>b").observe(value)
        return [counted, timed]

    mine = worker(2, [0.5])
    other = SharedFolder(tmp_path)
    other.own = tmp_path / "worker-1.json"
    other.write(snapshot(worker(3, [0.2, 4.0])))
    (tmp_path / "worker-2.json").write_text("{half writ", encoding="utf-8")  # skipped
    here = SharedFolder(tmp_path)
    total = exposed(merge(mine, here.others()))
    assert total[("r_total", (("status", "200"),))] == 5
    assert total[("d_seconds_bucket", (("le", "1.0"), ("route", "a>b")))] == 2
    assert total[("d_seconds_count", (("route", "a>b"),))] == 3
    assert exposed(mine)[("r_total", (("status", "200"),))] == 2  # merging copies; the live figures stay


def test_routes_past_the_bound_count_as_other_and_are_not_kept():
    from types import SimpleNamespace

    from llmnet_serve.metrics import MAX_ROUTES, OTHER, ServeMetrics

    metrics = ServeMetrics(["loop"])

    def route(n: int) -> list[SimpleNamespace]:  # the hops of a run that went round a loop n times
        return [SimpleNamespace(node="loop")] * n

    for n in range(1, MAX_ROUTES + 50):
        metrics.route_child(route(n)).observe(0.01)
    assert len(metrics._routes) == MAX_ROUTES
    labels = {key[0] if isinstance(key, tuple) else key for key in metrics.request_seconds.children}
    assert OTHER in labels and len(labels) == MAX_ROUTES + 1
    assert metrics.route_child(route(1)) is metrics.route_child(route(1))  # a kept route's own series
    assert metrics.request_seconds.get(OTHER).sum > 0
