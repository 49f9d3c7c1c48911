"""The presence store on both backends: online by live sockets with expiry, call transitions exactly once."""

import asyncio
import time

import pytest

from calls.infra.redis import redis_client_create
from calls.services.presence import (
    ANSWERED,
    ENDED,
    RINGING,
    CallRecord,
    RedisPresenceStore,
    TooManyPresenceSockets,
)
from calls.services.presence_memory import MemoryPresenceStore


@pytest.fixture
async def stores(signaling):
    """Two stores as two server processes would have them (one shared store in memory)."""
    if signaling["BACKEND"] == "memory":
        store = MemoryPresenceStore()
        yield store, store
        return
    made = [
        RedisPresenceStore(client=redis_client_create(signaling["REDIS_URL"]), prefix=signaling["KEY_PREFIX"])
        for _ in range(2)
    ]
    yield made
    for store in made:
        await store.close()


def record(call_id: str = "c1", *, caller: int = 1, callee: int = 2, ring: float = 30.0) -> CallRecord:
    return CallRecord(
        call_id=call_id,
        caller={"id": caller, "username": f"u{caller}", "display_name": "U"},
        callee={"id": callee, "username": f"u{callee}", "display_name": "U"},
        slug=f"call-{call_id}",
        url=f"/rooms/call-{call_id}/",
        caller_channel="chan",
        deadline=time.time() + ring,
    )


async def test_online_means_a_live_socket(stores):
    one, two = stores
    assert await one.socket_add(user_id=1, socket_id="a", ttl=30, max_sockets=3) is True
    assert await two.socket_add(user_id=1, socket_id="b", ttl=30, max_sockets=3) is False  # already online
    assert await two.is_online(user_id=1) and await one.online_list(limit=10) == [1]
    assert await one.socket_remove(user_id=1, socket_id="a") is False  # tab b is still open
    assert await two.is_online(user_id=1)
    assert await two.socket_remove(user_id=1, socket_id="b") is True
    assert not await one.is_online(user_id=1) and await one.online_list(limit=10) == []


async def test_socket_limit_per_user(stores):
    one, _ = stores
    for socket_id in ("a", "b"):
        await one.socket_add(user_id=1, socket_id=socket_id, ttl=30, max_sockets=2)
    with pytest.raises(TooManyPresenceSockets):
        await one.socket_add(user_id=1, socket_id="c", ttl=30, max_sockets=2)


async def test_a_dead_process_socket_expires_and_is_reaped_once(stores):
    one, two = stores
    await one.socket_add(user_id=1, socket_id="a", ttl=0.3, max_sockets=3)
    await two.socket_add(user_id=2, socket_id="b", ttl=30, max_sockets=3)
    await asyncio.sleep(0.5)
    assert not await one.is_online(user_id=1)
    assert await one.online_list(limit=10) == [2]
    reaped = await asyncio.gather(one.online_reap(), two.online_reap())
    assert sorted(reaped, key=len) == [[], [1]]  # one process announces user-offline, not both
    # Its heartbeat comes back (the process was only stalled): online again.
    assert await two.sockets_refresh(sockets=[(1, "a")], ttl=30) == [1]
    assert await one.is_online(user_id=1)


async def test_a_transition_happens_once_across_processes(stores):
    one, two = stores
    assert await one.call_start(call=record()) == "ok"
    results = await asyncio.gather(
        one.call_transition(call_id="c1", from_status=RINGING, to_status="missed"),
        two.call_transition(call_id="c1", from_status=RINGING, to_status=ANSWERED),
        one.call_transition(call_id="c1", from_status=RINGING, to_status="declined"),
    )
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert (await two.call_get(call_id="c1")).status == winners[0].status


async def test_ring_timeout_is_overdue_then_claimed_once(stores):
    one, two = stores
    await one.call_start(call=record(ring=0.2))
    assert await two.calls_overdue() == []
    await asyncio.sleep(0.3)
    assert await two.calls_overdue() == ["c1"]
    missed = await asyncio.gather(
        *(store.call_transition(call_id="c1", from_status=RINGING, to_status="missed") for store in (one, two, one))
    )
    assert sum(r is not None for r in missed) == 1
    assert await one.calls_overdue() == []
    # The users are free for a new call.
    assert await one.user_call(user_id=1) is None and await two.user_call(user_id=2) is None


async def test_one_call_per_user(stores):
    one, two = stores
    assert await one.call_start(call=record("c1", caller=1, callee=2)) == "ok"
    assert await two.call_start(call=record("c2", caller=3, callee=2)) == "busy"
    assert await two.call_start(call=record("c3", caller=2, callee=4)) == "caller-busy"
    answered = await two.call_transition(call_id="c1", from_status=RINGING, to_status=ANSWERED)
    assert answered.status == ANSWERED and answered.answered_ts > 0
    assert await one.calls_answered() == ["c1"]
    assert await one.call_start(call=record("c4", caller=3, callee=1)) == "busy"  # answered, not hung up
    await one.call_seen_both(call_id="c1")
    assert (await two.call_get(call_id="c1")).seen_both
    assert (await two.call_transition(call_id="c1", from_status=ANSWERED, to_status=ENDED)).status == ENDED
    assert await one.calls_answered() == []
    assert await one.call_start(call=record("c5", caller=3, callee=1)) == "ok"
