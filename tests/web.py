"""Drive Django's HTML forms the way a browser does: fetch the page, send its CSRF token back."""

import re

from django.test import Client

CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def csrf_token_from(html: str) -> str:
    match = CSRF_INPUT.search(html)
    assert match, "the page has no CSRF token input"
    return match.group(1)


def browser() -> Client:
    """A test client that enforces CSRF like a real browser session would meet it."""
    return Client(enforce_csrf_checks=True)


def form_submit(client: Client, url: str, data: dict, *, follow: bool = False, **extra):
    """GET `url`, then POST `data` to it with the page's CSRF token."""
    page = client.get(url, **extra)
    assert page.status_code == 200, f"GET {url} answered {page.status_code}"
    return client.post(
        url, {**data, "csrfmiddlewaretoken": csrf_token_from(page.content.decode())}, follow=follow, **extra
    )


def sign_in(client: Client, username: str, password: str, **extra):
    return form_submit(client, "/accounts/login/", {"username": username, "password": password}, **extra)
