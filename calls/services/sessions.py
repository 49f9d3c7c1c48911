"""Find sockets whose user was deactivated or whose session ended (signed out elsewhere);
the Redis connection pool of the session cache."""

import threading

import redis
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.utils import timezone

_DB_BACKED_ENGINES = ("django.contrib.sessions.backends.db", "django.contrib.sessions.backends.cached_db")


def sessions_find_revoked(*, pairs: list[tuple[int, str | None]]) -> set[tuple[int, str | None]]:
    """Of (user_id, session_key) pairs, those whose user is inactive or whose session is gone."""
    user_ids = {user_id for user_id, _ in pairs}
    active = set(get_user_model().objects.filter(pk__in=user_ids, is_active=True).values_list("pk", flat=True))
    valid_keys: set[str] | None = None
    if settings.SESSION_ENGINE in _DB_BACKED_ENGINES:  # the table is the truth (a cache may still hold a deleted one)
        keys = {key for _, key in pairs if key}
        valid_keys = set(
            Session.objects.filter(session_key__in=keys, expire_date__gt=timezone.now()).values_list(
                "session_key", flat=True
            )
        )
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
