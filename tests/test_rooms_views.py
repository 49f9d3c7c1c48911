"""Lobby and room pages: who sees which room, and creating rooms."""

import re

import pytest

from calls.models import Room
from tests.web import browser, form_submit

pytestmark = pytest.mark.django_db

SECRET_NAME = "Merger Talks Zebra"


@pytest.fixture
def people(make_user):
    return {
        "owner": make_user("olga"),
        "guest": make_user("gus"),
        "stranger": make_user("sam"),
        "staff": make_user("stella", is_staff=True),
    }


def signed_in(user):
    client = browser()
    client.force_login(user)
    return client


def room_page(user, room: Room):
    return signed_in(user).get(f"/rooms/{room.slug}/")


@pytest.mark.parametrize("who", ["owner", "guest", "stranger", "staff"])
def test_public_room_opens_for_every_signed_in_user(people, make_room, who):
    room = make_room(people["owner"], name=SECRET_NAME)
    response = room_page(people[who], room)
    assert response.status_code == 200
    assert SECRET_NAME in response.content.decode()


@pytest.mark.parametrize(("who", "status"), [("owner", 200), ("guest", 200), ("staff", 200), ("stranger", 403)])
def test_private_room_opens_only_for_allowed_users(people, make_room, who, status):
    room = make_room(people["owner"], name=SECRET_NAME, is_private=True)
    room.allowed_users.add(people["guest"])
    response = room_page(people[who], room)
    assert response.status_code == status
    if status == 403:
        body = response.content.decode()
        assert SECRET_NAME not in body and "private" in body


@pytest.mark.parametrize(("who", "status"), [("owner", 200), ("staff", 200), ("guest", 403), ("stranger", 403)])
def test_locked_room_keeps_newcomers_out(people, make_room, who, status):
    room = make_room(people["owner"], name=SECRET_NAME, is_locked=True)
    room.allowed_users.add(people["guest"])
    response = room_page(people[who], room)
    assert response.status_code == status
    if status == 403:
        assert SECRET_NAME not in response.content.decode()


@pytest.mark.parametrize("who", ["owner", "staff", "stranger"])
def test_closed_room_is_not_found_for_anyone(people, make_room, who):
    room = make_room(people["owner"], name=SECRET_NAME, is_active=False)
    response = room_page(people[who], room)
    assert response.status_code == 404
    assert SECRET_NAME not in response.content.decode()


def test_unknown_room_is_not_found(people):
    assert signed_in(people["stranger"]).get("/rooms/no-such-room/").status_code == 404


@pytest.mark.parametrize(
    "url", ["/", "/rooms/demo/", "/accounts/profile/", "/accounts/password_change/", "/admin/", "/admin/calls/room/"]
)
def test_every_page_requires_sign_in(people, make_room, url):
    make_room(people["owner"], slug="demo", name=SECRET_NAME)
    response = browser().get(url)
    assert response.status_code == 302
    assert "/login/" in response["Location"] and "next=" in response["Location"]


def test_ice_servers_api_requires_sign_in():
    response = browser().get("/api/ice-servers/")
    assert response.status_code == 401
    assert response.json()["error"] == "unauthenticated"


def test_lobby_lists_only_rooms_the_user_may_join(people, make_room):
    owner, guest = people["owner"], people["guest"]
    make_room(owner, name="Public Plaza")
    make_room(owner, name="Guest List Room", is_private=True).allowed_users.add(guest)
    make_room(owner, name="Owner Only Room", is_private=True)
    make_room(owner, name="Locked Library", is_locked=True)
    make_room(owner, name="Closed Cellar", is_active=False)
    Room.objects.create(slug="direct-x", name="Direct Line", owner=owner, is_direct=True)

    def listed(user) -> set[str]:
        body = signed_in(user).get("/").content.decode()
        names = {"Public Plaza", "Guest List Room", "Owner Only Room", "Locked Library", "Closed Cellar", "Direct Line"}
        return {name for name in names if name in body}

    assert listed(guest) == {"Public Plaza", "Guest List Room"}
    assert listed(people["stranger"]) == {"Public Plaza"}
    assert listed(owner) == {"Public Plaza", "Guest List Room", "Owner Only Room", "Locked Library"}
    assert listed(people["staff"]) == {"Public Plaza", "Guest List Room", "Owner Only Room", "Locked Library"}


def test_lobby_escapes_room_names(people, make_room):
    make_room(people["owner"], name='<img src=x onerror="alert(1)">')
    body = signed_in(people["guest"]).get("/").content.decode()
    assert "<img src=x" not in body
    assert "&lt;img src=x" in body


def test_create_room_from_the_lobby(people):
    client = signed_in(people["guest"])
    response = form_submit(client, "/", {"name": "Ünïcode & Friends: Q3 / plan?", "capacity": 5, "is_private": "on"})
    assert response.status_code == 302
    room = Room.objects.get(name="Ünïcode & Friends: Q3 / plan?")
    assert response["Location"] == f"/rooms/{room.slug}/"
    assert re.fullmatch(r"[a-z0-9][a-z0-9-]*", room.slug), room.slug
    assert room.owner == people["guest"] and room.capacity == 5 and room.is_private
    assert client.get(response["Location"]).status_code == 200
    assert room_page(people["stranger"], room).status_code == 403


def test_rooms_with_the_same_name_get_different_slugs(people):
    client = signed_in(people["guest"])
    for _ in range(2):
        form_submit(client, "/", {"name": "Standup", "capacity": 8})
    slugs = list(Room.objects.filter(name="Standup").values_list("slug", flat=True))
    assert len(set(slugs)) == 2


def test_room_name_without_latin_letters_still_gets_a_slug(people):
    form_submit(signed_in(people["guest"]), "/", {"name": "会议室", "capacity": 8})
    room = Room.objects.get(name="会议室")
    assert re.fullmatch(r"room-[a-f0-9]+", room.slug)


@pytest.mark.parametrize(("capacity", "created"), [(1, False), (2, True), (16, True), (17, False), ("many", False)])
def test_room_capacity_must_be_between_2_and_16(people, capacity, created):
    response = form_submit(signed_in(people["guest"]), "/", {"name": f"Cap {capacity}", "capacity": capacity})
    assert Room.objects.filter(name=f"Cap {capacity}").exists() is created
    if not created:
        assert response.status_code == 200
        assert 'class="errorlist' in response.content.decode()


def test_room_name_is_required(people):
    response = form_submit(signed_in(people["guest"]), "/", {"name": "", "capacity": 8})
    assert response.status_code == 200
    assert not Room.objects.exists()


@pytest.mark.parametrize(
    ("language", "explained", "warning"),
    [
        ("en", "each person uploads one video per other person", "More than 8 people: pictures get small"),
        ("zh-Hans", "每人要为其他每个人各上传一路视频", "超过 8 人：画面会变小"),
    ],
)
def test_room_forms_explain_capacity_in_a_mesh_and_warn_above_8(people, make_room, language, explained, warning):
    """The lobby's form and the room settings: what a size costs each browser, a warning the page shows above 8."""
    client = signed_in(people["owner"])
    room = make_room(people["owner"], name="Big")
    for url in ("/", f"/rooms/{room.slug}/settings/"):
        html = client.get(url, HTTP_ACCEPT_LANGUAGE=language).content.decode()
        assert explained in html, url
        capacity = re.search(r"<input[^>]*name=\"capacity\"[^>]*>", html).group(0)
        assert 'data-warn-above="8"' in capacity, capacity
        assert warning in capacity, capacity
