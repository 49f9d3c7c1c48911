"""Rooms: who may see and join them, and the moderator actions on them."""

import secrets

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils.text import slugify

from accounts.models import User
from calls.models import Room


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


def room_may_moderate(*, room: Room, user: User) -> bool:
    return user.is_staff or room.owner_id == user.pk


def room_with_access(*, slug: str, user: User, **filters) -> QuerySet[Room]:
    """The active room `slug` with `user_allowed` (on its private list): one query at join, not two."""
    allowed = Room.allowed_users.through.objects.filter(room=OuterRef("pk"), user_id=user.pk)
    return Room.objects.filter(slug=slug, is_active=True, **filters).annotate(user_allowed=Exists(allowed))


def room_get_for_join(*, slug: str, user: User) -> Room:
    """The room `slug` if `user` may join it now, else RoomAccessError with the protocol code."""
    room = room_with_access(slug=slug, user=user).first()
    if room is None:
        raise RoomAccessError(code="no-such-room", message="There is no open room at this address.")
    moderator = room_may_moderate(room=room, user=user)
    if room.is_private and not moderator and not room.user_allowed:
        raise RoomAccessError(code="forbidden", message="This room is private and you are not on its list.")
    if room.is_locked and not moderator:
        raise RoomAccessError(code="forbidden", message="This room is locked: nobody new may join.")
    return room


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
