"""A dropped peer shown as reconnecting (`peer-suspended` / `peer-resumed`), receivers' `view`
frames relayed to the one peer they are about, and a device taking back its held seat, on both
backends."""

import asyncio

import pytest
from asgiref.sync import sync_to_async

from tests.helpers import connect, join, server_frames_checked  # noqa: F401

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("server_frames_checked")]

DEVICE_A = "device-aaaaaaaa"
DEVICE_B = "device-bbbbbbbb"


@pytest.fixture
def people(signaling, make_user, make_room):
    """`await people(capacity)` -> (room, [alice, bob, carol]) with alice owning the room."""

    async def make(capacity: int = 8):
        users = [await sync_to_async(make_user)(name) for name in ("alice", "bob", "carol")]
        room = await sync_to_async(make_room)(users[0], capacity=capacity)
        return room, users

    return make


# Reconnecting ---------------------------------------------------------------------------------
async def test_a_dropped_peer_is_reconnecting_for_the_others_until_it_resumes(signaling, people):
    signaling["RESUME_GRACE"] = 10
    room, (alice, bob, carol) = await people()
    a = await join(room.slug, alice)
    b = await join(room.slug, bob)
    c = await join(room.slug, carol)
    await a.recv_type("peer-joined")
    await b.recv_type("peer-joined")
    await b.close()  # the network dropped: no leave frame
    for other in (a, c):
        assert await other.recv_type("peer-suspended") == {"type": "peer-suspended", "peer_id": b.peer_id}

    again = await join(room.slug, bob, query=f"resume={b.welcome['resume_token']}")
    assert again.welcome["resumed"] is True
    for other in (a, c):
        assert await other.recv_type("peer-resumed") == {"type": "peer-resumed", "peer_id": b.peer_id}
    assert await again.nothing(0.2)  # it is not told of itself
    assert not any(frame["type"] == "peer-left" for frame in a.frames + c.frames)
    for peer in (a, again, c):
        await peer.close()


async def test_a_grace_that_runs_out_ends_reconnecting_with_peer_left(signaling, people):
    signaling["RESUME_GRACE"] = 0.4
    room, (alice, bob, _) = await people()
    a = await join(room.slug, alice)
    b = await join(room.slug, bob)
    await a.recv_type("peer-joined")
    await b.close()
    assert (await a.recv_type("peer-suspended"))["peer_id"] == b.peer_id
    left = await a.recv_type("peer-left", timeout=5)
    assert left == {"type": "peer-left", "peer_id": b.peer_id, "reason": "disconnected"}
    assert not any(frame["type"] == "peer-resumed" for frame in a.frames)
    await a.close()


async def test_leaving_on_purpose_is_not_reconnecting(signaling, people):
    signaling["RESUME_GRACE"] = 10
    room, (alice, bob, _) = await people()
    a = await join(room.slug, alice)
    b = await join(room.slug, bob)
    await a.recv_type("peer-joined")
    await b.send({"type": "leave"})
    assert (await a.recv_type("peer-left"))["reason"] == "left"
    assert not any(frame["type"] == "peer-suspended" for frame in a.frames)
    await a.close()


# View -----------------------------------------------------------------------------------------
async def test_a_view_reaches_only_the_peer_it_is_about_with_its_sender(signaling, people, make_room):
    room, (alice, bob, carol) = await people()
    other_room = await sync_to_async(make_room)(alice)
    a = await join(room.slug, alice)
    b = await join(room.slug, bob)
    c = await join(room.slug, carol)
    elsewhere = await join(other_room.slug, carol)
    await a.send({"type": "view", "to": b.peer_id, "size": "hidden"})
    assert await b.recv_type("view") == {"type": "view", "from": a.peer_id, "size": "hidden"}
    await a.send({"type": "view", "to": b.peer_id, "size": "stage"})
    assert await b.recv_type("view") == {"type": "view", "from": a.peer_id, "size": "stage"}
    await asyncio.sleep(0.2)
    assert not any(frame["type"] == "view" for frame in c.frames + a.frames)
    assert await c.nothing(0.1) or all(frame["type"] != "view" for frame in [await c.recv()])

    # A peer of another room is unknown here, and a size off the contract is refused.
    await elsewhere.send({"type": "view", "to": b.peer_id, "size": "thumb", "id": "v1"})
    refused = await elsewhere.recv_type("error")
    assert refused["code"] == "unknown-peer" and refused["ref"] == "v1"
    await a.send({"type": "view", "to": b.peer_id, "size": "huge", "id": "v2"})
    refused = await a.recv_type("error")
    assert refused["code"] == "bad-message" and refused["ref"] == "v2"
    await a.send({"type": "view", "to": a.peer_id, "size": "thumb"})
    assert (await a.recv_type("error"))["code"] == "unknown-peer"
    assert await b.nothing(0.2)
    for peer in (a, b, c, elsewhere):
        await peer.close()


async def test_a_storm_of_views_is_rate_limited(signaling, people):
    signaling["RATE"], signaling["BURST"] = 1000, 1000
    signaling["USER_RATE"], signaling["USER_BURST"] = 1000, 1000
    room, (alice, bob, _) = await people()
    a = await join(room.slug, alice)
    b = await join(room.slug, bob)
    for _ in range(60):
        await a.send({"type": "view", "to": b.peer_id, "size": "thumb"})
    await a.send({"type": "ping", "id": "sync"})
    await a.recv_type("pong")
    limited = [frame for frame in a.frames if frame["type"] == "error" and frame["code"] == "rate-limited"]
    assert limited, "60 views at once were all relayed"
    relayed = 0
    while not await b.nothing(0.2):
        relayed += (await b.recv())["type"] == "view"
    assert 0 < relayed < 60
    await a.close()
    await b.close()


# Ghost seats ----------------------------------------------------------------------------------
async def test_a_crashed_browser_takes_back_its_held_seat_at_once(signaling, people):
    signaling["RESUME_GRACE"] = 30
    room, (alice, bob, carol) = await people(capacity=2)
    a = await join(room.slug, alice, query=f"device={DEVICE_A}")
    b = await join(room.slug, bob, query=f"device={DEVICE_B}")
    await a.recv_type("peer-joined")
    await a.close()  # the tab crashed: no leave frame, and its resume token is lost
    await b.recv_type("peer-suspended")

    back = await join(room.slug, alice, query=f"device={DEVICE_A}")  # no resume token: a fresh join
    assert back.welcome["resumed"] is False and back.peer_id != a.peer_id
    assert [peer["peer_id"] for peer in back.welcome["peers"]] == [b.peer_id]  # no ghost of itself
    assert await b.recv_type("peer-left") == {"type": "peer-left", "peer_id": a.peer_id, "reason": "disconnected"}
    assert (await b.recv_type("peer-joined"))["peer"]["peer_id"] == back.peer_id

    refused = await connect(f"/ws/rooms/{room.slug}/", carol)
    frame, _ = await refused.refused()
    assert frame["code"] == "room-full"  # 2 people in a room of 2, not 3
    await back.close()
    await b.close()


async def test_a_half_open_socket_of_the_device_is_released_once_silent(signaling, people):
    signaling["RESUME_GRACE"] = 30
    signaling["HEARTBEAT"] = 2.0
    room, (alice, bob, carol) = await people(capacity=3)
    a = await join(room.slug, alice, query=f"device={DEVICE_A}")
    b = await join(room.slug, bob)
    await a.recv_type("peer-joined")
    for _ in range(8):  # a's socket is silent (its machine crashed) 1.5 heartbeats, not yet 2 (timeout)
        await asyncio.sleep(0.4)
        await b.send({"type": "ping"})

    back = await join(room.slug, alice, query=f"device={DEVICE_A}")
    assert back.peer_id != a.peer_id
    assert [peer["peer_id"] for peer in back.welcome["peers"]] == [b.peer_id]
    left = await b.recv_type("peer-left")
    assert left == {"type": "peer-left", "peer_id": a.peer_id, "reason": "disconnected"}
    c = await join(room.slug, carol)
    assert sorted(peer["peer_id"] for peer in c.welcome["peers"]) == sorted([b.peer_id, back.peer_id])
    for peer in (back, b, c):
        await peer.close()


async def test_another_device_of_the_user_takes_its_own_seat(signaling, people):
    signaling["RESUME_GRACE"] = 30
    room, (alice, bob, carol) = await people(capacity=3)
    phone = await join(room.slug, alice, query=f"device={DEVICE_A}")
    b = await join(room.slug, bob)
    laptop = await join(room.slug, alice, query=f"device={DEVICE_B}")
    assert sorted(peer["peer_id"] for peer in laptop.welcome["peers"]) == sorted([phone.peer_id, b.peer_id])
    assert await phone.recv_type("peer-joined")
    assert not any(frame["type"] == "peer-left" for frame in phone.frames)
    refused = await connect(f"/ws/rooms/{room.slug}/", carol)
    frame, _ = await refused.refused()
    assert frame["code"] == "room-full"
    await laptop.send({"type": "leave"})
    await laptop.expect_close()
    # The same device with a live socket (a second tab) does not push the first one out, nor waits for it.
    started = asyncio.get_running_loop().time()
    tab = await join(room.slug, alice, query=f"device={DEVICE_A}")
    assert asyncio.get_running_loop().time() - started < 1.5
    assert phone.peer_id in {peer["peer_id"] for peer in tab.welcome["peers"]}
    assert not any(frame["type"] == "peer-left" and frame["peer_id"] == phone.peer_id for frame in b.frames)
    for peer in (phone, b, tab):
        await peer.close()


async def test_a_device_id_off_the_contract_is_ignored(signaling, people):
    room, (alice, _, _) = await people()
    a = await join(room.slug, alice, query="device=%3Cscript%3E")
    assert a.welcome["resumed"] is False
    await a.close()
