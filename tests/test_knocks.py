"""Ask to join (issue 16 item 3) on both signaling backends: a knock reaches the owner and staff
in the call, the first answer wins, admitted people enter with the pass, denied or unanswered
knocks are refused with their reason, knocks are rate-limited and a removed person cannot knock."""

import asyncio

import pytest
from asgiref.sync import sync_to_async

from calls.models import Room
from tests.helpers import connect, join, server_frames_checked  # noqa: F401

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("server_frames_checked")]


@pytest.fixture(autouse=True)
def _fresh_cache():
    from django.core.cache import cache

    cache.clear()


async def _knock(slug: str, user):
    peer = await connect(f"/ws/rooms/{slug}/?knock=1", user)
    assert peer.connected
    return peer


async def _knock_seen(slug: str, guest, moderator):
    """`guest` knocks and is told to wait; `moderator`, a peer in the call, gets the prompt."""
    k = await _knock(slug, guest)
    await k.recv_type("knocking")
    return k, await moderator.recv_type("knock")


async def test_owner_admits_a_knock_and_the_pass_opens_the_private_room(signaling, users, room_for):
    owner, guest, member = await users("owner", "guest", "member")
    room = await room_for(owner, is_private=True)
    await sync_to_async(room.allowed_users.add)(member)
    o = await join(room.slug, owner)
    m = await join(room.slug, member)
    k = await _knock(room.slug, guest)
    assert await k.recv() == {"type": "knocking", "timeout": 60}
    prompt = await o.recv_type("knock")
    assert prompt["user"] == {"id": guest.pk, "username": "guest", "display_name": "Guest"}
    await o.send({"type": "knock-answer", "knock": prompt["knock"], "admit": True, "allow": True})
    admitted = await k.recv()
    assert admitted["type"] == "admitted"
    assert await k.expect_close() == 1000
    ended = await o.recv_type("knock-ended")
    assert (ended["knock"], ended["outcome"], ended["by"]["username"]) == (prompt["knock"], "admitted", "owner")
    assert all(frame["type"] != "knock" for frame in m.frames) and await m.nothing(0.2)  # not a moderator
    g = await join(room.slug, guest, query=f"pass={admitted['pass']}")
    assert await sync_to_async(room.allowed_users.filter(pk=guest.pk).exists)()  # added to the allowed people
    assert g.welcome["room"]["slug"] == room.slug
    for peer in (o, m, g):
        await peer.close()


async def test_a_locked_rooms_denied_knock_says_who_and_the_pass_is_needed(signaling, users, room_for):
    owner, guest = await users("owner", "guest")
    room = await room_for(owner, is_locked=True)
    o = await join(room.slug, owner)
    k, prompt = await _knock_seen(room.slug, guest, o)
    await o.send({"type": "knock-answer", "knock": prompt["knock"], "admit": False})
    frame, code = await _refusal(k)
    assert (frame["reason"], frame["by"]["username"], code) == ("denied", "owner", 4403)
    assert (await o.recv_type("knock-ended"))["outcome"] == "denied"
    forged = await connect(f"/ws/rooms/{room.slug}/?pass=forged", guest)
    assert (await forged.refused())[0]["reason"] == "locked"
    await o.close()


async def test_an_unanswered_knock_times_out(signaling, users, room_for, monkeypatch):
    from calls.signaling import knocks

    monkeypatch.setattr(knocks, "KNOCK_TIMEOUT", 1)
    owner, guest = await users("owner", "guest")
    room = await room_for(owner, is_private=True)
    o = await join(room.slug, owner)
    k = await _knock(room.slug, guest)
    frame, code = await _refusal(k)
    assert (frame["reason"], code) == ("no-answer", 4403)
    assert (await o.recv_type("knock-ended"))["outcome"] == "no-answer"
    await o.close()


async def test_no_knock_without_a_moderator_for_the_removed_or_too_often(signaling, users, room_for):
    owner, guest, member = await users("owner", "guest", "member")
    room = await room_for(owner, is_locked=True)
    k = await _knock(room.slug, guest)
    assert (await k.refused())[0]["reason"] == "no-moderator"
    o = await join(room.slug, owner)
    for _ in range(2):  # two more knocks in the window, both answered
        k, prompt = await _knock_seen(room.slug, guest, o)
        await o.send({"type": "knock-answer", "knock": prompt["knock"], "admit": False})
        await _refusal(k)
    k = await _knock(room.slug, guest)
    frame, code = await k.refused()
    assert (frame["reason"], code) == ("too-many-knocks", 4429)
    await sync_to_async(Room.objects.filter(pk=room.pk).update)(is_locked=False)
    b = await join(room.slug, member)
    await o.send({"type": "kick", "peer": b.peer_id})
    await b.recv_type("kicked")
    await sync_to_async(Room.objects.filter(pk=room.pk).update)(is_locked=True)
    frame, _ = await (await _knock(room.slug, member)).refused()
    assert frame["reason"] == "removed"
    await o.close()


async def test_only_a_moderator_may_answer_a_knock(signaling, users, room_for):
    owner, member = await users("owner", "member")
    room = await room_for(owner)
    await join(room.slug, owner)
    m = await join(room.slug, member)
    await m.send({"type": "knock-answer", "knock": "x.y", "admit": True, "id": "a"})
    frame = await m.recv_type("error")
    assert (frame["code"], frame["ref"]) == ("forbidden", "a")


async def _refusal(peer) -> tuple[dict, int]:
    """The error frame and close code after the frames a knocking socket already had."""
    while True:
        frame = await peer.recv(3)
        if frame["type"] == "error":
            return frame, await peer.expect_close()
        await asyncio.sleep(0)


async def test_the_refused_page_offers_a_knock_and_the_pass_opens_the_page(signaling, users, room_for):
    from django.test import AsyncClient

    from calls.signaling.knocks import knock_pass_make

    owner, guest = await users("owner", "guest")
    private = await room_for(owner, is_private=True)
    client = AsyncClient()
    await client.aforce_login(guest)
    refused = await client.get(private.get_absolute_url())
    assert refused.status_code == 403 and b"Ask to join" in refused.content
    forged = await client.get(private.get_absolute_url() + "?pass=forged")
    assert forged.status_code == 403
    other_room = await room_for(owner, is_private=True)
    wrong = knock_pass_make(slug=other_room.slug, user_id=guest.pk)
    assert (await client.get(f"{private.get_absolute_url()}?pass={wrong}")).status_code == 403
    token = knock_pass_make(slug=private.slug, user_id=guest.pk)
    page = await client.get(f"{private.get_absolute_url()}?pass={token}")
    assert page.status_code == 200 and f"?pass={token}".encode() in page.content  # the socket gets it too


async def test_a_knock_on_a_stopping_process_is_asked_again_on_the_next(signaling, users, room_for, monkeypatch):
    """The process drains (calls.services.draining): the knocking socket is closed 4012 and knocks
    again at once (knock.js) where the proxy sends it; the moderator, resumed there, sees the old
    prompt end as `moved` and the new one come."""
    from calls.services import draining

    monkeypatch.setattr(draining, "_drain", draining._Drain())  # this test's drain only
    owner, guest = await users("owner", "guest")
    room = await room_for(owner, is_private=True)
    o = await join(room.slug, owner)
    k, first = await _knock_seen(room.slug, guest, o)
    assert await draining.sockets_move() == 2  # the owner's room socket and the knock
    assert await k.expect_close() == 4012
    assert await o.expect_close() == 4012
    monkeypatch.setattr(draining, "_drain", draining._Drain())  # "the next process"
    o2 = await join(room.slug, owner, query=f"resume={o.welcome['resume_token']}")
    ended = await o2.recv_type("knock-ended")
    assert (ended["knock"], ended["outcome"]) == (first["knock"], "moved")
    k2, second = await _knock_seen(room.slug, guest, o2)
    assert second["knock"] != first["knock"] and second["user"]["username"] == "guest"
    await o2.send({"type": "knock-answer", "knock": second["knock"], "admit": True})
    assert (await k2.recv_type("admitted"))["pass"]
    await o2.close()
