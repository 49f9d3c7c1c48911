"""Direct calls by username and the online list: the logic behind `/ws/presence/`.

Delivery: a presence frame for a user goes to the channel-layer group
`presence.<user id>` (every presence socket of that user, on any process) and the
online list's changes to `presence.all`. Direct-call frames are few (a handful per
call), so the channel layer's per-message cost does not matter, and with REDIS_URL it
already reaches every process; the relay hub is built for the room's high-rate
per-peer routing and its sweeper treats every attached socket as a room peer. The
groups are not the room sockets' `user.<id>` group: a room socket has no handler
for presence events.

Who is online and which call is ringing lives in a PresenceStore (Redis or process
memory), never in the group membership. Each process runs one PresenceService: it
keeps its sockets' expiry fresh, reaps users whose sockets all expired, fires ring
timeouts (a local timer, and a sweep for calls whose process died) and ends answered
calls whose room was left. Each of those is an atomic transition in the store, so it
happens once however many processes see it.
"""

import asyncio
import logging
import secrets
import time
import weakref

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from calls.models import Call, Room
from calls.protocol import CLOSE_CODES, PRESENCE_INCOMING, Limits, ProtocolError, error_frame, frame_parse
from calls.services.eviction import room_sockets_notify, user_group_name
from calls.services.presence import (
    ANSWERED,
    ENDED,
    RINGING,
    CallRecord,
    MemoryPresenceStore,
    PresenceStore,
    RedisPresenceStore,
    TooManyPresenceSockets,
)
from calls.services.ratelimit import ratelimit_hit
from calls.services.relay import TokenBucket, hub_get
from calls.services.room_state import redis_client_create
from calls.services.tasks import background

logger = logging.getLogger(__name__)

PRESENCE_ALL = "presence.all"
MAX_PRESENCE_SOCKETS = 16  # open tabs per user
ONLINE_LIST_LIMIT = 500
SWEEP_SECONDS = 1.0
# An answered call ends when, for this long, fewer than two of its users are in its room
# (a page reload is not a hang-up)...
HANGUP_GRACE = 3.0
# ...or when its users have not both joined the room this long after answering.
JOIN_GRACE = 30.0
# Presence frames a socket may send: `call` is the expensive one (a room and a row).
FRAME_RATE, FRAME_BURST = 5.0, 20.0
RATE_WARNINGS = 3
CALLS_PER_MINUTE = 20
# A ringing call whose caller has had no page open this long is cancelled.
CALLER_GRACE = 3.0
# Channel layers drop group members after `group_expiry` (a day by default): renew well before.
GROUPS_RENEW_SECONDS = 3600.0


def presence_group_name(user_id: int) -> str:
    return f"presence.{user_id}"


def _config() -> dict:
    return settings.SIGNALING


def ring_timeout() -> float:
    return float(_config()["RING_TIMEOUT"])


# --- Database (synchronous; run in a thread) ---------------------------------------------------


def _user_find(*, username: str) -> User | None:
    """The active user of that username: exact first, else the one that matches ignoring case."""
    users = User.objects.filter(is_active=True)
    username = username.strip()
    return users.filter(username=username).first() or users.filter(username__iexact=username).order_by("pk").first()


def _users_public(*, user_ids: list[int]) -> list[dict]:
    users = User.objects.filter(pk__in=user_ids, is_active=True).order_by("username")
    return [user.public_dict() for user in users]


def _call_record(*, call_id: str, caller_id: int, callee_id: int, status: str) -> None:
    """A call that never rang (callee offline or busy): history only."""
    now = timezone.now()
    Call.objects.create(call_id=call_id, caller_id=caller_id, callee_id=callee_id, status=status, ended_at=now)


@transaction.atomic
def _direct_room_create(*, call_id: str, slug: str, caller: User, callee: User) -> None:
    """The fresh private room of a call: two people, only these two."""
    room = Room.objects.create(
        slug=slug,
        name=f"{caller.shown_name} · {callee.shown_name}"[:100],
        owner=caller,
        capacity=2,
        is_private=True,
        is_direct=True,
    )
    room.allowed_users.set([caller, callee])
    Call.objects.create(call_id=call_id, caller=caller, callee=callee, room=room, status=Call.Status.RINGING)


def _call_finish(*, call_id: str, status: str | None, answered: bool = False, ended: bool = False) -> None:
    now = timezone.now()
    fields: dict = {}
    if status is not None:
        fields["status"] = status
    if answered:
        fields["answered_at"] = now
    if ended:
        fields["ended_at"] = now
    Call.objects.filter(call_id=call_id).update(**fields)


def _room_close(*, slug: str) -> None:
    """Close the call's room and end any socket still in it."""
    Room.objects.filter(slug=slug, is_direct=True).update(is_active=False)
    room_sockets_notify(slug=slug, event="closed")


# --- Delivery ----------------------------------------------------------------------------------


async def _send_to_users(user_ids, frame: dict, *, join: list[str] | None = None) -> None:
    """Send `frame` to every presence socket of the users; `join` names the sockets that open the room."""
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    event = {"type": "presence.frame", "frame": frame}
    if join is not None:
        event["join"] = join
    for user_id in dict.fromkeys(user_ids):
        try:
            await layer.group_send(presence_group_name(user_id), event)
        except Exception:
            logger.exception("could not deliver %s to user %s", frame["type"], user_id)


async def _broadcast_online(frame: dict) -> None:
    from channels.layers import get_channel_layer

    try:
        await get_channel_layer().group_send(PRESENCE_ALL, {"type": "presence.frame", "frame": frame})
    except Exception:
        logger.exception("could not broadcast %s", frame["type"])


# --- The per-process service ------------------------------------------------------------------


class PresenceService:
    """This process's presence sockets, and the sweeps that keep the shared state honest."""

    def __init__(self, *, store: PresenceStore) -> None:
        self.store = store
        self.local: dict[str, PresenceSession] = {}
        self.sweeper: asyncio.Task | None = None
        self.alone_since: dict[str, float] = {}
        self.refreshed_at = time.monotonic()

    def start(self) -> None:
        self.sweeper = asyncio.get_running_loop().create_task(self._sweep_forever())

    # Call outcomes (each runs only for the one process whose transition won) ----------------
    async def call_end(self, call: CallRecord, *, status: str, frame_type: str) -> None:
        """Write the outcome to history, close the room, tell both users."""
        answered = status == ENDED
        try:
            await database_sync_to_async(_call_finish)(
                call_id=call.call_id, status=None if answered else status, ended=True
            )
            await database_sync_to_async(_room_close)(slug=call.slug)
        except Exception:
            logger.exception("could not record the end of call %s", call.call_id)
        self.alone_since.pop(call.call_id, None)
        await _send_to_users(call.user_ids, {"type": frame_type, "call_id": call.call_id})

    async def ring_expire(self, call_id: str) -> None:
        call = await self.store.call_transition(call_id=call_id, from_status=RINGING, to_status=Call.Status.MISSED)
        if call is not None:
            await self.call_end(call, status=Call.Status.MISSED, frame_type="missed")

    def caller_check_later(self, user_id: int) -> None:
        loop = asyncio.get_running_loop()
        loop.call_later(CALLER_GRACE, lambda: background(self._guarded(self.caller_gone_check(user_id))))

    async def caller_gone_check(self, user_id: int) -> None:
        """Cancel the call a caller placed if they are still offline: nobody would answer the callee."""
        if await self.store.is_online(user_id=user_id):
            return
        call_id = await self.store.user_call(user_id=user_id)
        call = await self.store.call_get(call_id=call_id) if call_id else None
        if call is None or call.caller["id"] != user_id:
            return
        cancelled = await self.store.call_transition(
            call_id=call.call_id, from_status=RINGING, to_status=Call.Status.CANCELLED
        )
        if cancelled is not None:
            await self.call_end(cancelled, status=Call.Status.CANCELLED, frame_type="cancelled")

    def ring_timer_start(self, call_id: str, delay: float) -> None:
        loop = asyncio.get_running_loop()
        loop.call_later(max(0.0, delay), lambda: background(self._guarded(self.ring_expire(call_id))))

    @staticmethod
    async def _guarded(coro) -> None:
        try:
            await coro
        except Exception:
            logger.exception("direct call timer failed")

    # Sweeps ----------------------------------------------------------------------------------
    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("presence sweep failed")

    async def sweep(self) -> None:
        config = _config()
        now = time.monotonic()
        sessions = list(self.local.values())
        silent_after = 2 * config["HEARTBEAT"]
        for session in sessions:
            if now - session.last_seen > silent_after:
                await session.close()
                session.conn.close_soon(4408)
            elif now - session.groups_at > GROUPS_RENEW_SECONDS:
                await session.groups_join()
        if now - self.refreshed_at >= min(config["HEARTBEAT"], config["PEER_TTL"] / 3):
            self.refreshed_at = now
            back = await self.store.sockets_refresh(
                sockets=[(s.user.pk, s.socket_id) for s in sessions if now - s.last_seen <= silent_after],
                ttl=config["PEER_TTL"],
            )
            for user in {s.user.pk: s.user for s in sessions if s.user.pk in back}.values():
                await _broadcast_online({"type": "user-online", "user": user.public_dict()})
        for user_id in await self.store.online_reap():
            users = await database_sync_to_async(_users_public)(user_ids=[user_id])
            if users:
                await _broadcast_online({"type": "user-offline", "user": users[0]})
        for call_id in await self.store.calls_overdue():
            await self.ring_expire(call_id)
        for call_id in await self.store.calls_answered():
            await self._answered_check(call_id)

    async def _answered_check(self, call_id: str) -> None:
        """End an answered call whose room its users left (the hang-up of leaving the page)."""
        call = await self.store.call_get(call_id=call_id)
        if call is None or call.status != ANSWERED:
            return
        hub = await hub_get()
        in_room = {peer.user_id for peer in await hub.state.peers_list(slug=call.slug)}
        both = set(call.user_ids) <= in_room
        if both:
            self.alone_since.pop(call_id, None)
            if not call.seen_both:
                await self.store.call_seen_both(call_id=call_id)
            return
        now = time.monotonic()
        if call.seen_both:
            first = self.alone_since.setdefault(call_id, now)
            if now - first < HANGUP_GRACE:
                return
        elif time.time() - call.answered_ts < JOIN_GRACE:
            return
        ended = await self.store.call_transition(call_id=call_id, from_status=ANSWERED, to_status=ENDED)
        if ended is not None:
            await self.call_end(ended, status=ENDED, frame_type="hangup")


_services: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, PresenceService]" = weakref.WeakKeyDictionary()


def _service_create() -> PresenceService:
    config = _config()
    if config["BACKEND"] == "redis":
        store = RedisPresenceStore(client=redis_client_create(config["REDIS_URL"]), prefix=config["KEY_PREFIX"])
    else:
        store = MemoryPresenceStore()
    return PresenceService(store=store)


def presence_service_get() -> PresenceService:
    """This event loop's presence service, started on first use."""
    loop = asyncio.get_running_loop()
    service = _services.get(loop)
    if service is None:
        service = _services[loop] = _service_create()
        service.start()
    return service


# --- One presence socket -------------------------------------------------------------------------


class PresenceSession:
    """The presence logic of one socket; the consumer only moves frames.

    `conn` provides `channel_name`, `channel_layer`, `send_frame(dict)` and `close_soon(code)`.
    """

    def __init__(self, *, conn, user) -> None:
        self.conn = conn
        self.user = user
        self.service: PresenceService | None = None
        self.socket_id = secrets.token_urlsafe(12)
        self.last_seen = time.monotonic()
        self.bucket = TokenBucket(FRAME_RATE, FRAME_BURST)
        self.warnings = 0
        self.limits = Limits(max_frame_bytes=4096)
        self.opened = False
        self.groups_at = 0.0

    async def refuse(self, code: str, message: str, close_code: int) -> None:
        """Tell the client why, leave presence now (not when the client acknowledges), and close."""
        await self.conn.send_frame(error_frame(code, message))
        await self.close()
        self.conn.close_soon(close_code)

    async def open(self) -> None:
        """Register the socket and send the online list, or refuse it."""
        if not self.user.is_authenticated:
            await self.refuse("unauthenticated", "Sign in to receive calls.", CLOSE_CODES["unauthenticated"])
            return
        self.service = service = presence_service_get()
        config = _config()
        try:
            came_online = await service.store.socket_add(
                user_id=self.user.pk, socket_id=self.socket_id, ttl=config["PEER_TTL"], max_sockets=MAX_PRESENCE_SOCKETS
            )
        except TooManyPresenceSockets:
            await self.refuse("rate-limited", f"You have {MAX_PRESENCE_SOCKETS} Parley pages open; close one.", 4429)
            return
        self.opened = True  # from here on, close() undoes what open() did
        service.local[self.socket_id] = self
        await self.groups_join()
        online_ids = [uid for uid in await service.store.online_list(limit=ONLINE_LIST_LIMIT) if uid != self.user.pk]
        online = await database_sync_to_async(_users_public)(user_ids=online_ids)
        await self.conn.send_frame(
            {
                "type": "presence",
                "you": self.user.public_dict(),
                "online": online,
                "heartbeat": max(1, int(config["HEARTBEAT"])),
                "ring_timeout": max(1, int(ring_timeout())),
            }
        )
        await self._ringing_replay()
        if came_online:
            await _broadcast_online({"type": "user-online", "user": self.user.public_dict()})

    async def _ringing_replay(self) -> None:
        """A page opened (or reloaded) while the user's call rings shows it too: `ring` or `ringing` again."""
        call_id = await self.service.store.user_call(user_id=self.user.pk)
        call = await self.service.store.call_get(call_id=call_id) if call_id else None
        if call is None or call.status != RINGING:
            return
        left = max(1, int(call.deadline - time.time()))
        if call.callee["id"] == self.user.pk:
            room = {"slug": call.slug, "url": call.url}
            await self.conn.send_frame(
                {"type": "ring", "call_id": call_id, "caller": call.caller, "room": room, "timeout": left}
            )
        else:
            await self.conn.send_frame({"type": "ringing", "call_id": call_id, "callee": call.callee, "timeout": left})

    def _groups(self) -> tuple[str, ...]:
        return presence_group_name(self.user.pk), PRESENCE_ALL, user_group_name(self.user.pk)

    async def groups_join(self) -> None:
        """Join (or renew: the layer forgets members after its group_expiry) this socket's groups."""
        self.groups_at = time.monotonic()
        for group in self._groups():
            await self.conn.channel_layer.group_add(group, self.conn.channel_name)

    async def _groups_leave(self) -> None:
        for group in self._groups():
            await self.conn.channel_layer.group_discard(group, self.conn.channel_name)

    async def close(self) -> None:
        """The socket ended, for whatever reason.

        A caller whose last page closed while the call rings cancels it, unless a page of theirs
        is back within CALLER_GRACE (moving from page to page closes one socket and opens another).
        """
        if not self.opened:
            return
        self.opened = False
        self.service.local.pop(self.socket_id, None)
        await self._groups_leave()
        try:
            went_offline = await self.service.store.socket_remove(user_id=self.user.pk, socket_id=self.socket_id)
        except Exception:
            logger.exception("could not remove presence socket of user %s", self.user.pk)
            return
        if went_offline:
            await _broadcast_online({"type": "user-offline", "user": self.user.public_dict()})
            self.service.caller_check_later(self.user.pk)

    # Frames from the client -------------------------------------------------------------------
    async def receive(self, text: str | None) -> None:
        if not self.opened:
            return
        self.last_seen = time.monotonic()
        if not self.bucket.take(time.monotonic()):
            self.warnings += 1
            if self.warnings > RATE_WARNINGS:
                await self.refuse("rate-limited", "Too many messages: the connection is closed.", 4429)
            else:
                await self.conn.send_frame(error_frame("rate-limited", "Slow down: that message was dropped."))
            return
        frame: dict = {}
        try:
            frame = frame_parse(text, limits=self.limits, schemas=PRESENCE_INCOMING)
            await self.handle(frame)
        except ProtocolError as error:
            await self.conn.send_frame(error_frame(error.code, error.message, error.ref or frame.get("id")))
        except Exception:  # Redis or the database failing: say so, keep the socket
            logger.exception("presence frame %s failed", frame.get("type"))
            message = "The call service is unavailable; try again shortly."
            await self.conn.send_frame(error_frame("unavailable", message, frame.get("id")))

    async def handle(self, frame: dict) -> None:
        kind = frame["type"]
        if kind == "ping":
            pong = {"type": "pong"}
            if "id" in frame:
                pong["id"] = frame["id"]
            await self.conn.send_frame(pong)
        elif kind == "call":
            await self.call(frame["username"])
        elif kind == "accept":
            await self.accept(frame["call_id"])
        elif kind in ("decline", "cancel", "hangup"):
            await self.end(kind, frame["call_id"])

    async def call(self, username: str) -> None:
        store = self.service.store
        allowed = await database_sync_to_async(ratelimit_hit)(
            key=f"direct-call:{self.user.pk}", limit=CALLS_PER_MINUTE, period=60
        )
        if not allowed:
            raise ProtocolError("rate-limited", "Too many calls in a minute; wait a little.")
        callee = await database_sync_to_async(_user_find)(username=username)
        if callee is None or callee.pk == self.user.pk:
            raise ProtocolError("no-such-user", "There is nobody else with that username.")
        if await store.user_call(user_id=self.user.pk):
            raise ProtocolError("busy", "You are already in a call: hang up first.")
        call_id = secrets.token_urlsafe(16)
        callee_public = callee.public_dict()
        if not await store.is_online(user_id=callee.pk):
            await database_sync_to_async(_call_record)(
                call_id=call_id, caller_id=self.user.pk, callee_id=callee.pk, status=Call.Status.OFFLINE
            )
            await self.conn.send_frame({"type": "user-offline", "user": callee_public, "call_id": call_id})
            return
        hub = await hub_get()
        if await hub.state.user_sockets_live(user_id=callee.pk):
            await self._busy(call_id, callee)
            return
        slug = f"call-{secrets.token_hex(8)}"
        timeout = ring_timeout()
        record = CallRecord(
            call_id=call_id,
            caller=self.user.public_dict(),
            callee=callee_public,
            slug=slug,
            url=reverse("room", kwargs={"slug": slug}),
            caller_channel=self.conn.channel_name,
            deadline=time.time() + timeout,
        )
        claimed = await store.call_start(call=record)
        if claimed == "caller-busy":
            raise ProtocolError("busy", "You are already in a call: hang up first.")
        if claimed == "busy":
            await self._busy(call_id, callee)
            return
        try:
            await database_sync_to_async(_direct_room_create)(
                call_id=call_id, slug=slug, caller=self.user, callee=callee
            )
        except Exception:
            logger.exception("could not create the room of call %s", call_id)
            await store.call_transition(call_id=call_id, from_status=RINGING, to_status=Call.Status.CANCELLED)
            raise ProtocolError("unavailable", "The call could not be placed; try again shortly.") from None
        self.service.ring_timer_start(call_id, timeout)
        room = {"slug": slug, "url": record.url}
        await _send_to_users(
            [self.user.pk], {"type": "ringing", "call_id": call_id, "callee": callee_public, "timeout": int(timeout)}
        )
        await _send_to_users(
            [callee.pk],
            {"type": "ring", "call_id": call_id, "caller": record.caller, "room": room, "timeout": int(timeout)},
        )

    async def _busy(self, call_id: str, callee: User) -> None:
        await database_sync_to_async(_call_record)(
            call_id=call_id, caller_id=self.user.pk, callee_id=callee.pk, status=Call.Status.BUSY
        )
        await self.conn.send_frame({"type": "busy", "call_id": call_id, "user": callee.public_dict()})

    async def _own_call(self, call_id: str) -> CallRecord:
        call = await self.service.store.call_get(call_id=call_id)
        if call is None or self.user.pk not in call.user_ids:
            raise ProtocolError("no-such-call", "There is no such call.")
        return call

    async def accept(self, call_id: str) -> None:
        call = await self._own_call(call_id)
        if call.callee["id"] != self.user.pk:
            raise ProtocolError("forbidden", "Only the person called can accept.")
        answered = await self.service.store.call_transition(call_id=call_id, from_status=RINGING, to_status=ANSWERED)
        if answered is None:
            raise ProtocolError("no-such-call", "This call is no longer ringing.")
        await database_sync_to_async(_call_finish)(call_id=call_id, status=Call.Status.ANSWERED, answered=True)
        await _send_to_users(
            call.user_ids,
            {"type": "accepted", "call_id": call_id, "room": {"slug": call.slug, "url": call.url}},
            join=[call.caller_channel, self.conn.channel_name],
        )

    async def end(self, kind: str, call_id: str) -> None:
        """decline (callee), cancel (caller), hangup (either; while ringing it declines or cancels)."""
        call = await self._own_call(call_id)
        is_caller = call.caller["id"] == self.user.pk
        if kind == "decline" and is_caller:
            raise ProtocolError("forbidden", "The caller cancels; only the person called declines.")
        if kind == "cancel" and not is_caller:
            raise ProtocolError("forbidden", "Only the caller can cancel; decline instead.")
        store = self.service.store
        if kind == "hangup" and call.status == ANSWERED:
            ended = await store.call_transition(call_id=call_id, from_status=ANSWERED, to_status=ENDED)
            if ended is None:
                raise ProtocolError("no-such-call", "This call has already ended.")
            await self.service.call_end(ended, status=ENDED, frame_type="hangup")
            return
        status = Call.Status.CANCELLED if is_caller else Call.Status.DECLINED
        ended = await store.call_transition(call_id=call_id, from_status=RINGING, to_status=status)
        if ended is None:
            raise ProtocolError("no-such-call", "This call is no longer ringing.")
        await self.service.call_end(ended, status=status, frame_type=str(status))

    # Frames from the channel layer ------------------------------------------------------------
    async def event(self, event: dict) -> None:
        """A frame addressed to this user (or everybody); `accepted` says whether this socket opens the room."""
        if not self.opened:
            return
        frame = event["frame"]
        kind = frame["type"]
        if kind in ("user-online", "user-offline") and frame["user"]["id"] == self.user.pk:
            return
        if kind == "accepted":
            frame = {**frame, "join": self.conn.channel_name in event.get("join", ())}
        await self.conn.send_frame(frame)


# --- History --------------------------------------------------------------------------------------


def call_history_for_user(*, user: User, limit: int = 100) -> list[dict]:
    """The user's recent direct calls, newest first, as the history page shows them."""
    from django.db.models import Q

    calls = (
        Call.objects.filter(Q(caller=user) | Q(callee=user))
        .select_related("caller", "callee")
        .order_by("-started_at")[:limit]
    )
    rows = []
    for call in calls:
        outgoing = call.caller_id == user.pk
        rows.append(
            {
                "call": call,
                "outgoing": outgoing,
                "peer": call.callee if outgoing else call.caller,
                "missed": call.status in (Call.Status.MISSED, Call.Status.OFFLINE, Call.Status.BUSY)
                or (not outgoing and call.status == Call.Status.CANCELLED),
                "duration": call.duration_seconds,
            }
        )
    return rows
