"""Who a room socket belongs to: Django's sign-in rules at the WebSocket handshake.

The handshake reads the session and the user without Django's database thread
(config.middleware.WebSocketSessionMiddleware): from Redis when sessions are cached there
(production, `cached_db`), else through the session engine. Both engines must admit and
refuse exactly as the website does.
"""

import asyncio
import secrets

import pytest
from asgiref.sync import sync_to_async
from django.core.cache import caches

from tests.helpers import connect, join, server_frames_checked  # noqa: F401

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("server_frames_checked")]


@pytest.fixture(params=["db", "cached_db"])
def session_engine(request, settings):
    """Sessions in the database (the embedded default), or cached in Redis (production)."""
    settings.SESSION_ENGINE = f"django.contrib.sessions.backends.{request.param}"
    if request.param == "cached_db":
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": request.getfixturevalue("redis_url"),
                "KEY_PREFIX": f"parley-test-{secrets.token_hex(4)}:cache",
            }
        }
    yield request.param
    if request.param == "cached_db":
        caches["default"].clear()


@pytest.fixture
def alice_room(make_user, make_room):
    alice = make_user("alice")
    return alice, make_room(alice)


def _signed_in(user) -> tuple:
    """A browser signed in as `user`: the test client and its session cookie."""
    from django.test import Client

    browser = Client()
    browser.force_login(user)
    return browser, browser.cookies["sessionid"].value


async def _refused_as_anonymous(slug: str, cookie: str) -> None:
    peer = await connect(f"/ws/rooms/{slug}/", cookie=cookie)
    frame, code = await peer.refused()
    assert (frame["code"], code) == ("unauthenticated", 4401)


async def test_signed_in_user_joins_as_themselves(signaling, session_engine, alice_room):
    alice, room = alice_room
    _, cookie = await sync_to_async(_signed_in)(alice)
    peer = await join(room.slug, alice, cookie=cookie)
    assert peer.welcome["you"] == {"id": alice.pk, "username": "alice", "display_name": "Alice"}
    await peer.close()


async def test_session_cache_miss_falls_back_to_the_database(signaling, session_engine, alice_room):
    alice, room = alice_room
    _, cookie = await sync_to_async(_signed_in)(alice)
    await sync_to_async(caches["default"].clear)()
    peer = await join(room.slug, alice, cookie=cookie)
    assert peer.welcome["you"]["id"] == alice.pk
    await peer.close()


@pytest.mark.parametrize("session_engine", ["cached_db"], indirect=True)
async def test_the_handshake_decodes_the_entry_djangos_cached_db_engine_wrote(session_engine, alice_room, monkeypatch):
    """Pins what calls.infra.socket_auth relies on to read a session in one Redis GET: the
    cache entry's key (cached_db's KEY_PREFIX and the cache's `make_key`) and its format (the
    Redis cache's serializer). Should Django change either, this fails instead of every
    socket silently taking the slow path."""
    from django.contrib.sessions.backends.cached_db import SessionStore

    from calls.infra.socket_auth import session_data_load, socket_session_for

    alice, _ = alice_room
    _, cookie = await sync_to_async(_signed_in)(alice)
    expected = await sync_to_async(lambda: dict(SessionStore(cookie).load()))()

    def engine_load(store):
        raise AssertionError("the handshake went through the session engine")

    monkeypatch.setattr(SessionStore, "load", engine_load)
    assert await session_data_load(session=socket_session_for(cookie=cookie)) == expected
    assert expected["_auth_user_id"] == str(alice.pk)


async def test_signed_out_session_is_refused(signaling, session_engine, alice_room):
    alice, room = alice_room
    browser, cookie = await sync_to_async(_signed_in)(alice)
    await sync_to_async(browser.post)("/accounts/logout/")
    await _refused_as_anonymous(room.slug, cookie)


async def test_password_changed_elsewhere_refuses_older_sessions(signaling, session_engine, alice_room):
    alice, room = alice_room
    _, old_cookie = await sync_to_async(_signed_in)(alice)
    alice.set_password("a-brand-new-passphrase")
    await sync_to_async(alice.save)()
    await _refused_as_anonymous(room.slug, old_cookie)
    _, new_cookie = await sync_to_async(_signed_in)(alice)
    peer = await join(room.slug, alice, cookie=new_cookie)
    await peer.close()


async def test_deactivated_or_deleted_user_is_refused(signaling, session_engine, alice_room, make_user):
    alice, room = alice_room
    bob = await sync_to_async(make_user)("bob")
    _, alice_cookie = await sync_to_async(_signed_in)(alice)
    _, bob_cookie = await sync_to_async(_signed_in)(bob)
    alice.is_active = False
    await sync_to_async(alice.save)()
    await sync_to_async(bob.delete)()
    await _refused_as_anonymous(room.slug, alice_cookie)
    await _refused_as_anonymous(room.slug, bob_cookie)


async def test_unknown_or_malformed_cookie_is_refused(signaling, session_engine, alice_room):
    _, room = alice_room
    for cookie in ("x" * 32, "short", "../../etc/passwd", ""):
        await _refused_as_anonymous(room.slug, cookie)


async def test_sessions_signed_with_a_rotated_out_secret_still_join(signaling, session_engine, alice_room, settings):
    """SECRET_KEY rotation with SECRET_KEY_FALLBACKS keeps people signed in, on the website and in calls."""
    alice, room = alice_room
    _, cookie = await sync_to_async(_signed_in)(alice)
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-new-secret-key-" + secrets.token_hex(16)
    peer = await join(room.slug, alice, cookie=cookie)
    await peer.close()
    settings.SECRET_KEY_FALLBACKS = []
    await _refused_as_anonymous(room.slug, cookie)


async def _presence(cookie: str):
    peer = await connect("/ws/presence/", cookie=cookie)
    assert (await peer.recv())["type"] == "presence"
    return peer


async def _signed_out(peer) -> None:
    frame = await peer.recv_type("error", timeout=3)
    assert frame["code"] == "unauthenticated"
    assert await peer.expect_close() == 4401


async def test_a_password_change_closes_the_other_sessions_sockets_and_keeps_its_own(
    signaling, session_engine, alice_room
):
    """Django's rule (issue #13.3): the other sessions are signed out, the changing browser is not."""
    signaling["HEARTBEAT"] = 0.6  # sweeps every 0.2 s (rooms) and every second (presence)
    alice, room = alice_room
    browser, cookie = await sync_to_async(_signed_in)(alice)
    _, stolen = await sync_to_async(_signed_in)(alice)
    mine, mine_presence = await join(room.slug, alice, cookie=cookie), await _presence(cookie)
    theirs, theirs_presence = await join(room.slug, alice, cookie=stolen), await _presence(stolen)
    await mine.recv_type("peer-joined")
    form = {"old_password": "pw-alice", "new_password1": "a-new-passphrase-7", "new_password2": "a-new-passphrase-7"}
    answer = await sync_to_async(browser.post)("/accounts/password_change/", form)
    assert answer.status_code == 302 and browser.cookies["sessionid"].value != cookie
    await _signed_out(theirs)
    await _signed_out(theirs_presence)
    for _ in range(5):  # several sweeps of both kinds, pinging as a browser does
        await asyncio.sleep(0.3)
        for peer in (mine, mine_presence):
            await peer.send({"type": "ping", "id": "alive"})
            assert (await peer.recv_type("pong"))["id"] == "alive"
    await _refused_as_anonymous(room.slug, stolen)
    for peer in (mine, mine_presence):
        await peer.close()


async def test_a_deleted_session_closes_its_presence_socket_within_a_sweep(signaling, session_engine, alice_room):
    from django.contrib.sessions.models import Session

    signaling["HEARTBEAT"] = 0.6
    alice, _ = alice_room
    _, cookie = await sync_to_async(_signed_in)(alice)
    _, other = await sync_to_async(_signed_in)(alice)
    ended, kept = await _presence(cookie), await _presence(other)
    await sync_to_async(Session.objects.filter(session_key=cookie).delete)()
    await _signed_out(ended)
    await kept.send({"type": "ping", "id": "alive"})
    assert (await kept.recv_type("pong"))["id"] == "alive"
    await kept.close()
