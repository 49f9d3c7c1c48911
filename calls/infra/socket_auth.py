"""Who a WebSocket belongs to: the signed-in user of its session cookie, with Django's own checks.

Read on the event loop, not through Django's session and cache API: that runs on Django's one
database thread, where a join storm's handshakes waited in line (with the ORM's look-ups,
44% of a join's CPU; docs/performance.md). The session is one pipelined Redis GET, the user
one batched query.
"""

import functools
from dataclasses import dataclass
from importlib import import_module

import redis
from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model, load_backend
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends.cached_db import KEY_PREFIX as CACHED_DB_KEY_PREFIX
from django.core.cache import caches
from django.core.cache.backends.redis import RedisSerializer
from django.utils.crypto import constant_time_compare

from calls.infra.loops import LoopLocal
from calls.infra.redis import cache_redis_url, redis_client_create
from calls.infra.redis_batch import RedisBatcher
from calls.infra.sql import LookupBatch, sql_fetchall, sql_placeholders

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
CACHED_DB_ENGINE = "django.contrib.sessions.backends.cached_db"
# What a socket needs of its user: identity, name, moderator rights, and the password hash
# that signs the session (a changed password ends the session, as on the website).
_USER_FIELDS = {"id", "username", "display_name", "password", "is_active", "is_staff", "is_superuser"}


@dataclass(frozen=True, slots=True)
class SocketSession:
    """What a socket keeps of its session: the key, so that signing out closes its sockets, and
    the session's auth hash, so that a password changed elsewhere closes them too.

    A socket never changes its session, so it holds no session store (Channels' holds one,
    and wraps every frame sent to save it).
    """

    session_key: str | None
    auth_hash: str = ""


def socket_session_for(*, cookie: str | None) -> SocketSession:
    """The session named by a cookie value; keys the session engines would refuse are none."""
    return SocketSession(session_key=cookie if cookie and len(cookie) >= 8 else None)


def _session_cache_open() -> tuple:
    """This loop's session cache and, if it is Redis with the default serializer, a batcher on
    the server it writes to (else sessions are read through the engine)."""
    alias = settings.SESSION_CACHE_ALIAS
    url = cache_redis_url(alias=alias)
    if url is None or "serializer" in settings.CACHES[alias].get("OPTIONS", {}):
        return caches[alias], None
    return caches[alias], RedisBatcher(redis_client_create(url))


_session_caches: LoopLocal[tuple] = LoopLocal(_session_cache_open)


async def session_data_load(*, session: SocketSession) -> dict:
    """The session's data. Cached sessions are one Redis GET on this loop, of the entry Django's
    `cached_db` engine writes (its public KEY_PREFIX, the cache's `make_key`, the Redis cache's
    serializer: tests/test_ws_auth.py pins the three); the rest go through the session engine
    on Django's database thread, as Channels does."""
    if session.session_key is None:
        return {}
    if settings.SESSION_ENGINE == CACHED_DB_ENGINE:
        cache, batcher = _session_caches.get()
        if batcher is not None:
            try:
                raw = await batcher.execute("GET", cache.make_key(CACHED_DB_KEY_PREFIX + session.session_key))
            except redis.RedisError:
                raw = None  # the engine falls back to the database, as it does over HTTP
            if raw is not None:
                return RedisSerializer().loads(raw)
    store = import_module(settings.SESSION_ENGINE).SessionStore(session.session_key)
    return await database_sync_to_async(store.load)()


@functools.cache
def _user_columns() -> tuple[str, ...]:
    """_USER_FIELDS in the model's field order, as `Model.from_db` takes them."""
    return tuple(field.attname for field in get_user_model()._meta.concrete_fields if field.attname in _USER_FIELDS)


async def users_fetch_many(user_ids: list[int]) -> dict:
    """The users `user_ids` (active or not) with only the fields a socket needs, by id."""
    columns = _user_columns()
    rows = await sql_fetchall(
        f"SELECT {', '.join(columns)} FROM {get_user_model()._meta.db_table}"
        f" WHERE id IN ({sql_placeholders(len(user_ids))})",
        user_ids,
    )
    users = (get_user_model().from_db("default", columns, row) for row in rows)
    return {user.pk: user for user in users}


_user_batch = LookupBatch(users_fetch_many)


async def user_fetch(*, user_id: int):
    """The active user `user_id` with only the fields a socket needs, or None; the look-ups of
    one loop turn share one query."""
    user = await _user_batch.get(user_id)
    return user if user is not None and user.is_active else None


async def socket_session_open(*, cookie: str | None) -> tuple[SocketSession, object]:
    """The session a cookie names and its signed-in user, or AnonymousUser: the checks of
    Django's `get_user`.

    The user and its backend must still be valid, and the session's hash must match the
    user's password (or a SECRET_KEY_FALLBACKS form of it), so that changing the password
    signs other browsers out of calls too.
    """
    session = socket_session_for(cookie=cookie)
    data = await session_data_load(session=session)
    backend_path = data.get(BACKEND_SESSION_KEY)
    if SESSION_KEY not in data or backend_path not in settings.AUTHENTICATION_BACKENDS:
        return session, AnonymousUser()
    user_id = get_user_model()._meta.pk.to_python(data[SESSION_KEY])
    if backend_path == MODEL_BACKEND:
        user = await user_fetch(user_id=user_id)
    else:
        user = await database_sync_to_async(load_backend(backend_path).get_user)(user_id)
    auth_hash = data.get(HASH_SESSION_KEY) or ""
    if user is None or not session_hash_known(auth_hash=auth_hash, known=session_auth_hashes(user=user)):
        return session, AnonymousUser()
    return SocketSession(session_key=session.session_key, auth_hash=auth_hash), user


def session_auth_hashes(*, user) -> list[str]:
    """The session hashes that `django.contrib.auth.get_user` accepts for `user`: its current
    one and those of the SECRET_KEY_FALLBACKS."""
    return [user.get_session_auth_hash(), *user.get_session_auth_fallback_hash()]


def session_hash_known(*, auth_hash: str, known: list[str]) -> bool:
    """Whether a session's auth hash is one of `known`, compared in constant time as Django does."""
    return bool(auth_hash) and any(constant_time_compare(auth_hash, value) for value in known)
