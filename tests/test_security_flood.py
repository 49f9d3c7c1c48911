"""A flood in one room does not hurt another room on the same server process.

Real daphne process, default rate limits: flooders in room A send as fast as their
sockets allow and reconnect whenever they are closed with 4429, while two peers in
room B chat every 50 ms. Every chat in room B arrives, with its latency measured.
"""

import asyncio
import contextlib
import shutil
import time

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.cluster import Client, Cluster, Refused
from tests.conftest import require

FLOOD_SECONDS = 4.0
FLOODERS = 4


@pytest.fixture(scope="module")
def flood_cluster(tmp_path_factory):
    require("REDIS", shutil.which("redis-server") is not None, "redis-server is not installed")
    cluster = Cluster(tmp_path_factory.mktemp("flood"), SIGNALING_HEARTBEAT="5", SIGNALING_PEER_TTL="15").setup()
    users = ["b1", "b2", "watch"] + [f"f{i}" for i in range(FLOODERS)]
    cluster.data = cluster.seed(users=users, rooms=["flood-a", "flood-b"], capacity=16)
    cluster.cookie = {name: cluster.data["users"][name]["cookie"] for name in users}
    cluster.s1 = cluster.server("f1")
    yield cluster
    cluster.teardown()


async def chat_latencies(sender: Client, receiver: Client, seconds: float, tag: str) -> list[float]:
    sent = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        sent += 1
        await sender.send({"type": "chat", "text": f"{tag}|{sent}|{time.time()}"})
        await asyncio.sleep(0.05)
    latencies, arrivals = [], []
    for n in range(1, sent + 1):
        frame = await receiver.next_frame(
            lambda f, n=n: f["type"] == "chat" and f["text"].startswith(f"{tag}|{n}|"), timeout=10
        )
        index = receiver.frames.index(frame)
        latencies.append(receiver.arrived_at[index] - float(frame["text"].split("|")[2]))
        arrivals.append(receiver.arrived_at[index])
    return latencies, arrivals


async def flood(server, cookie: str, until: float, tally: dict) -> None:
    """Send as fast as the socket takes frames; when closed (4429), come back and do it again."""
    while time.monotonic() < until:
        try:
            client = await Client.join(server, "flood-a", cookie, ping_every=5)
        except (ConnectionError, InvalidStatus, Refused, TimeoutError, OSError):
            tally["refused"] += 1
            await asyncio.sleep(0.2)
            continue
        tally["connections"] += 1
        with contextlib.suppress(ConnectionClosed):
            while time.monotonic() < until:
                await client.send({"type": "chat", "text": "x" * 500})
                tally["sent"] += 1
                if tally["sent"] % 50 == 0:
                    await asyncio.sleep(0)
        with contextlib.suppress(asyncio.TimeoutError, ConnectionError):
            await client.wait_closed(3)
        tally["closed_4429"] += client.closed_code == 4429
        tally["warnings"] += sum(1 for f in client.of_type("error") if "Slow down" in f["message"])
        await client.close()


async def test_flood_in_one_room_leaves_another_room_responsive(flood_cluster):
    cluster, server = flood_cluster, flood_cluster.s1
    b1 = await Client.join(server, "flood-b", cluster.cookie["b1"], ping_every=2)
    b2 = await Client.join(server, "flood-b", cluster.cookie["b2"], ping_every=2)
    watcher = await Client.join(server, "flood-a", cluster.cookie["watch"], ping_every=2)
    try:
        quiet, _ = await chat_latencies(b1, b2, 2.0, "quiet")
        tally = dict.fromkeys(["connections", "sent", "closed_4429", "warnings", "refused"], 0)
        until = time.monotonic() + FLOOD_SECONDS
        flood_ends = time.time() + FLOOD_SECONDS
        flooders = [asyncio.create_task(flood(server, cluster.cookie[f"f{i}"], until, tally)) for i in range(FLOODERS)]
        loud, arrivals = await chat_latencies(b1, b2, FLOOD_SECONDS, "loud")
        await asyncio.gather(*flooders)
        relayed_in_a = len(watcher.of_type("chat"))

        def p(values, q):
            return sorted(values)[min(len(values) - 1, int(len(values) * q))] * 1000

        quiet_ms, loud_ms = f"{p(quiet, 0.5):.0f}/{p(quiet, 0.95):.0f}", f"{p(loud, 0.5):.0f}/{p(loud, 0.95):.0f}"

        print(
            f"\nFIGURE flood: room B chat latency p50/p95 quiet {quiet_ms} ms, "
            f"during the flood {loud_ms} ms ({len(loud)} chats, none lost); "
            f"flood: {tally['sent']} frames on {tally['connections']} connections, {tally['warnings']} warnings, "
            f"{tally['closed_4429']} closed 4429, {relayed_in_a} relayed to room A"
        )
        assert tally["closed_4429"] >= FLOODERS, "every flooding socket was cut off"
        assert relayed_in_a < tally["sent"] / 2, "most of the flood was dropped, not relayed"
        during = sum(1 for at in arrivals if at < flood_ends)
        assert during >= len(loud) / 2, f"room B was starved: {during}/{len(loud)} chats arrived during the flood"
        assert p(loud, 0.95) < 3000, "room B stays usable during the flood"
        assert b1.closed_code is None and b2.closed_code is None
    finally:
        for client in (b1, b2, watcher):
            await client.close()
