"""Resume: a socket that dropped comes back within RESUME_GRACE as the same peer, on both backends."""

import asyncio

import pytest
from asgiref.sync import sync_to_async

from calls.models import Participation
from calls.services.relay import hub_get
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
    assert await a.nothing(0.2)  # the others saw no peer-left / peer-joined

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
    hub = await hub_get()
    assert hub.suspended == {} and not hub._pending  # nothing held for the departed peer

    fresh = await join(room.slug, bob, query=f"resume={b.welcome['resume_token']}")
    assert fresh.welcome["resumed"] is False and fresh.peer_id != b.peer_id
    assert await fresh.nothing(0.2)  # the lost chat is gone with the old peer
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
    assert await a.nothing(0.3)  # no peer-left / peer-joined for the switch
    assert len(await _rows(b.peer_id)) == 1
    await a.close()
    await again.close()
