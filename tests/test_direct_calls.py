"""Direct calls over `/ws/presence/`, on both signaling backends (memory and Redis)."""

import asyncio
import shutil

import pytest
from asgiref.sync import sync_to_async

from calls.models import Call, Room
from tests.helpers import connect, join

pytestmark = [pytest.mark.django_db(transaction=True)]


async def online(user):
    """A presence socket of `user`, past its `presence` frame."""
    peer = await connect("/ws/presence/", user)
    assert peer.connected
    frame = await peer.recv()
    assert frame["type"] == "presence", frame
    peer.welcome = frame
    return peer


@pytest.fixture
async def pair(signaling, make_user):
    alice = await sync_to_async(make_user)("alice", display_name="Alice <b>A</b>")
    bob = await sync_to_async(make_user)("bob")
    return alice, bob


@sync_to_async
def call_row(call_id: str) -> Call:
    return Call.objects.select_related("room", "caller", "callee").get(call_id=call_id)


async def ring(a, b, username="bob"):
    await a.send({"type": "call", "username": username})
    ringing = await a.recv_type("ringing")
    rung = await b.recv_type("ring")
    assert rung["call_id"] == ringing["call_id"]
    return rung


async def test_ring_then_accept_puts_both_in_a_private_room(pair):
    alice, bob = pair
    b = await online(bob)
    a = await online(alice)
    assert [u["username"] for u in a.welcome["online"]] == ["bob"]
    assert (await b.recv_type("user-online"))["user"]["username"] == "alice"
    b2 = await online(bob)  # a second tab rings too
    rung = await ring(a, b, username="BOB")
    assert rung["caller"] == {"id": alice.pk, "username": "alice", "display_name": "Alice <b>A</b>"}
    assert (await b2.recv_type("ring"))["call_id"] == rung["call_id"]
    call = await call_row(rung["call_id"])
    assert call.status == "ringing" and call.room.is_direct and call.room.is_private and call.room.capacity == 2
    assert rung["room"] == {"slug": call.room.slug, "url": f"/rooms/{call.room.slug}/"}
    assert await sync_to_async(lambda: sorted(call.room.allowed_users.values_list("username", flat=True)))() == [
        "alice",
        "bob",
    ]

    await b.send({"type": "accept", "call_id": rung["call_id"]})
    for sock, join_room in ((a, True), (b, True), (b2, False)):
        accepted = await sock.recv_type("accepted")
        assert accepted["room"] == rung["room"] and accepted["join"] is join_room
    call = await call_row(rung["call_id"])
    assert call.status == "answered" and call.answered_at is not None

    # A second accept (the other tab) is refused, and nobody else may enter the room.
    await b2.send({"type": "accept", "call_id": rung["call_id"], "id": "x"})
    error = await b2.recv_type("error")
    assert error["code"] == "no-such-call" and error["ref"] == "x"

    await a.send({"type": "hangup", "call_id": rung["call_id"]})
    assert (await b.recv_type("hangup"))["call_id"] == rung["call_id"]
    assert (await a.recv_type("hangup"))["call_id"] == rung["call_id"]
    call = await call_row(rung["call_id"])
    assert call.ended_at is not None and call.duration_seconds is not None and call.status == "answered"
    assert not (await sync_to_async(Room.objects.get)(slug=call.room.slug)).is_active
    for sock in (a, b, b2):
        await sock.close()


async def test_decline_tells_the_caller_and_closes_the_room(pair):
    alice, bob = pair
    b = await online(bob)
    a = await online(alice)
    rung = await ring(a, b)
    await b.send({"type": "decline", "call_id": rung["call_id"]})
    assert (await a.recv_type("declined"))["call_id"] == rung["call_id"]
    call = await call_row(rung["call_id"])
    assert call.status == "declined" and not call.room.is_active
    # The caller is free again: a new call rings.
    await ring(a, b)
    await a.close()
    await b.close()


async def test_caller_cancels(pair):
    alice, bob = pair
    b = await online(bob)
    a = await online(alice)
    rung = await ring(a, b)
    await b.send({"type": "cancel", "call_id": rung["call_id"]})  # only the caller cancels
    assert (await b.recv_type("error"))["code"] == "forbidden"
    await a.send({"type": "cancel", "call_id": rung["call_id"]})
    assert (await b.recv_type("cancelled"))["call_id"] == rung["call_id"]
    assert (await a.recv_type("cancelled"))["call_id"] == rung["call_id"]
    await b.send({"type": "accept", "call_id": rung["call_id"]})
    assert (await b.recv_type("error"))["code"] == "no-such-call"
    assert (await call_row(rung["call_id"])).status == "cancelled"
    await a.close()
    await b.close()


async def test_no_answer_is_missed_once(pair, signaling):
    signaling["RING_TIMEOUT"] = 1.0
    alice, bob = pair
    b = await online(bob)
    a = await online(alice)
    rung = await ring(a, b)
    assert rung["timeout"] == 1
    assert (await a.recv_type("missed", timeout=6))["call_id"] == rung["call_id"]
    assert (await b.recv_type("missed", timeout=6))["call_id"] == rung["call_id"]
    assert await a.nothing(1.5) and await b.nothing(0.1)  # the sweep does not fire it again
    call = await call_row(rung["call_id"])
    assert call.status == "missed" and not call.room.is_active
    await a.close()
    await b.close()


async def test_callee_without_presence_socket_is_offline(pair):
    alice, bob = pair
    a = await online(alice)
    await a.send({"type": "call", "username": "bob"})
    frame = await a.recv_type("user-offline")
    assert frame["user"]["username"] == "bob" and frame["call_id"]
    assert (await call_row(frame["call_id"])).status == "offline"
    # Bob comes online, then leaves: alice sees both.
    b = await online(bob)
    assert (await a.recv_type("user-online"))["user"]["id"] == bob.pk
    await b.close()
    assert (await a.recv_type("user-offline"))["user"]["id"] == bob.pk
    await a.close()


async def test_callee_in_a_room_or_a_call_is_busy(pair, make_user, make_room):
    alice, bob = pair
    carol = await sync_to_async(make_user)("carol")
    room = await sync_to_async(make_room)(bob)
    b = await online(bob)
    a = await online(alice)
    await b.recv_type("user-online")
    in_room = await join(room.slug, bob)
    await a.send({"type": "call", "username": "bob"})
    busy = await a.recv_type("busy")
    assert busy["user"]["username"] == "bob"
    assert (await call_row(busy["call_id"])).status == "busy"
    assert await b.nothing(0.3)
    await in_room.send({"type": "leave"})
    assert await in_room.expect_close() == 1000

    # Bob rings with alice's call: carol's call finds him busy, and alice cannot place a second call.
    c = await online(carol)
    rung = await ring(a, b)
    await c.send({"type": "call", "username": "bob"})
    assert (await c.recv_type("busy"))["user"]["id"] == bob.pk
    await a.send({"type": "call", "username": "carol"})
    assert (await a.recv_type("error"))["code"] == "busy"
    await b.send({"type": "decline", "call_id": rung["call_id"]})
    await a.recv_type("declined")
    for sock in (a, b, c):
        await sock.close()


async def test_bad_frames_get_protocol_errors(pair):
    alice, _ = pair
    a = await online(alice)
    for frame, code in [
        ("not json", "bad-json"),
        ({"type": "call"}, "bad-message"),
        ({"type": "call", "username": ""}, "bad-message"),
        ({"type": "call", "username": "alice"}, "no-such-user"),
        ({"type": "call", "username": "nobody"}, "no-such-user"),
        ({"type": "accept", "call_id": "made-up"}, "no-such-call"),
        ({"type": "offer", "to": "x", "sdp": "v=0"}, "unknown-type"),
    ]:
        await a.send(frame)
        assert (await a.recv_type("error"))["code"] == code, frame
    await a.send({"type": "ping", "id": "7"})
    assert await a.recv_type("pong") == {"type": "pong", "id": "7"}
    await a.close()


async def test_a_stranger_cannot_touch_someone_elses_call(pair, make_user):
    alice, bob = pair
    mallory = await sync_to_async(make_user)("mallory")
    b = await online(bob)
    a = await online(alice)
    m = await online(mallory)
    rung = await ring(a, b)
    for kind in ("accept", "decline", "cancel", "hangup"):
        await m.send({"type": kind, "call_id": rung["call_id"]})
        assert (await m.recv_type("error"))["code"] == "no-such-call"
    assert (await call_row(rung["call_id"])).status == "ringing"
    for sock in (a, b, m):
        await sock.close()


async def test_anonymous_presence_socket_is_refused(signaling):
    peer = await connect("/ws/presence/")
    assert (await peer.recv())["code"] == "unauthenticated"
    assert await peer.expect_close() == 4401


async def test_leaving_the_direct_room_hangs_up(pair, monkeypatch):
    from calls.services import presence_service

    monkeypatch.setattr(presence_service, "HANGUP_GRACE", 0.5)
    alice, bob = pair
    b = await online(bob)
    a = await online(alice)
    rung = await ring(a, b)
    await b.send({"type": "accept", "call_id": rung["call_id"]})
    slug = (await a.recv_type("accepted"))["room"]["slug"]
    in_a = await join(slug, alice)
    in_b = await join(slug, bob)
    assert await a.nothing(1.5)  # both in the room: the call goes on
    await in_b.send({"type": "leave"})
    assert (await a.recv_type("hangup", timeout=6))["call_id"] == rung["call_id"]
    assert (await in_a.recv_type("error", timeout=6))["code"] == "no-such-room"
    call = await call_row(rung["call_id"])
    assert call.ended_at is not None and not call.room.is_active
    for sock in (a, b, in_a, in_b):
        await sock.close()


async def test_signing_out_closes_the_presence_socket_and_goes_offline(pair):
    from calls.services.eviction import user_sockets_evict

    alice, bob = pair
    a = await online(alice)
    b = await online(bob)
    await a.recv_type("user-online")
    await sync_to_async(user_sockets_evict)(user_id=bob.pk, session_key=None, reason="signed-out")
    assert (await b.recv_type("error"))["code"] == "unauthenticated"
    assert await b.expect_close() == 4401
    assert (await a.recv_type("user-offline"))["user"]["id"] == bob.pk
    await a.close()


async def test_too_many_presence_sockets_are_refused(pair, monkeypatch):
    from calls.services import direct_calls

    monkeypatch.setattr(direct_calls, "MAX_PRESENCE_SOCKETS", 2)
    alice, _ = pair
    tabs = [await online(alice) for _ in range(2)]
    third = await connect("/ws/presence/", alice)
    assert (await third.recv())["code"] == "rate-limited"
    assert await third.expect_close() == 4429
    for tab in tabs:
        await tab.close()


async def test_a_silent_presence_socket_is_dropped_and_goes_offline(pair, signaling):
    signaling["HEARTBEAT"] = 0.5
    alice, bob = pair
    a = await online(alice)
    b = await online(bob)
    await a.recv_type("user-online")
    for _ in range(8):  # alice keeps pinging, bob says nothing
        await a.send({"type": "ping"})
        await a.recv_type("pong")
        await asyncio.sleep(0.4)
    assert await b.expect_close() == 4408
    offline = [f for f in a.frames if f["type"] == "user-offline"]  # skipped while waiting for pongs
    assert [f["user"]["id"] for f in offline] == [bob.pk]
    await a.close()


async def test_a_page_opened_while_it_rings_rings_too(pair, monkeypatch):
    from calls.services import presence_service

    monkeypatch.setattr(presence_service, "CALLER_GRACE", 0.5)
    alice, bob = pair
    b = await online(bob)
    a = await online(alice)
    rung = await ring(a, b)
    # Both move to another page: one socket closes, another opens.
    await b.close()
    b = await online(bob)
    assert (await b.recv_type("ring"))["call_id"] == rung["call_id"]
    await a.close()
    a = await online(alice)
    assert (await a.recv_type("ringing"))["call_id"] == rung["call_id"]
    await asyncio.sleep(1.0)  # past the caller's grace: they were back in time, so it still rings
    await b.send({"type": "accept", "call_id": rung["call_id"]})
    assert (await a.recv_type("accepted"))["call_id"] == rung["call_id"]
    await a.close()
    await b.close()


async def test_a_ringing_call_is_cancelled_when_the_caller_leaves(pair, monkeypatch):
    from calls.services import presence_service

    monkeypatch.setattr(presence_service, "CALLER_GRACE", 0.3)
    alice, bob = pair
    b = await online(bob)
    a = await online(alice)
    rung = await ring(a, b)
    await a.close()
    assert (await b.recv_type("cancelled", timeout=5))["call_id"] == rung["call_id"]
    call = await call_row(rung["call_id"])
    assert call.status == "cancelled" and not call.room.is_active
    await b.close()


async def test_redis_down_gives_a_clear_error_and_keeps_the_socket(settings, make_user, tmp_path):
    from tests.cluster import RedisServer
    from tests.conftest import require

    require("REDIS", shutil.which("redis-server") is not None, "redis-server is not installed")
    redis_server = RedisServer(tmp_path)
    await sync_to_async(redis_server.start)()
    try:
        settings.SIGNALING = {**settings.SIGNALING, "BACKEND": "redis", "REDIS_URL": redis_server.url}
        alice = await sync_to_async(make_user)("alice")
        await sync_to_async(make_user)("bob")
        a = await online(alice)
        # A pong means the socket has finished opening (it replays any ringing call after the
        # presence frame): stopping Redis earlier would fail the open, not the call.
        await a.send({"type": "ping"})
        await a.recv_type("pong")
        await sync_to_async(redis_server.stop)()
        await a.send({"type": "call", "username": "bob", "id": "c1"})
        error = await a.recv_type("error", timeout=15)
        assert error["code"] == "unavailable" and error["ref"] == "c1"
        await a.send({"type": "ping"})
        assert (await a.recv_type("pong"))["type"] == "pong"
        await a.close()
    finally:
        redis_server.stop()


async def test_group_membership_forgotten_by_the_layer_is_renewed(pair, monkeypatch):
    from channels.layers import get_channel_layer

    from calls.services import presence_service

    monkeypatch.setattr(presence_service, "GROUPS_RENEW_SECONDS", 0.5)
    alice, bob = pair
    b = await online(bob)
    a = await online(alice)
    (session,) = [s for s in presence_service.presence_service_get().local.values() if s.user.pk == bob.pk]
    # The layer expires the member (as after its group_expiry); the next sweeps join it again.
    await get_channel_layer().group_discard(presence_service.presence_group_name(bob.pk), session.conn.channel_name)
    await asyncio.sleep(2.5)
    await ring(a, b)
    await a.close()
    await b.close()
