"""Rooms: who may see and join them, and the moderator actions on them."""

import secrets
from dataclasses import dataclass

from django.contrib.admin.models import CHANGE, LogEntry
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils.text import slugify

from accounts.models import User
from calls.infra.sql import LookupBatch, sql_fetchall, sql_placeholders
from calls.models import Room
from calls.services.eviction import room_sockets_notify


class RoomAccessError(Exception):
    """Raised when a user may not join a room; `code` is the protocol's error code, `reason` says
    which rule refused (no-such-room, private, locked) for the pages that explain it."""

    def __init__(self, *, code: str, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or code


def room_list_for_user(*, user: User) -> QuerySet[Room]:
    """Rooms the user may join now: the same rules as `room_get_for_join`, for the lobby."""
    rooms = Room.objects.filter(is_active=True, is_direct=False).select_related("owner")
    if user.is_staff:
        return rooms
    allowed = Q(is_private=False) | Q(pk__in=Room.allowed_users.through.objects.filter(user=user).values("room"))
    return rooms.filter(Q(owner=user) | (allowed & Q(is_locked=False)))


def room_lobby_for_user(*, user: User) -> tuple[list[Room], list[Room]]:
    """The lobby's two lists: rooms the user owns, then the other rooms they may join (never the
    rooms of direct calls)."""
    mine, others = [], []
    for room in room_list_for_user(user=user):
        (mine if room.owner_id == user.pk else others).append(room)
    return mine, others


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


def room_access_check(
    *, room: Room | RoomAccess | None, user: User, resuming: bool = False, admitted: bool = False
) -> None:
    """Raise RoomAccessError with the protocol code unless `user` may join `room` now.

    A locked room keeps out newcomers, not a member whose connection blinked (`resuming`); someone
    the people in the call just let in (`admitted`, an answered knock) passes private and locked.
    """
    if admitted and room is not None:
        return
    if room is None:
        raise RoomAccessError(code="no-such-room", message="There is no open room at this address.")
    moderator = room_may_moderate(room=room, user=user)
    if room.is_private and not moderator and not room.user_allowed:
        raise RoomAccessError(
            code="forbidden", message="This room is private and you are not on its list.", reason="private"
        )
    if room.is_locked and not moderator and not resuming:
        raise RoomAccessError(code="forbidden", message="This room is locked: nobody new may join.", reason="locked")


def room_get_for_join(*, slug: str, user: User, admitted: bool = False) -> Room:
    """The room `slug` if `user` may join it now, else RoomAccessError with the protocol code."""
    room = room_with_access(slug=slug, user=user).first()
    room_access_check(room=room, user=user, admitted=admitted)
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


def room_audit(*, room: Room, by: User, message: str) -> None:
    """One line of the room's history (the admin's History page), like the admin's own changes."""
    LogEntry.objects.log_actions(
        user_id=by.pk, queryset=[room], action_flag=CHANGE, change_message=message, single_object=True
    )


def room_settings_update(
    *, room: Room, by: User, name: str, capacity: int, is_private: bool, everyone_may_record: bool = False
) -> list[str]:
    """Save the owner's settings; the names of the fields that changed (audited).

    The next join on any process reads capacity and privacy from the database, so both hold
    for live calls at once; the people already in the call keep their seats.
    """
    changed = [
        field
        for field, value in (
            ("name", name),
            ("capacity", capacity),
            ("is_private", is_private),
            ("everyone_may_record", everyone_may_record),
        )
        if getattr(room, field) != value
    ]
    if not changed:
        return []
    room.name, room.capacity, room.is_private = name, capacity, is_private
    room.everyone_may_record = everyone_may_record
    room.full_clean()
    room.save(update_fields=[*changed, "updated_at"])
    room_audit(room=room, by=by, message="Changed " + ", ".join(f"{f}={getattr(room, f)}" for f in changed))
    return changed


def room_close(*, room: Room, by: User) -> None:
    """Close the room: nobody may join again, and its calls end on every process (as the admin's close)."""
    Room.objects.filter(pk=room.pk).update(is_active=False)
    room.is_active = False
    room_audit(room=room, by=by, message="Closed the room")
    room_sockets_notify(slug=room.slug, event="closed")


def room_allow(*, room: Room, user: User, by: User) -> bool:
    """Add `user` to the private room's allowed people; False if already there."""
    if room.allowed_users.filter(pk=user.pk).exists():
        return False
    room.allowed_users.add(user)
    room_audit(room=room, by=by, message=f"Allowed {user.username}")
    return True


def room_disallow(*, room: Room, user_id: int, by: User) -> bool:
    """Take someone off the allowed people (a later join is refused); False if not there."""
    removed, _ = Room.allowed_users.through.objects.filter(room=room, user_id=user_id).delete()
    if removed:
        room_audit(room=room, by=by, message=f"Removed user {user_id} from the allowed people")
    return bool(removed)


def room_people_search(*, room: Room, query: str, limit: int = 10) -> QuerySet[User]:
    """Active users matching `query` by username or display name, not yet allowed in the room."""
    query = query.strip()
    if not query:
        return User.objects.none()
    allowed = room.allowed_users.values("pk")
    return (
        User.objects.filter(Q(username__icontains=query) | Q(display_name__icontains=query), is_active=True)
        .exclude(pk__in=allowed)
        .exclude(pk=room.owner_id)
        .order_by("username")[:limit]
    )


def room_set_locked(*, room: Room, locked: bool) -> None:
    Room.objects.filter(pk=room.pk).update(is_locked=locked)
    room.is_locked = locked
