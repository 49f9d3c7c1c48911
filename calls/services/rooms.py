"""Rooms: who may see and join them, and the moderator actions on them."""

import secrets
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils.text import slugify

from accounts.models import User
from calls.models import Room
from calls.services.sql import LookupBatch, sql_fetchall, sql_placeholders


class RoomAccessError(Exception):
    """Raised when a user may not join a room; `code` is the protocol's error code."""

    def __init__(self, *, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def room_list_for_user(*, user: User) -> QuerySet[Room]:
    """Rooms the user may join now: the same rules as `room_get_for_join`, for the lobby."""
    rooms = Room.objects.filter(is_active=True, is_direct=False).select_related("owner")
    if user.is_staff:
        return rooms
    allowed = Q(is_private=False) | Q(pk__in=Room.allowed_users.through.objects.filter(user=user).values("room"))
    return rooms.filter(Q(owner=user) | (allowed & Q(is_locked=False)))


def room_may_moderate(*, room: "Room | RoomAccess", user: User) -> bool:
    return user.is_staff or room.owner_id == user.pk


def room_with_access(*, slug: str, user: User) -> QuerySet[Room]:
    """The active room `slug` with `user_allowed` (on its private list): one query at join, not two."""
    allowed = Room.allowed_users.through.objects.filter(room=OuterRef("pk"), user_id=user.pk)
    return Room.objects.filter(slug=slug, is_active=True).annotate(user_allowed=Exists(allowed))


@dataclass(frozen=True, slots=True)
class RoomAccess:
    """What deciding a join needs to know of a room, whichever way it was read."""

    id: int
    slug: str
    name: str
    capacity: int
    is_private: bool
    is_locked: bool
    owner_id: int
    user_allowed: bool


def room_access_check(*, room: Room | RoomAccess | None, user: User, resuming: bool = False) -> None:
    """Raise RoomAccessError with the protocol code unless `user` may join `room` now.

    A locked room keeps out newcomers, not a member whose connection blinked (`resuming`).
    """
    if room is None:
        raise RoomAccessError(code="no-such-room", message="There is no open room at this address.")
    moderator = room_may_moderate(room=room, user=user)
    if room.is_private and not moderator and not room.user_allowed:
        raise RoomAccessError(code="forbidden", message="This room is private and you are not on its list.")
    if room.is_locked and not moderator and not resuming:
        raise RoomAccessError(code="forbidden", message="This room is locked: nobody new may join.")


def room_get_for_join(*, slug: str, user: User) -> Room:
    """The room `slug` if `user` may join it now, else RoomAccessError with the protocol code."""
    room = room_with_access(slug=slug, user=user).first()
    room_access_check(room=room, user=user)
    return room


async def room_access_fetch(*, slug: str, user_id: int) -> RoomAccess | None:
    """The active room `slug` as `user_id`'s join sees it, off Django's database thread; the
    look-ups of one loop turn share one query."""
    return await _room_access_batch.get((slug, user_id))


async def _room_access_fetch_many(keys: list[tuple[str, int]]) -> dict[tuple[str, int], RoomAccess]:
    slugs = sorted({slug for slug, _ in keys})
    user_ids = sorted({user_id for _, user_id in keys})
    rows = await sql_fetchall(
        "SELECT r.id, r.slug, r.name, r.capacity, r.is_private, r.is_locked, r.owner_id, a.user_id"
        f" FROM {Room._meta.db_table} r LEFT JOIN {Room.allowed_users.through._meta.db_table} a"
        f" ON a.room_id = r.id AND a.user_id IN ({sql_placeholders(len(user_ids))})"
        f" WHERE r.slug IN ({sql_placeholders(len(slugs))}) AND r.is_active",
        [*user_ids, *slugs],
    )
    rooms: dict[str, tuple] = {}
    allowed: dict[str, set[int]] = {}
    for *room, allowed_user in rows:
        rooms[room[1]] = room
        if allowed_user is not None:
            allowed.setdefault(room[1], set()).add(allowed_user)
    found = {}
    for slug, user_id in keys:
        if slug in rooms:
            room_id, _, name, capacity, is_private, is_locked, owner_id = rooms[slug]
            found[(slug, user_id)] = RoomAccess(
                id=room_id,
                slug=slug,
                name=name,
                capacity=capacity,
                is_private=bool(is_private),
                is_locked=bool(is_locked),
                owner_id=owner_id,
                user_allowed=user_id in allowed.get(slug, ()),
            )
    return found


_room_access_batch = LookupBatch(_room_access_fetch_many)


@transaction.atomic
def room_create(*, owner: User, name: str, capacity: int = 8, is_private: bool = False) -> Room:
    """Create a room with a URL-safe unique slug made from its name."""
    base = slugify(name)[:40] or "room"
    slug = f"{base}-{secrets.token_hex(3)}"
    while Room.objects.filter(slug=slug).exists():
        slug = f"{base}-{secrets.token_hex(3)}"
    room = Room(slug=slug, name=name, owner=owner, capacity=capacity, is_private=is_private)
    room.full_clean()
    room.save()
    return room


def room_set_locked(*, room: Room, locked: bool) -> None:
    Room.objects.filter(pk=room.pk).update(is_locked=locked)
    room.is_locked = locked
