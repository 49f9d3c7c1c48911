"""Bad frames on the room socket: each gets its error code, changes nothing, reaches nobody."""

import pytest
from asgiref.sync import sync_to_async

from calls.models import Room
from tests.helpers import join, server_frames_checked  # noqa: F401

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("server_frames_checked")]

SDP_LIMIT = 64 * 1024
CANDIDATE = "candidate:1 1 udp 2122260223 127.0.0.1 5000 typ host"


def _bad_frames(me: str, other: str) -> list[tuple[str, object]]:
    """(expected error code, frame) pairs; a frame is a dict, a raw str or bytes."""
    return [
        ("bad-json", "{not json"),
        ("bad-json", " "),
        ("bad-message", "[1, 2]"),
        ("bad-message", '"offer"'),
        ("bad-message", {"no": "type"}),
        ("bad-message", {"type": 5}),
        ("unknown-type", {"type": "dance"}),
        ("unknown-type", {"type": "welcome"}),
        ("bad-message", {"type": "offer", "sdp": "v=0"}),
        ("bad-message", {"type": "offer", "to": 5, "sdp": "v=0"}),
        ("bad-message", {"type": "offer", "to": other, "sdp": ""}),
        ("bad-message", {"type": "answer", "to": other, "sdp": ["v=0"]}),
        ("bad-message", {"type": "ice", "to": other}),
        ("bad-message", {"type": "ice", "to": other, "candidate": "candidate:1"}),
        ("bad-message", {"type": "ice", "to": other, "candidate": {"sdpMid": "0"}}),
        ("bad-message", {"type": "ice", "to": other, "candidate": {"candidate": CANDIDATE, "sdpMLineIndex": True}}),
        ("bad-message", {"type": "ice", "to": other, "candidate": {"candidate": 7}}),
        ("bad-message", {"type": "media", "audio": "yes", "video": True, "screen": False}),
        ("bad-message", {"type": "media", "audio": True, "video": True}),
        ("bad-message", {"type": "lock", "locked": "no"}),
        ("bad-message", {"type": "lock"}),
        ("bad-message", {"type": "view", "to": other, "size": "huge"}),
        ("bad-message", {"type": "view", "to": other}),
        ("unknown-peer", {"type": "view", "to": me, "size": "thumb"}),
        ("bad-message", {"type": "kick", "peer": None}),
        ("bad-message", {"type": "kick", "peer": me}),
        ("bad-message", {"type": "chat", "text": "   \n "}),
        ("bad-message", {"type": "chat", "text": 5}),
        ("bad-message", {"type": "ping", "id": 5}),
        ("bad-message", {"type": "ping", "id": "x" * 65}),
        ("bad-message", b'{"type":"ping"}'),
        ("unknown-peer", {"type": "offer", "to": "nobody", "sdp": "v=0"}),
        ("unknown-peer", {"type": "answer", "to": me, "sdp": "v=0"}),
        ("unknown-peer", {"type": "ice", "to": "x" * 5000, "candidate": None}),
        ("unknown-peer", {"type": "kick", "peer": "nobody"}),
        ("too-large", {"type": "offer", "to": other, "sdp": "v" * (SDP_LIMIT + 1)}),
        ("too-large", {"type": "answer", "to": other, "sdp": "é" * (SDP_LIMIT // 2 + 1)}),
        ("too-large", {"type": "ice", "to": other, "candidate": {"candidate": "c" * 2100}}),
        ("too-large", {"type": "chat", "text": "x" * 2001}),
        ("too-large", {"type": "chat", "text": "x" * 200_000}),
        ("too-large", "x" * (200 * 1024)),
    ]


async def test_every_bad_frame_gets_its_error_and_changes_nothing(signaling, make_user, make_room):
    owner = await sync_to_async(make_user)("owner")
    watcher_user = await sync_to_async(make_user)("watcher")
    room = await sync_to_async(make_room)(owner)
    a = await join(room.slug, owner)
    w = await join(room.slug, watcher_user)
    await a.recv_type("peer-joined")
    for index, (code, frame) in enumerate(_bad_frames(a.peer_id, w.peer_id)):
        ref = f"r{index}"
        if isinstance(frame, dict):
            frame = {**frame, "id": ref} if "id" not in frame else frame
            await a.send(frame)
        elif isinstance(frame, bytes):
            await a.ws.send_to(bytes_data=frame)
        else:
            await a.send(frame)
        reply = await a.recv()
        assert reply["type"] == "error" and reply["code"] == code, (index, frame if len(str(frame)) < 200 else "")
        assert reply["message"]
        if isinstance(frame, dict) and frame.get("id") == ref and len(str(frame)) < 96 * 1024:
            assert reply.get("ref") == ref, (index, reply)  # an over-limit frame is never parsed
    assert await w.nothing(0.3), w.frames  # no bad frame reached the other peer
    # The socket is still open, and nothing changed: media, lock, membership.
    await a.send({"type": "ping", "id": "still-here"})
    pong = await a.recv()
    assert (pong["type"], pong["id"]) == ("pong", "still-here")
    assert (await sync_to_async(Room.objects.get)(pk=room.pk)).is_locked is False
    late_user = await sync_to_async(make_user)("late")
    late = await join(room.slug, late_user)
    assert {peer["peer_id"]: peer["media"] for peer in late.welcome["peers"]} == {
        a.peer_id: {"audio": True, "video": True, "screen": False},
        w.peer_id: {"audio": True, "video": True, "screen": False},
    }
    for peer in (a, w, late):
        await peer.close()


async def test_frames_at_the_limits_pass(signaling, make_user, make_room):
    alice = await sync_to_async(make_user)("alice")
    bob = await sync_to_async(make_user)("bob")
    room = await sync_to_async(make_room)(alice)
    a = await join(room.slug, alice)
    b = await join(room.slug, bob)
    await a.recv_type("peer-joined")
    sdp = "v" * SDP_LIMIT
    await a.send({"type": "offer", "to": b.peer_id, "sdp": sdp})
    assert (await b.recv())["sdp"] == sdp
    text = "ü" * 2000
    await a.send({"type": "chat", "text": text})
    assert (await b.recv())["text"] == text
    assert (await a.recv())["text"] == text
    await a.close()
    await b.close()


async def test_flooding_gets_warnings_then_4429(signaling, make_user, make_room):
    signaling.update(RATE=1.0, BURST=5.0, RATE_WARNINGS=2)
    alice = await sync_to_async(make_user)("alice")
    bob = await sync_to_async(make_user)("bob")
    room = await sync_to_async(make_room)(alice)
    a = await join(room.slug, alice)
    b = await join(room.slug, bob)
    for _ in range(5):
        await a.send({"type": "chat", "text": "spam"})
    for _ in range(5):
        assert (await a.recv_type("chat"))["text"] == "spam"
    for _ in range(2):
        await a.send({"type": "chat", "text": "dropped"})
        warning = await a.recv()
        assert warning["type"] == "error" and warning["code"] == "rate-limited"
    await a.send({"type": "chat", "text": "dropped"})
    final = await a.recv()
    assert final["code"] == "rate-limited"
    assert await a.expect_close() == 4429
    chats = []
    while True:
        frame = await b.recv()
        if frame["type"] == "peer-left":
            break
        chats.append(frame["text"])
    assert chats == ["spam"] * 5  # nothing over the limit reached anyone
    assert frame == {"type": "peer-left", "peer_id": a.peer_id, "reason": "disconnected"}
    await b.close()
