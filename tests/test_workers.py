"""WorkerPool and ByteBudget on a real event loop and real threads."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from aisetl.server.workers import WorkerPool


def test_a_blocking_call_does_not_hold_back_the_next_one():
    async def main() -> list[str]:
        pool = WorkerPool(8, "test")
        release = threading.Event()
        done: list[str] = []

        def blocking() -> str:
            release.wait(5)
            done.append("slow")
            return "slow"

        def quick() -> str:
            done.append("quick")
            return "quick"

        slow = pool.run(blocking)
        assert await pool.run(quick) == "quick"  # answered while the first call still blocks
        release.set()
        assert await slow == "slow"
        pool.shutdown()
        return done

    assert asyncio.run(main()) == ["quick", "slow"]


def test_errors_come_back_to_the_awaiting_task():
    async def main() -> None:
        pool = WorkerPool(2, "test")

        def fail() -> None:
            raise KeyError("missing")

        with pytest.raises(KeyError, match="missing"):
            await pool.run(fail)
        pool.shutdown()

    asyncio.run(main())


def test_threads_start_on_demand_up_to_the_limit():
    async def main() -> int:
        pool = WorkerPool(3, "test")
        gate = threading.Event()
        futures = [pool.run(gate.wait, 5) for _ in range(6)]
        await asyncio.sleep(0.1)
        started = len(pool._threads)
        gate.set()
        await asyncio.gather(*futures)
        pool.shutdown()
        return started

    assert asyncio.run(main()) == 3


def test_pool_shutdown_ends_its_threads():
    async def main() -> list[threading.Thread]:
        pool = WorkerPool(4, "test")
        await asyncio.gather(*(pool.run(time.sleep, 0.01) for _ in range(4)))
        threads = list(pool._threads)
        pool.shutdown()
        return threads

    for t in asyncio.run(main()):
        t.join(2)
        assert not t.is_alive()
