"""Security of the pages: CSP, cookies, brute-force lockout, and user text rendered as text."""

import os
import subprocess
import sys
from html.parser import HTMLParser

import pytest

from tests.cluster import ROOT
from tests.web import browser, sign_in

pytestmark = pytest.mark.django_db

XSS_NAME = '<img src=x onerror=alert(1)><script>alert("n")</script>'
XSS_ROOM = '<script>alert("r")</script><svg onload=alert(2)>'


class InlineCode(HTMLParser):
    """Finds what a strict CSP would block: inline <script> bodies, on* handler attributes, javascript: URLs."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self.in_script = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        for name, value in attrs:
            if name.startswith("on") or (value or "").strip().lower().startswith("javascript:"):
                self.found.append(f"<{tag} {name}=...>")
        if tag == "script":
            self.in_script = "src" not in attributes
            if attributes.get("type") not in (None, "module", "text/javascript") and self.in_script:
                self.in_script = False  # data blocks (application/json) are not code

    def handle_endtag(self, tag):
        if tag == "script":
            self.in_script = False

    def handle_data(self, data):
        if self.in_script and data.strip():
            self.found.append(f"inline script: {data.strip()[:60]}")


def inline_code(html: str) -> list[str]:
    parser = InlineCode()
    parser.feed(html)
    return parser.found


def csp_directives(header: str) -> dict[str, list[str]]:
    directives = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            directives[words[0]] = words[1:]
    return directives


@pytest.fixture
def signed_in(client, make_user, make_room):
    user = make_user("zoe", display_name=XSS_NAME)
    room = make_room(user, slug="xss-room", name=XSS_ROOM)
    client.force_login(user)
    return client, user, room


def test_pages_send_a_strict_csp_and_use_no_inline_script(client, signed_in):
    client, _, room = signed_in
    anonymous = browser()
    pages = [anonymous.get("/accounts/login/"), client.get("/"), client.get(f"/rooms/{room.slug}/")]
    for page in pages:
        assert page.status_code == 200
        csp = csp_directives(page["Content-Security-Policy"])
        assert csp["script-src"] == ["'self'"], csp
        assert "'unsafe-inline'" not in csp.get("script-src", []) and "'unsafe-eval'" not in csp["script-src"]
        assert csp["object-src"] == ["'none'"] and csp["frame-ancestors"] == ["'none'"]
        html = page.content.decode()
        # The CSP would block inline code: there must be none, or the page would break.
        assert inline_code(html) == [], page.request["PATH_INFO"]
        assert page["X-Frame-Options"] == "DENY"


def test_session_and_csrf_cookies_are_samesite_lax_and_httponly(make_user):
    make_user("sam")
    client = browser()
    response = sign_in(client, "sam", "pw-sam")
    assert response.status_code == 302
    session = response.cookies["sessionid"]
    assert session["samesite"] == "Lax" and session["httponly"] is True
    assert client.cookies["csrftoken"]["samesite"] == "Lax"


SETTINGS_PROBE = """
import importlib, json, sys
out = {}
for name in sys.argv[1:]:
    module = importlib.import_module(name)
    out[name] = [module.SESSION_COOKIE_SAMESITE, getattr(module, "SESSION_COOKIE_SECURE", False),
                 module.CSRF_COOKIE_SAMESITE, getattr(module, "CSRF_COOKIE_SECURE", False),
                 module.SESSION_COOKIE_HTTPONLY]
print(json.dumps(out))
"""


def test_every_settings_module_is_samesite_lax_and_production_is_secure():
    import json

    env = {**os.environ, "SECRET_KEY": "probe-" + "x" * 50, "ALLOWED_HOSTS": "parley.example.org"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    modules = ["config.settings.base", "config.settings.local", "config.settings.test", "config.settings.production"]
    done = subprocess.run(
        [sys.executable, "-c", SETTINGS_PROBE, *modules], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    for name, (samesite, _secure, csrf_samesite, _csrf_secure, httponly) in found.items():
        assert samesite == "Lax" and csrf_samesite == "Lax" and httponly is True, name
    assert found["config.settings.production"][1] is True, "session cookie must be Secure in production"
    assert found["config.settings.production"][3] is True, "CSRF cookie must be Secure in production"


def test_lockout_is_per_username_and_address(make_user):
    make_user("lou")
    make_user("max")
    attacker = browser()
    for i in range(5):
        sign_in(attacker, "lou", f"guess-{i}", REMOTE_ADDR="10.0.0.66")
    assert sign_in(attacker, "lou", "pw-lou", REMOTE_ADDR="10.0.0.66").status_code == 429
    # The same address may still sign in another account, and the owner from elsewhere.
    assert sign_in(browser(), "max", "pw-max", REMOTE_ADDR="10.0.0.66").status_code == 302
    assert sign_in(browser(), "lou", "pw-lou", REMOTE_ADDR="10.0.0.1").status_code == 302


def escaped_only(html: str, payload: str) -> None:
    assert payload not in html, "user text reached the page as markup"
    assert payload.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")[:20] in html.replace(
        "&quot;", '"'
    ).replace("&#x27;", "'")


def test_xss_in_display_name_and_room_name_renders_as_text_in_the_app(signed_in):
    client, _, room = signed_in
    lobby = client.get("/").content.decode()
    escaped_only(lobby, XSS_ROOM)
    room_page = client.get(f"/rooms/{room.slug}/").content.decode()
    escaped_only(room_page, XSS_ROOM)
    escaped_only(room_page, XSS_NAME)
    profile = client.get("/accounts/profile/").content.decode()
    assert XSS_NAME not in profile


def test_xss_in_display_name_and_room_name_renders_as_text_in_admin(signed_in, make_user):
    _, user, room = signed_in
    from django.test import Client

    admin = make_user("root", is_staff=True, is_superuser=True)
    staff = Client()
    staff.force_login(admin)
    for url in ["/admin/calls/room/", f"/admin/calls/room/{room.pk}/change/", "/admin/accounts/user/"]:
        page = staff.get(url)
        assert page.status_code == 200, url
        html = page.content.decode()
        assert XSS_ROOM not in html and XSS_NAME not in html, url
    escaped_only(staff.get("/admin/calls/room/").content.decode(), XSS_ROOM)
    assert "&lt;img src=x onerror=alert(1)&gt;" in staff.get(f"/admin/accounts/user/{user.pk}/change/").content.decode()
