"""Lean counters, gauges and histograms for the server's metrics, exposed through prometheus_client.

prometheus_client's own metrics take a lock for every update (a histogram two), which costs more than
the rest of the metrics work of a request together. These are updated only from the server's event
loop, so a child is a plain object: an increment is one addition, an observation a bisect and two
additions. prometheus_client renders them (`Collector`), in the text format or OpenMetrics.

With several worker processes each keeps its own figures and writes them, about once a second, to a
file in a folder all workers share; the worker that answers a scrape adds the others' files to its own
figures (`snapshot`, `merge`).
"""

from __future__ import annotations

import json
import math
import os
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

COUNTER, GAUGE, HISTOGRAM = "counter", "gauge", "histogram"


class Value:
    """One counter or gauge series."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount

    def dec(self, amount: float = 1.0) -> None:
        self.value -= amount


class Distribution:
    """One histogram series: a count per bucket (not cumulative) and the sum of what was observed."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = bounds
        self.counts = [0] * len(bounds)
        self.sum = 0.0

    def observe(self, amount: float) -> None:
        self.counts[bisect_left(self.bounds, amount)] += 1  # the first bucket whose bound is >= amount
        self.sum += amount


class Family:
    """A metric: name, help text, type, label names, and its series by label values (created on first
    use and kept). `get(key)` takes the label value, or a tuple of them for several labels."""

    __slots__ = ("bounds", "children", "doc", "kind", "labels", "name")

    def __init__(
        self,
        name: str,
        doc: str,
        kind: str,
        labels: Sequence[str] = (),
        bounds: Sequence[float] = (),
        known: Iterable[Any] = (),
    ) -> None:
        if kind == HISTOGRAM and (not bounds or bounds[-1] != math.inf):
            raise ValueError(f"{name}: histogram bounds must end with +Inf")
        self.name, self.doc, self.kind, self.labels, self.bounds = (
            name,
            doc,
            kind,
            tuple(labels),
            tuple(bounds),
        )
        self.children: dict[Any, Any] = {}
        for key in known:
            self.get(key)

    def get(self, key: Any = ()) -> Any:
        child = self.children.get(key)
        if child is None:
            child = self.children[key] = Distribution(self.bounds) if self.kind == HISTOGRAM else Value()
        return child

    def series(self) -> Iterator[tuple[tuple[str, ...], Any]]:
        """(label values, child) for every series."""
        for key, child in self.children.items():
            yield (key if isinstance(key, tuple) else (key,)), child


def snapshot(families: Iterable[Family]) -> dict[str, list[list[Any]]]:
    """The figures of `families` as JSON-ready data: per metric, [label values, value] or
    [label values, bucket counts, sum]."""
    out: dict[str, list[list[Any]]] = {}
    for family in families:
        rows: list[list[Any]] = []
        for labels, child in family.series():
            if family.kind == HISTOGRAM:
                rows.append([list(labels), list(child.counts), child.sum])
            else:
                rows.append([list(labels), child.value])
        out[family.name] = rows
    return out


def merge(families: Iterable[Family], others: Iterable[dict[str, list[list[Any]]]]) -> list[Family]:
    """Copies of `families` with the figures of `others` (snapshots of other processes) added."""
    merged = []
    for family in families:
        total = Family(family.name, family.doc, family.kind, family.labels, family.bounds)
        for labels, child in family.series():
            _add(
                total,
                labels,
                child.counts if family.kind == HISTOGRAM else child.value,
                getattr(child, "sum", 0),
            )
        for other in others:
            for row in other.get(family.name, ()):
                _add(total, tuple(row[0]), row[1], row[2] if len(row) > 2 else 0.0)
        merged.append(total)
    return merged


def _add(family: Family, labels: tuple[str, ...], value: Any, total: float) -> None:
    child = family.get(labels if len(labels) != 1 else labels[0])
    if family.kind == HISTOGRAM:
        if len(value) != len(child.counts):
            return  # written with other buckets (another version): left out
        for i, count in enumerate(value):
            child.counts[i] += count
        child.sum += total
    else:
        child.value += value


class Collector:
    """Renders families for prometheus_client (`registry.register(Collector(get_families))`)."""

    def __init__(self, families: Any) -> None:
        self._families = families

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        for family in self._families():
            if family.kind == COUNTER:
                metric: Any = CounterMetricFamily(family.name, family.doc, labels=family.labels)
                for labels, child in family.series():
                    metric.add_metric(labels, child.value)
            elif family.kind == GAUGE:
                metric = GaugeMetricFamily(family.name, family.doc, labels=family.labels)
                for labels, child in family.series():
                    metric.add_metric(labels, child.value)
            else:
                metric = HistogramMetricFamily(family.name, family.doc, labels=family.labels)
                for labels, child in family.series():
                    metric.add_metric(labels, _cumulative(family.bounds, child.counts), child.sum)
            yield metric


def _cumulative(bounds: Sequence[float], counts: Sequence[int]) -> list[tuple[str, float]]:
    running = 0
    out = []
    for bound, count in zip(bounds, counts, strict=True):
        running += count
        out.append(("+Inf" if bound == math.inf else repr(float(bound)), running))
    return out


class SharedFolder:
    """The folder where worker processes leave their figures: `write` this process's, `others` read
    the rest (a file that cannot be read, half written or gone, is skipped)."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.own = self.folder / f"worker-{os.getpid()}.json"

    def write(self, data: dict[str, Any]) -> None:
        partial = self.own.with_suffix(".tmp")
        partial.write_text(json.dumps(data), encoding="utf-8")
        os.replace(partial, self.own)

    def others(self) -> list[dict[str, Any]]:
        found = []
        for path in sorted(self.folder.glob("worker-*.json")):
            if path == self.own:
                continue
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(data, dict):
                found.append(data)
        return found
