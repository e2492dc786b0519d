"""The memory budget (issue 14, point 5): counted as bytes arrive, first come first served, and never a
standstill: when every holder waits for more, the oldest goes past the limit alone."""

from __future__ import annotations

import asyncio

import pytest

from aisetl._exceptions import ProtocolError
from aisetl.server.budget import MemoryBudget


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_takers_wait_in_order_while_the_budget_is_full_and_go_as_room_comes():
    async def main() -> list[str]:
        budget = MemoryBudget(10, 1000)
        order: list[str] = []
        a = budget.lease()
        await a.take(8)

        async def take(name: str, size: int) -> None:
            lease = budget.lease()
            await lease.take(size)
            order.append(name)
            lease.release()

        waiting = [asyncio.ensure_future(take("b", 5)), asyncio.ensure_future(take("c", 1))]
        await settle()
        assert order == []  # c fits, but does not jump the queue
        a.release()
        await asyncio.gather(*waiting)
        assert budget.used == 0
        return order

    assert asyncio.run(main()) == ["b", "c"]


def test_when_every_holder_waits_the_oldest_goes_past_the_limit_alone():
    async def main() -> None:
        budget = MemoryBudget(10, 1000)
        first, second = budget.lease(), budget.lease()
        await first.take(5)
        await second.take(5)
        blocked_second = asyncio.ensure_future(second.take(5))
        await settle()
        assert not blocked_second.done()  # `first` may still release: no standstill yet
        await first.take(50)  # every holder would now wait: the oldest (first) goes on, past the limit
        assert budget.used == 60 and not blocked_second.done()
        first.release()
        await blocked_second
        assert budget.used == 10
        second.release()
        assert budget.used == 0

    asyncio.run(main())


def test_an_object_larger_than_the_budget_goes_through_alone():
    async def main() -> None:
        budget = MemoryBudget(10, 1000)
        lease = budget.lease()
        await lease.take(500)
        assert budget.used == 500
        lease.release()

    asyncio.run(main())


def test_declared_but_unsent_bytes_cost_nothing():
    async def main() -> None:
        budget = MemoryBudget(10, 1000)
        budget.lease()  # a request that declared 1 TiB and sent nothing holds no lease bytes
        other = budget.lease()
        await asyncio.wait_for(other.take(10), 5)

    asyncio.run(main())


def test_one_object_may_not_grow_past_max_object():
    async def main() -> None:
        budget = MemoryBudget(10, 100)
        lease = budget.lease()
        await lease.take(60)
        with pytest.raises(ProtocolError) as info:
            await lease.take(60)
        assert info.value.status_code == 413 and "AISETL_MAX_OBJECT_SIZE" in str(info.value)
        lease.release()
        assert budget.used == 0

    asyncio.run(main())


def test_a_cancelled_waiter_gives_nothing_away_and_lets_the_next_one_in():
    async def main() -> None:
        budget = MemoryBudget(10, 1000)
        holder = budget.lease()
        await holder.take(10)
        cancelled = asyncio.ensure_future(budget.lease().take(5))
        later_lease = budget.lease()
        later = asyncio.ensure_future(later_lease.take(5))
        await settle()
        cancelled.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        holder.release()
        await later
        assert budget.used == 5
        later_lease.release()
        assert budget.used == 0

    asyncio.run(main())
