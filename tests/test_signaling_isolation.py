"""One frame or one broken connection never affects another (security issue #13, part 1).

A single `ice` frame nesting 300 levels deep used to crash its socket's consumer, leave the
dead connection registered in the hub and make every sweep fail: calls in other rooms were
then timed out, new joiners saw empty rooms and nobody was told. These tests run the sweep
with a 1 s PEER_TTL (and no background sweep in the way), so a sweep that stops keeping
peers alive shows within two seconds, on both signaling backends. The presence socket's sweep
gets the same treatment: one failing socket does not stop it.
"""

import asyncio
import contextlib
import logging

import pytest
import redis
from asgiref.sync import sync_to_async

from calls.services.outages import redis_outage
from calls.signaling.node import node_get
from tests.helpers import join, server_frames_checked  # noqa: F401

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("server_frames_checked")]

# The frame of the report: a candidate carrying a field nested 300 levels deep.
DEEP_ICE = '{"type":"ice","to":"x","candidate":{"candidate":"c","x":' + "[" * 300 + "]" * 300 + "}}"
MEDIA_ON = {"audio": True, "video": True, "screen": False}


@contextlib.contextmanager
def logged(name: str, level: int = logging.ERROR):
    """The messages `name` logs at `level` or above meanwhile (pytest's caplog loses them when a
    module imported mid-test configures logging again)."""
    messages: list[str] = []
    handler = logging.Handler(level)
    handler.emit = lambda record: messages.append(record.getMessage())
    logger = logging.getLogger(name)
    logger.addHandler(handler)
    try:
        yield messages
    finally:
        logger.removeHandler(handler)


@pytest.fixture
def quick_expiry(signaling):
    """Peers expire 1 s after their last refresh; only the test sweeps (no background sweep, no silence timeout)."""
    signaling.update(PEER_TTL=1.0, HEARTBEAT=60.0)
    return signaling


async def _call(make_room, owner, *others):
    """A room with `owner` and `others` joined, everyone's `peer-joined` read."""
    room = await sync_to_async(make_room)(owner)
    peers = [await join(room.slug, owner)]
    for user in others:
        newcomer = await join(room.slug, user)
        for peer in peers:
            await peer.recv_type("peer-joined")
        peers.append(newcomer)
    return room, peers


def _local(node) -> set[str]:
    """The peers with a socket on this process."""
    return {peer_id for room in node.rooms.values() for peer_id in room.local}


async def _sweep_for(node, seconds: float) -> None:
    """Sweep every 0.25 s for `seconds` (well past PEER_TTL), as the background sweeper would."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        await node.housekeeping.sweep()
        await asyncio.sleep(0.25)


async def _assert_call_alive(slug: str, first, second, newcomer_user) -> None:
    """A newcomer sees both peers of the call, and an offer between them still arrives."""
    newcomer = await join(slug, newcomer_user)
    assert {peer["peer_id"] for peer in newcomer.welcome["peers"]} == {first.peer_id, second.peer_id}
    await first.send({"type": "offer", "to": second.peer_id, "sdp": "v=0"})
    assert await second.recv_type("offer") == {"type": "offer", "from": first.peer_id, "sdp": "v=0"}
    await newcomer.close()


async def test_deeply_nested_ice_frame_is_refused_and_every_call_stays_alive(quick_expiry, users, make_room):
    attacker, partner, b1_user, b2_user, late_a, late_b = await users("mallory", "alice", "bob", "carol", "dan", "erin")
    room_a, (x, a2) = await _call(make_room, attacker, partner)
    room_b, (b1, b2) = await _call(make_room, b1_user, b2_user)

    await x.send(DEEP_ICE)
    reply = await x.recv()
    assert reply["type"] == "error" and reply["code"] in ("bad-message", "too-large"), reply
    await x.send({"type": "ping", "id": "after"})
    pong = await x.recv()  # the socket is still open
    assert (pong["type"], pong["id"]) == ("pong", "after")

    node = await node_get()
    await _sweep_for(node, 2.0)  # twice PEER_TTL: only sweeps that work keep the peers
    assert {x.peer_id, a2.peer_id, b1.peer_id, b2.peer_id} <= _local(node)
    for peer in (x, a2, b1, b2):
        assert await peer.nothing(0.05), peer.frames  # nobody left, nobody was told anything
    await _assert_call_alive(room_b.slug, b1, b2, late_b)
    await node.housekeeping.sweep()  # PEER_TTL is 1 s: on a loaded machine the check above can outlast it
    await _assert_call_alive(room_a.slug, x, a2, late_a)
    for peer in (x, a2, b1, b2):
        await peer.close()


async def test_a_broken_connection_is_skipped_by_the_sweep_and_only_its_peer_times_out(quick_expiry, users, make_room):
    a1_user, a2_user, b1_user, b2_user, late_a, late_b = await users("alice", "bob", "carol", "dan", "erin", "frank")
    room_a, (a1, a2) = await _call(make_room, a1_user, a2_user)
    room_b, (b1, b2) = await _call(make_room, b1_user, b2_user)
    node = await node_get()
    # What a bug can leave behind: a session in its room whose socket's outbox is gone.
    broken = node.session(a1.peer_id)
    broken.outbox = None

    with logged("calls.signaling.housekeeping") as errors:
        await _sweep_for(node, 2.0)
    assert any(a1.peer_id in message for message in errors), errors
    assert a1.peer_id not in _local(node)  # not retried (and logged) every sweep
    # Its peer, and only it, timed out for the others.
    assert await a2.recv_type("peer-left") == {"type": "peer-left", "peer_id": a1.peer_id, "reason": "timeout"}
    for peer in (a2, b1, b2):
        assert await peer.nothing(0.05), peer.frames
    await _assert_call_alive(room_b.slug, b1, b2, late_b)
    newcomer = await join(room_a.slug, late_a)
    assert [peer["peer_id"] for peer in newcomer.welcome["peers"]] == [a2.peer_id]
    for peer in (a1, a2, b1, b2, newcomer):
        await peer.close()


async def test_a_failure_while_handling_a_frame_is_answered_logged_and_changes_nothing(
    signaling, users, make_room, monkeypatch
):
    alice, bob, carol = await users("alice", "bob", "carol")
    room, (a, b) = await _call(make_room, alice, bob)
    node = await node_get()

    async def unreachable(**kwargs):
        raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(node.registry, "media_set", unreachable)
    redis_outage.succeeded(log=logging.getLogger("test"))  # no outage under way: this one begins it
    failures = redis_outage.failures_total
    with logged("calls.signaling.session", level=logging.WARNING) as warnings:
        await a.send({"type": "media", "audio": False, "video": False, "screen": True, "id": "m1"})
        reply = await a.recv()
    assert reply["type"] == "error" and reply["code"] == "unavailable" and reply["ref"] == "m1", reply
    # Logged once as the start of a Redis outage (no traceback), counted in it.
    assert redis_outage.failures_total == failures + 1
    assert [message for message in warnings if a.peer_id in message and "Redis unreachable" in message], warnings
    await a.send({"type": "ping", "id": "after"})
    pong = await a.recv()
    assert (pong["type"], pong["id"]) == ("pong", "after")
    assert await b.nothing(0.2), b.frames  # nothing announced
    monkeypatch.undo()
    # Nothing changed: a newcomer sees the media as they were.
    newcomer = await join(room.slug, carol)
    assert {peer["peer_id"]: peer["media"] for peer in newcomer.welcome["peers"]} == {
        a.peer_id: MEDIA_ON,
        b.peer_id: MEDIA_ON,
    }
    for peer in (a, b, newcomer):
        await peer.close()


async def test_a_consumer_ended_without_a_disconnect_leaves_no_peer_behind(signaling, users, make_room):
    signaling.update(RESUME_GRACE=0.0)
    alice, bob = await users("alice", "bob")
    _room, (a, b) = await _call(make_room, alice, bob)
    node = await node_get()
    # The server cancels the socket's task (a shutdown, an error escaping it): no websocket.disconnect.
    a.ws.future.cancel()
    assert await b.recv_type("peer-left") == {"type": "peer-left", "peer_id": a.peer_id, "reason": "disconnected"}
    assert a.peer_id not in _local(node)
    await node.housekeeping.sweep()
    assert b.peer_id in _local(node)
    await b.close()


async def test_a_failing_presence_socket_does_not_stop_the_presence_sweep(signaling, users, monkeypatch):
    from calls.services import presence_service
    from tests.test_direct_calls import online, ring

    monkeypatch.setattr(presence_service, "HANGUP_GRACE", 0.5)
    monkeypatch.setattr(presence_service, "GROUPS_RENEW_SECONDS", 0.0)  # every sweep renews every socket's groups
    alice, bob, carol = await users("alice", "bob", "carol")
    c = await online(carol)  # the first socket the sweep visits
    (broken,) = presence_service.presence_service_get().local.values()

    async def layer_refuses() -> None:  # a bug in one socket's step (a lost connection is an outage, logged once)
        raise RuntimeError("the channel layer refused this socket")

    broken.groups_join = layer_refuses
    b = await online(bob)
    a = await online(alice)
    rung = await ring(a, b)
    await b.send({"type": "accept", "call_id": rung["call_id"]})
    slug = (await a.recv_type("accepted"))["room"]["slug"]
    in_a = await join(slug, alice)
    in_b = await join(slug, bob)
    with logged("calls.services.presence_service") as errors:
        assert await a.nothing(1.5)  # a sweep sees both in the room: the call goes on
        await in_b.send({"type": "leave"})
        # Ending a call whose room was left is the sweep's job: it still runs past the failing socket.
        assert (await a.recv_type("hangup", timeout=6))["call_id"] == rung["call_id"]
    assert any(f"user {carol.pk}" in message for message in errors), errors
    for sock in (a, b, c, in_a, in_b):
        await sock.close()
