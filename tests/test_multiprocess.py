"""Two (and three) real daphne processes sharing one Redis and one database.

Clients are `websockets` connections with real session cookies (tests.cluster.Client,
which checks every frame against OUTGOING). The cluster has its own redis-server on a
loopback port, a unique SIGNALING_KEY_PREFIX, a SQLite file made by `migrate`, and
heartbeat 1 s / peer TTL 3 s so that the crash bound is seconds. Bounds asserted are
generous for a loaded machine; the measured figures are printed.
"""

import asyncio
import contextlib
import shutil
import sqlite3
import time

import pytest

from tests.cluster import Client, Cluster
from tests.conftest import require

HEARTBEAT = 1.0
PEER_TTL = 3.0
SWEEP = max(0.2, HEARTBEAT / 3)  # calls.signaling.housekeeping.Housekeeping._forever
CRASH_BOUND = PEER_TTL + SWEEP  # docs/protocol.md: a crashed process's peers leave within this
USERS = [f"m{i}" for i in range(40)]
STORM_ROOMS = [f"storm{i}" for i in range(10)]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    require("REDIS", shutil.which("redis-server") is not None, "redis-server is not installed")
    cluster = Cluster(
        tmp_path_factory.mktemp("multiprocess"),
        SIGNALING_HEARTBEAT=str(HEARTBEAT),
        SIGNALING_PEER_TTL=str(PEER_TTL),
        SIGNALING_RESUME_GRACE="20",
    ).setup()
    data = cluster.seed(users=USERS, rooms=["relay", "resume", "race", "crash", "device", *STORM_ROOMS], capacity=16)
    cluster.cookie = {name: data["users"][name]["cookie"] for name in USERS}
    yield cluster
    cluster.teardown()


@pytest.fixture(scope="module")
def servers(cluster):
    return cluster.server("s1"), cluster.server("s2")


@pytest.fixture(scope="module")
def storm_servers(cluster):
    """Two more processes on the same Redis and database, with production liveness timing:
    the storm is about admission, not about sockets starved of CPU being dropped as silent."""
    timing = {"SIGNALING_HEARTBEAT": "15", "SIGNALING_PEER_TTL": "45"}
    return cluster.server("storm-a", **timing), cluster.server("storm-b", **timing)


async def leave(*clients: Client) -> None:
    """Leave for real (an abrupt close would keep the seat for the resume grace)."""
    for client in clients:
        with contextlib.suppress(Exception):
            await client.send({"type": "leave"})
    for client in clients:
        with contextlib.suppress(Exception):
            await client.wait_closed(10)
        await client.close()


def participation_reasons(cluster: Cluster, peer_ids: list[str]) -> dict[str, str]:
    with contextlib.closing(sqlite3.connect(cluster.db, timeout=10)) as db:
        rows = db.execute(
            f"SELECT peer_id, reason FROM calls_participation WHERE peer_id IN ({','.join('?' * len(peer_ids))})",
            peer_ids,
        ).fetchall()
    return dict(rows)


async def test_signaling_relays_between_clients_on_different_processes(cluster, servers):
    s1, s2 = servers
    a = await Client.join(s1, "relay", cluster.cookie["m0"])
    b = await Client.join(s2, "relay", cluster.cookie["m1"])
    c = await Client.join(s2, "relay", cluster.cookie["m2"])
    assert [peer["peer_id"] for peer in b.welcome["peers"]] == [a.peer_id]
    assert {peer["peer_id"] for peer in c.welcome["peers"]} == {a.peer_id, b.peer_id}
    assert (await a.recv_type("peer-joined"))["peer"]["peer_id"] == b.peer_id
    assert (await a.recv_type("peer-joined"))["peer"]["peer_id"] == c.peer_id

    await a.send({"type": "offer", "to": b.peer_id, "sdp": "v=0 a->b", "from": c.peer_id})
    assert await b.recv_type("offer") == {"type": "offer", "from": a.peer_id, "sdp": "v=0 a->b"}
    await b.send({"type": "answer", "to": a.peer_id, "sdp": "v=0 b->a"})
    assert await a.recv_type("answer") == {"type": "answer", "from": b.peer_id, "sdp": "v=0 b->a"}
    candidate = {"candidate": "candidate:1 1 udp 2122260223 127.0.0.1 5000 typ host", "sdpMid": "0"}
    await c.send({"type": "ice", "to": a.peer_id, "candidate": candidate})
    assert await a.recv_type("ice") == {"type": "ice", "from": c.peer_id, "candidate": candidate}
    await a.send({"type": "ice", "to": c.peer_id, "candidate": None})
    assert await c.recv_type("ice") == {"type": "ice", "from": a.peer_id, "candidate": None}
    await b.send({"type": "media", "audio": False, "video": True, "screen": False})
    assert (await a.recv_type("media"))["from"] == b.peer_id
    await c.send({"type": "chat", "text": "across processes"})
    chats = [await client.recv_type("chat", text="across processes") for client in (a, b, c)]
    assert len({chat["id"] for chat in chats}) == 1 and chats[0]["from"] == c.peer_id

    late = await Client.join(s1, "relay", cluster.cookie["m3"])  # sees b's media from the shared state
    assert {p["peer_id"]: p["media"]["audio"] for p in late.welcome["peers"]}[b.peer_id] is False
    assert c.of_type("offer") == [] and c.of_type("answer") == []  # addressed frames went to their peer only
    await leave(b)
    for client in (a, c, late):
        assert await client.recv_type("peer-left", peer_id=b.peer_id) == {
            "type": "peer-left",
            "peer_id": b.peer_id,
            "reason": "left",
        }
    await leave(a, c, late)


async def test_resume_and_takeover_on_the_other_process(cluster, servers):
    s1, s2 = servers
    a = await Client.join(s1, "resume", cluster.cookie["m0"])
    b = await Client.join(s2, "resume", cluster.cookie["m1"])
    await a.recv_type("peer-joined")
    await b.close()  # dropped on s2
    assert await a.recv_type("peer-suspended") == {"type": "peer-suspended", "peer_id": b.peer_id}  # reconnecting
    await asyncio.sleep(0.3)
    await a.send({"type": "offer", "to": b.peer_id, "sdp": "v=0 while away"})
    await a.send({"type": "chat", "text": "missed"})
    await a.recv_type("chat", text="missed")
    await asyncio.sleep(0.5)

    back = await Client.join(s1, "resume", cluster.cookie["m1"], query=f"?resume={b.welcome['resume_token']}")
    assert back.welcome["resumed"] is True and back.peer_id == b.peer_id
    assert await a.recv_type("peer-resumed") == {"type": "peer-resumed", "peer_id": b.peer_id}
    assert await back.recv_type("offer") == {"type": "offer", "from": a.peer_id, "sdp": "v=0 while away"}
    assert (await back.recv_type("chat"))["text"] == "missed"
    c = await Client.join(s2, "resume", cluster.cookie["m2"])  # routes to b on its new process
    await c.send({"type": "offer", "to": b.peer_id, "sdp": "v=0 from s2"})
    assert (await back.recv_type("offer", sdp="v=0 from s2"))["from"] == c.peer_id
    await a.send({"type": "ice", "to": b.peer_id, "candidate": None})
    assert (await back.recv_type("ice"))["from"] == a.peer_id
    # c's connection "changes network": it comes back on s1 while its socket on s2 still looks open.
    c_again = await Client.join(s1, "resume", cluster.cookie["m2"], query=f"?resume={c.welcome['resume_token']}")
    assert c_again.welcome["resumed"] is True and c_again.peer_id == c.peer_id
    assert await c.wait_closed(10) == 4000
    await a.send({"type": "offer", "to": c.peer_id, "sdp": "v=0 to the new socket"})
    assert (await c_again.recv_type("offer", sdp="v=0 to the new socket"))["from"] == a.peer_id
    assert a.of_type("peer-left") == []  # neither the drop nor the switch was announced
    assert [f["peer"]["peer_id"] for f in a.of_type("peer-joined")] == [b.peer_id, c.peer_id]
    await leave(a, back, c_again)
    await c.close()


async def test_a_crashed_browser_takes_back_its_held_seat_from_the_other_process(cluster, servers):
    """No ghost seats: the same device (no resume token) on s2 ends its peer held on s1 at once."""
    s1, s2 = servers
    device = "?device=cluster-device-0001"
    a = await Client.join(s1, "device", cluster.cookie["m0"], query=device)
    b = await Client.join(s2, "device", cluster.cookie["m1"])
    await a.recv_type("peer-joined")
    await a.close()  # the browser crashed
    assert (await b.recv_type("peer-suspended"))["peer_id"] == a.peer_id
    back = await Client.join(s2, "device", cluster.cookie["m0"], query=device)
    assert back.peer_id != a.peer_id
    assert [peer["peer_id"] for peer in back.welcome["peers"]] == [b.peer_id]  # no ghost of itself
    left = await b.recv_type("peer-left", peer_id=a.peer_id)
    assert left == {"type": "peer-left", "peer_id": a.peer_id, "reason": "disconnected"}
    assert (await b.recv_type("peer-joined"))["peer"]["peer_id"] == back.peer_id
    assert participation_reasons(cluster, [a.peer_id]) == {a.peer_id: "disconnected"}
    await leave(b, back)


async def test_capacity_race_across_processes_admits_exactly_one(cluster, servers):
    s1, s2 = servers
    seated = [await Client.join((s1, s2)[i % 2], "race", cluster.cookie[f"m{i}"]) for i in range(15)]
    racers = await asyncio.gather(
        *(Client.open((s1, s2)[i % 2], "race", cluster.cookie[f"m{15 + i}"]) for i in range(20))
    )
    firsts = await asyncio.gather(*(racer.next_frame(lambda frame: True, timeout=30) for racer in racers))
    winners = [racer for racer, frame in zip(racers, firsts, strict=True) if frame["type"] == "welcome"]
    codes = [frame["code"] for frame in firsts if frame["type"] == "error"]
    assert len(winners) == 1 and codes == ["room-full"] * 19
    losers = [racer for racer in racers if racer not in winners]
    assert set(await asyncio.gather(*(racer.wait_closed(15) for racer in losers))) == {4409}
    winners[0].welcome = firsts[racers.index(winners[0])]
    await leave(*seated, winners[0])
    for racer in losers:
        await racer.close()


async def test_join_storm_across_processes_everyone_gets_welcome_and_sees_everyone(cluster, storm_servers):
    s1, s2 = storm_servers
    sockets = 16 * len(STORM_ROOMS)  # 160: every room full, 4 sockets per user in 4 different rooms
    started = time.monotonic()
    clients = await asyncio.gather(
        *(
            Client.join((s1, s2)[i % 2], STORM_ROOMS[i % len(STORM_ROOMS)], cluster.cookie[USERS[i // 4]], ping=False)
            for i in range(sockets)
        )
    )
    took = time.monotonic() - started
    print(f"\nFIGURE join storm: {sockets} sockets on 2 processes all welcomed in {took:.2f}s")
    assert len({client.peer_id for client in clients}) == sockets

    async def sees_room(client: Client) -> None:
        deadline = time.monotonic() + 30
        while len(client.welcome["peers"]) + len(client.of_type("peer-joined")) < 15:
            assert time.monotonic() < deadline, (
                f"{client.peer_id} in {client.welcome['room']['slug']} knows "
                f"{len(client.welcome['peers'])}+{len(client.of_type('peer-joined'))}; closed {client.closed_code}; "
                f"left {client.of_type('peer-left')}"
            )
            await asyncio.sleep(0.1)

    await asyncio.gather(*(sees_room(client) for client in clients))
    for room in STORM_ROOMS:
        members = [client for client in clients if client.welcome["room"]["slug"] == room]
        ids = {client.peer_id for client in members}
        for client in members:
            seen = {p["peer_id"] for p in client.welcome["peers"]} | {
                f["peer"]["peer_id"] for f in client.of_type("peer-joined")
            }
            assert seen == ids - {client.peer_id}
    await leave(*clients)


async def test_sigkilled_process_peers_leave_as_timeout_within_the_bound(cluster, servers):
    s1, s2 = servers
    s3 = cluster.server("s3")
    a = await Client.join(s1, "crash", cluster.cookie["m0"])
    d = await Client.join(s2, "crash", cluster.cookie["m1"])
    doomed = [await Client.join(s3, "crash", cluster.cookie[name]) for name in ("m2", "m3")]
    for watcher in (a, d):
        for _ in doomed:
            await watcher.recv_type("peer-joined", timeout=10)
    await doomed[-1].send({"type": "chat", "text": "settled"})
    await a.recv_type("chat", text="settled")
    await asyncio.sleep(HEARTBEAT)  # s3 has refreshed its peers at least once since they joined

    killed = time.monotonic()
    s3.kill()
    gone = {client.peer_id for client in doomed}
    for watcher in (a, d):
        for _ in gone:
            frame = await watcher.recv_type("peer-left", timeout=CRASH_BOUND + 15)
            assert frame["peer_id"] in gone and frame["reason"] == "timeout"
    took = time.monotonic() - killed
    print(f"\nFIGURE sigkill: peers of the killed process left after {took:.2f}s (bound {CRASH_BOUND:.2f}s)")
    assert took <= CRASH_BOUND + 3.0  # slack for a loaded 2-core machine; the figure is printed above

    fresh = await Client.join(s2, "crash", cluster.cookie["m4"])
    assert {p["peer_id"] for p in fresh.welcome["peers"]} == {a.peer_id, d.peer_id}
    deadline = time.monotonic() + 10
    while set(participation_reasons(cluster, list(gone)).values()) != {"timeout"}:
        assert time.monotonic() < deadline, participation_reasons(cluster, list(gone))
        await asyncio.sleep(0.1)
    for client in doomed:
        await client.close()
    await leave(a, d, fresh)


async def test_resume_after_the_process_was_sigkilled_keeps_the_peer(cluster, servers):
    """The old process cannot hand the peer over: after TAKEOVER_WAIT the new process adopts it."""
    s1, s2 = servers
    doomed_server = cluster.server("s5", SIGNALING_HEARTBEAT="15", SIGNALING_PEER_TTL="45")
    a = await Client.join(s1, "relay", cluster.cookie["m0"])
    e = await Client.join(doomed_server, "relay", cluster.cookie["m1"], ping=False)
    await a.recv_type("peer-joined")
    doomed_server.kill()
    started = time.monotonic()
    back = await Client.join(s2, "relay", cluster.cookie["m1"], query=f"?resume={e.welcome['resume_token']}")
    took = time.monotonic() - started
    print(f"\nFIGURE resume after SIGKILL: same peer back on another process in {took:.2f}s")
    assert back.welcome["resumed"] is True and back.peer_id == e.peer_id
    await a.send({"type": "offer", "to": e.peer_id, "sdp": "v=0 after the crash"})
    assert (await back.recv_type("offer"))["from"] == a.peer_id
    await back.send({"type": "chat", "text": "still me"})
    assert (await a.recv_type("chat", text="still me"))["from"] == e.peer_id
    assert a.of_type("peer-left") == [] and len(a.of_type("peer-joined")) == 1
    await e.close()
    await leave(a, back)
