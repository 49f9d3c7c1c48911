"""Faults against real server processes: Redis restarted, a server SIGKILLed, a half-open client.

Each test runs daphne processes sharing a private redis-server (never the shared one)
and a throwaway database, with heartbeat 1 s and peer TTL 3 s so that the bounds are
seconds. The bounds asserted are generous (a loaded 2-core box); the figures measured
are printed and recorded in docs/reliability.md.
"""

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from tests.cluster import ROOT, Client, Cluster
from tests.conftest import require

HEARTBEAT = 1.0
PEER_TTL = 3.0
SWEEP = HEARTBEAT / 3
RESUME_GRACE = 3.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    require("REDIS", shutil.which("redis-server") is not None, "redis-server is not installed")
    cluster = Cluster(tmp_path_factory.mktemp("faults"), SIGNALING_RESUME_GRACE=str(RESUME_GRACE)).setup()
    names = [f"u{i}" for i in range(10)]
    cluster.data = cluster.seed(users=names, rooms=["redis-restart", "sigkill", "half-open", "resume"])
    cluster.cookie = {name: cluster.data["users"][name]["cookie"] for name in names}
    yield cluster
    cluster.teardown()


@pytest.fixture(scope="module")
def servers(cluster):
    return cluster.server("s1"), cluster.server("s2")


async def settled(sender: Client, receiver: Client) -> None:
    """A consumer handles frames one at a time: a relayed chat means the sender's join has finished."""
    await sender.send({"type": "chat", "text": "settled"})
    await receiver.recv_type("chat", text="settled")


async def relay_recovery_seconds(sender: Client, receiver: Client, timeout: float) -> float:
    """Send an offer every 50 ms until one arrives; seconds from the first attempt.

    Then every probe sent meanwhile must arrive exactly once and in order: frames published
    while Redis was down, or before the receiving process resubscribed, are retried, not lost.
    """
    started = time.monotonic()
    attempt = 0
    received: list[str] = []
    while time.monotonic() - started < timeout:
        attempt += 1
        await sender.send({"type": "offer", "to": receiver.peer_id, "sdp": f"probe-{attempt}"})
        try:
            received.append((await receiver.recv_type("offer", timeout=0.05))["sdp"])
        except TimeoutError:
            continue
        recovered = time.monotonic() - started
        while len(received) < attempt:
            received.append((await receiver.recv_type("offer", timeout=5))["sdp"])
        assert received == [f"probe-{n}" for n in range(1, attempt + 1)], received
        return recovered
    raise AssertionError(f"no offer relayed within {timeout}s")


async def test_redis_restart_relay_recovers_and_room_is_restored(cluster, servers):
    s1, s2 = servers
    a = await Client.join(s1, "redis-restart", cluster.cookie["u0"])
    b = await Client.join(s2, "redis-restart", cluster.cookie["u1"])
    await a.recv_type("peer-joined")
    await settled(b, a)
    try:
        killed = time.monotonic()
        cluster.redis.restart(down_for=1.0)  # every key is gone: no persistence
        relayed = await relay_recovery_seconds(b, a, timeout=20)
        since_kill = time.monotonic() - killed
        print(f"\nFIGURE redis-restart: relay across processes again {relayed:.2f}s after Redis was back")
        assert relayed < 10

        # The processes put their live peers back: a newcomer sees the call as it was, and is seen.
        async def newcomer_sees_both() -> Client:
            """Join until the welcome lists both (a join may be refused 'unavailable' meanwhile)."""
            deadline = time.monotonic() + 15
            while True:
                c = await Client.open(s1, "redis-restart", cluster.cookie["u2"])
                first = await c.next_frame(lambda f: True, timeout=20)
                if first["type"] == "welcome":
                    c.welcome = first
                    if {p["peer_id"] for p in first["peers"]} == {a.peer_id, b.peer_id}:
                        return c
                    await c.send({"type": "leave"})
                else:
                    assert first["code"] == "unavailable", first
                    refusals.append(first)
                await c.close()
                assert time.monotonic() < deadline, f"room not restored: {first}"
                await asyncio.sleep(0.2)

        refusals: list[dict] = []
        c = await newcomer_sees_both()
        restored = time.monotonic() - killed
        print(
            f"FIGURE redis-restart: room restored {restored:.2f}s after the kill (down 1 s); {len(refusals)} refusals"
        )
        assert (await a.recv_type("peer-joined"))["peer"]["peer_id"] == c.peer_id
        assert (await b.recv_type("peer-joined"))["peer"]["peer_id"] == c.peer_id
        await c.send({"type": "chat", "text": "after the restart"})
        for peer in (a, b, c):
            chat = await peer.recv_type("chat", text="after the restart")
            assert chat["from"] == c.peer_id
        # Nobody in the call was told anyone left: the call went on.
        assert not a.of_type("peer-left") and not b.of_type("peer-left")
        assert a.closed_code is None and b.closed_code is None
        assert since_kill < 30
        await c.close()
    finally:
        await a.close()
        await b.close()


async def test_server_sigkill_clients_reconnect_to_the_other_process(cluster, tmp_path):
    s1 = cluster.server("k1")
    s2 = cluster.server("k2")
    a = await Client.join(s1, "sigkill", cluster.cookie["u3"])
    b = await Client.join(s2, "sigkill", cluster.cookie["u4"])
    old_b = b.peer_id
    await a.recv_type("peer-joined")
    try:
        killed = time.monotonic()
        s2.kill(signal.SIGKILL)
        code = await b.wait_closed(10)
        assert code != 1000, "a killed process cannot close cleanly"
        left = await a.recv_type("peer-left", timeout=PEER_TTL + 10, peer_id=old_b)
        timed_out = time.monotonic() - killed
        print(f"\nFIGURE sigkill: peer-left(timeout) {timed_out:.2f}s after SIGKILL (PEER_TTL {PEER_TTL}s)")
        assert left["reason"] == "timeout"
        assert timed_out >= PEER_TTL - 0.5, "removed before its record expired"

        # The client reconnects to the surviving process: the room comes back.
        b2 = await Client.join(s1, "sigkill", cluster.cookie["u4"])
        assert [p["peer_id"] for p in b2.welcome["peers"]] == [a.peer_id]
        assert (await a.recv_type("peer-joined"))["peer"]["peer_id"] == b2.peer_id
        await a.send({"type": "offer", "to": b2.peer_id, "sdp": "again"})
        assert (await b2.recv_type("offer"))["from"] == a.peer_id
        print(f"FIGURE sigkill: call back {time.monotonic() - killed:.2f}s after SIGKILL")
        await b2.close()
    finally:
        await a.close()
        await b.close()
        s1.stop()


HALF_OPEN_CLIENT = """
import asyncio, sys
from tests.cluster import Client, Server
class Target:
    port = int(sys.argv[1])
    ws = f"ws://127.0.0.1:{port}"
async def main():
    c = await Client.join(Target, "half-open", sys.argv[2])
    print(c.peer_id, flush=True)
    await asyncio.sleep(120)
asyncio.run(main())
"""


async def test_half_open_client_is_removed_by_heartbeat(cluster, servers):
    s1, s2 = servers
    a = await Client.join(s1, "half-open", cluster.cookie["u5"])
    # The vanishing client is a separate process, frozen with SIGSTOP: its socket stays open,
    # nothing is closed and nothing more is sent (a laptop lid shut, a dead NAT mapping).
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        HALF_OPEN_CLIENT,
        str(s2.port),
        cluster.cookie["u6"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
    )
    try:
        peer_id = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()
        assert (await a.recv_type("peer-joined"))["peer"]["peer_id"] == peer_id
        await asyncio.sleep(1.0)  # it pings meanwhile: still there
        assert not a.of_type("peer-left")
        frozen = time.monotonic()
        proc.send_signal(signal.SIGSTOP)
        left = await a.recv_type("peer-left", timeout=20, peer_id=peer_id)
        removed = time.monotonic() - frozen
        bound = 2 * HEARTBEAT + SWEEP
        print(
            f"\nFIGURE half-open: removed {removed:.2f}s after the client froze (bound 2xheartbeat+sweep={bound:.2f}s)"
        )
        assert left["reason"] == "timeout"
        assert removed >= HEARTBEAT, "removed before it was silent for long"
        assert removed < bound + 3, "slack for a loaded box"
    finally:
        proc.kill()
        await asyncio.wait_for(proc.wait(), 10)
        await a.close()


async def test_resume_on_another_process_keeps_the_peer_and_after_the_grace_joins_anew(cluster, servers):
    s1, s2 = servers
    a = await Client.join(s1, "resume", cluster.cookie["u7"])
    b = await Client.join(s2, "resume", cluster.cookie["u8"])
    await a.recv_type("peer-joined")
    await settled(b, a)
    try:
        b.drop()  # Wi-Fi to 4G: the old socket just vanishes
        await asyncio.sleep(0.3)
        await a.send({"type": "offer", "to": b.peer_id, "sdp": "while you were away"})
        dropped = time.monotonic()
        token = b.welcome["resume_token"]
        b2 = await Client.join(s1, "resume", cluster.cookie["u8"], query=f"?resume={token}")
        print(f"\nFIGURE resume: back on the other process {time.monotonic() - dropped:.2f}s after the drop")
        assert b2.welcome["resumed"] is True and b2.peer_id == b.peer_id
        assert [p["peer_id"] for p in b2.welcome["peers"]] == [a.peer_id]
        assert (await b2.recv_type("offer"))["sdp"] == "while you were away", "buffered while suspended"
        await a.send({"type": "offer", "to": b.peer_id, "sdp": "routed to the new process"})
        assert (await b2.recv_type("offer"))["sdp"] == "routed to the new process"
        await asyncio.sleep(0.5)
        assert not a.of_type("peer-left") and len(a.of_type("peer-joined")) == 1, "others saw nothing"

        # Past the grace period the seat is gone: the others are told, and the token joins anew.
        second_drop = time.monotonic()
        b2.drop()
        left = await a.recv_type("peer-left", timeout=RESUME_GRACE + 10, peer_id=b.peer_id)
        released = time.monotonic() - second_drop
        assert left["reason"] in ("disconnected", "timeout")
        b3 = await Client.join(s2, "resume", cluster.cookie["u8"], query=f"?resume={b2.welcome['resume_token']}")
        assert b3.welcome["resumed"] is False and b3.peer_id != b.peer_id
        assert (await a.recv_type("peer-joined"))["peer"]["peer_id"] == b3.peer_id
        print(f"FIGURE resume: peer-left {released:.2f}s after an unresumed drop (grace {RESUME_GRACE}s)")
        assert released >= RESUME_GRACE - 0.5, "the seat was kept for the grace period"
        await b3.close()
    finally:
        await a.close()
