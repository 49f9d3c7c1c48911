"""Redis Sentinel: the master dies during a call; after the promotion the call goes on and new joins work.

Real processes on loopback ports: a Redis master, its replica, three sentinels, and two daphne
processes configured with REDIS_SENTINELS / REDIS_SENTINEL_MASTER (signaling state, channel
layer, session cache and presence all go through Sentinel). The peers of the call are on
different processes, so every frame between them crosses Redis. The figures printed are in
docs/reliability.md.
"""

import asyncio
import shutil
import time

import pytest

from tests.cluster import Client, Cluster
from tests.conftest import require
from tests.sentinel import SentinelRedis, failover_seconds

USERS = ["u0", "u1", "u2", "u3", "u4"]
SEND_EVERY = 0.1
TOKEN = "sentinel-metrics-token"


@pytest.fixture
def sentinel_cluster(tmp_path):
    # redis-sentinel is redis-server in sentinel mode: tests.sentinel runs `redis-server --sentinel` without it.
    require("REDIS", shutil.which("redis-server") is not None, "redis-server is not installed")
    deployment = SentinelRedis(tmp_path)
    # Heartbeat 1 s (sweeps three times a second); a peer's record outlives a failover of seconds,
    # as with the defaults (15 s and 45 s).
    cluster = Cluster(tmp_path, SIGNALING_PEER_TTL="10", **deployment.app_env())
    cluster.redis = deployment
    try:
        cluster.setup()
        data = cluster.seed(users=USERS, rooms=["failover"])
        cluster.cookie = {name: data["users"][name]["cookie"] for name in USERS}
        servers = (cluster.server("s1", METRICS_TOKEN=TOKEN), cluster.server("s2", METRICS_TOKEN=TOKEN))
        yield cluster, deployment, servers
    finally:
        cluster.teardown()


async def join_seeing(server, cookie: str, expected: set[str], bound: float) -> tuple[Client, float]:
    """Join until the welcome lists `expected` (a join may be refused `unavailable` meanwhile)."""
    started = time.monotonic()
    while True:
        client = await Client.open(server, "failover", cookie)
        first = await client.next_frame(lambda f: True, timeout=20)
        if first["type"] == "welcome" and {p["peer_id"] for p in first["peers"]} == expected:
            client.welcome = first
            return client, time.monotonic() - started
        if first["type"] == "welcome":
            await client.send({"type": "leave"})
        else:
            assert first["code"] == "unavailable", first
        await client.close()
        assert time.monotonic() - started < bound, f"no complete welcome within {bound}s: {first}"
        await asyncio.sleep(0.2)


async def test_a_call_outlives_the_masters_death_and_new_joins_work_after_the_promotion(sentinel_cluster):
    cluster, deployment, (s1, s2) = sentinel_cluster
    a = await Client.join(s1, "failover", cluster.cookie["u0"])
    b = await Client.join(s2, "failover", cluster.cookie["u1"])
    watcher = await Client.presence(s2, cluster.cookie["u4"])
    await a.recv_type("peer-joined")
    await a.send({"type": "chat", "text": "before"})
    await b.recv_type("chat", text="before")

    sent: list[float] = []  # wall clock of chat n, sent by a (on s1) to b (on s2) across Redis

    async def keep_talking(until: asyncio.Event) -> None:
        while not until.is_set():
            sent.append(time.time())
            await a.send({"type": "chat", "text": f"n{len(sent)}"})
            await asyncio.sleep(SEND_EVERY)

    done = asyncio.Event()
    talker = asyncio.create_task(keep_talking(done))
    await asyncio.sleep(0.5)
    killed = time.monotonic()
    deployment.kill_master()
    promoted = await asyncio.to_thread(failover_seconds, deployment, killed, 30)
    await asyncio.sleep(3)  # the call goes on past the promotion
    done.set()
    await talker

    texts = [f"n{n}" for n in range(1, len(sent) + 1)]
    try:
        await b.recv_type("chat", text=texts[-1], timeout=20)
    except TimeoutError:
        got = [f["text"] for f in b.frames if f["type"] == "chat"]
        raise AssertionError(f"sent {len(texts)}, b got {got}; logs: {s1.log_text()[-3000:]} {s2.log_text()[-3000:]}")
    got = [(f["text"], at) for f, at in zip(b.frames, b.arrived_at, strict=True) if f["type"] == "chat"]
    assert [text for text, _ in got if text.startswith("n")] == texts, "each frame once, in order"
    delays = [at - sent[int(text[1:]) - 1] for text, at in got if text.startswith("n")]
    print(
        f"\nFIGURE sentinel: master SIGKILLed; replica promoted after {promoted:.2f}s; "
        f"{len(texts)} chats across processes, longest delivery delay {max(delays):.2f}s, all once and in order"
    )
    assert max(delays) < 15

    # New joins after the promotion: the session cache, the room state and the layer all answer.
    c, waited = await join_seeing(s1, cluster.cookie["u2"], {a.peer_id, b.peer_id}, bound=15)
    d, _ = await join_seeing(s2, cluster.cookie["u3"], {a.peer_id, b.peer_id, c.peer_id}, bound=15)
    print(f"FIGURE sentinel: a join after the promotion saw the whole room after {waited:.2f}s of retries")
    for peer in (a, b):
        for newcomer in (c, d):
            await peer.next_frame(
                lambda f, n=newcomer: f["type"] == "peer-joined" and f["peer"]["peer_id"] == n.peer_id, 10
            )
    await d.send({"type": "chat", "text": "after the failover"})
    for peer in (a, b, c):
        assert (await peer.recv_type("chat", text="after the failover"))["from"] == d.peer_id
    presence = await Client.presence(s1, cluster.cookie["u3"])
    assert "u4" in {user["username"] for user in presence.welcome["online"]}

    # Each process is ready again, and counted the outage it lived through.
    for server in (s1, s2):
        status, body, _ = server.get("/readyz")
        assert status == 200, body
        metrics = await asyncio.to_thread(scrape, server)
        assert metrics["parley_redis_up"] == 1 and metrics["parley_redis_reconnects_total"] >= 1, metrics

    # Nobody in the call was told anyone left, and no socket was dropped.
    assert not [f for p in (a, b) for f in p.of_type("peer-left")]
    assert a.closed_code is None and b.closed_code is None
    for client in (presence, watcher, a, b, c, d):
        await client.close()


def scrape(server) -> dict[str, float]:
    """The unlabelled samples of a process's /metrics."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    request = urllib.request.Request(f"{server.http}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        text = response.read().decode()
    return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples if not s.labels}
