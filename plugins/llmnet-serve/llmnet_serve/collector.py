"""The garbage collector set for a server: what startup built is frozen out of collections, and the
youngest generation is collected every 10,000 net allocations instead of every 700.

Why: each request in flight keeps a few hundred young objects alive (coroutines, futures, dicts), so at
CPython's defaults nearly every young object survives a collection and is traversed again in the older
generations, and the older ones hold the whole loaded composition. Measured on the serve benchmark's
app (64 requests in flight): ~42 µs of collector time per request at the defaults, ~7.5 µs with this
setting (benchmarks/serve.py shows the effect on requests/s). Cyclic garbage is still collected; it is
rarer and collected in bigger batches.
"""

from __future__ import annotations

import gc
from collections.abc import Callable

#: net allocations between two collections of the youngest generation (CPython's default: 700)
YOUNG_THRESHOLD = 10_000


def settle_collector() -> Callable[[], None]:
    """Collect once, freeze what survives (startup's objects) and raise the young threshold; returns a
    function that puts the previous settings back (the server stopped)."""
    previous = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *previous[1:])

    def restore() -> None:
        gc.set_threshold(*previous)
        gc.unfreeze()

    return restore
