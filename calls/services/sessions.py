"""Who a WebSocket belongs to: the signed-in user of its session cookie, read without Django's
database thread; the sockets whose user was deactivated or whose session ended (signed out
elsewhere); the Redis connection pool of the session cache."""

import asyncio
import functools
import threading
import weakref
from dataclasses import dataclass
from importlib import import_module

import redis
from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model, load_backend
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends.cached_db import KEY_PREFIX as CACHED_DB_KEY_PREFIX
from django.contrib.sessions.models import Session
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache, RedisSerializer
from django.db import DEFAULT_DB_ALIAS, connections
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from calls.services.batches import slices
from calls.services.redis_batch import RedisBatcher
from calls.services.room_state import redis_client_create
from calls.services.sql import LookupBatch, sql_fetchall, sql_placeholders

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
CACHED_DB_ENGINE = "django.contrib.sessions.backends.cached_db"
# What a socket needs of its user: identity, name, moderator rights, and the password hash
# that signs the session (a changed password ends the session, as on the website).
_USER_FIELDS = {"id", "username", "display_name", "password", "is_active", "is_staff", "is_superuser"}

_session_caches: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple]" = weakref.WeakKeyDictionary()


@dataclass(frozen=True, slots=True)
class SocketSession:
    """What a socket keeps of its session: the key, so that signing out closes its sockets.

    A socket never changes its session, so it holds no session store (Channels' holds one,
    and wraps every frame sent to save it).
    """

    session_key: str | None


def socket_session_for(*, cookie: str | None) -> SocketSession:
    """The session named by a cookie value; keys the session engines would refuse are none."""
    return SocketSession(session_key=cookie if cookie and len(cookie) >= 8 else None)


async def session_data_load(*, session: SocketSession) -> dict:
    """The session's data. Cached sessions are one Redis GET on this loop; the rest go
    through the session engine on Django's database thread, as Channels does."""
    if session.session_key is None:
        return {}
    if settings.SESSION_ENGINE == CACHED_DB_ENGINE:
        cache, batcher = _session_cache()
        if batcher is not None:
            try:
                raw = await batcher.execute("GET", cache.make_key(CACHED_DB_KEY_PREFIX + session.session_key))
            except redis.RedisError:
                raw = None  # the engine falls back to the database, as it does over HTTP
            if raw is not None:
                return RedisSerializer().loads(raw)
    store = import_module(settings.SESSION_ENGINE).SessionStore(session.session_key)
    return await database_sync_to_async(store.load)()


def _session_cache() -> tuple:
    """This loop's session cache and, if it is Redis, a batcher on its primary server."""
    loop = asyncio.get_running_loop()
    found = _session_caches.get(loop)
    if found is None:
        cache = caches[settings.SESSION_CACHE_ALIAS]
        batcher = RedisBatcher(redis_client_create(cache._servers[0])) if isinstance(cache, RedisCache) else None
        found = _session_caches[loop] = (cache, batcher)
    return found


@functools.cache
def _user_columns() -> tuple[str, ...]:
    """_USER_FIELDS in the model's field order, as `Model.from_db` takes them."""
    return tuple(field.attname for field in get_user_model()._meta.concrete_fields if field.attname in _USER_FIELDS)


async def user_fetch(*, user_id: int):
    """The active user `user_id` with only the fields a socket needs, or None; the look-ups of
    one loop turn share one query."""
    user = await _user_batch.get(user_id)
    return user if user is not None and user.is_active else None


async def _users_fetch_many(user_ids: list[int]) -> dict:
    columns = _user_columns()
    rows = await sql_fetchall(
        f"SELECT {', '.join(columns)} FROM {get_user_model()._meta.db_table}"
        f" WHERE id IN ({sql_placeholders(len(user_ids))})",
        user_ids,
    )
    users = (get_user_model().from_db("default", columns, row) for row in rows)
    return {user.pk: user for user in users}


_user_batch = LookupBatch(_users_fetch_many)


async def session_user_get(*, session: SocketSession):
    """The signed-in user of `session`, or AnonymousUser: the checks of Django's `get_user`.

    The user and its backend must still be valid, and the session's hash must match the
    user's password (or a SECRET_KEY_FALLBACKS form of it), so that changing the password
    signs other browsers out of calls too.
    """
    data = await session_data_load(session=session)
    backend_path = data.get(BACKEND_SESSION_KEY)
    if SESSION_KEY not in data or backend_path not in settings.AUTHENTICATION_BACKENDS:
        return AnonymousUser()
    user_id = get_user_model()._meta.pk.to_python(data[SESSION_KEY])
    if backend_path == MODEL_BACKEND:
        user = await user_fetch(user_id=user_id)
    else:
        user = await database_sync_to_async(load_backend(backend_path).get_user)(user_id)
    if user is None:
        return AnonymousUser()
    session_hash = data.get(HASH_SESSION_KEY) or ""
    hashes = [user.get_session_auth_hash(), *user.get_session_auth_fallback_hash()]
    if not session_hash or not any(constant_time_compare(session_hash, known) for known in hashes):
        return AnonymousUser()
    return user


# Sockets checked per query by the sweeper, so that one check never holds the loop for long.
REVOKED_SLICE = 200
_DB_BACKED_ENGINES = ("django.contrib.sessions.backends.db", "django.contrib.sessions.backends.cached_db")


async def sessions_find_revoked(*, pairs: list[tuple[int, str | None]]) -> set[tuple[int, str | None]]:
    """Of (user_id, session_key) pairs, those whose user is inactive or whose session is gone.

    On the event loop (calls.services.sql), in slices: on Django's database thread, the ORM
    building queries for 800 sockets took the GIL from the loop for ~20 ms every sweep.
    """
    user_ids = sorted({user_id for user_id, _ in pairs})
    active: set[int] = set()
    for ids in slices(user_ids, REVOKED_SLICE):
        rows = await sql_fetchall(
            f"SELECT id FROM {get_user_model()._meta.db_table}"
            f" WHERE is_active AND id IN ({sql_placeholders(len(ids))})",
            ids,
        )
        active.update(row[0] for row in rows)
    valid_keys: set[str] | None = None
    if settings.SESSION_ENGINE in _DB_BACKED_ENGINES:  # the table is the truth (a cache may still hold a deleted one)
        valid_keys = set()
        now = connections[DEFAULT_DB_ALIAS].ops.adapt_datetimefield_value(timezone.now())
        for keys in slices(sorted({key for _, key in pairs if key}), REVOKED_SLICE):
            rows = await sql_fetchall(
                f"SELECT session_key FROM {Session._meta.db_table}"
                f" WHERE expire_date > %s AND session_key IN ({sql_placeholders(len(keys))})",
                [now, *keys],
            )
            valid_keys.update(row[0] for row in rows)
    return {
        (user_id, key)
        for user_id, key in pairs
        if user_id not in active or (valid_keys is not None and key and key not in valid_keys)
    }


class SharedConnectionPool(redis.ConnectionPool):
    """One pool per Redis URL for the whole process.

    Django makes a cache object, and with it a new pool, per async context: every socket's
    session look-up opened a new Redis connection (a quarter of the join's CPU).
    """

    _pools: dict[tuple, redis.ConnectionPool] = {}
    _lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str, **kwargs) -> redis.ConnectionPool:
        key = (url, tuple(sorted((name, repr(value)) for name, value in kwargs.items())))
        with cls._lock:
            pool = cls._pools.get(key)
            if pool is None:
                pool = cls._pools[key] = redis.ConnectionPool.from_url(url, **kwargs)
            return pool
