"""The room socket against the contract (docs/protocol.md), on both signaling backends.

Every test talks to the real `config.asgi.application` with an Origin header and a real
session cookie; every frame a test receives is checked against calls.protocol.OUTGOING
by tests.helpers.Peer.
"""

import asyncio
from datetime import datetime

import pytest
from asgiref.sync import sync_to_async

from calls.models import Participation, Room
from calls.signaling.node import node_get
from tests.helpers import connect, join, server_frames_checked  # noqa: F401

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("server_frames_checked")]


async def _rows(**filters) -> list[Participation]:
    """The audit rows, once the ones queued so far are written (they are written behind, in batches)."""
    await (await node_get()).participations.flushed()
    return await sync_to_async(list)(Participation.objects.filter(**filters).order_by("pk"))


async def _eventually(check, timeout: float = 5.0):
    """Poll an async `check` until it returns something truthy (for rows written after a close)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result or asyncio.get_running_loop().time() > deadline:
            return result
        await asyncio.sleep(0.05)


# --- Joining ----------------------------------------------------------------------------------


async def test_welcome_describes_room_you_and_peers_with_their_media(signaling, users, room_for):
    alice, bob = await users("alice", "bob")
    room = await room_for(alice, name="Stand-up", capacity=5)
    a = await join(room.slug, alice)
    assert a.welcome["moderator"] is True
    assert a.welcome["peers"] == []
    await a.send({"type": "media", "audio": False, "video": True, "screen": True})

    b = await join(room.slug, bob)
    welcome = b.welcome
    assert welcome["v"] == 1
    assert welcome["room"] == {"slug": room.slug, "name": "Stand-up", "capacity": 5, "locked": False}
    assert welcome["you"] == {"id": bob.pk, "username": "bob", "display_name": "Bob"}
    assert welcome["peers"] == [
        {
            "peer_id": a.peer_id,
            "user": {"id": alice.pk, "username": "alice", "display_name": "Alice"},
            "media": {"audio": False, "video": True, "screen": True},
        }
    ]
    assert welcome["heartbeat"] >= 1 and welcome["ice_ttl"] > 0
    assert isinstance(welcome["ice_servers"], list)
    assert welcome["moderator"] is False and welcome["resumed"] is False
    assert len(b.peer_id) >= 16 and b.peer_id != a.peer_id

    joined = await a.recv_type("peer-joined")
    assert joined["peer"] == {
        "peer_id": b.peer_id,
        "user": {"id": bob.pk, "username": "bob", "display_name": "Bob"},
        "media": {"audio": True, "video": True, "screen": False},
    }
    rows = await _rows(room=room)
    assert [(row.user_id, row.peer_id, row.left_at) for row in rows] == [
        (alice.pk, a.peer_id, None),
        (bob.pk, b.peer_id, None),
    ]
    await a.close()
    await b.close()


async def test_wrong_or_missing_origin_is_refused(signaling, users, room_for):
    (alice,) = await users("alice")
    room = await room_for(alice)
    evil = await connect(f"/ws/rooms/{room.slug}/", alice, origin=b"http://evil.example")
    assert evil.connected is False
    missing = await connect(f"/ws/rooms/{room.slug}/", alice, origin=None)
    assert missing.connected is False


@pytest.mark.parametrize(
    ("case", "close_code", "error_code"),
    [
        ("anonymous", 4401, "unauthenticated"),
        ("private", 4403, "forbidden"),
        ("locked", 4403, "forbidden"),
        ("unknown", 4404, "no-such-room"),
        ("closed", 4404, "no-such-room"),
    ],
)
async def test_refusals_send_one_error_then_close(signaling, users, room_for, case, close_code, error_code):
    owner, guest = await users("owner", "guest")
    slug = (await room_for(owner, is_private=case == "private", is_locked=case == "locked")).slug
    if case == "unknown":
        slug = "no-such-room-here"
    if case == "closed":
        await sync_to_async(Room.objects.filter(slug=slug).update)(is_active=False)
    peer = await connect(f"/ws/rooms/{slug}/", None if case == "anonymous" else guest)
    assert peer.connected
    frame, code = await peer.refused()
    assert (frame["code"], code) == (error_code, close_code)
    assert frame["message"]
    assert await _rows() == []


async def test_private_room_admits_allowed_users_and_locked_room_admits_owner(signaling, users, room_for):
    owner, friend = await users("owner", "friend")
    private = await room_for(owner, is_private=True)
    await sync_to_async(private.allowed_users.add)(friend)
    f = await join(private.slug, friend)
    locked = await room_for(owner, is_locked=True)
    o = await join(locked.slug, owner)
    assert o.welcome["room"]["locked"] is True
    await f.close()
    await o.close()


async def test_full_room_is_refused_with_4409(signaling, users, room_for):
    a_user, b_user, c_user = await users("ann", "ben", "cat")
    room = await room_for(a_user, capacity=2)
    a = await join(room.slug, a_user)
    b = await join(room.slug, b_user)
    await a.recv_type("peer-joined")
    c = await connect(f"/ws/rooms/{room.slug}/", c_user)
    frame, code = await c.refused()
    assert (frame["code"], code) == ("room-full", 4409)
    assert await a.nothing(0.2)  # the refused socket was never announced
    await b.send({"type": "leave"})
    await b.expect_close()
    c = await join(room.slug, c_user)  # the seat is free again
    await a.close()
    await c.close()


async def test_capacity_race_admits_exactly_one_of_twenty(signaling, users, room_for):
    seated = await users(*[f"seat{i}" for i in range(2)])
    racers = await users(*[f"racer{i}" for i in range(20)])
    room = await room_for(seated[0], capacity=3)
    present = [await join(room.slug, user) for user in seated]
    sockets = await asyncio.gather(*(connect(f"/ws/rooms/{room.slug}/", user) for user in racers))
    firsts = await asyncio.gather(*(peer.recv(10) for peer in sockets))
    admitted = [peer for peer, frame in zip(sockets, firsts, strict=True) if frame["type"] == "welcome"]
    refused = [frame for frame in firsts if frame["type"] == "error"]
    assert len(admitted) == 1
    assert len(refused) == 19 and {frame["code"] for frame in refused} == {"room-full"}
    assert set(await asyncio.gather(*(peer.expect_close(10) for peer in sockets if peer not in admitted))) == {4409}
    winner = firsts[sockets.index(admitted[0])]["peer_id"]
    assert (await present[1].recv_type("peer-joined"))["peer"]["peer_id"] == winner
    assert await present[1].nothing(0.2)  # one peer-joined, for the winner only
    for peer in [*present, *admitted]:
        await peer.close()


async def test_per_user_socket_limit(signaling, users, room_for):
    signaling["MAX_SOCKETS_PER_USER"] = 2
    (alice,) = await users("alice")
    rooms = [await room_for(alice) for _ in range(3)]
    first = await join(rooms[0].slug, alice)
    second = await join(rooms[1].slug, alice)
    third = await connect(f"/ws/rooms/{rooms[2].slug}/", alice)
    frame, code = await third.refused()
    assert (frame["code"], code) == ("rate-limited", 4429)
    await first.send({"type": "leave"})
    await first.expect_close()
    third = await join(rooms[2].slug, alice)
    await second.close()
    await third.close()


# --- Relaying -------------------------------------------------------------------------------


async def test_offer_answer_ice_reach_only_the_addressed_peer_with_server_from(signaling, users, room_for):
    alice, bob, carol = await users("alice", "bob", "carol")
    room = await room_for(alice)
    a = await join(room.slug, alice)
    b = await join(room.slug, bob)
    c = await join(room.slug, carol)
    await a.recv_type("peer-joined")
    await a.recv_type("peer-joined")
    await b.recv_type("peer-joined")

    await c.send({"type": "offer", "to": a.peer_id, "sdp": "v=0 offer", "from": b.peer_id, "user": "x"})
    assert await a.recv() == {"type": "offer", "from": c.peer_id, "sdp": "v=0 offer"}
    await a.send({"type": "answer", "to": c.peer_id, "sdp": "v=0 answer", "from": "spoofed"})
    assert await c.recv() == {"type": "answer", "from": a.peer_id, "sdp": "v=0 answer"}
    candidate = {"candidate": "candidate:1 1 udp 2122260223 127.0.0.1 5000 typ host", "sdpMid": "0"}
    await c.send({"type": "ice", "to": a.peer_id, "candidate": {**candidate, "sdpMLineIndex": 0, "extra": "no"}})
    assert await a.recv() == {"type": "ice", "from": c.peer_id, "candidate": {**candidate, "sdpMLineIndex": 0}}
    await c.send({"type": "ice", "to": a.peer_id, "candidate": None})
    assert await a.recv() == {"type": "ice", "from": c.peer_id, "candidate": None}
    assert await b.nothing(0.3)
    for peer in (a, b, c):
        await peer.close()


async def test_a_peer_of_another_room_is_unknown(signaling, users, room_for):
    alice, bob = await users("alice", "bob")
    one = await room_for(alice)
    two = await room_for(bob)
    a = await join(one.slug, alice)
    b = await join(two.slug, bob)
    await a.send({"type": "offer", "to": b.peer_id, "sdp": "v=0", "id": "o1"})
    assert await a.recv() == {
        "type": "error",
        "code": "unknown-peer",
        "message": "No such peer in this room.",
        "ref": "o1",
    }
    await a.send({"type": "ice", "to": a.peer_id, "candidate": None})
    assert (await a.recv())["code"] == "unknown-peer"
    assert await b.nothing(0.3)
    await a.close()
    await b.close()


async def test_chat_reaches_everyone_including_the_sender(signaling, users, room_for):
    alice, bob = await users("alice", "bob")
    room = await room_for(alice)
    a = await join(room.slug, alice)
    b = await join(room.slug, bob)
    await a.recv_type("peer-joined")
    text = "  <b>hi</b> & <script>alert(1)</script>  "
    await b.send({"type": "chat", "text": text, "from": a.peer_id})
    mine, theirs = await b.recv(), await a.recv()
    assert mine == theirs
    assert mine["from"] == b.peer_id and mine["user"]["username"] == "bob"
    assert mine["text"] == text.strip()  # verbatim: clients escape it on display
    assert datetime.fromisoformat(mine["ts"]).utcoffset().total_seconds() == 0
    await b.send({"type": "chat", "text": "again"})
    assert (await a.recv())["id"] != mine["id"]
    await a.close()
    await b.close()


async def test_media_goes_to_the_others_and_into_later_welcomes(signaling, users, room_for):
    alice, bob, carol = await users("alice", "bob", "carol")
    room = await room_for(alice)
    a = await join(room.slug, alice)
    b = await join(room.slug, bob)
    await a.recv_type("peer-joined")
    await a.send({"type": "media", "audio": True, "video": False, "screen": False})
    assert await b.recv() == {"type": "media", "from": a.peer_id, "audio": True, "video": False, "screen": False}
    assert await a.nothing(0.2)
    c = await join(room.slug, carol)
    media = {peer["peer_id"]: peer["media"] for peer in c.welcome["peers"]}
    assert media == {
        a.peer_id: {"audio": True, "video": False, "screen": False},
        b.peer_id: {"audio": True, "video": True, "screen": False},
    }
    for peer in (a, b, c):
        await peer.close()


async def test_ice_servers_refresh_and_ping(signaling, users, room_for, settings):
    settings.TURN_SECRET = "s3cret"
    settings.TURN_URLS = ["turn:127.0.0.1:3478?transport=udp"]
    settings.STUN_URLS = ["stun:127.0.0.1:3478"]
    settings.TURN_TTL = 600
    (alice,) = await users("alice")
    room = await room_for(alice)
    a = await join(room.slug, alice)
    await a.send({"type": "ice-servers"})
    frame = await a.recv()
    assert frame["type"] == "ice-servers" and frame["ice_ttl"] == 600
    turn = frame["ice_servers"][1]
    assert turn["urls"] == ["turn:127.0.0.1:3478?transport=udp"]
    assert turn["username"].endswith(f":{alice.pk}")
    await a.send({"type": "ping", "id": "p-1"})
    pong = await a.recv()
    assert pong == {"type": "pong", "id": "p-1", "resume_token": pong["resume_token"]}
    assert pong["resume_token"].startswith(a.peer_id + ":")  # renewed: docs/protocol.md, Resume
    await a.send({"type": "ping"})
    assert (await a.recv()).keys() == {"type", "resume_token"}
    await a.close()


# --- Leaving --------------------------------------------------------------------------------


async def test_leave_announces_left_and_closes_normally(signaling, users, room_for):
    alice, bob = await users("alice", "bob")
    room = await room_for(alice)
    a = await join(room.slug, alice)
    b = await join(room.slug, bob)
    await b.send({"type": "leave"})
    assert await b.expect_close() == 1000
    assert await a.recv_type("peer-left") == {"type": "peer-left", "peer_id": b.peer_id, "reason": "left"}
    rows = await _eventually(lambda: _rows(peer_id=b.peer_id, reason="left"))
    assert rows and rows[0].left_at is not None
    await a.close()


async def test_dropped_socket_is_announced_disconnected_after_the_grace(signaling, users, room_for):
    signaling["RESUME_GRACE"] = 0.3
    alice, bob = await users("alice", "bob")
    room = await room_for(alice)
    a = await join(room.slug, alice)
    b = await join(room.slug, bob)
    await a.recv_type("peer-joined")
    await b.close()  # no leave frame: the connection dropped
    left = await a.recv_type("peer-left", timeout=5)
    assert left == {"type": "peer-left", "peer_id": b.peer_id, "reason": "disconnected"}
    assert await _eventually(lambda: _rows(peer_id=b.peer_id, reason="disconnected"))
    await a.close()


async def test_silent_socket_is_dropped_by_heartbeat_as_timeout(signaling, users, room_for):
    signaling["HEARTBEAT"] = 0.3
    alice, bob = await users("alice", "bob")
    room = await room_for(alice)
    a = await join(room.slug, alice)
    b = await join(room.slug, bob)

    async def keep_alive():
        while True:
            await a.send({"type": "ping"})
            await asyncio.sleep(0.1)

    pinger = asyncio.create_task(keep_alive())
    try:
        assert await b.expect_close(timeout=5) == 4408
        while True:
            frame = await a.recv_type("peer-left", timeout=5)
            if frame["peer_id"] == b.peer_id:
                break
        assert frame["reason"] == "timeout"
    finally:
        pinger.cancel()
    assert await _eventually(lambda: _rows(peer_id=b.peer_id, reason="timeout"))
    await a.close()


# --- Moderation -----------------------------------------------------------------------------


async def test_owner_kicks_a_peer_who_cannot_rejoin(signaling, users, room_for):
    owner, bob, carol = await users("owner", "bob", "carol")
    room = await room_for(owner)
    o = await join(room.slug, owner)
    b = await join(room.slug, bob)
    c = await join(room.slug, carol)
    await o.send({"type": "kick", "peer": b.peer_id})
    kicked = await b.recv_type("kicked")
    assert kicked == {"type": "kicked", "by": {"id": owner.pk, "username": "owner", "display_name": "Owner"}}
    assert await b.expect_close() == 4403
    for peer in (o, c):
        assert await peer.recv_type("peer-left") == {"type": "peer-left", "peer_id": b.peer_id, "reason": "kicked"}
    assert await _eventually(lambda: _rows(peer_id=b.peer_id, reason="kicked"))
    again = await connect(f"/ws/rooms/{room.slug}/", bob)
    frame, code = await again.refused()
    assert (frame["code"], code) == ("forbidden", 4403)
    await o.close()
    await c.close()


async def test_only_owner_or_staff_may_kick_or_lock(signaling, users, room_for):
    owner, bob, carol = await users("owner", "bob", "carol")
    (staff,) = await users("staff", is_staff=True)
    room = await room_for(owner)
    o = await join(room.slug, owner)
    b = await join(room.slug, bob)
    c = await join(room.slug, carol)
    await o.recv_type("peer-joined")
    await o.recv_type("peer-joined")
    await b.recv_type("peer-joined")
    await b.send({"type": "kick", "peer": c.peer_id, "id": "k"})
    assert await b.recv() == {
        "type": "error",
        "code": "forbidden",
        "message": "Only the room owner or staff may do that.",
        "ref": "k",
    }
    await b.send({"type": "lock", "locked": True})
    assert (await b.recv())["code"] == "forbidden"
    assert await o.nothing(0.2) and await c.nothing(0.1)
    assert (await sync_to_async(Room.objects.get)(pk=room.pk)).is_locked is False

    s = await join(room.slug, staff)
    assert s.welcome["moderator"] is True
    await s.send({"type": "lock", "locked": True})
    for peer in (o, b, c, s):
        assert await peer.recv_type("room") == {"type": "room", "locked": True}
    assert (await sync_to_async(Room.objects.get)(pk=room.pk)).is_locked is True
    (dave,) = await users("dave")
    late = await connect(f"/ws/rooms/{room.slug}/", dave)
    frame, code = await late.refused()
    assert (frame["code"], code) == ("forbidden", 4403)
    await o.send({"type": "lock", "locked": False})
    assert await b.recv_type("room") == {"type": "room", "locked": False}
    d = await join(room.slug, dave)
    await s.send({"type": "kick", "peer": c.peer_id})
    assert await c.recv_type("kicked") == {"type": "kicked", "by": s.welcome["you"]}
    assert await c.expect_close() == 4403
    for peer in (o, b, s, d):
        await peer.close()


# --- Sockets that must end ------------------------------------------------------------------


async def test_signed_out_elsewhere_loses_the_socket_within_the_heartbeat(signaling, users, room_for):
    from django.contrib.sessions.models import Session

    from tests.helpers import session_cookie_for

    signaling["HEARTBEAT"] = 0.5
    alice, bob = await users("alice", "bob")
    room = await room_for(alice)
    cookie = await sync_to_async(session_cookie_for)(bob)
    a = await join(room.slug, alice)
    b = await join(room.slug, bob, cookie=cookie)
    await a.recv_type("peer-joined")

    async def keep_alive():
        while True:
            await a.send({"type": "ping"})
            await b.send({"type": "ping"})
            await asyncio.sleep(0.15)

    pinger = asyncio.create_task(keep_alive())
    try:
        await sync_to_async(Session.objects.filter(session_key=cookie).delete)()  # signed out in another tab
        frame = await b.recv_type("error", timeout=3)
        assert frame["code"] == "unauthenticated"
        assert await b.expect_close(3) == 4401
        left = await a.recv_type("peer-left", timeout=3)
        assert left == {"type": "peer-left", "peer_id": b.peer_id, "reason": "disconnected"}
        # Deactivated without the model signal (a bulk update): the sweeper notices too.
        await sync_to_async(type(alice).objects.filter(pk=alice.pk).update)(is_active=False)
        assert (await a.recv_type("error", timeout=3))["code"] == "unauthenticated"
        assert await a.expect_close(3) == 4401
    finally:
        pinger.cancel()


async def test_sign_out_and_deactivation_end_sockets_at_once(signaling, users, room_for):
    from django.test import Client

    alice, bob = await users("alice", "bob")
    room = await room_for(alice)
    browser = Client()
    await sync_to_async(browser.force_login)(bob)
    b = await join(room.slug, bob, cookie=browser.cookies["sessionid"].value)
    other_tab = await join(room.slug, bob)
    a = await join(room.slug, alice)
    await sync_to_async(browser.post)("/accounts/logout/")
    assert (await b.recv_type("error"))["code"] == "unauthenticated"
    assert await b.expect_close() == 4401
    # Only the signed-out session's sockets go: the other tab stays and sees b leave.
    await other_tab.recv_type("peer-joined")
    left = await other_tab.recv_type("peer-left")
    assert left == {"type": "peer-left", "peer_id": b.peer_id, "reason": "disconnected"}
    assert await other_tab.nothing(0.3)

    alice.is_active = False
    await sync_to_async(alice.save)()
    assert (await a.recv_type("error"))["code"] == "unauthenticated"
    assert await a.expect_close() == 4401
    await other_tab.close()


async def test_admin_closing_the_room_ends_its_sockets(signaling, users, room_for):
    from django.test import Client

    alice, bob = await users("alice", "bob")
    (admin,) = await users("admin", is_staff=True, is_superuser=True)
    room = await room_for(alice)
    a = await join(room.slug, alice)
    b = await join(room.slug, bob)
    browser = Client()
    await sync_to_async(browser.force_login)(admin)
    response = await sync_to_async(browser.post)(
        "/admin/calls/room/", {"action": "lock_rooms", "_selected_action": [room.pk]}
    )
    assert response.status_code == 302
    for peer in (a, b):
        assert await peer.recv_type("room") == {"type": "room", "locked": True}
    response = await sync_to_async(browser.post)(
        "/admin/calls/room/", {"action": "close_rooms", "_selected_action": [room.pk]}
    )
    assert response.status_code == 302
    for peer in (a, b):
        assert (await peer.recv_type("error"))["code"] == "no-such-room"
        assert await peer.expect_close() == 4404
    again = await connect(f"/ws/rooms/{room.slug}/", alice)
    assert (await again.refused())[1] == 4404


async def test_a_stuck_reader_is_closed_once_and_the_close_gets_through():
    from calls.signaling.outbox import Outbox

    sent: list[dict] = []
    stuck = asyncio.Event()

    async def send(message: dict) -> None:
        sent.append(message)
        await stuck.wait()  # the client stopped reading

    overflows = []
    outbox = Outbox(send, limit=3, on_overflow=lambda: overflows.append(1))
    outbox.put('{"type":"pong","id":"first"}')
    await asyncio.sleep(0.05)  # the writer takes it and blocks on the socket
    for number in range(10):
        outbox.put(f'{{"type":"pong","id":"{number}"}}')
    assert overflows == [1]  # told once, however many frames pile up
    assert outbox.put({"type": "websocket.close", "code": 1013}) is True
    stuck.set()
    await asyncio.wait_for(outbox.task, 2)
    assert sent[-1] == {"type": "websocket.close", "code": 1013}
    assert len(sent) == 2  # the first frame (in flight), then the close: no backlog after it


async def test_a_closed_socket_is_freed_at_once_not_by_a_full_garbage_collection(signaling, users, room_for):
    """Objects left in reference cycles wait for CPython's full collection, a pause of the whole
    process that grows with the number of open sockets (docs/performance.md)."""
    import gc

    (alice,) = await users("alice")
    room = await room_for(alice)
    warm = await join(room.slug, alice)  # first-use caches (node, pools) are not per socket
    await warm.send({"type": "leave"})
    await warm.expect_close()
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for _ in range(3):
            peer = await join(room.slug, alice)
            await peer.send({"type": "ping"})
            await peer.recv_type("pong")
            await peer.send({"type": "leave"})
            assert await peer.expect_close() == 1000
            await peer.ws.wait(1)
        await asyncio.sleep(0.1)
        gc.collect()
        left = sorted({type(item).__name__ for item in gc.garbage} & {"RoomConsumer", "Session", "Outbox"})
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert left == []


async def test_an_idle_sockets_writer_is_parked_and_comes_back_with_the_next_frame():
    """Idle sockets hold no writer task (memory per waiting socket); frames still go out in order."""
    import orjson

    from calls.signaling.outbox import Outbox

    sent: list[str] = []

    async def send(message: dict) -> None:
        sent.append(message["text"])

    outbox = Outbox(send, limit=10, on_overflow=lambda: None)
    outbox.put('{"type":"pong","id":"one"}')
    await asyncio.sleep(0.01)
    outbox.park()  # it sent something since the last sweep: kept
    assert outbox.task is not None
    outbox.park()  # nothing since: parked
    assert outbox.task is None
    outbox.put('{"type":"pong","id":"two"}')
    outbox.put('{"type":"pong","id":"three"}')
    outbox.park()  # busy again: kept
    await asyncio.sleep(0.01)
    assert [orjson.loads(text)["id"] for text in sent] == ["one", "two", "three"]
    assert outbox.task is not None


async def test_a_socket_gone_under_its_writer_ends_the_outbox_quietly():
    """On uvicorn a frame written after the client left raises ClientDisconnected (an OSError):
    the writer ends without "Task exception was never retrieved" and takes no more frames."""
    from calls.signaling.outbox import Outbox

    async def send(message: dict) -> None:
        raise ConnectionResetError("the client left")

    outbox = Outbox(send, limit=10)
    outbox.put('{"type":"pong","id":"late"}')
    task = outbox.task
    await asyncio.wait_for(task, 2)
    assert task.exception() is None
    assert outbox.put('{"type":"pong","id":"later"}') is False


async def test_frames_written_at_once_queue_while_writes_are_paused_and_keep_their_order():
    """On Parley's server (config.ws_protocol) a frame is written at once while the socket takes
    writes; while it does not, frames wait in the outbox (its limit still closes a reader that
    stays stuck) and later frames never overtake them."""
    import orjson

    from calls.signaling.outbox import Outbox

    class Server:
        def __init__(self) -> None:
            self.wire: list[str] = []
            self.paused = False
            self.resumed = asyncio.Event()

        def text_send_now(self, text: str) -> bool:
            if self.paused:
                return False
            self.wire.append(text)
            return True

        async def send(self, message: dict) -> None:
            while self.paused:
                await self.resumed.wait()
            self.wire.append(message.get("text") or message["type"])

    def pong(number: int) -> str:
        return f'{{"type":"pong","id":"{number}"}}'

    def ids() -> list[str]:
        return [orjson.loads(text)["id"] if text.startswith("{") else text for text in server.wire]

    server = Server()
    overflows = []
    outbox = Outbox(server.send, limit=5, on_overflow=lambda: overflows.append(1))
    outbox.put(pong(1))
    assert ids() == ["1"] and outbox.task is None  # written at once: no writer task
    server.paused = True
    for number in (2, 3):
        outbox.put(pong(number))
    server.paused = False  # writes resume before the writer ran: 4 must still wait its turn
    outbox.put(pong(4))
    assert ids() == ["1"]
    await asyncio.wait_for(outbox.task, 2)
    assert ids() == ["1", "2", "3", "4"] and outbox.task is None
    outbox.put(pong(5))
    assert ids()[-1] == "5"  # at once again
    server.paused = True
    for number in range(6, 20):
        outbox.put(pong(number))
    assert overflows == [1]  # a reader that stays stuck is closed, as before
    assert outbox.put({"type": "websocket.close", "code": 4503}) is True
    server.paused = False
    server.resumed.set()
    await asyncio.wait_for(outbox.task, 2)
    # The close goes out next; the backlog before it is dropped, as for any reader that slow.
    assert ids() == ["1", "2", "3", "4", "5", "websocket.close"]
