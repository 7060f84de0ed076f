"""What `llmnet tune` learns for one node that routes with the semantic strategy: each handler's examples,
chosen from the labelled requests, and (with a fallback) the min-score below which the router abstains;
and how well the node routes before and after, by k-fold cross-validation.

Every decision is the installed strategy's own (`Router.choose` with the candidates and options a
variant would have), on embeddings computed once through `llmnet_core.node_embedder`.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .dataset import Item
from .selection import centred, cover, fit_threshold, mean, normalised, stratified_folds

#: labelled requests considered per handler when choosing examples (a random sample beyond)
POOL = 500


@dataclass(frozen=True)
class Sample:
    """A labelled request as one routing node sees it: its text and the candidates that are right."""

    item: Item
    right: tuple[str, ...]

    @property
    def handler(self) -> str | None:
        """The one right candidate, None when several are (such requests teach no examples)."""
        return self.right[0] if len(self.right) == 1 else None


@dataclass
class Setting:
    """What the node's router is given: each candidate (with its examples) and its router-options."""

    candidates: tuple[Any, ...]
    options: dict[str, Any]


@dataclass
class Score:
    """How one setting routed some samples: right per handler (by first right candidate) and in all."""

    right: int = 0
    total: int = 0
    per_handler: Counter[str] = field(default_factory=Counter)
    labelled: Counter[str] = field(default_factory=Counter)

    def add(self, other: Score) -> None:
        self.right += other.right
        self.total += other.total
        self.per_handler.update(other.per_handler)
        self.labelled.update(other.labelled)

    @property
    def accuracy(self) -> float | None:
        return self.right / self.total if self.total else None


class Embeddings:
    """The node's embedder with a memory: each text is embedded once. Texts of users' requests are never
    offered to a backend's disk cache (`persist`), even when the router asks for it."""

    def __init__(self, embed: Callable[..., Any], private: set[str]) -> None:
        self._embed = embed
        self._private = private
        self._known: dict[tuple[str | None, str], list[float]] = {}

    async def __call__(
        self, texts: Sequence[str], model: str | None = None, *, persist: bool = False
    ) -> list[list[float]]:
        missing = [t for t in dict.fromkeys(texts) if (model, t) not in self._known]
        own = [t for t in missing if t in self._private]
        config = [t for t in missing if t not in self._private]
        for group, keep in ((own, False), (config, persist)):
            if group:
                vectors = await self._embed(group, model, persist=keep)
                self._known.update(((model, t), v) for t, v in zip(group, vectors, strict=True))
        return [self._known[(model, t)] for t in texts]


class NodeTuner:
    """Learns and measures one routing node's setting on its samples."""

    def __init__(
        self,
        node: str,
        router: Any,
        base: Setting,
        samples: Sequence[Sample],
        embeddings: Embeddings,
        is_secret: Callable[[str], bool] = lambda text: False,
    ) -> None:
        self.node = node
        self.router = router
        self.base = base
        self.samples = list(samples)
        self.embeddings = embeddings
        self.is_secret = is_secret
        self.model: str | None = base.options.get("embedding-model", base.options.get("embedding_model"))
        self.template: str = base.options.get("template", "{text}")

    # -- routing ---------------------------------------------------------------------------------------

    async def decide(self, setting: Setting, sample: Sample) -> Any:
        """The router's decision for one sample under `setting`."""
        from llmnet_core import Message, RouteRequest

        request = RouteRequest(
            text=sample.item.text,
            candidates=setting.candidates,
            node=self.node,
            variables={},
            options=setting.options,
            embed=self.embeddings,
            history=tuple(Message(m["role"], m["content"]) for m in sample.item.before),
        )
        return await self.router.choose(request)

    async def score(self, setting: Setting, samples: Sequence[Sample]) -> Score:
        result = Score()
        for sample in samples:
            decision = await self.decide(setting, sample)
            ok = decision.target in sample.right
            result.right += ok
            result.total += 1
            result.per_handler[sample.right[0]] += ok
            result.labelled[sample.right[0]] += 1
        return result

    # -- learning --------------------------------------------------------------------------------------

    async def vectors(self, texts: Sequence[str]) -> list[list[float]]:
        """Normalised embeddings of texts as the router presents them (its template)."""
        shown = [self.template.format(text=t) for t in texts]
        return [normalised(v) for v in await self.embeddings(shown, self.model)]

    def pools(self, train: Sequence[Sample]) -> dict[str, list[str]]:
        """Per handler, the texts its examples may be chosen from: its training requests that stand on
        their own (a conversation's last message often does not: "and in Go?"), or its conversations'
        last messages when it has nothing else; never a text holding a secret."""
        single: dict[str, list[str]] = {}
        last: dict[str, list[str]] = {}
        for sample in train:
            text = sample.item.text
            if sample.handler and not self.is_secret(text):
                group = last if sample.item.messages else single
                group.setdefault(sample.handler, [])
                if text not in group[sample.handler]:
                    group[sample.handler].append(text)
        return {handler: single.get(handler) or texts for handler, texts in {**last, **single}.items()}

    async def choose_examples(self, train: Sequence[Sample], k: int, seed: int) -> dict[str, list[str]]:
        """Up to `k` texts per handler that best cover its training requests (see selection.cover)."""
        pools = self.pools(train)
        rng = random.Random(seed)
        pools = {h: rng.sample(p, POOL) if len(p) > POOL else p for h, p in pools.items()}
        use_cases = {c.name: c.use_case for c in self.base.candidates if c.use_case and c.name in pools}
        every = await self.vectors([*use_cases.values(), *(t for p in pools.values() for t in p)])
        centre = mean(every)
        chosen = {}
        for handler, pool in pools.items():
            vectors = centred(await self.vectors(pool), centre)
            seeds = centred(await self.vectors([use_cases[handler]]), centre) if handler in use_cases else []
            chosen[handler] = [pool[i] for i in cover(vectors, k, seeds)]
        return chosen

    def with_examples(self, examples: Mapping[str, list[str]], options: dict[str, Any]) -> Setting:
        candidates = tuple(
            replace(c, examples=tuple(examples[c.name])) if examples.get(c.name) else c
            for c in self.base.candidates
        )
        return Setting(candidates, options)

    async def fit(self, setting: Setting, samples: Sequence[Sample], fallback: str) -> dict[str, Any]:
        """The options with `min-score` fitted on `samples` (null when abstaining never helps)."""
        plain = option_changes(setting.options, {"min-score": None})
        best, kept, fell = [], [], []
        for sample in samples:
            decision = await self.decide(Setting(setting.candidates, plain), sample)
            best.append(max(decision.scores.values()) if decision.scores else 0.0)
            kept.append(decision.target in sample.right)
            fell.append(fallback in sample.right)
        threshold = fit_threshold(best, kept, fell) if samples else None
        if threshold is None:
            return plain if _has(setting.options, "min-score") else dict(setting.options)
        return option_changes(setting.options, {"fallback": fallback, "min-score": threshold})

    async def learn(
        self, train: Sequence[Sample], k: int, fallback: str | None, seed: int
    ) -> tuple[Setting, dict[str, list[str]]]:
        """The setting learned from `train`, and the examples chosen. The threshold is fitted on the
        training requests that were not chosen as examples (an example always matches itself)."""
        examples = await self.choose_examples(train, k, seed)
        setting = self.with_examples(examples, dict(self.base.options))
        if fallback is None:
            return setting, examples
        chosen = {t for texts in examples.values() for t in texts}
        rest = [s for s in train if s.item.text not in chosen]
        return Setting(setting.candidates, await self.fit(setting, rest, fallback)), examples

    async def cross_validate(self, k: int, fallback: str | None, folds: int, seed: int) -> Score:
        """Accuracy of what `learn` gives, each fold scored by a setting learned from the other folds."""
        classes = [s.right[0] for s in self.samples]
        assignment = stratified_folds(classes, min(folds, len(self.samples)), seed)
        total = Score()
        for fold in sorted(set(assignment)):
            train = [s for s, f in zip(self.samples, assignment, strict=True) if f != fold]
            test = [s for s, f in zip(self.samples, assignment, strict=True) if f == fold]
            setting, _ = await self.learn(train, k, fallback, seed)
            total.add(await self.score(setting, test))
        return total


def _has(options: Mapping[str, Any], key: str) -> bool:
    return key in options or key.replace("-", "_") in options


def option_changes(options: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """`options` with `changes` applied, each under the spelling the options already use for it
    (`min_score` stays `min_score`)."""
    out = dict(options)
    for key, value in changes.items():
        snake = key.replace("-", "_")
        out[snake if snake in out and key not in out else key] = value
    return out
