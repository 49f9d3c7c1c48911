"""Load on real processes: many rooms at once with nothing crossing rooms and nothing left in
Redis afterwards; a connection storm with server memory bounded.

The suite runs a light version. The full figures of docs/reliability.md come from
`LOAD_HEAVY=1 .venv/bin/python -m pytest tests/test_load.py -s` (200 rooms x 4 peers for
30 s, 1,000 connections in 10 s): heavy for a 2-core box, so not part of every run.
"""

import asyncio
import contextlib
import os
import shutil
import statistics
import time

import pytest
from websockets.exceptions import InvalidMessage, InvalidStatus

from tests.cluster import Client, Cluster, Refused, pg_admin_url, pg_database, pg_reachable, rss_kib, wait_until
from tests.conftest import require

HEAVY = os.environ.get("LOAD_HEAVY") == "1"
ROOMS, PEERS, SECONDS, CHAT_EVERY = (200, 4, 30.0, 2.0) if HEAVY else (50, 4, 5.0, 1.0)
STORM, STORM_SECONDS = (1000, 10.0) if HEAVY else (300, 10.0)
ROOM_SIZE = 16
PING_EVERY = 5.0


@pytest.fixture(scope="module")
def load_cluster(tmp_path_factory):
    require("REDIS", shutil.which("redis-server") is not None, "redis-server is not installed")
    with contextlib.ExitStack() as stack:
        # PostgreSQL as in production when there is one; else a SQLite file (slower joins).
        database_url = stack.enter_context(pg_database()) if pg_reachable(pg_admin_url()) else None
        cluster = Cluster(
            tmp_path_factory.mktemp("load"),
            database_url=database_url,
            SIGNALING_HEARTBEAT="10",
            SIGNALING_PEER_TTL="30",
            SIGNALING_RESUME_GRACE="2",
            SIGNALING_MAX_SOCKETS_PER_USER="100",
            CONN_MAX_AGE="60",  # as a deployment should: a new PostgreSQL connection per query is slow
        )
        stack.callback(cluster.teardown)
        cluster.setup()
        users = [f"load{i}" for i in range(ROOMS * PEERS)]
        rooms = [f"load-{i}" for i in range(ROOMS)] + [f"storm-{i}" for i in range(-(-STORM // ROOM_SIZE))]
        cluster.data = cluster.seed(users=users, rooms=rooms, capacity=ROOM_SIZE)
        cluster.cookies = [cluster.data["users"][name]["cookie"] for name in users]
        cluster.s1, cluster.s2 = cluster.server("l1"), cluster.server("l2")
        print(f"\nFIGURE load: database {cluster.database_url.split(':')[0]}")
        yield cluster


async def gather_bounded(coros, limit: int):
    gate = asyncio.Semaphore(limit)

    async def run(coro):
        async with gate:
            return await coro

    return await asyncio.gather(*(run(c) for c in coros))


def prefix_keys(cluster) -> list[bytes]:
    """Keys the signaling left behind, apart from what belongs to the live processes (their
    liveness markers, the registry's mark that Redis has not lost it, the channel-layer group of
    all processes) and the session cache (sign-in state that outlives a call, and expires with
    the session)."""
    own = (b":alive:", b":epoch", b":cache:", b":group:signaling.nodes")
    return [key for key in cluster.redis.keys(cluster.prefix) if not any(part in key for part in own)]


def assert_no_leftovers(cluster) -> None:
    with contextlib.suppress(TimeoutError):
        wait_until(lambda: not prefix_keys(cluster), 20, interval=0.2, what="no keys left")
    left = prefix_keys(cluster)
    print(f"FIGURE leak: Redis keys under the prefix after everyone left: {len(left)} {left[:5]}")
    assert left == []
    client = cluster.redis.client()
    cached = [key for key in cluster.redis.keys(cluster.prefix) if b":cache:" in key]
    assert all(client.ttl(key) > 0 for key in cached), "a session cache entry without expiry"


async def test_many_rooms_at_once_nothing_crosses_rooms_nothing_leaks(load_cluster):
    cluster = load_cluster
    servers = [cluster.s1, cluster.s2]
    seats = [
        (f"load-{r}", cluster.cookies[r * PEERS + p], servers[(r + p) % 2]) for r in range(ROOMS) for p in range(PEERS)
    ]
    started = time.monotonic()
    clients = await gather_bounded(
        [Client.join(server, slug, cookie, ping_every=PING_EVERY) for slug, cookie, server in seats], 50
    )
    joined_in = time.monotonic() - started
    rooms_of = {c.peer_id: slug for c, (slug, _, _) in zip(clients, seats, strict=True)}
    sent: dict[str, int] = {}
    latencies: list[float] = []

    async def talk(client: Client, slug: str) -> None:
        count = 0
        deadline = time.monotonic() + SECONDS
        while time.monotonic() < deadline:
            count += 1
            await client.send({"type": "chat", "text": f"{slug}|{client.peer_id}|{count}|{time.time()}"})
            await asyncio.sleep(CHAT_EVERY)
        sent[client.peer_id] = count

    await asyncio.gather(*(talk(c, slug) for c, (slug, _, _) in zip(clients, seats, strict=True)))
    await asyncio.sleep(3)  # the last frames in flight
    wrong, missing = 0, 0
    for client, (slug, _, _) in zip(clients, seats, strict=True):
        chats = [(f, at) for f, at in zip(client.frames, client.arrived_at, strict=True) if f["type"] == "chat"]
        for chat, arrived_at in chats:
            room, sender, _, stamp = chat["text"].split("|")
            wrong += room != slug or rooms_of[chat["from"]] != slug or sender != chat["from"]
            latencies.append(arrived_at - float(stamp))
        expected = sum(n for peer, n in sent.items() if rooms_of[peer] == slug)
        missing += expected - len(chats)
    delivered = sum(len(c.of_type("chat")) for c in clients)
    rss = [rss_kib(s.proc.pid) // 1024 for s in servers]
    print(
        f"\nFIGURE load: {ROOMS} rooms x {PEERS} peers on 2 processes, joined in {joined_in:.1f}s; "
        f"{sum(sent.values())} chats sent, {delivered} delivered over {SECONDS:.0f}s; wrong room {wrong}, "
        f"missing {missing}; latency p50 {statistics.median(latencies) * 1000:.0f} ms, "
        f"p99 {sorted(latencies)[int(len(latencies) * 0.99)] * 1000:.0f} ms; server RSS {rss} MiB"
    )
    assert wrong == 0, "a frame reached another room"
    assert missing == 0, "chats were lost"
    assert all(c.closed_code is None for c in clients)

    await gather_bounded([c.leave() for c in clients], 100)
    assert_no_leftovers(cluster)


async def test_connection_storm_with_memory_bounded(load_cluster):
    cluster = load_cluster
    servers = [cluster.s1, cluster.s2]
    before = [rss_kib(s.proc.pid) for s in servers]
    interval = STORM_SECONDS / STORM
    started = time.monotonic()

    retries = {"n": 0}

    async def one(i: int) -> Client:
        """Open at the paced moment; a refused handshake is retried with backoff, as the app does."""
        await asyncio.sleep(i * interval)
        cookie = cluster.cookies[i % len(cluster.cookies)]
        backoff = 0.5
        while True:
            try:
                return await Client.join(servers[i % 2], f"storm-{i // ROOM_SIZE}", cookie, ping_every=PING_EVERY)
            except (InvalidMessage, InvalidStatus, ConnectionError, TimeoutError, OSError, Refused):
                retries["n"] += 1
                assert time.monotonic() - started < STORM_SECONDS + 60, "the storm never got through"
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    clients = await asyncio.gather(*(one(i) for i in range(STORM)))
    opened_in = time.monotonic() - started
    peak = [rss_kib(s.proc.pid) for s in servers]
    per_connection = (sum(peak) - sum(before)) / STORM
    print(
        f"\nFIGURE storm: {STORM} connections opened in {opened_in:.1f}s (paced over {STORM_SECONDS:.0f}s, "
        f"{retries['n']} handshakes retried); "
        f"RSS per process {[b // 1024 for b in before]} -> {[p // 1024 for p in peak]} MiB, "
        f"{per_connection:.0f} KiB per connection"
    )
    assert all(c.welcome for c in clients)
    assert opened_in < STORM_SECONDS + 60
    assert per_connection < 400, "memory per connection is bounded"
    assert max(peak) < 600 * 1024
    await gather_bounded([c.leave() for c in clients], 100)
    after = [rss_kib(s.proc.pid) for s in servers]
    print(f"FIGURE storm: RSS after all left {[a // 1024 for a in after]} MiB")
    assert_no_leftovers(cluster)
