"""The sockets whose sign-in ended: their user was deactivated, their session ended (signed
out elsewhere) or their password changed; and the session moves of a password change, which
the changing browser's sockets follow."""

from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.cache import caches
from django.db import DEFAULT_DB_ALIAS, connections
from django.utils import timezone

from calls.infra.batches import slices
from calls.infra.socket_auth import session_auth_hashes, session_hash_known, users_fetch_many
from calls.infra.sql import sql_fetchall, sql_placeholders

# Sockets checked per query by the sweeper, so that one check never holds the loop for long.
REVOKED_SLICE = 200
_DB_BACKED_ENGINES = ("django.contrib.sessions.backends.db", "django.contrib.sessions.backends.cached_db")


SessionRef = tuple[int, str | None, str]  # (user_id, session_key, auth_hash) of a socket


async def sessions_find_revoked(*, sessions: list[SessionRef]) -> set[SessionRef]:
    """Of sockets' (user_id, session_key, auth_hash), those whose user is inactive, whose
    session is gone or expired, or whose password changed since (Django's session hash check).

    On the event loop (calls.infra.sql), in slices: on Django's database thread, the ORM
    building queries for 800 sockets took the GIL from the loop for ~20 ms every sweep.
    """
    known: dict[int, list[str]] = {}  # the active users' valid session hashes, a slice between awaits
    for ids in slices(sorted({user_id for user_id, _, _ in sessions}), REVOKED_SLICE):
        users = await users_fetch_many(list(ids))
        known.update((user.pk, session_auth_hashes(user=user)) for user in users.values() if user.is_active)
    valid_keys: set[str] | None = None
    if settings.SESSION_ENGINE in _DB_BACKED_ENGINES:  # the table is the truth (a cache may still hold a deleted one)
        valid_keys = set()
        now = connections[DEFAULT_DB_ALIAS].ops.adapt_datetimefield_value(timezone.now())
        for keys in slices(sorted({key for _, key, _ in sessions if key}), REVOKED_SLICE):
            rows = await sql_fetchall(
                f"SELECT session_key FROM {Session._meta.db_table}"
                f" WHERE expire_date > %s AND session_key IN ({sql_placeholders(len(keys))})",
                [now, *keys],
            )
            valid_keys.update(row[0] for row in rows)
    return {
        (user_id, key, auth_hash)
        for user_id, key, auth_hash in set(sessions)
        if user_id not in known
        or not session_hash_known(auth_hash=auth_hash, known=known[user_id])
        or (valid_keys is not None and key and key not in valid_keys)
    }


async def sockets_signed_out(*, sockets: list) -> list:
    """Of sockets (anything with `user_id`, `session_key` and `auth_hash`), those whose
    sign-in ended: to be closed with `unauthenticated`.

    The browser that changed its password keeps its sockets: its session moved to a new key
    (accounts.views.PasswordChange, calls.signals), and they follow it (`session_moved`).
    """
    revoked = await sessions_find_revoked(sessions=[_ref(socket) for socket in sockets])
    if not revoked:
        return []
    moves = await _session_moves({key for _, key, _ in revoked if key})
    closing = []
    for socket in sockets:
        if _ref(socket) not in revoked:
            continue
        move = moves.get(socket.session_key)
        if move is None or move["user_id"] != socket.user_id:
            closing.append(socket)
        elif move["key"]:  # else the change is under way: look again next sweep
            socket.session_key, socket.auth_hash = move["key"], move["auth_hash"]
    return closing


def _ref(socket) -> SessionRef:
    return socket.user_id, socket.session_key, socket.auth_hash


# How long a password change's session move is remembered: longer than any sweep can be late.
SESSION_MOVE_SECONDS = 300
# How long a change under way holds off the sweep, should it never finish (its process died).
SESSION_MOVE_PENDING_SECONDS = 60


def _move_cache_key(session_key: str) -> str:
    return f"parley.session-moved:{session_key}"


def session_move_begin(*, user_id: int, session_key: str) -> None:
    """The user is changing the password in this session: its sockets must not be closed
    while the session is re-keyed (Django's `update_session_auth_hash` cycles the key)."""
    record = {"user_id": user_id, "key": None, "auth_hash": None}
    caches[settings.SESSION_CACHE_ALIAS].set(_move_cache_key(session_key), record, SESSION_MOVE_PENDING_SECONDS)


def session_moved(*, user_id: int, old_key: str, new_key: str | None, auth_hash: str | None) -> None:
    """The session `old_key` is now `new_key` with `auth_hash` (None: the change failed;
    the sockets are checked as they are)."""
    cache = caches[settings.SESSION_CACHE_ALIAS]
    if new_key is None:
        cache.delete(_move_cache_key(old_key))
        return
    record = {"user_id": user_id, "key": new_key, "auth_hash": auth_hash}
    cache.set(_move_cache_key(old_key), record, SESSION_MOVE_SECONDS)


async def _session_moves(keys: set[str]) -> dict[str, dict]:
    if not keys:
        return {}
    found = await caches[settings.SESSION_CACHE_ALIAS].aget_many([_move_cache_key(key) for key in keys])
    return {key: found[_move_cache_key(key)] for key in keys if _move_cache_key(key) in found}
