"""Django admin for rooms and the audit trail: staff only, lists, search, filters, actions."""

import pytest
from django.utils import timezone

from calls.models import Call, Participation, Room, RoomInvite
from tests.web import browser

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(make_user):
    client = browser()
    client.force_login(make_user("root", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def rooms(make_user, make_room):
    owner = make_user("olga")
    return {
        "alpha": make_room(owner, slug="alpha-room", name="Alpha Standup"),
        "beta": make_room(owner, slug="beta-room", name="Beta Review", is_locked=True),
        "gamma": make_room(owner, slug="gamma-room", name="Gamma Private", is_private=True),
    }


def names_in(response, candidates) -> set[str]:
    body = response.content.decode()
    return {name for name in candidates if name in body}


def csrf_of(client) -> str:
    client.get("/admin/")
    return client.cookies["csrftoken"].value


ROOM_NAMES = {"Alpha Standup", "Beta Review", "Gamma Private"}


def test_admin_is_for_staff_only(make_user, rooms):
    client = browser()
    client.force_login(make_user("plain"))
    for url in ("/admin/", "/admin/calls/room/", f"/admin/calls/room/{rooms['alpha'].pk}/change/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/"), url
    assert names_in(client.get("/admin/calls/room/", follow=True), ROOM_NAMES) == set()


def test_staff_without_permissions_cannot_see_rooms(make_user, rooms):
    client = browser()
    client.force_login(make_user("helper", is_staff=True))
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/calls/room/").status_code == 403


@pytest.mark.parametrize(
    "url", ["/admin/calls/room/", "/admin/calls/participation/", "/admin/calls/call/", "/admin/accounts/user/"]
)
def test_changelists_render(admin_client, rooms, url):
    room = rooms["alpha"]
    user = room.owner
    Participation.objects.create(room=room, user=user, peer_id="peer-abc")
    Call.objects.create(call_id="call-1", caller=user, callee=room.owner, status=Call.Status.ANSWERED)
    response = admin_client.get(url)
    assert response.status_code == 200
    assert "olga" in response.content.decode()


def test_room_search_and_filters(admin_client, rooms):
    assert names_in(admin_client.get("/admin/calls/room/?q=beta"), ROOM_NAMES) == {"Beta Review"}
    assert names_in(admin_client.get("/admin/calls/room/?q=olga"), ROOM_NAMES) == ROOM_NAMES
    assert names_in(admin_client.get("/admin/calls/room/?is_locked__exact=1"), ROOM_NAMES) == {"Beta Review"}
    assert names_in(admin_client.get("/admin/calls/room/?is_private__exact=1"), ROOM_NAMES) == {"Gamma Private"}
    assert names_in(admin_client.get("/admin/calls/room/?is_locked__exact=0&q=gamma"), ROOM_NAMES) == {"Gamma Private"}


def test_participation_and_call_search(admin_client, rooms, make_user):
    zed = make_user("zed")
    Participation.objects.create(room=rooms["alpha"], user=zed, peer_id="p1")
    Participation.objects.create(room=rooms["beta"], user=rooms["beta"].owner, peer_id="p2")
    found = admin_client.get("/admin/calls/participation/?q=zed").content.decode()
    assert "Alpha Standup" in found and "Beta Review" not in found

    Call.objects.create(call_id="c1", caller=zed, callee=rooms["alpha"].owner, status=Call.Status.MISSED)
    Call.objects.create(call_id="c2", caller=rooms["alpha"].owner, callee=rooms["alpha"].owner)
    missed = admin_client.get("/admin/calls/call/?status__exact=missed").content.decode()
    assert "zed" in missed
    assert admin_client.get("/admin/calls/call/?q=zed").context["cl"].result_count == 1


def test_user_search(admin_client, make_user):
    make_user("quentin", display_name="Quentin Q")
    make_user("rachel")
    response = admin_client.get("/admin/accounts/user/?q=Quentin")
    assert response.context["cl"].result_count == 1
    assert "quentin" in response.content.decode()


@pytest.mark.parametrize(
    ("action", "field", "before", "after"),
    [("lock_rooms", "is_locked", False, True), ("unlock_rooms", "is_locked", True, False)],
)
def test_lock_and_unlock_actions(admin_client, make_user, make_room, action, field, before, after):
    owner = make_user("olga")
    picked = [make_room(owner, **{field: before}) for _ in range(2)]
    untouched = make_room(owner, **{field: before})
    response = admin_client.post(
        "/admin/calls/room/",
        {"action": action, "_selected_action": [r.pk for r in picked], "csrfmiddlewaretoken": csrf_of(admin_client)},
        follow=True,
    )
    assert response.status_code == 200
    assert "2 rooms" in response.content.decode()
    for room in picked:
        room.refresh_from_db()
        assert getattr(room, field) is after
    untouched.refresh_from_db()
    assert getattr(untouched, field) is before


def test_close_action_makes_the_room_unreachable(admin_client, rooms, make_user):
    guest = make_user("gus")
    visitor = browser()
    visitor.force_login(guest)
    assert visitor.get("/rooms/alpha-room/").status_code == 200
    admin_client.post(
        "/admin/calls/room/",
        {
            "action": "close_rooms",
            "_selected_action": [rooms["alpha"].pk],
            "csrfmiddlewaretoken": csrf_of(admin_client),
        },
    )
    rooms["alpha"].refresh_from_db()
    assert rooms["alpha"].is_active is False
    assert visitor.get("/rooms/alpha-room/").status_code == 404
    assert "Alpha Standup" not in visitor.get("/").content.decode()


def test_room_change_page_shows_participations_read_only(admin_client, rooms):
    room = rooms["alpha"]
    Participation.objects.create(
        room=room, user=room.owner, peer_id="peer-audit-1", left_at=timezone.now(), reason="kicked"
    )
    page = admin_client.get(f"/admin/calls/room/{room.pk}/change/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "peer-audit-1" in body
    inline = page.context["inline_admin_formsets"]
    participation_inline = next(i for i in inline if i.formset.model is Participation)
    assert not participation_inline.has_add_permission
    assert not participation_inline.has_change_permission
    assert not participation_inline.has_delete_permission
    assert 'name="participations-0-peer_id"' not in body
    assert "participations-0-DELETE" not in body

    entry = Participation.objects.get(peer_id="peer-audit-1")
    prefixes = {f.formset.model: f.formset.prefix for f in inline}
    data = {"csrfmiddlewaretoken": csrf_of(admin_client), "slug": room.slug, "name": room.name}
    data.update({"owner": room.owner.pk, "capacity": 8, "is_active": "on"})
    for empty in (prefixes[Room.allowed_users.through], prefixes[RoomInvite]):
        data.update({f"{empty}-TOTAL_FORMS": 0, f"{empty}-INITIAL_FORMS": 0})
    audit = prefixes[Participation]
    data.update({f"{audit}-TOTAL_FORMS": 1, f"{audit}-INITIAL_FORMS": 1, f"{audit}-0-id": entry.pk})
    data.update({f"{audit}-0-room": room.pk, f"{audit}-0-peer_id": "forged", f"{audit}-0-DELETE": "on"})
    assert admin_client.post(f"/admin/calls/room/{room.pk}/change/", data).status_code == 302
    entry.refresh_from_db()
    assert entry.peer_id == "peer-audit-1", "a forged form post neither edits nor deletes the audit trail"


def test_participation_admin_cannot_add_or_edit(admin_client, rooms):
    entry = Participation.objects.create(room=rooms["alpha"], user=rooms["alpha"].owner, peer_id="peer-ro")
    assert admin_client.get("/admin/calls/participation/add/").status_code == 403
    page = admin_client.get(f"/admin/calls/participation/{entry.pk}/change/")
    assert page.status_code == 200 and 'name="peer_id"' not in page.content.decode()
    admin_client.post(
        f"/admin/calls/participation/{entry.pk}/change/",
        {"peer_id": "forged", "csrfmiddlewaretoken": csrf_of(admin_client)},
    )
    entry.refresh_from_db()
    assert entry.peer_id == "peer-ro"


def test_room_admin_edits_allowed_users_inline(admin_client, rooms, make_user):
    guest = make_user("gus")
    room = rooms["gamma"]
    page = admin_client.get(f"/admin/calls/room/{room.pk}/change/")
    formsets = {f.formset.prefix: f.formset for f in page.context["inline_admin_formsets"]}
    allowed_prefix = next(p for p, f in formsets.items() if f.model is Room.allowed_users.through)
    participation_prefix = next(p for p, f in formsets.items() if f.model is Participation)
    invite_prefix = next(p for p, f in formsets.items() if f.model is RoomInvite)
    data = {
        "csrfmiddlewaretoken": csrf_of(admin_client),
        "slug": room.slug,
        "name": room.name,
        "owner": room.owner.pk,
        "capacity": 8,
        "is_private": "on",
        "is_active": "on",
        f"{allowed_prefix}-TOTAL_FORMS": 1,
        f"{allowed_prefix}-INITIAL_FORMS": 0,
        f"{allowed_prefix}-0-user": guest.pk,
        f"{participation_prefix}-TOTAL_FORMS": 0,
        f"{participation_prefix}-INITIAL_FORMS": 0,
        f"{invite_prefix}-TOTAL_FORMS": 0,
        f"{invite_prefix}-INITIAL_FORMS": 0,
    }
    response = admin_client.post(f"/admin/calls/room/{room.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert list(room.allowed_users.all()) == [guest]
    visitor = browser()
    visitor.force_login(guest)
    assert visitor.get(f"/rooms/{room.slug}/").status_code == 200


def test_room_admin_refuses_capacity_out_of_range(admin_client, rooms):
    room = rooms["alpha"]
    page = admin_client.get(f"/admin/calls/room/{room.pk}/change/")
    prefixes = [f.formset.prefix for f in page.context["inline_admin_formsets"]]
    data = {"csrfmiddlewaretoken": csrf_of(admin_client), "slug": room.slug, "name": room.name}
    data.update({"owner": room.owner.pk, "capacity": 40, "is_active": "on"})
    for prefix in prefixes:
        data.update({f"{prefix}-TOTAL_FORMS": 0, f"{prefix}-INITIAL_FORMS": 0})
    response = admin_client.post(f"/admin/calls/room/{room.pk}/change/", data)
    assert response.status_code == 200
    room.refresh_from_db()
    assert room.capacity == 8


def test_direct_call_rooms_are_left_out_unless_asked_for(admin_client, rooms):
    Room.objects.create(slug="direct-1a2b", name="Direct Line Zulu", owner=rooms["alpha"].owner, is_direct=True)
    names = ROOM_NAMES | {"Direct Line Zulu"}
    assert names_in(admin_client.get("/admin/calls/room/"), names) == ROOM_NAMES
    assert names_in(admin_client.get("/admin/calls/room/?kind=direct"), names) == {"Direct Line Zulu"}
    assert names_in(admin_client.get("/admin/calls/room/?kind=all"), names) == names


def test_live_now_shows_who_is_in_the_call(admin_client, rooms, make_user):
    room = rooms["alpha"]
    zed = make_user("zed", display_name="Zed Zebra")
    Participation.objects.create(room=room, user=zed, peer_id="p-live")
    Participation.objects.create(room=room, user=room.owner, peer_id="p-gone", left_at=timezone.now(), reason="left")
    body = admin_client.get("/admin/calls/room/").content.decode()
    assert "1 / 8: Zed Zebra" in body
    assert "Olga" not in body.split("1 / 8: ")[1].split("<")[0]


def test_a_rooms_page_shows_the_latest_joins_and_links_to_all_of_them(admin_client, rooms):
    room = rooms["alpha"]
    for number in range(60):
        Participation.objects.create(room=room, user=room.owner, peer_id=f"peer-{number:03d}")
    body = admin_client.get(f"/admin/calls/room/{room.pk}/change/").content.decode()
    assert "peer-059" in body and "peer-040" in body and "peer-039" not in body
    assert f'href="/admin/calls/participation/?room__id__exact={room.pk}"' in body and "60 joins in all" in body
    listing = admin_client.get(f"/admin/calls/participation/?room__id__exact={room.pk}")
    assert listing.context["cl"].result_count == 60 and len(listing.context["cl"].result_list) == 50
