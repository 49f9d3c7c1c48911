"""Room settings outside the admin: only the owner and staff; every change audited; the changes
hold for live calls (capacity and privacy at the next join, closing ends the call at once)."""

import pytest
from asgiref.sync import sync_to_async
from django.contrib.admin.models import LogEntry

from calls.models import Room
from tests.helpers import connect, join, server_frames_checked  # noqa: F401
from tests.web import browser, csrf_token_from

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(make_user):
    return {
        "owner": make_user("olga", display_name="Olga Owner"),
        "staff": make_user("stella", is_staff=True),
        "stranger": make_user("sam"),
        "guest": make_user("gus", display_name="Gus Guest"),
    }


@pytest.fixture
def room(people, make_room):
    return make_room(people["owner"], name="Team Room", capacity=8)


def client_for(user):
    client = browser()
    if user is not None:
        client.force_login(user)
    return client


def post(client, room: Room, url: str, data: dict):
    """POST as the settings page's own forms do, with its CSRF token."""
    page = client.get(f"/rooms/{room.slug}/settings/")
    assert page.status_code == 200
    return client.post(url, {**data, "csrfmiddlewaretoken": csrf_token_from(page.content.decode())})


def audit(room: Room) -> list[str]:
    return list(LogEntry.objects.filter(object_id=str(room.pk)).order_by("pk").values_list("change_message", flat=True))


SETTINGS_URLS = ["settings/", "settings/people/", "settings/invites/", "settings/close/"]


@pytest.mark.parametrize("who", ["stranger", "guest"])
@pytest.mark.parametrize("tail", SETTINGS_URLS)
def test_people_who_do_not_own_the_room_get_403(people, room, who, tail):
    client = client_for(people[who])
    response = client.get(f"/rooms/{room.slug}/{tail}")
    assert response.status_code in (403, 405)
    token = csrf_token_from(client.get("/").content.decode())
    data = {
        "name": "Hijacked",
        "capacity": 2,
        "user": people[who].pk,
        "lifetime": "never",
        "csrfmiddlewaretoken": token,
    }
    assert client.post(f"/rooms/{room.slug}/{tail}", data).status_code == 403
    room.refresh_from_db()
    assert (room.name, room.capacity, room.is_active) == ("Team Room", 8, True)
    assert not room.allowed_users.exists() and not room.invites.exists()
    assert audit(room) == []


@pytest.mark.parametrize("tail", SETTINGS_URLS)
def test_signed_out_visitors_are_sent_to_sign_in(room, tail):
    response = client_for(None).get(f"/rooms/{room.slug}/{tail}")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/?next=")


def test_a_stranger_is_told_only_the_owner_may_change_it(people, room):
    body = client_for(people["stranger"]).get(f"/rooms/{room.slug}/settings/").content.decode()
    assert "Only the room&#x27;s owner can change its settings." in body or "Only the room's owner" in body


@pytest.mark.parametrize("who", ["owner", "staff"])
def test_owner_and_staff_rename_resize_and_make_private(people, room, who):
    client = client_for(people[who])
    response = post(
        client, room, f"/rooms/{room.slug}/settings/", {"name": "Renamed", "capacity": 3, "is_private": "on"}
    )
    assert response.status_code == 302
    room.refresh_from_db()
    assert (room.name, room.capacity, room.is_private) == ("Renamed", 3, True)
    assert audit(room) == ["Changed name=Renamed, capacity=3, is_private=True"]
    assert LogEntry.objects.get(object_id=str(room.pk)).user == people[who]
    assert "Settings saved." in client.get(response["Location"]).content.decode()


def test_the_owner_lets_everyone_record_and_the_room_page_offers_record_to_all(people, room):
    guest = client_for(people["guest"])
    assert "data-may-record" not in guest.get(f"/rooms/{room.slug}/").content.decode()
    assert "data-may-record" in client_for(people["owner"]).get(f"/rooms/{room.slug}/").content.decode()
    data = {"name": room.name, "capacity": room.capacity, "everyone_may_record": "on"}
    post(client_for(people["owner"]), room, f"/rooms/{room.slug}/settings/", data)
    room.refresh_from_db()
    assert room.everyone_may_record is True
    assert audit(room) == ["Changed everyone_may_record=True"]
    assert "data-may-record" in guest.get(f"/rooms/{room.slug}/").content.decode()


def test_a_capacity_out_of_range_is_refused_with_the_reason(people, room):
    response = post(client_for(people["owner"]), room, f"/rooms/{room.slug}/settings/", {"name": "X", "capacity": 40})
    assert response.status_code == 200
    assert "Ensure this value is less than or equal to 16." in response.content.decode()
    room.refresh_from_db()
    assert (room.name, room.capacity) == ("Team Room", 8) and audit(room) == []


def test_find_add_and_remove_allowed_people(people, room, make_user):
    make_user("guinevere", display_name="Gwen")
    client = client_for(people["owner"])
    found = client.get(f"/rooms/{room.slug}/settings/?q=gu").content.decode()
    assert "@gus" in found and "@guinevere" in found and "@sam" not in found and "@olga" not in found
    by_name = client.get(f"/rooms/{room.slug}/settings/?q=GWE").content.decode()
    assert "@guinevere" in by_name and "@gus" not in by_name

    post(client, room, f"/rooms/{room.slug}/settings/people/", {"user": people["guest"].pk})
    assert list(room.allowed_users.all()) == [people["guest"]]
    page = client.get(f"/rooms/{room.slug}/settings/?q=gus").content.decode()
    assert "Nobody found who is not on the list already." in page, "someone allowed is not offered again"

    post(client, room, f"/rooms/{room.slug}/settings/people/", {"user": people["guest"].pk, "action": "remove"})
    assert not room.allowed_users.exists()
    assert audit(room) == ["Allowed gus", f"Removed user {people['guest'].pk} from the allowed people"]


def test_a_removed_person_may_no_longer_open_the_private_room(people, make_room):
    room = make_room(people["owner"], is_private=True)
    room.allowed_users.add(people["guest"])
    guest = client_for(people["guest"])
    assert guest.get(f"/rooms/{room.slug}/").status_code == 200
    post(
        client_for(people["owner"]),
        room,
        f"/rooms/{room.slug}/settings/people/",
        {"user": people["guest"].pk, "action": "remove"},
    )
    refused = guest.get(f"/rooms/{room.slug}/")
    assert refused.status_code == 403 and "This room is private" in refused.content.decode()


def test_create_and_revoke_invitations(people, room):
    client = client_for(people["owner"])
    post(client, room, f"/rooms/{room.slug}/settings/invites/", {"lifetime": "1d"})
    post(client, room, f"/rooms/{room.slug}/settings/invites/", {"lifetime": "never"})
    first, second = room.invites.order_by("pk")
    page = client.get(f"/rooms/{room.slug}/settings/").content.decode()
    assert "Works until revoked" in page and page.count("/invite/") == 2
    post(client, room, f"/rooms/{room.slug}/settings/invites/", {"revoke": first.pk})
    first.refresh_from_db()
    assert first.revoked_at is not None
    assert client.get(f"/rooms/{room.slug}/settings/").content.decode().count("/invite/") == 1
    assert audit(room) == [
        f"Invitation {first.pk} created (1d)",
        f"Invitation {second.pk} created (never)",
        f"Invitation {first.pk} revoked",
    ]


def test_an_unknown_lifetime_creates_nothing(people, room):
    post(client_for(people["owner"]), room, f"/rooms/{room.slug}/settings/invites/", {"lifetime": "forever"})
    assert not room.invites.exists()


def test_another_rooms_invitation_cannot_be_revoked_from_here(people, room, make_room):
    from calls.services.invites import invite_create

    mine = make_room(people["stranger"], name="Sam's")
    theirs = invite_create(room=mine, by=people["stranger"], lifetime="7d")
    post(client_for(people["owner"]), room, f"/rooms/{room.slug}/settings/invites/", {"revoke": theirs.pk})
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


def test_owner_closes_the_room(people, room):
    client = client_for(people["owner"])
    response = post(client, room, f"/rooms/{room.slug}/settings/close/", {})
    assert response.status_code == 302 and response["Location"] == "/"
    room.refresh_from_db()
    assert room.is_active is False and audit(room) == ["Closed the room"]
    assert client_for(people["guest"]).get(f"/rooms/{room.slug}/").status_code == 404
    assert client.get(f"/rooms/{room.slug}/settings/").status_code == 404


def test_direct_call_rooms_have_no_settings_page(people):
    direct = Room.objects.create(slug="direct-abc", name="Direct", owner=people["owner"], is_direct=True)
    assert client_for(people["owner"]).get(f"/rooms/{direct.slug}/settings/").status_code == 404


# Live calls ------------------------------------------------------------------------------------
live = pytest.mark.django_db(transaction=True)


async def _post_async(user, room, tail, data):
    return await sync_to_async(post)(await sync_to_async(client_for)(user), room, f"/rooms/{room.slug}/{tail}", data)


@live
@pytest.mark.usefixtures("server_frames_checked")
async def test_closing_from_the_settings_ends_the_live_call(signaling, make_user, make_room):
    owner, guest = [await sync_to_async(make_user)(name) for name in ("olga", "gus")]
    room = await sync_to_async(make_room)(owner)
    a = await join(room.slug, owner)
    b = await join(room.slug, guest)
    await _post_async(owner, room, "settings/close/", {})
    for peer in (a, b):
        assert (await peer.recv_type("error"))["code"] == "no-such-room"
        assert await peer.expect_close() == 4404
    again = await connect(f"/ws/rooms/{room.slug}/", guest)
    assert (await again.refused())[1] == 4404


@live
@pytest.mark.usefixtures("server_frames_checked")
async def test_a_lower_capacity_and_privacy_hold_for_the_next_join(signaling, make_user, make_room):
    owner, guest, third = [await sync_to_async(make_user)(name) for name in ("olga", "gus", "tia")]
    room = await sync_to_async(make_room)(owner, capacity=8)
    a = await join(room.slug, owner)
    b = await join(room.slug, guest)
    await _post_async(owner, room, "settings/", {"name": room.name, "capacity": 2})
    full = await connect(f"/ws/rooms/{room.slug}/", third)
    frame, code = await full.refused()
    assert frame["code"] == "room-full" and code == 4409
    for peer in (a, b):  # the people in the call keep their seats
        await peer.send({"type": "ping"})
        assert (await peer.recv_type("pong"))["type"] == "pong"

    await _post_async(owner, room, "settings/", {"name": room.name, "capacity": 4, "is_private": "on"})
    private = await connect(f"/ws/rooms/{room.slug}/", third)
    frame, code = await private.refused()
    assert frame["code"] == "forbidden"
    await _post_async(owner, room, "settings/people/", {"user": third.pk})
    c = await join(room.slug, third)
    assert c.welcome["peer_id"]
    for peer in (a, b, c):
        await peer.close()
