"""The attack of security issue #13, part 1, against a real daphne process on Redis.

Two accounts send the report's frame (an `ice` candidate with a field nested 300 levels deep)
every second while an unrelated call goes on in another room. Before the fix, the first frame
closed the sender's socket (1011), its dead connection stayed in the hub, every sweep failed,
and within PEER_TTL the healthy call was timed out: a newcomer saw an empty room, the next
offer got `unknown-peer`, and nobody was told. Heartbeat 1 s and PEER_TTL 3 s here, so the
attack lasts well over two TTLs in seconds.
"""

import asyncio
import shutil

import pytest

from tests.cluster import Client, Cluster
from tests.conftest import require

DEEP_ICE = '{"type":"ice","to":"x","candidate":{"candidate":"c","x":' + "[" * 300 + "]" * 300 + "}}"
ROUNDS = 7  # one frame a second from each attacker: over two PEER_TTLs


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    require("REDIS", shutil.which("redis-server") is not None, "redis-server is not installed")
    cluster = Cluster(tmp_path_factory.mktemp("one-frame")).setup()
    names = ["mallory", "trudy", "alice", "bob", "carol"]
    cluster.data = cluster.seed(users=names, rooms=["attack", "calm"])
    cluster.cookie = {name: cluster.data["users"][name]["cookie"] for name in names}
    yield cluster
    cluster.teardown()


async def test_deep_frames_from_two_accounts_leave_every_socket_and_call_alive(cluster):
    server = cluster.server("s1")
    alice = await Client.join(server, "calm", cluster.cookie["alice"])
    bob = await Client.join(server, "calm", cluster.cookie["bob"])
    await alice.recv_type("peer-joined")
    attackers = [await Client.join(server, "attack", cluster.cookie[name]) for name in ("mallory", "trudy")]
    try:
        for _ in range(ROUNDS):
            for attacker in attackers:
                await attacker.send(DEEP_ICE)
            await asyncio.sleep(1.0)
        for attacker in attackers:
            errors = [frame["code"] for frame in attacker.of_type("error")]
            assert errors == ["bad-message"] * ROUNDS, errors
            assert attacker.closed_code is None  # the socket is still open
            await attacker.send({"type": "ping", "id": "after"})
            await attacker.recv_type("pong", id="after")

        # The call in the other room went on: nobody left, a newcomer sees both, an offer arrives.
        for peer in (alice, bob):
            assert peer.closed_code is None and not peer.of_type("peer-left"), peer.frames
        carol = await Client.join(server, "calm", cluster.cookie["carol"])
        assert {peer["peer_id"] for peer in carol.welcome["peers"]} == {alice.peer_id, bob.peer_id}
        await carol.send({"type": "offer", "to": alice.peer_id, "sdp": "v=0"})
        assert (await alice.recv_type("offer"))["from"] == carol.peer_id
        assert not carol.of_type("error"), carol.frames
        await carol.leave()
        log = server.log_text()
        assert "Recursion limit" not in log and "sweep" not in log, log[-3000:]
    finally:
        for client in (alice, bob, *attackers):
            await client.close()
