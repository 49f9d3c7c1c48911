"""Resume: a socket that dropped comes back within RESUME_GRACE as the same peer, on both backends."""

import asyncio

import pytest
from asgiref.sync import sync_to_async

from calls.models import Participation
from calls.signaling.node import node_get
from tests.helpers import join, server_frames_checked  # noqa: F401

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("server_frames_checked")]


@pytest.fixture
def trio(signaling, make_user, make_room):
    """`await trio()` -> (room, [alice, bob, carol]) with alice owning the room."""

    async def make():
        people = [await sync_to_async(make_user)(name) for name in ("alice", "bob", "carol")]
        room = await sync_to_async(make_room)(people[0])
        return room, people

    return make


async def _pong(peer) -> None:
    """Round-trip a ping: every frame the peer sent before has been handled."""
    await peer.send({"type": "ping", "id": "sync"})
    await peer.recv_type("pong")


async def _membership(peer) -> list[str]:
    """The membership frames `peer` had, once nothing more comes."""
    while not await peer.nothing(0.3):
        await peer.recv()
    kinds = ("peer-joined", "peer-left", "peer-suspended", "peer-resumed")
    return [frame["type"] for frame in peer.frames if frame["type"] in kinds]


async def _rows(peer_id: str) -> list[Participation]:
    return await sync_to_async(list)(Participation.objects.filter(peer_id=peer_id))


async def test_resume_keeps_the_peer_and_delivers_what_it_missed(signaling, trio):
    signaling["RESUME_GRACE"] = 10
    room, (alice, bob, _) = await trio()
    a = await join(room.slug, alice)
    b = await join(room.slug, bob)
    await a.recv_type("peer-joined")
    token = b.welcome["resume_token"]
    await b.close()  # the network dropped: no leave frame

    candidate = {"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host", "sdpMid": "0"}
    await a.send({"type": "offer", "to": b.peer_id, "sdp": "v=0 restart"})
    await a.send({"type": "ice", "to": b.peer_id, "candidate": candidate})
    await a.send({"type": "media", "audio": False, "video": True, "screen": False})
    await a.send({"type": "chat", "text": "are you there?"})
    await a.recv_type("chat")
    await _pong(a)
    await asyncio.sleep(0.2)

    again = await join(room.slug, bob, query=f"resume={token}")
    assert again.welcome["resumed"] is True
    assert again.peer_id == b.peer_id
    assert again.welcome["peers"] == [
        {"peer_id": a.peer_id, "user": alice.public_dict(), "media": {"audio": False, "video": True, "screen": False}}
    ]
    missed = [await again.recv() for _ in range(3)]
    assert missed[0] == {"type": "offer", "from": a.peer_id, "sdp": "v=0 restart"}
    assert missed[1] == {"type": "ice", "from": a.peer_id, "candidate": candidate}
    assert missed[2]["type"] == "chat" and missed[2]["text"] == "are you there?"
    assert await again.nothing(0.2)  # media and membership came in the welcome, not twice
    # The others saw it reconnecting and back, and no peer-left / peer-joined.
    assert await _membership(a) == ["peer-joined", "peer-suspended", "peer-resumed"]

    await again.send({"type": "answer", "to": a.peer_id, "sdp": "v=0 answer"})
    assert await a.recv() == {"type": "answer", "from": b.peer_id, "sdp": "v=0 answer"}
    await a.send({"type": "ice", "to": b.peer_id, "candidate": None})
    assert await again.recv() == {"type": "ice", "from": a.peer_id, "candidate": None}
    rows = await _rows(b.peer_id)
    assert len(rows) == 1 and rows[0].left_at is None  # one stay in the audit trail

    await again.send({"type": "leave"})
    assert await a.recv_type("peer-left") == {"type": "peer-left", "peer_id": b.peer_id, "reason": "left"}
    await a.close()


async def test_grace_expiry_announces_disconnected_and_the_token_then_joins_afresh(signaling, trio):
    signaling["RESUME_GRACE"] = 0.4
    room, (alice, bob, _) = await trio()
    a = await join(room.slug, alice)
    b = await join(room.slug, bob)
    await a.recv_type("peer-joined")
    await b.close()
    await a.send({"type": "chat", "text": "lost"})
    assert await a.nothing(0.2) is False  # own chat echo
    await a.recv_type("chat")
    left = await a.recv_type("peer-left", timeout=5)
    assert left == {"type": "peer-left", "peer_id": b.peer_id, "reason": "disconnected"}
    rows = await _rows(b.peer_id)
    assert len(rows) == 1 and rows[0].reason == "disconnected"
    node = await node_get()
    room_here = node.rooms.get(room.slug)
    assert room_here is None or (not room_here.suspended and not room_here.suspended.pending)  # nothing held

    fresh = await join(room.slug, bob, query=f"resume={b.welcome['resume_token']}")
    assert fresh.welcome["resumed"] is False and fresh.peer_id != b.peer_id
    history = await fresh.recv()  # the room's recent chat, as every fresh join gets it
    assert [message["text"] for message in history["messages"]] == ["lost"]
    assert await fresh.nothing(0.2)  # nothing buffered for the old peer: it is gone with it
    assert (await a.recv_type("peer-joined"))["peer"]["peer_id"] == fresh.peer_id
    await a.close()
    await fresh.close()


async def test_a_token_works_only_for_its_user_and_room(signaling, trio, make_room):
    signaling["RESUME_GRACE"] = 10
    room, (alice, bob, carol) = await trio()
    other_room = await sync_to_async(make_room)(alice)
    a = await join(room.slug, alice)
    b = await join(room.slug, bob)
    token = b.welcome["resume_token"]
    await b.close()
    thief = await join(room.slug, carol, query=f"resume={token}")
    assert thief.welcome["resumed"] is False and thief.peer_id != b.peer_id
    elsewhere = await join(other_room.slug, bob, query=f"resume={token}")
    assert elsewhere.welcome["resumed"] is False
    forged = await join(room.slug, bob, query=f"resume={b.peer_id}.{'0' * 32}")
    assert forged.welcome["resumed"] is False
    await forged.send({"type": "leave"})
    await forged.expect_close()
    back = await join(room.slug, bob, query=f"resume={token}")
    assert back.welcome["resumed"] is True and back.peer_id == b.peer_id
    for peer in (a, thief, elsewhere, back):
        await peer.close()


async def test_leave_is_final_and_announced_at_once(signaling, trio):
    signaling["RESUME_GRACE"] = 30
    room, (alice, bob, _) = await trio()
    a = await join(room.slug, alice)
    b = await join(room.slug, bob)
    await b.send({"type": "leave"})
    await b.expect_close()
    assert (await a.recv_type("peer-left", timeout=2))["reason"] == "left"
    fresh = await join(room.slug, bob, query=f"resume={b.welcome['resume_token']}")
    assert fresh.welcome["resumed"] is False
    await a.close()
    await fresh.close()


async def test_kicking_a_suspended_peer_announces_kicked_at_once(signaling, trio):
    signaling["RESUME_GRACE"] = 30
    room, (alice, bob, _) = await trio()
    a = await join(room.slug, alice)
    b = await join(room.slug, bob)
    await a.recv_type("peer-joined")
    await b.close()
    await a.send({"type": "kick", "peer": b.peer_id})
    assert await a.recv_type("peer-left", timeout=3) == {"type": "peer-left", "peer_id": b.peer_id, "reason": "kicked"}
    rows = await _rows(b.peer_id)
    assert rows[0].reason == "kicked"
    refused = await join_refused(room.slug, bob, f"resume={b.welcome['resume_token']}")
    assert refused == ("forbidden", 4403)
    await a.close()


async def test_the_buffer_is_bounded_and_a_locked_room_lets_the_member_back(signaling, trio):
    signaling.update(RESUME_GRACE=10, RESUME_BUFFER=3)
    room, (alice, bob, _) = await trio()
    a = await join(room.slug, alice)
    b = await join(room.slug, bob)
    await b.close()
    for number in range(5):
        await a.send({"type": "chat", "text": f"m{number}"})
    await a.send({"type": "lock", "locked": True})
    await a.recv_type("room")
    await _pong(a)
    await asyncio.sleep(0.2)
    back = await join(room.slug, bob, query=f"resume={b.welcome['resume_token']}")
    assert back.welcome["resumed"] is True and back.welcome["room"]["locked"] is True
    texts = [(await back.recv())["text"] for _ in range(3)]
    assert texts == ["m0", "m1", "m2"]
    assert await back.nothing(0.2)
    await a.close()
    await back.close()


async def join_refused(slug: str, user, query: str) -> tuple[str, int]:
    from tests.helpers import connect

    peer = await connect(f"/ws/rooms/{slug}/?{query}", user)
    frame, code = await peer.refused()
    return frame["code"], code


async def test_resume_takes_over_a_socket_that_still_looks_open(signaling, trio):
    """After a network change the old socket is often half-open: the new one takes the peer over."""
    signaling["RESUME_GRACE"] = 10
    room, (alice, bob, _) = await trio()
    a = await join(room.slug, alice)
    b = await join(room.slug, bob)
    await a.recv_type("peer-joined")
    again = await join(room.slug, bob, query=f"resume={b.welcome['resume_token']}")
    assert again.welcome["resumed"] is True and again.peer_id == b.peer_id
    assert await b.expect_close() == 4000  # the old socket is closed as replaced
    await a.send({"type": "offer", "to": b.peer_id, "sdp": "v=0 after the switch"})
    assert await again.recv() == {"type": "offer", "from": a.peer_id, "sdp": "v=0 after the switch"}
    # The switch showed it reconnecting a moment; no peer-left / peer-joined for it.
    assert await _membership(a) == ["peer-joined", "peer-suspended", "peer-resumed"]
    assert len(await _rows(b.peer_id)) == 1
    await a.close()
    await again.close()


# A token resumes only a peer still held; anything else is a fresh join with every check (issue #13.2).


async def _room_snapshot(slug: str) -> tuple[list[str], int]:
    """Who the room state holds, and how many stays the audit trail has: a refusal changes neither."""
    node = await node_get()
    peers = sorted(peer.peer_id for peer in await node.registry.peers_list(slug=slug))
    rows = await sync_to_async(Participation.objects.filter(room__slug=slug).count)()
    return peers, rows


async def _lock(moderator) -> None:
    await moderator.send({"type": "lock", "locked": True})
    assert await moderator.recv_type("room") == {"type": "room", "locked": True}


async def _refused_unseen(slug: str, user, token: str, watcher) -> tuple[str, int]:
    """Replay `token`: the refusal, with nothing sent to `watcher` and no state changed."""
    before = await _room_snapshot(slug)
    refused = await join_refused(slug, user, f"resume={token}")
    assert await watcher.nothing(0.3), "the refused socket was announced"
    assert await _room_snapshot(slug) == before
    return refused


async def _joined_and_left(slug: str, alice, bob) -> tuple:
    """alice stays in the room; bob joins and leaves. Returns alice's socket and bob's old one."""
    a = await join(slug, alice)
    b = await join(slug, bob)
    await b.send({"type": "leave"})
    await b.expect_close()
    await a.recv_type("peer-left")
    return a, b


async def test_a_token_replayed_after_leave_does_not_enter_a_locked_room(signaling, trio):
    signaling["RESUME_GRACE"] = 30
    room, (alice, bob, _) = await trio()
    a, b = await _joined_and_left(room.slug, alice, bob)
    await _lock(a)
    assert await _refused_unseen(room.slug, bob, b.welcome["resume_token"], a) == ("forbidden", 4403)
    await a.close()


async def test_a_kicked_users_token_does_not_enter_during_the_ban_nor_a_locked_room_after_it(
    signaling, trio, monkeypatch
):
    signaling["RESUME_GRACE"] = 30
    monkeypatch.setattr("calls.signaling.frames.KICK_BAN_SECONDS", 1.0)
    room, (alice, bob, _) = await trio()
    a = await join(room.slug, alice)
    b = await join(room.slug, bob)
    await a.recv_type("peer-joined")
    await a.send({"type": "kick", "peer": b.peer_id})
    assert await b.expect_close() == 4403
    await a.recv_type("peer-left")
    token = b.welcome["resume_token"]
    assert await _refused_unseen(room.slug, bob, token, a) == ("forbidden", 4403)  # banned
    await asyncio.sleep(1.1)
    await _lock(a)
    assert await _refused_unseen(room.slug, bob, token, a) == ("forbidden", 4403)  # locked
    await a.close()


async def test_a_timed_out_peers_token_does_not_enter_a_locked_room(signaling, trio):
    signaling.update(RESUME_GRACE=30, HEARTBEAT=0.3)
    room, (alice, bob, _) = await trio()
    a = await join(room.slug, alice)
    b = await join(room.slug, bob)
    await a.recv_type("peer-joined")
    await _lock(a)
    for _ in range(10):  # alice keeps talking; bob falls silent and is timed out
        await a.send({"type": "ping"})
        await asyncio.sleep(0.1)
    assert await b.expect_close() == 4408
    assert (await a.recv_type("peer-left"))["reason"] == "timeout"
    pinger = asyncio.create_task(_keep_alive(a))
    try:
        refused = await join_refused(room.slug, bob, f"resume={b.welcome['resume_token']}")
        await asyncio.sleep(0.3)
    finally:
        pinger.cancel()
    assert refused == ("forbidden", 4403)
    await _last_pong(a)  # alice heard nothing but her pongs
    assert (await _room_snapshot(room.slug))[0] == [a.peer_id]
    await a.close()


async def _keep_alive(peer) -> None:
    while True:
        await peer.send({"type": "ping"})
        await asyncio.sleep(0.1)


async def _last_pong(peer) -> dict:
    """Read what is queued for `peer`, all of it pongs; the last one."""
    pong = None
    while pong is None or not await peer.nothing(0.1):
        pong = await peer.recv()
        assert pong["type"] == "pong", pong
    return pong


async def test_a_signed_out_peers_token_does_not_enter_a_locked_room(signaling, trio):
    from calls.services.eviction import user_sockets_evict

    signaling["RESUME_GRACE"] = 30
    room, (alice, bob, _) = await trio()
    a = await join(room.slug, alice)
    b = await join(room.slug, bob)
    await a.recv_type("peer-joined")
    await _lock(a)
    await sync_to_async(user_sockets_evict)(user_id=bob.pk, session_key=None, reason="signed-out")
    assert await b.expect_close() == 4401
    await a.recv_type("peer-left")
    assert await _refused_unseen(room.slug, bob, b.welcome["resume_token"], a) == ("forbidden", 4403)
    await a.close()


async def test_an_expired_token_does_not_take_over_a_held_peer_and_the_pong_renews_it(signaling, trio):
    """A token lives RESUME_GRACE + 3 heartbeats from when it was sent (welcome or pong): the
    welcome's, older than that, does not take the peer over, even while the peer is held."""
    signaling.update(RESUME_GRACE=0.5, HEARTBEAT=0.4)
    room, (alice, bob, _) = await trio()
    a = await join(room.slug, alice)
    b = await join(room.slug, bob)
    await a.recv_type("peer-joined")
    await _lock(a)
    await b.recv_type("room")
    for _ in range(30):  # 3 s, more than 0.5 + 3 × 0.4 (and the 1 s steps of the timestamp)
        await b.send({"type": "ping"})
        await a.send({"type": "ping"})
        await asyncio.sleep(0.1)
    pong = await _last_pong(b)
    assert pong["resume_token"] != b.welcome["resume_token"]
    before = await _room_snapshot(room.slug)
    assert await join_refused(room.slug, bob, f"resume={b.welcome['resume_token']}") == ("forbidden", 4403)
    assert await _room_snapshot(room.slug) == before
    assert await b.nothing(0.1)  # the held peer's socket was not replaced
    again = await join(room.slug, bob, query=f"resume={pong['resume_token']}")
    assert again.welcome["resumed"] is True and again.peer_id == b.peer_id
    assert await b.expect_close() == 4000
    await a.close()
    await again.close()


async def test_a_token_does_not_reopen_a_private_room_its_user_was_taken_off(signaling, trio, make_room):
    signaling["RESUME_GRACE"] = 30
    _, (alice, bob, _) = await trio()
    room = await sync_to_async(make_room)(alice, is_private=True)
    await sync_to_async(room.allowed_users.add)(bob)
    a, b = await _joined_and_left(room.slug, alice, bob)
    await sync_to_async(room.allowed_users.remove)(bob)
    assert await _refused_unseen(room.slug, bob, b.welcome["resume_token"], a) == ("forbidden", 4403)
    await a.close()


async def test_a_token_does_not_take_a_seat_over_capacity(signaling, trio, make_room):
    signaling["RESUME_GRACE"] = 30
    _, (alice, bob, carol) = await trio()
    room = await sync_to_async(make_room)(alice, capacity=2)
    a, b = await _joined_and_left(room.slug, alice, bob)
    c = await join(room.slug, carol)
    await a.recv_type("peer-joined")
    assert await _refused_unseen(room.slug, bob, b.welcome["resume_token"], a) == ("room-full", 4409)
    await a.close()
    await c.close()


async def test_a_token_does_not_pass_the_per_user_socket_cap(signaling, trio, make_room):
    signaling.update(RESUME_GRACE=30, MAX_SOCKETS_PER_USER=1)
    room, (alice, bob, _) = await trio()
    elsewhere = await sync_to_async(make_room)(alice)
    a, b = await _joined_and_left(room.slug, alice, bob)
    busy = await join(elsewhere.slug, bob)
    assert await _refused_unseen(room.slug, bob, b.welcome["resume_token"], a) == ("rate-limited", 4429)
    await a.close()
    await busy.close()


async def test_a_token_the_server_forgot_joins_afresh_and_is_reachable(signaling, trio):
    """After a restart of a one-process server, both clients come back with tokens of peers it
    never knew: the first one in (alone in the room) must still receive what the second sends."""
    from calls.signaling.admission import resume_token_make

    room, (alice, bob, _) = await trio()
    forgotten = resume_token_make(slug=room.slug, peer_id="forgotten-peer-1", user_id=bob.pk)
    b = await join(room.slug, bob, f"resume={forgotten}")
    assert b.welcome["resumed"] is False and b.welcome["peers"] == []
    a = await join(room.slug, alice)
    assert (await b.recv_type("peer-joined"))["peer"]["peer_id"] == a.peer_id
    await a.send({"type": "offer", "to": b.peer_id, "sdp": "v=0 after the restart"})
    assert (await b.recv_type("offer"))["from"] == a.peer_id
    await a.close()
    await b.close()
