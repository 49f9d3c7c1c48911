"""Direct calls between two real server processes sharing a private Redis (caller on one, callee on the other)."""

import asyncio
import shutil
import sqlite3

import pytest

from tests.cluster import Client, Cluster
from tests.conftest import require

RING_TIMEOUT = 2.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    require("REDIS", shutil.which("redis-server") is not None, "redis-server is not installed")
    cluster = Cluster(tmp_path_factory.mktemp("direct"), SIGNALING_RING_TIMEOUT=str(RING_TIMEOUT)).setup()
    cluster.data = cluster.seed(users=["alice", "bob", "carol"], rooms=["elsewhere"])
    cluster.cookie = {name: user["cookie"] for name, user in cluster.data["users"].items()}
    cluster.id = {name: user["id"] for name, user in cluster.data["users"].items()}
    yield cluster
    cluster.teardown()


@pytest.fixture(scope="module")
def servers(cluster):
    return cluster.server("p1"), cluster.server("p2")


def call_status(cluster, call_id: str) -> tuple[str, bool]:
    with sqlite3.connect(cluster.db) as db:
        status, active = db.execute(
            "SELECT c.status, r.is_active FROM calls_call c LEFT JOIN calls_room r ON r.id = c.room_id "
            "WHERE c.call_id = ?",
            (call_id,),
        ).fetchone()
    return status, bool(active)


async def ring(a: Client, b: Client) -> dict:
    await a.send({"type": "call", "username": "bob"})
    ringing = await a.recv_type("ringing")
    return await b.recv_type("ring", call_id=ringing["call_id"])


async def test_calls_across_two_processes(cluster, servers):
    p1, p2 = servers
    b = await Client.presence(p2, cluster.cookie["bob"])
    a = await Client.presence(p1, cluster.cookie["alice"])
    try:
        assert [u["username"] for u in a.welcome["online"]] == ["bob"]
        assert (await b.recv_type("user-online"))["user"]["username"] == "alice"

        # Accept, then hang up.
        rung = await ring(a, b)
        assert rung["caller"]["username"] == "alice"
        await b.send({"type": "accept", "call_id": rung["call_id"]})
        assert (await a.recv_type("accepted"))["join"] is True
        assert (await b.recv_type("accepted"))["room"] == rung["room"]
        await a.send({"type": "hangup", "call_id": rung["call_id"]})
        await b.recv_type("hangup", call_id=rung["call_id"])
        assert call_status(cluster, rung["call_id"]) == ("answered", False)

        # Decline and cancel, each seen by the other process.
        rung = await ring(a, b)
        await b.send({"type": "decline", "call_id": rung["call_id"]})
        await a.recv_type("declined", call_id=rung["call_id"])
        rung = await ring(a, b)
        await a.send({"type": "cancel", "call_id": rung["call_id"]})
        await b.recv_type("cancelled", call_id=rung["call_id"])

        # No answer: `missed` once to each, though both processes sweep for overdue calls.
        rung = await ring(a, b)
        await a.recv_type("missed", timeout=RING_TIMEOUT + 8, call_id=rung["call_id"])
        await b.recv_type("missed", timeout=5, call_id=rung["call_id"])
        await asyncio.sleep(2.5)
        assert [f["call_id"] for f in a.of_type("missed")] == [rung["call_id"]]
        assert [f["call_id"] for f in b.of_type("missed")] == [rung["call_id"]]
        assert call_status(cluster, rung["call_id"]) == ("missed", False)

        # Busy: bob is in a room call on his process.
        in_room = await Client.join(p2, "elsewhere", cluster.cookie["bob"])
        await a.send({"type": "call", "username": "bob"})
        busy = await a.next_frame(lambda f: f["type"] in ("busy", "ringing", "error", "user-offline"), 10)
        assert busy["type"] == "busy" and busy["user"]["username"] == "bob", busy
        await in_room.send({"type": "leave"})
        await in_room.wait_closed(10)

        # Offline: carol has no presence socket anywhere.
        await a.send({"type": "call", "username": "carol"})
        assert (await a.recv_type("user-offline", timeout=10))["user"]["username"] == "carol"
    finally:
        await a.close()
        await b.close()


async def test_a_crashed_process_users_go_offline_once(cluster, servers):
    p1, _ = servers
    p3 = cluster.server("p3")
    a = await Client.presence(p1, cluster.cookie["alice"])
    c = await Client.presence(p3, cluster.cookie["carol"])
    try:
        await a.recv_type("user-online", timeout=10, user=c.welcome["you"])
        p3.kill()  # SIGKILL: carol's socket is never closed cleanly
        gone = await a.recv_type("user-offline", timeout=20)
        assert gone["user"]["username"] == "carol"
        await asyncio.sleep(2)
        assert len([f for f in a.of_type("user-offline") if f["user"]["username"] == "carol"]) == 1
        await a.send({"type": "call", "username": "carol"})
        assert "call_id" in await a.recv_type("user-offline", timeout=10, user=gone["user"])
    finally:
        await a.close()
