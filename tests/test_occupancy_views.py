"""Issue 16 items 4 and 5 on the pages: live occupancy (the lobby and its JSON endpoint) and the
pre-join screen telling a full room, or a removed user, before the device check; both backends."""

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient

from tests.helpers import join, server_frames_checked  # noqa: F401

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("server_frames_checked")]


async def _client(user) -> AsyncClient:
    client = AsyncClient()
    await client.aforce_login(user)
    return client


async def _rows(client, query: str = "") -> dict:
    response = await client.get("/api/occupancy/" + query)
    assert response.status_code == 200, response.content
    return {row["slug"]: row for row in response.json()["rooms"]}


async def test_the_lobby_count_changes_when_someone_joins(signaling, users, room_for):
    ann, ben = await users("ann", "ben")
    room = await room_for(ann, name="Standup", capacity=3)
    viewer = await _client(ben)
    assert (await _rows(viewer))[room.slug] == {
        "slug": room.slug,
        "count": 0,
        "capacity": 3,
        "full": False,
        "locked": False,
        "people": [],
    }
    a = await join(room.slug, ann)
    row = (await _rows(viewer))[room.slug]
    assert (row["count"], row["full"], [person["display_name"] for person in row["people"]]) == (1, False, ["Ann"])
    page = (await viewer.get("/")).content.decode()
    assert "1 / 3 in the call" in page and "Ann" in page
    await a.send({"type": "leave"})
    await a.expect_close()
    assert (await _rows(viewer))[room.slug]["count"] == 0


async def test_a_private_rooms_call_is_shown_only_to_its_people(signaling, users, room_for):
    owner, friend, stranger = await users("owner", "friend", "stranger")
    room = await room_for(owner, is_private=True)
    await sync_to_async(room.allowed_users.add)(friend)
    o = await join(room.slug, owner)
    outsider = await _client(stranger)
    assert room.slug not in await _rows(outsider)
    response = await outsider.get(f"/api/occupancy/?room={room.slug}")
    assert response.status_code == 403 and b"owner" not in response.content.lower()
    row = (await _rows(await _client(friend), f"?room={room.slug}"))[room.slug]
    assert [person["username"] for person in row["people"]] == ["owner"]
    anonymous = await AsyncClient().get("/api/occupancy/")
    assert anonymous.status_code == 302
    await o.close()


async def test_a_locked_room_shows_its_count_but_not_its_people_to_newcomers(signaling, users, room_for):
    owner, guest = await users("owner", "guest")
    room = await room_for(owner, is_locked=True)
    o = await join(room.slug, owner)
    row = (await _rows(await _client(guest), f"?room={room.slug}"))[room.slug]
    assert (row["count"], row["locked"], "people" in row) == (1, True, False)
    await o.close()


async def test_the_pre_join_screen_says_the_room_is_full_before_the_device_check(signaling, users, room_for):
    ann, ben, cat = await users("ann", "ben", "cat")
    room = await room_for(ann, capacity=2)
    a = await join(room.slug, ann)
    page = (await (await _client(cat)).get(room.get_absolute_url())).content.decode()
    assert "data-full" not in page and "1 / 2 in the call" in page
    b = await join(room.slug, ben)
    page = (await (await _client(cat)).get(room.get_absolute_url())).content.decode()
    assert "data-full" in page  # room.js waits for a free seat before opening the camera
    assert "This room is full (2 of 2)." in page and 'id="room-full-notice" class="room-notice" role="alert">' in page
    await a.close()
    await b.close()


async def test_a_removed_user_is_told_by_whom_and_how_long_before_the_device_check(signaling, users, room_for):
    owner, bob = await users("alice", "bob")
    room = await room_for(owner)
    o = await join(room.slug, owner)
    b = await join(room.slug, bob)
    await o.send({"type": "kick", "peer": b.peer_id})
    await b.recv_type("kicked")
    response = await (await _client(bob)).get(room.get_absolute_url())
    assert response.status_code == 403
    assert "You were removed by Alice; you can rejoin in 5 minutes." in response.content.decode()
    assert (await (await _client(owner)).get(room.get_absolute_url())).status_code == 200
    await o.close()
