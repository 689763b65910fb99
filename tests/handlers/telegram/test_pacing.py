"""The pacer spaces message sends on an absolute schedule and never bursts after a pause."""

from __future__ import annotations

import asyncio

from handlers.telegram.pacing import PacedRateLimiter


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
        *(pacer.process_request(send, (), {}, "sendMessage", {}, None) for _ in range(2))
    )
    assert times[1] - times[0] >= 0.045, "after a pause the next two are still spaced"


async def test_calls_that_post_no_message_are_not_paced() -> None:
    pacer = PacedRateLimiter(per_second=1)
    loop = asyncio.get_running_loop()
    start = loop.time()

    async def answer() -> bool:
        return True

    for _ in range(3):
        await pacer.process_request(answer, (), {}, "answerCallbackQuery", {}, None)
    assert loop.time() - start < 0.9, "a 1/s pace would take at least 2 s"
