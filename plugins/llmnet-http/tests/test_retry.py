"""The retry loop: jittered exponential waits, a server's Retry-After, the retry count and the deadline.

Time is fake: `retry` is given a clock and a sleep that only move when a test says so, so nothing here
waits or depends on how fast the machine is.
"""

from __future__ import annotations

import asyncio
import time
from email.utils import formatdate

import pytest
from llmnet_http import Backoff, Retryable, RetryPolicy, retry, retry_after_seconds


class GaveUp(Exception):
    """What the tests' failures become when no try is left."""

    def __init__(self, attempts: int) -> None:
        super().__init__(f"gave up after {attempts}")
        self.attempts = attempts


class FakeTime:
    """A clock that moves only when `retry` sleeps on it or an attempt says it took time."""

    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)  # let concurrent sequences run in between


def failing(fake: FakeTime, *, retry_after: str | None = None, takes: float = 0.0, succeed_at: int = 0):
    """An attempt that fails (Retryable) until attempt number `succeed_at`, each taking `takes` seconds;
    it records when each attempt began."""
    started: list[float] = []

    async def attempt() -> str:
        started.append(fake.now)
        fake.now += takes
        if len(started) == succeed_at:
            return "ok"
        raise Retryable(GaveUp, retry_after)

    attempt.started = started  # type: ignore[attr-defined]
    return attempt


async def run(policy: RetryPolicy, fake: FakeTime, attempt) -> str:
    return await retry(attempt, policy, sleep=fake.sleep, clock=fake.clock)


# -- waits -------------------------------------------------------------------------------------------


def test_computed_waits_are_jittered_within_their_exponential_ceiling() -> None:
    backoff = Backoff(base=0.5, max_wait=3)
    assert [backoff.ceiling(n) for n in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    for attempt in (1, 2, 3, 4, 5):
        waits = [backoff.delay(attempt) for _ in range(200)]
        assert all(0 <= wait <= backoff.ceiling(attempt) for wait in waits)
        assert len(set(waits)) > 100  # drawn, not fixed


async def test_concurrent_retry_sequences_do_not_wait_in_lockstep() -> None:
    policy = RetryPolicy(retries=4, backoff=Backoff(base=1.0, max_wait=30))
    first, second = FakeTime(), FakeTime()
    results = await asyncio.gather(
        run(policy, first, failing(first)), run(policy, second, failing(second)), return_exceptions=True
    )
    assert [type(r) for r in results] == [GaveUp, GaveUp]
    assert len(first.waits) == len(second.waits) == 4
    assert first.waits != second.waits
    for waits in (first.waits, second.waits):
        assert all(0 <= wait <= policy.backoff.ceiling(n) for n, wait in enumerate(waits, 1))


async def test_retry_after_wins_over_the_computed_wait_up_to_max_wait() -> None:
    policy = RetryPolicy(retries=1, backoff=Backoff(base=0.5, max_wait=10))
    for header, expected in [("7", 7.0), ("120", 10.0), ("-5", 0.0), ("0.25", 0.25)]:
        fake = FakeTime()
        assert await run(policy, fake, failing(fake, retry_after=header, succeed_at=2)) == "ok"
        assert fake.waits == [expected]
    fake = FakeTime()  # unreadable: the computed wait
    await run(policy, fake, failing(fake, retry_after="soon", succeed_at=2))
    assert 0 <= fake.waits[0] <= 0.5


def test_backoff_wait_reads_retry_after_dates() -> None:
    backoff = Backoff(base=0.5, max_wait=10)
    assert backoff.wait(1, "Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past
    assert 3 <= backoff.wait(1, formatdate(time.time() + 5, usegmt=True)) <= 5
    assert backoff.wait(1, formatdate(time.time() + 500, usegmt=True)) == 10.0


def test_retry_after_parsing() -> None:
    now = time.time()
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds("") is None and retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None and retry_after_seconds("nan") is None
    assert 9 <= retry_after_seconds(formatdate(now + 10, usegmt=True), now=now) <= 10  # type: ignore[operator]
    assert retry_after_seconds(formatdate(now - 100, usegmt=True), now=now) == 0.0


# -- how many attempts --------------------------------------------------------------------------------


async def test_retries_after_the_first_attempt_then_give_up_with_the_count() -> None:
    for retries in (0, 1, 3):
        fake = FakeTime()
        attempt = failing(fake)
        with pytest.raises(GaveUp) as info:
            await run(RetryPolicy(retries=retries, backoff=Backoff(0.01)), fake, attempt)
        assert info.value.attempts == retries + 1 == len(attempt.started)
        assert len(fake.waits) == retries


async def test_success_comes_back_at_once_and_other_errors_are_not_retried() -> None:
    fake = FakeTime()
    assert await run(RetryPolicy(), fake, failing(fake, succeed_at=1)) == "ok"
    assert fake.waits == []

    async def broken() -> str:
        raise ValueError("not worth another try")

    with pytest.raises(ValueError, match="not worth another try"):
        await run(RetryPolicy(), fake, broken)
    assert fake.waits == []


# -- the deadline ------------------------------------------------------------------------------------


async def test_no_wait_starts_that_would_end_past_the_deadline() -> None:
    # each attempt takes 1 s and the server asks for 1 s: attempts begin at 0, 2 and 4; a fourth
    # would begin at 6, past the deadline of 5, so the loop gives up after three
    policy = RetryPolicy(retries=10, backoff=Backoff(base=0.5, max_wait=30), deadline=5)
    fake = FakeTime()
    attempt = failing(fake, retry_after="1", takes=1.0)
    with pytest.raises(GaveUp) as info:
        await run(policy, fake, attempt)
    assert attempt.started == [0.0, 2.0, 4.0]
    assert info.value.attempts == 3 and fake.waits == [1.0, 1.0]
    assert fake.now == 5.0


async def test_the_deadline_caps_jittered_waits_too() -> None:
    policy = RetryPolicy(retries=1000, backoff=Backoff(base=1.0, max_wait=2), deadline=20)
    fake = FakeTime()
    attempt = failing(fake)
    with pytest.raises(GaveUp) as info:
        await run(policy, fake, attempt)
    assert info.value.attempts == len(attempt.started) < 1001  # the deadline, not the count, stopped it
    assert all(began <= policy.deadline for began in attempt.started)
    assert fake.now >= policy.deadline - policy.backoff.max_wait  # it did not stop early


async def test_a_long_retry_after_past_the_deadline_gives_up_at_once() -> None:
    policy = RetryPolicy(retries=3, backoff=Backoff(max_wait=30), deadline=10)
    fake = FakeTime()
    with pytest.raises(GaveUp) as info:
        await run(policy, fake, failing(fake, retry_after="20"))
    assert info.value.attempts == 1 and fake.waits == []
