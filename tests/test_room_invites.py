"""Invite links: a private room's signed, expiring, revocable invitation adds whoever opens it to
the allowed people; a signed-out visitor signs in or up and comes back; `next` never leaves the site."""

import re
from datetime import timedelta
from urllib.parse import quote

import pytest
from django.contrib.admin.models import LogEntry
from django.utils import timezone

from calls.models import RoomInvite
from calls.services.invites import invite_create, invite_path
from tests.web import browser, csrf_token_from, form_submit

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner(make_user):
    return make_user("olga", display_name="Olga Owner")


@pytest.fixture
def private_room(owner, make_room):
    return make_room(owner, name="Board Room", is_private=True)


def signed_in(user):
    client = browser()
    client.force_login(user)
    return client


def test_opening_a_valid_invitation_adds_the_user_and_lands_in_the_room(owner, private_room, make_user):
    guest = make_user("gus")
    client = signed_in(guest)
    assert client.get(f"/rooms/{private_room.slug}/").status_code == 403
    path = invite_path(invite=invite_create(room=private_room, by=owner, lifetime="1d"))
    response = client.get(path)
    assert response.status_code == 302 and response["Location"] == f"/rooms/{private_room.slug}/"
    assert private_room.allowed_users.filter(pk=guest.pk).exists()
    assert client.get(f"/rooms/{private_room.slug}/").status_code == 200
    assert RoomInvite.objects.get(room=private_room).uses == 1
    assert LogEntry.objects.filter(object_id=str(private_room.pk), change_message__contains="gus").exists()


@pytest.mark.parametrize(
    ("spoil", "heading"),
    [
        ("expired", "This invitation has expired"),
        ("revoked", "This invitation was revoked"),
        ("tampered", "This invitation link is not valid"),
        ("wrong-room", "This invitation link is not valid"),
    ],
)
def test_an_invitation_that_does_not_hold_lets_nobody_in(owner, private_room, make_room, make_user, spoil, heading):
    guest = make_user("gus")
    invite = invite_create(room=private_room, by=owner, lifetime="7d")
    path = invite_path(invite=invite)
    if spoil == "expired":
        RoomInvite.objects.filter(pk=invite.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    elif spoil == "revoked":
        client = signed_in(owner)
        token = csrf_token_from(client.get(f"/rooms/{private_room.slug}/settings/").content.decode())
        client.post(
            f"/rooms/{private_room.slug}/settings/invites/", {"revoke": invite.pk, "csrfmiddlewaretoken": token}
        )
    elif spoil == "tampered":
        path = path[:-3] + ("A" if path[-3] != "A" else "B") + path[-2:]
    elif spoil == "wrong-room":
        other = make_room(owner, name="Other Private", is_private=True)
        path = path.replace(f"/rooms/{private_room.slug}/", f"/rooms/{other.slug}/")
    response = signed_in(guest).get(path)
    assert response.status_code == 403
    assert heading in response.content.decode()
    assert not private_room.allowed_users.filter(pk=guest.pk).exists()
    assert RoomInvite.objects.get(pk=invite.pk).uses == 0


def test_an_invitation_until_revoked_does_not_expire(owner, private_room, make_user):
    invite = invite_create(room=private_room, by=owner, lifetime="never")
    assert invite.expires_at is None
    RoomInvite.objects.filter(pk=invite.pk).update(created_at=timezone.now() - timedelta(days=400))
    assert signed_in(make_user("gus")).get(invite_path(invite=invite)).status_code == 302


def test_a_one_day_invitation_expires_after_a_day(owner, private_room):
    invite = invite_create(room=private_room, by=owner, lifetime="1d")
    assert timedelta(hours=23) < invite.expires_at - timezone.now() <= timedelta(days=1)


def test_an_invitation_to_a_closed_room_finds_nothing(owner, private_room, make_user):
    path = invite_path(invite=invite_create(room=private_room, by=owner, lifetime="7d"))
    private_room.is_active = False
    private_room.save()
    assert signed_in(make_user("gus")).get(path).status_code == 404


def test_signed_out_visitor_signs_up_and_lands_in_the_room(owner, private_room):
    path = invite_path(invite=invite_create(room=private_room, by=owner, lifetime="7d"))
    client = browser()
    to_login = client.get(path)
    assert to_login.status_code == 302
    login_url = to_login["Location"]
    assert login_url == f"/accounts/login/?next={quote(path)}"
    login_page = client.get(login_url).content.decode()
    signup_link = re.search(r'href="(/accounts/signup/\?next=[^"]+)"', login_page).group(1)
    signup_link = signup_link.replace("&amp;", "&")
    fields = {"username": "newbie", "display_name": "New Bie", "email": "newbie@example.com"}
    fields.update({"password1": "a-Long-passphrase-42", "password2": "a-Long-passphrase-42"})
    signed_up = form_submit(client, signup_link, fields)
    assert signed_up.status_code == 302 and signed_up["Location"] == path
    landed = client.get(path)
    assert landed["Location"] == f"/rooms/{private_room.slug}/"
    assert client.get(landed["Location"]).status_code == 200


def test_signed_out_visitor_signs_in_and_lands_in_the_room(owner, private_room, make_user):
    make_user("gus")
    path = invite_path(invite=invite_create(room=private_room, by=owner, lifetime="7d"))
    client = browser()
    response = form_submit(client, f"/accounts/login/?next={quote(path)}", {"username": "gus", "password": "pw-gus"})
    assert response.status_code == 302 and response["Location"] == path
    assert client.get(path)["Location"] == f"/rooms/{private_room.slug}/"


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/x", "javascript:alert(1)", "/\\evil.example"]
)
def test_sign_up_never_redirects_off_the_site(target):
    client = browser()
    fields = {"username": "newbie", "display_name": "New Bie", "email": "newbie@example.com"}
    fields.update({"password1": "a-Long-passphrase-42", "password2": "a-Long-passphrase-42"})
    response = form_submit(client, f"/accounts/signup/?next={quote(target)}", fields)
    assert response.status_code == 302 and response["Location"] == "/"


def test_the_room_page_offers_the_link_to_copy_with_a_qr_code(owner, make_room, private_room, make_user):
    public = make_room(owner, name="Open Hall")
    body = signed_in(make_user("gus")).get(f"/rooms/{public.slug}/").content.decode()
    assert f'value="http://testserver/rooms/{public.slug}/"' in body
    assert "Copy invite link" in body and "<svg" in body

    invite = invite_create(room=private_room, by=owner, lifetime="7d")
    body = signed_in(owner).get(f"/rooms/{private_room.slug}/").content.decode()
    assert f'value="http://testserver{invite_path(invite=invite)}"' in body

    private_room.allowed_users.add(make_user("gus2"))
    guest_view = signed_in(private_room.allowed_users.get()).get(f"/rooms/{private_room.slug}/").content.decode()
    assert "/invite/" not in guest_view, "only the owner hands out a private room's invitations"
    assert "Only the owner can invite people" in guest_view


def test_creating_a_private_room_gives_its_owner_an_invitation_at_once(make_user):
    client = signed_in(make_user("olga"))
    response = form_submit(client, "/", {"name": "Secret Plans", "capacity": 4, "is_private": "on"})
    page = client.get(response["Location"]).content.decode()
    assert "Your room is ready" in page
    assert re.search(r'value="http://testserver/rooms/secret-plans-[0-9a-f]+/invite/[^"]+"', page)


def test_refusals_and_history_read_in_chinese(owner, private_room, make_user):
    from calls.models import Call

    guest = make_user("gus")
    client = signed_in(guest)
    refused = client.get(f"/rooms/{private_room.slug}/", HTTP_ACCEPT_LANGUAGE="zh-Hans")
    assert refused.status_code == 403 and "这是私密房间" in refused.content.decode()
    Call.objects.create(call_id="c-zh", caller=owner, callee=guest, status=Call.Status.OFFLINE)
    history = client.get("/calls/", HTTP_ACCEPT_LANGUAGE="zh-Hans").content.decode()
    assert "未接：你当时离线" in history and "对方离线" not in history and "今天" in history
