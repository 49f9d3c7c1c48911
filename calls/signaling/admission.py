"""Who may join a room, and who may come back: refusals, the room as a socket sees it, resume tokens."""

from dataclasses import dataclass

from django.conf import settings
from django.core import signing

from calls.protocol import Limits
from calls.services.rooms import RoomAccess, RoomAccessError, room_access_check, room_may_moderate

from .records import Banned, RoomFull, SeatRefused

KICK_BAN_SECONDS = 300


class Refusal(Exception):
    """The socket may not join: an error frame, then close with the contract's code. `details`
    are the frame's structured fields (docs/protocol.md, Refusals): `reason`, and for some
    reasons `by`, `retry_after`, `capacity`, `count`."""

    def __init__(self, code: str, message: str, **details) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


@dataclass(slots=True)
class RoomInfo:
    id: int
    slug: str
    name: str
    capacity: int
    locked: bool
    moderator: bool


def limits_from_settings() -> Limits:
    config = settings.SIGNALING
    return Limits(
        max_frame_bytes=config["MAX_FRAME_BYTES"],
        max_sdp_bytes=config["MAX_SDP_BYTES"],
        max_candidate_bytes=config["MAX_CANDIDATE_BYTES"],
        max_chat_chars=config["MAX_CHAT_CHARS"],
    )


def resume_token_make(*, slug: str, peer_id: str, user_id: int) -> str:
    """`<peer_id>:<timestamp>:<signature>`: only this user can resume this peer in this room,
    and only for a while (`resume_token_peer`)."""
    return _resume_signer(slug, user_id).sign(peer_id)


def resume_token_peer(*, token: str, slug: str, user_id: int) -> str | None:
    """The peer_id a valid, unexpired token names, else None.

    A token is renewed by every `pong`, so it expires RESUME_GRACE seconds after the longest
    a held peer can go unheard (two heartbeats, and one more for the ping period). Expired or
    not, it resumes only a peer still held in the room; anything else is a fresh join.
    """
    config = settings.SIGNALING
    max_age = config["RESUME_GRACE"] + 3 * config["HEARTBEAT"]
    try:
        return _resume_signer(slug, user_id).unsign(token, max_age=max_age)
    except signing.BadSignature:  # SignatureExpired included
        return None


def _resume_signer(slug: str, user_id: int) -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=f"parley.signaling.resume:{slug}:{user_id}")


def room_admit(room: RoomAccess | None, user, *, resuming: bool, admitted: bool = False) -> RoomInfo:
    """The room as the socket sees it, or Refusal: `resuming` only for a peer actually resumed,
    `admitted` for someone let in by a knock's answer (calls.signaling.knocks)."""
    try:
        room_access_check(room=room, user=user, resuming=resuming, admitted=admitted)
    except RoomAccessError as error:
        raise Refusal(error.code, error.message, reason=REASONS_OF_ACCESS.get(error.reason, error.reason)) from None
    return RoomInfo(
        id=room.id,
        slug=room.slug,
        name=room.name,
        capacity=room.capacity,
        locked=room.is_locked,
        moderator=room_may_moderate(room=room, user=user),
    )


# RoomAccessError's reasons as the error frame's `reason`.
REASONS_OF_ACCESS = {"no-such-room": "closed"}


async def seat_refusal(refused: SeatRefused, *, registry, slug: str, user_id: int, capacity: int, max_per_user: int):
    """The protocol's error for a refused seat, saying why and for how long (one more registry
    read, on this rare path only)."""
    if isinstance(refused, Banned):
        ban = await registry.ban_get(slug=slug, user_id=user_id)
        return removed_refusal(ban.by if ban else None, ban.seconds_left if ban else KICK_BAN_SECONDS)
    if isinstance(refused, RoomFull):
        count = max(capacity, len((await registry.occupancy(slugs=[slug])).get(slug, ())))
        return Refusal(
            "room-full", f"This room is full ({count} of {capacity}).", reason="full", capacity=capacity, count=count
        )
    return Refusal(
        "rate-limited", f"You already have {max_per_user} calls open; leave one first.", reason="too-many-calls"
    )


def removed_refusal(by: dict | None, seconds_left: int) -> Refusal:
    minutes = max(1, -(-seconds_left // 60))
    name = (by or {}).get("display_name") or (by or {}).get("username") or "a moderator"
    message = f"You were removed by {name}; you can rejoin in {minutes} minute{'s' if minutes != 1 else ''}."
    details = {"by": by} if by else {}
    return Refusal("forbidden", message, reason="removed", retry_after=seconds_left, **details)
