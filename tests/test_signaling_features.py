"""Raise hand, reactions, recording and the recent chat of a room (calls.signaling.features),
on both signaling backends; every frame the server sends is checked against OUTGOING."""

import asyncio

import pytest

from tests.helpers import join, server_frames_checked  # noqa: F401

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("server_frames_checked")]


async def _call(room_for, users, *names, **room_fields):
    """The room (owned by the first user) and everyone joined, each having read the later joins."""
    people = await users(*names)
    room = await room_for(people[0], capacity=8, **room_fields)
    peers = []
    for user in people:
        peer = await join(room.slug, user)
        for earlier in peers:
            await earlier.recv_type("peer-joined")
        peers.append(peer)
    return room, people, peers


async def _close(*peers):
    for peer in peers:
        await peer.close()


async def _leave(*peers):
    """Leave for good (a closed socket would keep its seat for the resume grace)."""
    for peer in peers:
        await peer.send({"type": "leave"})
        await peer.expect_close()


async def _history_after_cleanup(slug, user, timeout=3.0):
    """Join until no `chat-history` follows the welcome (the clean-up after the last peer runs
    behind it), or the timeout: the last socket and whether it got one."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        peer = await join(slug, user)
        got_history = not await peer.nothing(0.3)
        if not got_history or asyncio.get_running_loop().time() > deadline:
            return peer, got_history
        await _leave(peer)


# --- Raise hand ----------------------------------------------------------------------------------


async def test_raised_hands_in_order_lowered_by_owner_or_moderator(signaling, users, room_for):
    room, _, (a, b, c) = await _call(room_for, users, "alice", "bob", "carol")
    await c.send({"type": "hand", "raised": True})
    for peer in (a, b, c):
        assert await peer.recv_type("hand") == {"type": "hand", "from": c.peer_id, "raised": True}
    await b.send({"type": "hand", "raised": True})
    for peer in (a, b, c):
        assert (await peer.recv_type("hand"))["from"] == b.peer_id
    await c.send({"type": "hand", "raised": True})  # raised already: keeps its place, nothing sent
    assert await a.nothing(0.2)

    (dave,) = await users("dave")
    d = await join(room.slug, dave)
    assert d.welcome["hands"] == [c.peer_id, b.peer_id]
    assert d.welcome["recorders"] == []

    # Only a moderator lowers someone else's hand; nobody raises someone else's.
    await b.send({"type": "hand", "raised": False, "peer": c.peer_id, "id": "h1"})
    refused = await b.recv_type("error")
    assert (refused["type"], refused["code"], refused["ref"]) == ("error", "forbidden", "h1")
    await b.send({"type": "hand", "raised": True, "peer": c.peer_id})
    assert (await b.recv_type("error"))["code"] == "bad-message"
    await a.send({"type": "hand", "raised": False, "peer": "no-such-peer"})
    assert (await a.recv_type("error"))["code"] == "unknown-peer"
    await a.send({"type": "hand", "raised": False, "peer": c.peer_id})
    for peer in (a, b, c, d):
        assert await peer.recv_type("hand") == {"type": "hand", "from": c.peer_id, "raised": False, "by": a.peer_id}
    await b.send({"type": "hand", "raised": False})
    assert await a.recv_type("hand") == {"type": "hand", "from": b.peer_id, "raised": False}

    # A hand goes with its owner.
    await c.send({"type": "hand", "raised": True})
    await a.recv_type("hand")
    await c.send({"type": "leave"})
    await a.recv_type("peer-left")
    await asyncio.sleep(0.1)
    (erin,) = await users("erin")
    e = await join(room.slug, erin)
    assert e.welcome["hands"] == []
    await _close(a, b, d, e)


# --- Reactions -----------------------------------------------------------------------------------


async def test_reactions_reach_everyone_and_are_checked_and_rate_limited(signaling, users, room_for):
    _, _, (a, b) = await _call(room_for, users, "alice", "bob")
    await b.send({"type": "reaction", "emoji": "🎉"})
    for peer in (a, b):
        assert await peer.recv_type("reaction") == {"type": "reaction", "from": b.peer_id, "emoji": "🎉"}
    await b.send({"type": "reaction", "emoji": "<img src=x>", "id": "r1"})
    refused = await b.recv()
    assert (refused["code"], refused["ref"]) == ("bad-message", "r1")
    assert "emoji" in refused["message"]
    for _ in range(12):
        await b.send({"type": "reaction", "emoji": "👍"})
    codes = []
    for _ in range(12):
        frame = await b.recv()
        codes.append(frame.get("code", frame["type"]))
    sent = codes.count("reaction")
    assert 5 <= sent <= 8 and codes.count("rate-limited") == 12 - sent, codes
    await _close(a, b)


# --- Recording -----------------------------------------------------------------------------------


async def test_recording_is_for_moderators_shown_to_all_and_ends_when_the_recorder_leaves(signaling, users, room_for):
    room, _, (a, b, c) = await _call(room_for, users, "alice", "bob", "carol")
    await b.send({"type": "record", "active": True, "id": "rec"})
    refused = await b.recv()
    assert (refused["type"], refused["code"], refused["ref"]) == ("error", "forbidden", "rec")
    assert await a.nothing(0.2) and await c.nothing(0.0)

    await a.send({"type": "record", "active": True})
    for peer in (a, b, c):
        assert await peer.recv_type("recording") == {"type": "recording", "from": a.peer_id, "active": True}
    (dave,) = await users("dave")
    d = await join(room.slug, dave)
    assert d.welcome["recorders"] == [a.peer_id]
    await a.send({"type": "record", "active": False})
    for peer in (b, c, d):
        assert await peer.recv_type("recording") == {"type": "recording", "from": a.peer_id, "active": False}

    await a.send({"type": "record", "active": True})
    await b.recv_type("recording")
    await a.send({"type": "leave"})
    assert (await b.recv_type("peer-left"))["peer_id"] == a.peer_id  # clients end the indicator on it
    await asyncio.sleep(0.1)
    (erin,) = await users("erin")
    e = await join(room.slug, erin)
    assert e.welcome["recorders"] == []
    await _close(b, c, d, e)


async def test_a_recorder_that_loses_its_connection_ends_its_recording_and_hand(signaling, users, room_for):
    signaling["RESUME_GRACE"] = 0.4
    room, _, (a, b) = await _call(room_for, users, "alice", "bob")
    await a.send({"type": "record", "active": True})
    await a.send({"type": "hand", "raised": True})
    await b.recv_type("recording")
    await b.recv_type("hand")
    await a.close()  # no `leave`: the seat is kept for the grace, then the others are told
    left = await b.recv_type("peer-left", timeout=5)
    assert (left["peer_id"], left["reason"]) == (a.peer_id, "disconnected")
    await asyncio.sleep(0.1)
    (carol,) = await users("carol")
    c = await join(room.slug, carol)
    assert (c.welcome["recorders"], c.welcome["hands"]) == ([], [])
    await _close(b, c)


async def test_a_room_setting_lets_everyone_record(signaling, users, room_for):
    _, _, (a, b) = await _call(room_for, users, "alice", "bob", everyone_may_record=True)
    await b.send({"type": "record", "active": True})
    assert await a.recv_type("recording") == {"type": "recording", "from": b.peer_id, "active": True}
    await _close(a, b)


# --- Recent chat ---------------------------------------------------------------------------------


async def test_late_joiners_get_the_last_50_messages_until_the_room_empties(signaling, users, room_for):
    room, _, (a, b) = await _call(room_for, users, "alice", "bob")
    for n in range(55):
        await b.send({"type": "chat", "text": f"message {n}"})
    for _ in range(55):
        last = await a.recv_type("chat")
    assert last["text"] == "message 54"

    (carol,) = await users("carol")
    c = await join(room.slug, carol)
    history = await c.recv()
    assert history["type"] == "chat-history"
    assert [m["text"] for m in history["messages"]] == [f"message {n}" for n in range(5, 55)]
    assert history["messages"][-1] == {key: value for key, value in last.items() if key != "type"}
    await _leave(c)

    await _leave(a, b)
    c, got_history = await _history_after_cleanup(room.slug, carol)
    assert not got_history  # the room emptied: its chat went with it
    await c.close()
