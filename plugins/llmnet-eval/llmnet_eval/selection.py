"""The arithmetic of `llmnet tune`, on plain lists: vectors, the greedy choice of examples that cover a
handler's requests, the threshold below which a router should abstain, and stratified folds."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Sequence

Vector = list[float]


def normalised(vector: Sequence[float]) -> Vector:
    """The vector scaled to length 1 (a zero vector stays zero)."""
    length = math.sqrt(math.fsum(x * x for x in vector)) or 1.0
    return [x / length for x in vector]


def mean(vectors: Sequence[Sequence[float]]) -> Vector:
    return [math.fsum(column) / len(vectors) for column in zip(*vectors, strict=True)]


def similarity(a: Sequence[float], b: Sequence[float]) -> float:
    """The dot product: the cosine of the angle between two normalised vectors."""
    return math.fsum(x * y for x, y in zip(a, b, strict=True))


def centred(vectors: Sequence[Sequence[float]], centre: Sequence[float]) -> list[Vector]:
    """Each vector minus `centre`, normalised: what similarity routing compares, since the embeddings of
    small models share a large common direction."""
    return [normalised([x - c for x, c in zip(v, centre, strict=True)]) for v in vectors]


def cover(vectors: Sequence[Vector], k: int, seeds: Sequence[Vector] = ()) -> list[int]:
    """Indices of up to `k` of `vectors` that together best represent all of them.

    Greedy facility location: each step adds the vector that most raises the sum, over all vectors, of
    the similarity to the closest vector chosen so far (or to a seed, such as the handler's use-case,
    which is always there). The first choice is the medoid when there is no seed.
    """
    n = len(vectors)
    sims = [[similarity(a, b) for b in vectors] for a in vectors]
    closest = [max((similarity(v, s) for s in seeds), default=-1.0) for v in vectors]
    chosen: list[int] = []
    for _ in range(min(k, n)):
        best, gain = -1, 0.0
        for c in range(n):
            if c in chosen:
                continue
            g = math.fsum(max(0.0, sims[c][x] - closest[x]) for x in range(n))
            if best < 0 or g > gain:
                best, gain = c, g
        if gain <= 1e-9 and chosen:
            break
        chosen.append(best)
        closest = [max(closest[x], sims[best][x]) for x in range(n)]
    return chosen


def fit_threshold(
    best: Sequence[float], kept_right: Sequence[bool], fallback_right: Sequence[bool]
) -> float | None:
    """The min-score that routes the most requests right, None when abstaining never helps.

    For request i, `best[i]` is its best score, `kept_right[i]` whether the router's choice is right and
    `fallback_right[i]` whether the fallback is. Requests scoring below the threshold go to the fallback.
    Candidate thresholds lie halfway between neighbouring scores; a tie keeps the lower threshold.
    """
    order = sorted(range(len(best)), key=lambda i: best[i])
    right = top = sum(kept_right)
    threshold: float | None = None
    for j, i in enumerate(order, 1):
        right += int(fallback_right[i]) - int(kept_right[i])
        following = best[order[j]] if j < len(order) else None
        if following is not None and following == best[i]:
            continue  # a threshold cannot separate equal scores
        if right > top:
            top = right
            cut = (best[i] + following) / 2 if following is not None else best[i] + 0.01
            threshold = round(cut, 5)
    return threshold


def stratified_folds(classes: Sequence[str], folds: int, seed: int) -> list[int]:
    """A fold number (0..folds-1) for each item, every class spread evenly over the folds."""
    rng = random.Random(seed)
    members: dict[str, list[int]] = defaultdict(list)
    for index, name in enumerate(classes):
        members[name].append(index)
    assignment = [0] * len(classes)
    position = 0
    for name in sorted(members):
        indices = members[name]
        rng.shuffle(indices)
        for index in indices:
            assignment[index] = position % folds
            position += 1
    return assignment
