"""Item 5 of issue 16: each refused join says why, and for how long, in structured fields of its
`error` frame (docs/protocol.md, Refusals), on both signaling backends."""

import pytest

from tests.helpers import connect, join, server_frames_checked  # noqa: F401

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("server_frames_checked")]


async def _refused(slug: str, user) -> tuple[dict, int]:
    peer = await connect(f"/ws/rooms/{slug}/", user)
    assert peer.connected
    return await peer.refused()


async def test_a_removed_user_is_told_by_whom_and_for_how_long(signaling, users, room_for):
    owner, bob = await users("alice", "bob")
    room = await room_for(owner)
    o = await join(room.slug, owner)
    b = await join(room.slug, bob)
    await o.send({"type": "kick", "peer": b.peer_id})
    await b.recv_type("kicked")
    frame, code = await _refused(room.slug, bob)
    assert code == 4403
    assert frame["code"] == "forbidden" and frame["reason"] == "removed"
    assert frame["by"] == {"id": owner.pk, "username": "alice", "display_name": "Alice"}
    assert 290 <= frame["retry_after"] <= 300
    assert frame["message"] == "You were removed by Alice; you can rejoin in 5 minutes."
    await o.close()


async def test_a_full_room_says_how_many_of_how_many(signaling, users, room_for):
    ann, ben, cat = await users("ann", "ben", "cat")
    room = await room_for(ann, capacity=2)
    a = await join(room.slug, ann)
    b = await join(room.slug, ben)
    frame, code = await _refused(room.slug, cat)
    assert (frame["code"], code, frame["reason"]) == ("room-full", 4409, "full")
    assert (frame["count"], frame["capacity"]) == (2, 2)
    assert frame["message"] == "This room is full (2 of 2)."
    assert "retry_after" not in frame and "by" not in frame
    await a.close()
    await b.close()


@pytest.mark.parametrize(
    ("case", "reason"), [("private", "private"), ("locked", "locked"), ("closed", "closed"), ("unknown", "closed")]
)
async def test_private_locked_and_closed_rooms_name_their_reason(signaling, users, room_for, case, reason):
    owner, guest = await users("owner", "guest")
    room = await room_for(owner, is_private=case == "private", is_locked=case == "locked", is_active=case != "closed")
    slug = "no-such-room-here" if case == "unknown" else room.slug
    frame, _ = await _refused(slug, guest)
    assert frame["reason"] == reason
    assert "retry_after" not in frame


async def test_too_many_calls_and_signed_out_have_their_reasons(signaling, users, room_for, settings):
    settings.SIGNALING = {**settings.SIGNALING, "MAX_SOCKETS_PER_USER": 1}
    (owner,) = await users("owner")
    first, second = await room_for(owner), await room_for(owner)
    o = await join(first.slug, owner)
    frame, code = await _refused(second.slug, owner)
    assert (frame["reason"], code) == ("too-many-calls", 4429)
    frame, code = await _refused(second.slug, None)
    assert (frame["reason"], code) == ("signed-out", 4401)
    await o.close()


# --- The occupancy selector (issue 16 item 4) ----------------------------------------------------


async def test_occupancy_lists_the_live_peers_of_many_rooms_at_once(signaling, users, room_for):
    from calls.signaling.node import node_get

    ann, ben = await users("ann", "ben")
    one, two, empty = await room_for(ann), await room_for(ann), await room_for(ann)
    a1 = await join(one.slug, ann)
    b1 = await join(one.slug, ben)
    a2 = await join(two.slug, ann)
    registry = (await node_get()).registry
    rooms = await registry.occupancy(slugs=[one.slug, two.slug, empty.slug, one.slug])
    assert set(rooms) == {one.slug, two.slug}
    assert sorted(peer.user["username"] for peer in rooms[one.slug]) == ["ann", "ben"]
    assert [peer.peer_id for peer in rooms[two.slug]] == [a2.peer_id]
    await b1.send({"type": "leave"})
    await b1.expect_close()
    rooms = await registry.occupancy(slugs=[one.slug])
    assert [peer.peer_id for peer in rooms[one.slug]] == [a1.peer_id]
    assert await registry.occupancy(slugs=[]) == {}
    await a1.close()
    await a2.close()
