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
    cluster.data = cluster.seed(
        users=names,
        rooms=["redis-restart", "sigkill", "half-open", "resume", "outage-log", "restart-join", "crash-resume"],
    )
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
    logs_before = [len(server.log_text()) for server in servers]
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
        # (Earlier attempts that saw only part of the room joined and left: issue #20, item 1.)
        for peer in (a, b):
            await peer.next_frame(lambda f: f["type"] == "peer-joined" and f["peer"]["peer_id"] == c.peer_id, 10)
        await c.send({"type": "chat", "text": "after the restart"})
        for peer in (a, b, c):
            chat = await peer.recv_type("chat", text="after the restart")
            assert chat["from"] == c.peer_id
        # Nobody in the call was told anyone left: the call went on.
        # (Newcomer attempts that left again are announced as leaving; a and b never are.)
        for peer in (a, b):
            assert not [f for f in peer.of_type("peer-left") if f["peer_id"] in (a.peer_id, b.peer_id)]
        assert a.closed_code is None and b.closed_code is None
        assert since_kill < 30
        # The outage is logged as one: a WARNING when Redis is lost, an INFO when it is back, no
        # traceback and no ERROR per failed sweep (issue #20, item 4).
        for server, start in zip(servers, logs_before, strict=True):
            lines = server.log_text()[start:].splitlines()
            lost = [line for line in lines if "Redis unreachable" in line]
            back = [line for line in lines if "Redis is back" in line]
            noisy = [line for line in lines if "Traceback" in line or " ERROR " in line or '"ERROR"' in line]
            print(f"FIGURE redis-restart log {server.name}: {len(lines)} lines, {len(lost)} lost, {len(back)} back")
            assert len(lost) <= 1 and len(back) == len(lost) and not noisy, "\n".join(lines[-40:])
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


async def test_a_join_right_after_redis_returns_sees_everyone_and_is_seen(cluster, servers):
    """Issue #20, item 1: Redis restarted empty; a newcomer joining in the first second after it is
    back waits for the processes to put their peers back (a join then saw part of the room, and
    the room stayed split for good)."""
    s1, s2 = servers
    a = await Client.join(s1, "restart-join", cluster.cookie["u0"])
    b = await Client.join(s2, "restart-join", cluster.cookie["u1"])
    await a.recv_type("peer-joined")
    await settled(b, a)
    c = None
    try:
        cluster.redis.stop()
        await asyncio.sleep(1.0)
        cluster.redis.start()  # returns once it answers
        back = time.monotonic()
        c = await Client.join(s1, "restart-join", cluster.cookie["u2"])
        joined = time.monotonic() - back
        print(f"\nFIGURE restart-join: a join sent at once after Redis was back got its welcome in {joined:.2f}s")
        assert {p["peer_id"] for p in c.welcome["peers"]} == {a.peer_id, b.peer_id}, "the newcomer sees everyone"
        for peer in (a, b):
            await peer.next_frame(lambda f: f["type"] == "peer-joined" and f["peer"]["peer_id"] == c.peer_id, 10)
        await c.send({"type": "chat", "text": "right after the restart"})
        for peer in (a, b, c):
            assert (await peer.recv_type("chat", text="right after the restart"))["from"] == c.peer_id
        await b.send({"type": "offer", "to": c.peer_id, "sdp": "across processes"})
        assert (await c.recv_type("offer"))["from"] == b.peer_id
        for peer in (a, b):
            assert not peer.of_type("peer-left"), "nobody left"
    finally:
        for peer in (a, b, c):
            if peer is not None:
                await peer.close()


async def test_a_chat_for_a_crashed_processs_peer_arrives_once_after_it_resumes_elsewhere(cluster):
    """Issue #20, item 2: frames addressed to the peers of a SIGKILLed process are kept for them and
    delivered once, in order, when they resume on another process (they were dropped after 10 s)."""
    s1 = cluster.server("c1")
    s2 = cluster.server("c2")
    a = await Client.join(s1, "crash-resume", cluster.cookie["u7"])
    b = await Client.join(s2, "crash-resume", cluster.cookie["u8"])
    await a.recv_type("peer-joined")
    await settled(b, a)
    try:
        killed = time.monotonic()
        s2.kill(signal.SIGKILL)
        await b.wait_closed(10)
        await asyncio.sleep(0.5)
        for n in (1, 2):
            await a.send({"type": "chat", "text": f"while your server was down {n}"})
        await a.send({"type": "offer", "to": b.peer_id, "sdp": "kept for you"})
        b2 = await Client.join(s1, "crash-resume", cluster.cookie["u8"], query=f"?resume={b.welcome['resume_token']}")
        print(f"\nFIGURE crash-resume: back on the other process {time.monotonic() - killed:.2f}s after SIGKILL")
        assert b2.welcome["resumed"] is True and b2.peer_id == b.peer_id
        kept = [await b2.next_frame(lambda f: f["type"] in ("chat", "offer"), 10) for _ in range(3)]
        assert [f.get("text", f.get("sdp")) for f in kept] == [
            "while your server was down 1",
            "while your server was down 2",
            "kept for you",
        ], "delivered in order"
        await a.send({"type": "chat", "text": "and after"})
        await b2.recv_type("chat", text="and after")
        assert len([f for f in b2.of_type("chat") if f["text"].startswith("while")]) == 2, "delivered once"
        assert not [f for f in a.of_type("peer-left") if f["peer_id"] == b.peer_id], "the others saw nothing"
        await b2.close()
    finally:
        await a.close()
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


async def test_a_redis_outage_logs_one_warning_and_one_info_not_an_error_flood(cluster, servers):
    """Issue #20: every sweep (three a second here) used to log an ERROR with a traceback for as
    long as Redis was down. Now each process says once that Redis is unreachable, counts the
    failures, and says once that it is back."""
    marks = {server.name: len(server.log_text()) for server in servers}
    s1, s2 = servers
    a = await Client.join(s1, "outage-log", cluster.cookie["u3"])
    b = await Client.join(s2, "outage-log", cluster.cookie["u4"])
    presences = [await Client.presence(s1, cluster.cookie["u5"]), await Client.presence(s2, cluster.cookie["u6"])]
    await a.recv_type("peer-joined")
    await settled(b, a)
    try:
        cluster.redis.stop()
        await asyncio.sleep(3.0)  # about nine sweeps of each kind on each process
        cluster.redis.start()
        await relay_recovery_seconds(b, a, timeout=20)
        await asyncio.sleep(1.0)  # a sweep that goes through says Redis is back
        for server in servers:
            lines = server.log_text()[marks[server.name] :].splitlines()
            errors = [line for line in lines if " ERROR " in line or "Traceback" in line]
            unreachable = [line for line in lines if "Redis unreachable" in line]
            back = [line for line in lines if "Redis is back" in line]
            warnings = [line for line in lines if " WARNING " in line]
            print(f"\nFIGURE redis-outage {server.name}: {len(warnings)} warnings, {len(errors)} errors, {back}")
            assert not errors, "\n".join(errors[:20])
            # One outage, one warning and one "back" (a dead pooled connection met just after the
            # restart may open and close a second one on a loaded machine, never a flood).
            assert 1 <= len(unreachable) <= 2, unreachable
            assert len(back) == len(unreachable) and all("failed operations meanwhile" in line for line in back), back
    finally:
        for client in (a, b, *presences):
            await client.close()
