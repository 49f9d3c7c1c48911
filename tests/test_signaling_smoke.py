import pytest

from tests.helpers import join, server_frames_checked  # noqa: F401

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("server_frames_checked")]


async def test_two_peers_exchange_offer(signaling, make_user, make_room):
    from asgiref.sync import sync_to_async

    alice = await sync_to_async(make_user)("alice")
    bob = await sync_to_async(make_user)("bob")
    room = await sync_to_async(make_room)(alice, slug="smoke")
    a = await join(room.slug, alice)
    b = await join(room.slug, bob)
    assert [p["peer_id"] for p in b.welcome["peers"]] == [a.peer_id]
    joined = await a.recv_type("peer-joined")
    assert joined["peer"]["peer_id"] == b.peer_id
    await b.send({"type": "offer", "to": a.peer_id, "sdp": "v=0", "from": "spoof"})
    offer = await a.recv_type("offer")
    assert offer == {"type": "offer", "from": b.peer_id, "sdp": "v=0"}
    await b.send({"type": "leave"})
    left = await a.recv_type("peer-left")
    assert left == {"type": "peer-left", "peer_id": b.peer_id, "reason": "left"}
    await a.close()
    await b.close()
