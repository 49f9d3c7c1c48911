"""Accounts as a user meets them: sign up, sign in and out, passwords, profile, lockout."""

import re

import pytest
from django.core import mail
from django.core.management import CommandError, call_command

from accounts.models import User
from tests.web import browser, csrf_token_from, form_submit, sign_in

pytestmark = pytest.mark.django_db

STRONG = "correct-Horse-battery-42"


def lobby_status(client) -> int:
    return client.get("/").status_code


def test_sign_up_creates_the_account_and_signs_in():
    client = browser()
    response = form_submit(
        client,
        "/accounts/signup/",
        {
            "username": "carol",
            "email": "carol@example.com",
            "display_name": "Carol C.",
            "password1": STRONG,
            "password2": STRONG,
        },
    )
    assert response.status_code == 302 and response["Location"] == "/"
    lobby = client.get("/")
    assert lobby.status_code == 200
    assert "Carol C." in lobby.content.decode()
    user = User.objects.get(username="carol")
    assert user.email == "carol@example.com" and user.check_password(STRONG)


def test_sign_up_rejects_mismatched_passwords_and_duplicate_names(make_user):
    make_user("dave")
    client = browser()
    response = form_submit(
        client,
        "/accounts/signup/",
        {"username": "dave", "email": "d@example.com", "password1": STRONG, "password2": STRONG + "x"},
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "already exists" in body
    assert "didn’t match" in body or "didn't match" in body
    assert User.objects.filter(username="dave").count() == 1
    assert lobby_status(client) == 302


def test_sign_up_switched_off_answers_404(settings):
    settings.SIGNUP_ENABLED = False
    client = browser()
    assert client.get("/accounts/signup/").status_code == 404
    login_page = client.get("/accounts/login/").content.decode()
    assert 'href="/accounts/signup/"' not in login_page
    data = {"username": "eve", "email": "e@example.com", "password1": STRONG, "password2": STRONG}
    response = client.post("/accounts/signup/", {**data, "csrfmiddlewaretoken": csrf_token_from(login_page)})
    assert response.status_code == 404
    assert not User.objects.filter(username="eve").exists()


def test_sign_in_through_the_form_and_wrong_password(make_user):
    make_user("frank")
    client = browser()
    bad = sign_in(client, "frank", "not-the-password")
    assert bad.status_code == 200
    assert "correct username and password" in bad.content.decode()
    assert lobby_status(client) == 302

    good = sign_in(client, "frank", "pw-frank")
    assert good.status_code == 302 and good["Location"] == "/"
    assert lobby_status(client) == 200


def test_sign_in_without_csrf_token_is_refused(make_user):
    make_user("grace")
    client = browser()
    client.get("/accounts/login/")
    response = client.post("/accounts/login/", {"username": "grace", "password": "pw-grace"})
    assert response.status_code == 403
    assert lobby_status(client) == 302


def test_sign_out_needs_post_and_ends_the_session(make_user):
    make_user("heidi")
    client = browser()
    sign_in(client, "heidi", "pw-heidi")
    lobby = client.get("/")
    assert client.get("/accounts/logout/").status_code == 405
    assert lobby_status(client) == 200
    response = client.post("/accounts/logout/", {"csrfmiddlewaretoken": csrf_token_from(lobby.content.decode())})
    assert response.status_code == 302
    assert lobby_status(client) == 302


def test_password_change(make_user):
    make_user("ivan")
    client = browser()
    sign_in(client, "ivan", "pw-ivan")
    wrong = form_submit(
        client,
        "/accounts/password_change/",
        {"old_password": "nope", "new_password1": STRONG, "new_password2": STRONG},
    )
    assert wrong.status_code == 200 and "incorrect" in wrong.content.decode()
    done = form_submit(
        client,
        "/accounts/password_change/",
        {"old_password": "pw-ivan", "new_password1": STRONG, "new_password2": STRONG},
        follow=True,
    )
    assert "Your password was changed." in done.content.decode()
    assert lobby_status(client) == 200, "changing the password keeps this session signed in"

    assert sign_in(browser(), "ivan", "pw-ivan").status_code == 200, "the old password no longer works"
    assert sign_in(browser(), "ivan", STRONG).status_code == 302


def test_password_reset_by_mail_link(make_user):
    make_user("judy", email="judy@example.com")
    client = browser()
    sent = form_submit(client, "/accounts/password_reset/", {"email": "judy@example.com"}, follow=True)
    assert "Check your email" in sent.content.decode()
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["judy@example.com"]
    link = re.search(r"https?://[^/\s]+(/accounts/reset/\S+/)", mail.outbox[0].body)
    assert link, mail.outbox[0].body

    page = client.get(link.group(1), follow=True)
    set_password_url = page.redirect_chain[-1][0]
    assert "set-password" in set_password_url
    done = client.post(
        set_password_url,
        {
            "new_password1": STRONG,
            "new_password2": STRONG,
            "csrfmiddlewaretoken": csrf_token_from(page.content.decode()),
        },
        follow=True,
    )
    assert "Your new password is set." in done.content.decode()
    assert sign_in(browser(), "judy", STRONG).status_code == 302
    assert "invalid" in client.get(link.group(1), follow=True).content.decode(), "a reset link works once"


def test_password_reset_for_unknown_address_sends_nothing():
    form_submit(browser(), "/accounts/password_reset/", {"email": "nobody@example.com"})
    assert mail.outbox == []


def test_profile_sets_display_name_shown_escaped(make_user):
    make_user("ken")
    client = browser()
    sign_in(client, "ken", "pw-ken")
    response = form_submit(
        client, "/accounts/profile/", {"display_name": "<b>Ken</b>", "email": "ken@example.com"}, follow=True
    )
    assert "Profile saved." in response.content.decode()
    user = User.objects.get(username="ken")
    assert user.display_name == "<b>Ken</b>" and user.shown_name == "<b>Ken</b>"
    lobby = client.get("/").content.decode()
    assert "&lt;b&gt;Ken&lt;/b&gt;" in lobby
    assert "<b>Ken</b>" not in lobby


def test_lockout_after_five_failures_refuses_even_the_right_password(make_user):
    make_user("leo")
    client = browser()
    statuses = [sign_in(client, "leo", f"wrong-{i}").status_code for i in range(5)]
    assert statuses[:4] == [200, 200, 200, 200]
    assert statuses[4] == 429
    locked = sign_in(client, "leo", "pw-leo")
    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.content.decode()
    assert lobby_status(client) == 302, "the right password does not sign in while locked"

    other_address = browser()
    assert sign_in(other_address, "leo", "pw-leo", REMOTE_ADDR="10.9.8.7").status_code == 302, (
        "the lock is per username and address, so a stranger cannot lock a user out everywhere"
    )


def test_successful_sign_in_resets_the_failure_count(make_user):
    make_user("mia")
    for i in range(4):
        sign_in(browser(), "mia", f"wrong-{i}")
    assert sign_in(browser(), "mia", "pw-mia").status_code == 302
    for i in range(4):
        assert sign_in(browser(), "mia", f"wrong-again-{i}").status_code == 200
    assert sign_in(browser(), "mia", "pw-mia").status_code == 302


def test_demo_users_refuses_without_debug(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="--force"):
        call_command("demo_users")
    assert not User.objects.filter(username__in=["admin", "alice", "bob"]).exists()


def test_demo_users_with_force_creates_printed_accounts(settings, capsys):
    settings.DEBUG = False
    call_command("demo_users", "--force")
    out = capsys.readouterr().out
    for username, password in re.findall(r"username: (\w+)\s+password: (\S+)", out):
        assert User.objects.get(username=username).check_password(password)
    assert User.objects.get(username="admin").is_superuser
    assert not User.objects.get(username="alice").is_staff
