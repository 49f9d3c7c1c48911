"""Ask to join (issue 16 item 3). A signed-in person refused from a private or locked room knocks
on a socket of its own (`/ws/rooms/<slug>/?knock=1`); the owner and staff in the call, on any
process, get a `knock` prompt and the first answer wins. Admitted: `admitted` carries a pass,
good for a couple of minutes, that the room page and the room socket take instead of the
private and locked rules (`?pass=`). Denied, or no answer in KNOCK_TIMEOUT seconds: a refusal
that says so. Knocks are rate-limited per user and room; a removed (banned) user cannot knock.
"""

import asyncio
import secrets

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.core import signing

from calls.protocol import CLOSE_CODES
from calls.protocol.knock_frames import Admitted, KnockEnded, Knocking, KnockPrompt
from calls.services.ratelimit import ratelimit_hit
from calls.services.rooms import RoomAccessError, room_access_check, room_access_fetch

from .admission import Refusal, removed_refusal
from .records import PeerRecord

KNOCK_TIMEOUT = 60  # seconds the people in the call have to answer
KNOCKS_PER_WINDOW = 3  # knocks a user may make on one room per window
KNOCK_WINDOW = 600
PASS_MAX_AGE = 120  # seconds an admission pass opens the room


def knock_pass_make(*, slug: str, user_id: int) -> str:
    return _pass_signer(slug, user_id).sign("admitted")


def knock_pass_valid(*, token: str | None, slug: str, user_id: int) -> bool:
    if not token:
        return False
    try:
        return _pass_signer(slug, user_id).unsign(token, max_age=PASS_MAX_AGE) == "admitted"
    except signing.BadSignature:
        return False


def _pass_signer(slug: str, user_id: int) -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=f"parley.knock.pass:{slug}:{user_id}")


class Knock:
    """A knock waiting on its process: the answer (`admit`, `admit-allow`, `deny`) and who gave it."""

    __slots__ = ("answer",)

    def __init__(self) -> None:
        self.answer: asyncio.Future = asyncio.get_running_loop().create_future()

    def control(self, kind: str, *, by: dict | None = None) -> None:
        """Room.control_local's call: a moderator answered, here or on another process; or `move`:
        this process is draining (calls.services.draining), the knock is asked again elsewhere."""
        if kind in ("admit", "admit-allow", "deny", "move") and not self.answer.done():
            self.answer.set_result((kind, by))


async def session_knock(session) -> None:
    """Knock, wait for an answer, then `admitted` and close, or raise Refusal."""
    user = session.user
    if not user.is_authenticated:
        raise Refusal("unauthenticated", "Sign in to ask to join.", reason="signed-out")
    access = await room_access_fetch(slug=session.slug, user_id=user.pk)
    if access is None:
        raise Refusal("no-such-room", "There is no open room at this address.", reason="closed")
    if _may_join(access, user):  # nothing to ask: let the page join as usual
        _admit(session)
        return
    registry = session.node.registry
    ban = await registry.ban_get(slug=session.slug, user_id=user.pk)
    if ban is not None:
        raise removed_refusal(ban.by, ban.seconds_left)
    key = f"knock:{session.slug}:{user.pk}"
    if not await sync_to_async(ratelimit_hit)(key=key, limit=KNOCKS_PER_WINDOW, period=KNOCK_WINDOW):
        raise Refusal(
            "rate-limited", "You asked to join this room too often; try again later.", reason="too-many-knocks"
        )
    moderators = await _moderators_in_call(session, owner_id=access.owner_id)
    if not moderators:
        raise Refusal("forbidden", "Nobody who can let you in is in the call now.", reason="no-moderator")
    kind, by = await _wait_for_answer(session, moderators)
    await _answer_apply(session, access, kind, by)


async def _answer_apply(session, access, kind: str, by: dict | None) -> None:
    """The knock's outcome, to the knocking socket."""
    if kind == "move":  # the client knocks again at once, on another process (knock.js)
        session.outbox.put({"type": "websocket.close", "code": CLOSE_CODES["moving"]})
        return
    if kind == "admit-allow":
        await database_sync_to_async(_allow)(access.id, session.user, by)
    if kind in ("admit", "admit-allow"):
        _admit(session)
    elif kind == "deny":
        name = (by or {}).get("display_name") or "A moderator"
        raise Refusal("forbidden", f"{name} did not let you in.", reason="denied", **({"by": by} if by else {}))
    else:
        raise Refusal("forbidden", "Nobody answered your request to join.", reason="no-answer")


async def _wait_for_answer(session, moderators: list[PeerRecord]) -> tuple[str, dict | None]:
    room = session.room_claim()
    knock_id = f"{session.node.node_id}.{secrets.token_urlsafe(9)}"
    knock = Knock()
    knocks = room.knocks
    knocks[knock_id] = knock
    prompt = KnockPrompt(knock=knock_id, user=session.user.public_dict(), timeout=KNOCK_TIMEOUT).to_text()
    # `expecting` keeps this process's part of the room alive while nobody of it is in the call.
    with room.expecting(knock_id):
        for peer in moderators:
            room.send(peer.node, peer.peer_id, prompt)
        session.reply(Knocking(timeout=KNOCK_TIMEOUT).to_text())
        try:
            kind, by = await asyncio.wait_for(asyncio.shield(knock.answer), KNOCK_TIMEOUT)
        except TimeoutError:
            kind, by = "no-answer", None
        finally:
            knocks.pop(knock_id, None)
    outcome = {"admit": "admitted", "admit-allow": "admitted", "deny": "denied", "move": "moved"}.get(kind, "no-answer")
    ended = KnockEnded(knock=knock_id, outcome=outcome, by=by).to_text()
    for peer in moderators:  # every prompt closes, whoever answered
        room.send(peer.node, peer.peer_id, ended)
    return kind, by


def _may_join(access, user) -> bool:
    try:
        room_access_check(room=access, user=user)
    except RoomAccessError:
        return False
    return True


def _admit(session) -> None:
    session.reply(Admitted(pass_token=knock_pass_make(slug=session.slug, user_id=session.user_id)).to_text())
    session.outbox.put({"type": "websocket.close", "code": CLOSE_CODES["left"]})


async def _moderators_in_call(session, *, owner_id: int) -> list[PeerRecord]:
    rooms = await session.node.registry.occupancy(slugs=[session.slug])
    peers = rooms.get(session.slug, [])
    staff = await database_sync_to_async(_staff_ids)([peer.user_id for peer in peers])
    return [peer for peer in peers if peer.user_id == owner_id or peer.user_id in staff]


def _staff_ids(user_ids: list[int]) -> set[int]:
    from accounts.models import User

    return set(User.objects.filter(pk__in=user_ids, is_staff=True).values_list("pk", flat=True))


def _allow(room_id: int, user, by: dict | None) -> None:
    from accounts.models import User
    from calls.models import Room
    from calls.services.rooms import room_allow

    room = Room.objects.get(pk=room_id)
    if room.is_private:
        room_allow(room=room, user=user, by=User.objects.get(pk=by["id"]) if by else room.owner)
