"""Shared fixtures: users, signed-in WebSocket clients, and the signaling backends.

REQUIRE_REDIS / REQUIRE_TURN / REQUIRE_BROWSER / REQUIRE_CADDY turn a missing dependency from a skip
into a failure (CI sets them).
"""

import os
import secrets
import shutil
import socket

import pytest
from django.conf import settings

from tests.helpers import redis_available


def require(name: str, available: bool, why: str) -> None:
    """Skip when a dependency is missing, or fail if REQUIRE_<name> is set."""
    if available:
        return
    if os.environ.get(f"REQUIRE_{name}") == "1":
        pytest.fail(f"{why} (REQUIRE_{name}=1)")
    pytest.skip(why)


@pytest.fixture
def redis_url() -> str:
    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    require("REDIS", redis_available(url), f"Redis is not reachable at {url}")
    return url


@pytest.fixture
def turnserver_bin() -> str:
    path = shutil.which("turnserver")
    require("TURN", path is not None, "coturn's turnserver is not installed")
    return path


@pytest.fixture
def chromium_bin() -> str:
    path = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
    require("BROWSER", path is not None, "Chromium is not installed")
    return path


@pytest.fixture(params=["memory", "redis"])
def signaling(request, settings):
    """Run a test once per signaling backend: process memory, and Redis shared by processes."""
    config = dict(settings.SIGNALING)
    config["BACKEND"] = request.param
    config["KEY_PREFIX"] = f"parley-test-{secrets.token_hex(4)}"
    if request.param == "redis":
        config["REDIS_URL"] = request.getfixturevalue("redis_url")
    settings.SIGNALING = config
    yield config
    if request.param == "redis":
        from tests.helpers import redis_delete_prefix

        redis_delete_prefix(config["REDIS_URL"], config["KEY_PREFIX"])


@pytest.fixture(autouse=True)
def _join_lookup_connections_closed():
    """Each test's event loop opens its own PostgreSQL connections for join look-ups."""
    yield
    from calls.infra.sql import sql_pools_discard

    sql_pools_discard()


@pytest.fixture
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def make_user(db):
    from accounts.models import User

    def make(username: str | None = None, **fields):
        username = username or f"user{secrets.token_hex(3)}"
        fields.setdefault("display_name", username.title())
        user = User.objects.create_user(username=username, password="pw-" + username, **fields)
        return user

    return make


@pytest.fixture
def make_room(db):
    from calls.models import Room

    def make(owner, slug: str | None = None, **fields):
        slug = slug or f"room-{secrets.token_hex(3)}"
        fields.setdefault("name", slug.replace("-", " ").title())
        return Room.objects.create(slug=slug, owner=owner, **fields)

    return make


@pytest.fixture
def users(make_user):
    """`await users("alice", "bob")` -> the users, created in the test database (async tests)."""
    from asgiref.sync import sync_to_async

    async def make(*names, **fields):
        return [await sync_to_async(make_user)(name, **fields) for name in names]

    return make


@pytest.fixture
def room_for(make_room):
    """`await room_for(owner, capacity=2)` -> a room (async tests)."""
    from asgiref.sync import sync_to_async

    async def make(owner, **fields):
        return await sync_to_async(make_room)(owner, **fields)

    return make


def pytest_report_header(config):
    return f"settings: {settings.SETTINGS_MODULE}; database: {settings.DATABASES['default']['ENGINE']}"
