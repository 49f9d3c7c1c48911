"""Invitations to private rooms: a signed link that adds whoever opens it to the room's allowed
people, until it expires or its owner revokes it.

The link carries the invitation's random key signed with a salt bound to the room, so a changed
character or another room's link fails the signature before any look-up; the row holds what the
signature cannot: the expiry chosen by the owner, and the revocation.
"""

import secrets
from datetime import timedelta

import segno
from django.core import signing
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from calls.models import Room, RoomInvite
from calls.services.rooms import room_audit

# The owner's choices: how long a new invitation works.
INVITE_LIFETIMES: dict[str, timedelta | None] = {"1d": timedelta(days=1), "7d": timedelta(days=7), "never": None}
INVITE_LIFETIME_LABELS = {"1d": _("1 day"), "7d": _("7 days"), "never": _("until revoked")}


class InviteError(Exception):
    """An invitation link that does not let anyone in; `code` is one of invalid, expired, revoked."""

    def __init__(self, *, code: str) -> None:
        super().__init__(code)
        self.code = code


def _signer(room: Room) -> signing.Signer:
    return signing.Signer(salt=f"parley.invite:{room.pk}")


def invite_create(*, room: Room, by: User, lifetime: str) -> RoomInvite:
    """A new invitation to `room`, working for `lifetime` (a key of INVITE_LIFETIMES)."""
    span = INVITE_LIFETIMES[lifetime]
    invite = RoomInvite.objects.create(
        room=room,
        key=secrets.token_urlsafe(16),
        created_by=by,
        expires_at=timezone.now() + span if span else None,
    )
    room_audit(room=room, by=by, message=f"Invitation {invite.pk} created ({lifetime})")
    return invite


def invite_path(*, invite: RoomInvite) -> str:
    """The link's path; the token is the key signed for the invitation's room."""
    token = _signer(invite.room).sign(invite.key)
    return reverse("room-invite", kwargs={"slug": invite.room.slug, "token": token})


def invites_active(*, room: Room) -> QuerySet[RoomInvite]:
    """The room's invitations that still let people in, newest first."""
    unexpired = Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now())
    return room.invites.filter(unexpired, revoked_at__isnull=True).select_related("room")


def invite_check(*, room: Room, token: str) -> RoomInvite:
    """The invitation `token` stands for, if it lets people into `room` now, else InviteError."""
    try:
        key = _signer(room).unsign(token)
    except signing.BadSignature:
        raise InviteError(code="invalid") from None
    invite = RoomInvite.objects.filter(room=room, key=key).first()
    if invite is None:
        raise InviteError(code="invalid")
    if invite.revoked_at is not None:
        raise InviteError(code="revoked")
    if invite.expires_at is not None and invite.expires_at <= timezone.now():
        raise InviteError(code="expired")
    return invite


@transaction.atomic
def invite_accept(*, room: Room, token: str, user: User) -> RoomInvite:
    """Add `user` to the room's allowed people through the invitation `token` (InviteError if it
    does not let anyone in)."""
    invite = invite_check(room=room, token=token)
    if user.pk != room.owner_id and not room.allowed_users.filter(pk=user.pk).exists():
        room.allowed_users.add(user)
        RoomInvite.objects.filter(pk=invite.pk).update(uses=F("uses") + 1)
        room_audit(room=room, by=user, message=f"{user.username} joined the allowed people by invitation {invite.pk}")
    return invite


def invite_revoke(*, room: Room, invite_id: int, by: User) -> bool:
    """Revoke one of the room's invitations; False if there was no such live invitation."""
    revoked = room.invites.filter(pk=invite_id, revoked_at__isnull=True).update(revoked_at=timezone.now())
    if revoked:
        room_audit(room=room, by=by, message=f"Invitation {invite_id} revoked")
    return bool(revoked)


def invite_qr_svg(url: str) -> SafeString:
    """The link as a QR code for a phone to scan: an inline SVG of paths (segno), no text in it."""
    return mark_safe(segno.make(url, error="m").svg_inline(scale=4, border=2, dark="#000", light="#fff"))
