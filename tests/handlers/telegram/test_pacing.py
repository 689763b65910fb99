"""The pacer spaces message sends on an absolute schedule, never bursts after a pause, and
never lets a message leave within a window of the answer to the one `limit` before it."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import warnings

import pytest
from telegram.error import RetryAfter

from handlers.telegram.pacing import CATCH_UP_SPACING, PacedRateLimiter, retry_after_seconds


async def test_sends_are_spaced_by_the_interval_and_a_pause_is_not_made_up() -> None:
    pacer = PacedRateLimiter(per_second=20)
    loop = asyncio.get_running_loop()
    times: list[float] = []

    async def send() -> bool:
        times.append(loop.time())
        return True

    start = loop.time()
    await asyncio.gather(
        *(pacer.process_request(send, (), {}, "sendMessage", {}, None) for _ in range(5))
    )
    # The k-th message never leaves before its slot, start + k intervals.
    assert all(at >= start + k * 0.05 - 1e-3 for k, at in enumerate(times)), times

    await asyncio.sleep(0.3)
    times.clear()
    await asyncio.gather(
        *(pacer.process_request(send, (), {}, "sendMessage", {}, None) for _ in range(3))
    )
    spacing = 0.05 * CATCH_UP_SPACING - 1e-3
    assert all(b - a >= spacing for a, b in itertools.pairwise(times)), "no burst after a pause"


async def test_no_message_leaves_within_a_window_of_the_answer_limit_places_before() -> None:
    # A fast schedule, so only the window holds messages back; answers take 30 ms, and
    # some come late, as a request delayed on its way would.
    pacer = PacedRateLimiter(per_second=1000, window_limit=5, window_seconds=0.2, margin=0)
    loop = asyncio.get_running_loop()
    started: list[float] = []
    answered: list[float] = []

    async def send(n: int) -> bool:
        started.append(loop.time())
        await asyncio.sleep(0.1 if n % 7 == 0 else 0.03)
        answered.append(loop.time())
        return True

    async def one(n: int) -> None:
        await pacer.process_request(send, (n,), {}, "sendMessage", {}, None)

    await asyncio.gather(*(one(n) for n in range(20)))

    order = sorted(answered)
    for k in range(5, 20):
        # Of the answers in before this start, fewer than 5 may be within 0.2 s of it.
        recent = [at for at in order if at <= started[k] and started[k] - at < 0.2]
        in_flight = sum(1 for s in started[:k] if s <= started[k]) - sum(
            1 for at in order if at <= started[k]
        )
        assert len(recent) + in_flight < 5, (k, recent, in_flight)


async def test_a_429_is_waited_out_and_resent_and_counts_when_it_came() -> None:
    pacer = PacedRateLimiter(per_second=1000, window_limit=2, window_seconds=0.2, margin=0)
    calls: list[float] = []
    loop = asyncio.get_running_loop()

    async def send() -> bool:
        calls.append(loop.time())
        if len(calls) == 1:
            raise RetryAfter(dt.timedelta(0))  # nothing to wait: only the 0.1 s pad
        return True

    assert await pacer.process_request(send, (), {}, "sendMessage", {}, None) is True
    assert len(calls) == 2
    assert calls[1] - calls[0] >= 0.1


async def test_calls_that_post_no_message_are_not_paced() -> None:
    pacer = PacedRateLimiter(per_second=1)
    loop = asyncio.get_running_loop()
    start = loop.time()

    async def answer() -> bool:
        return True

    for _ in range(3):
        await pacer.process_request(answer, (), {}, "answerCallbackQuery", {}, None)
    assert loop.time() - start < 0.9, "a 1/s pace would take at least 2 s"


@pytest.mark.parametrize("opt_in", ["", "1"])
@pytest.mark.parametrize("given", [3, dt.timedelta(seconds=3)])
def test_retry_after_is_read_in_seconds_whichever_type_ptb_gives_and_without_a_warning(
    monkeypatch: pytest.MonkeyPatch, opt_in: str, given: int | dt.timedelta
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", opt_in)  # "": int seconds (PTB 22's default)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PTB's constructor itself warns without the opt-in
        error = RetryAfter(given)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert retry_after_seconds(error) == 3.0
