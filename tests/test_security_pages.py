"""Pages a signed-in user sees are never cached by others; an email address names one account."""

import pytest

from accounts.models import User
from tests.web import browser, form_submit, sign_in

pytestmark = pytest.mark.django_db

STRONG = "correct-Horse-battery-42"


def cache_directives(response) -> set[str]:
    return {part.strip().split("=")[0] for part in response.get("Cache-Control", "").split(",") if part.strip()}


def test_signed_in_pages_are_private_and_not_stored(make_user, make_room):
    user = make_user("olive")
    room = make_room(user)
    client = browser()
    assert sign_in(client, "olive", "pw-olive").status_code == 302
    for url in ("/", f"/rooms/{room.slug}/", "/calls/", "/accounts/profile/", "/accounts/password_change/"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert {"private", "no-store"} <= cache_directives(response), (url, response.get("Cache-Control"))
        assert "public" not in cache_directives(response), url


def signup(client, email: str, username: str = "newcomer"):
    return form_submit(
        client,
        "/accounts/signup/",
        {"username": username, "email": email, "password1": STRONG, "password2": STRONG},
    )


def test_sign_up_refuses_an_email_address_another_account_uses(make_user):
    make_user("owner", email="Shared@Example.com")
    response = signup(browser(), "shared@example.COM")
    assert response.status_code == 200
    body = response.content.decode()
    assert "already used by another account" in body
    assert "owner" not in body.lower(), "the error must not say whose address it is"
    assert not User.objects.filter(username="newcomer").exists()
    # A fresh address still works.
    assert signup(browser(), "fresh@example.com").status_code == 302


def test_profile_cannot_take_another_accounts_email(make_user):
    make_user("first", email="first@example.com")
    make_user("second", email="second@example.com")
    client = browser()
    sign_in(client, "second", "pw-second")
    response = form_submit(client, "/accounts/profile/", {"display_name": "Second", "email": "FIRST@example.com"})
    assert response.status_code == 200 and "already used by another account" in response.content.decode()
    assert User.objects.get(username="second").email == "second@example.com"
    # Keeping one's own address (in another case) is fine.
    response = form_submit(client, "/accounts/profile/", {"display_name": "Second", "email": "Second@example.com"})
    assert response.status_code == 302
