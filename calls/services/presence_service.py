"""The presence side of each server process: one PresenceService per event loop.

It keeps its presence sockets' expiry fresh in the PresenceStore, reaps users whose sockets all
expired, fires ring timeouts (a local timer, and a sweep for calls whose process died) and ends
answered calls whose room was left. Each of those is an atomic transition in the store, so it
happens once however many processes see it. Delivery: a frame for a user goes to the
channel-layer group `presence.<user id>` (every presence socket of that user, on any process),
changes of the online list to `presence.all`.
"""

import asyncio
import logging
import time
import weakref
from collections.abc import Awaitable
from typing import TYPE_CHECKING

from channels.db import database_sync_to_async
from django.conf import settings

from calls.infra.redis import redis_client_create
from calls.infra.tasks import background
from calls.models import Call
from calls.protocol import CLOSE_CODES
from calls.protocol.presence_frames import CALL_OUTCOMES, UserOffline, UserOnline
from calls.services.call_records import call_finish, room_close, users_public
from calls.services.metrics import direct_call_count
from calls.services.outages import outage_failed, outages_over, repeat_forever
from calls.services.presence import (
    ANSWERED,
    ENDED,
    RINGING,
    CallRecord,
    PresenceStore,
    RedisPresenceStore,
)
from calls.services.presence_memory import MemoryPresenceStore
from calls.services.sessions import sockets_signed_out
from calls.signaling.node import node_get

if TYPE_CHECKING:
    from calls.services.direct_calls import PresenceSession

logger = logging.getLogger(__name__)

PRESENCE_ALL = "presence.all"
SWEEP_SECONDS = 1.0
# An answered call ends when, for this long, fewer than two of its users are in its room
# (a page reload is not a hang-up)...
HANGUP_GRACE = 3.0
# ...or when its users have not both joined the room this long after answering.
JOIN_GRACE = 30.0
# A ringing call whose caller has had no page open this long is cancelled.
CALLER_GRACE = 3.0
# Channel layers drop group members after `group_expiry` (a day by default): renew well before.
GROUPS_RENEW_SECONDS = 3600.0


def presence_group_name(user_id: int) -> str:
    return f"presence.{user_id}"


def signaling_config() -> dict:
    return settings.SIGNALING


def ring_timeout() -> float:
    return float(signaling_config()["RING_TIMEOUT"])


async def send_to_users(user_ids, text: str, *, join: list[str] | None = None, join_text: str = "") -> None:
    """Send `text` to every presence socket of the users; the sockets named in `join` (that open the
    room) get `join_text` instead."""
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    event = {"type": "presence.frame", "text": text}
    if join is not None:
        event.update(join=join, join_text=join_text)
    for user_id in dict.fromkeys(user_ids):
        try:
            await layer.group_send(presence_group_name(user_id), event)
        except Exception as error:
            outage_failed(what=f"delivering {text[:40]} to user {user_id}", error=error, log=logger)


async def broadcast_online(text: str, *, about: int) -> None:
    """`user-online` or `user-offline` of user `about` to every presence socket but its own."""
    from channels.layers import get_channel_layer

    try:
        await get_channel_layer().group_send(PRESENCE_ALL, {"type": "presence.frame", "text": text, "about": about})
    except Exception as error:
        outage_failed(what=f"broadcasting {text[:40]}", error=error, log=logger)


async def _isolated(what: str, step: Awaitable) -> bool:
    """Await one step of a sweep: a failure is logged (an outage once: calls.services.outages)
    and the sweep goes on. True if it went through."""
    try:
        await step
    except Exception as error:
        outage_failed(what=f"presence sweep: {what}", error=error, log=logger)
        return False
    return True


# --- The per-process service ------------------------------------------------------------------


class PresenceService:
    """This process's presence sockets, and the sweeps that keep the shared state honest."""

    def __init__(self, *, store: PresenceStore) -> None:
        self.store = store
        self.local: dict[str, PresenceSession] = {}
        self.sweeper: asyncio.Task | None = None
        self.alone_since: dict[str, float] = {}
        self.refreshed_at = time.monotonic()
        self.sessions_checked_at = time.monotonic()

    def start(self) -> None:
        self.sweeper = asyncio.get_running_loop().create_task(self._sweep_forever())

    # Call outcomes (each runs only for the one process whose transition won) ----------------
    async def call_end(self, call: CallRecord, *, status: str, frame_type: str) -> None:
        """Write the outcome to history, close the room, tell both users."""
        direct_call_count(status)
        answered = status == ENDED
        try:
            await database_sync_to_async(call_finish)(
                call_id=call.call_id, status=None if answered else status, ended=True
            )
            await database_sync_to_async(room_close)(slug=call.slug)
        except Exception:
            logger.exception("could not record the end of call %s", call.call_id)
        self.alone_since.pop(call.call_id, None)
        await send_to_users(call.user_ids, CALL_OUTCOMES[frame_type](call_id=call.call_id).to_text())

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
        await repeat_forever(every=SWEEP_SECONDS, step=self.sweep, what="presence sweep", log=logger)

    async def sweep(self) -> None:
        """Close silent sockets, keep the live ones online, end calls nobody will finish.

        Each socket, user and call is a step of its own: one that fails is logged and skipped,
        and the sweep goes on with the others.
        """
        config = signaling_config()
        now = time.monotonic()
        sessions = list(self.local.values())
        silent_after = 2 * config["HEARTBEAT"]
        ok = True
        for session in sessions:
            ok &= await _isolated(f"socket of user {session.user.pk}", self._socket_sweep(session, now, silent_after))
        if now - self.sessions_checked_at >= config["HEARTBEAT"] / 3:
            self.sessions_checked_at = now
            ok &= await self._signed_out_close([session for session in sessions if session.opened])
        if now - self.refreshed_at >= min(config["HEARTBEAT"], config["PEER_TTL"] / 3):
            self.refreshed_at = now
            live = [s for s in sessions if now - s.last_seen <= silent_after]
            ok &= await _isolated("refresh", self._online_refresh(live, ttl=config["PEER_TTL"]))
        for name, find, act in (
            ("user-offline", self.store.online_reap, self._offline_announce),
            ("ring timeout", self.store.calls_overdue, self.ring_expire),
            ("hang-up check", self.store.calls_answered, self._answered_check),
        ):
            try:
                found = await find()
            except Exception as error:
                ok = False
                outage_failed(what=f"presence sweep: {name} look-up", error=error, log=logger)
                continue
            for item in found:
                ok &= await _isolated(f"{name} of {item}", act(item))
        if ok:
            outages_over(log=logger)

    @staticmethod
    async def _socket_sweep(session: "PresenceSession", now: float, silent_after: float) -> None:
        if now - session.last_seen > silent_after:
            await session.close()
            session.conn.close_soon(CLOSE_CODES["timeout"])
        elif now - session.groups_at > GROUPS_RENEW_SECONDS:
            await session.groups_join()

    async def _online_refresh(self, live: list["PresenceSession"], *, ttl: float) -> None:
        """Extend the live sockets; announce users the store had lost (a Redis restart) as online again."""
        back = await self.store.sockets_refresh(sockets=[(s.user.pk, s.socket_id) for s in live], ttl=ttl)
        for user in {s.user.pk: s.user for s in live if s.user.pk in back}.values():
            await broadcast_online(UserOnline(user=user.public_dict()).to_text(), about=user.pk)

    @staticmethod
    async def _offline_announce(user_id: int) -> None:
        users = await database_sync_to_async(users_public)(user_ids=[user_id])
        if users:
            await broadcast_online(UserOffline(user=users[0]).to_text(), about=user_id)

    async def _signed_out_close(self, sessions: list["PresenceSession"]) -> bool:
        """Close the sockets whose sign-in ended (session deleted or expired, password changed,
        user deactivated), as the room sockets' sweep does. A failed check waits for the next
        sweep; the rest of this one (ring timeouts) goes on."""
        try:
            signed_out = await sockets_signed_out(sockets=sessions) if sessions else []
        except Exception as error:
            outage_failed(what="presence sweep: session check", error=error, log=logger)
            return False
        for session in signed_out:
            await session.refuse("unauthenticated", "You were signed out.", CLOSE_CODES["unauthenticated"])
        return True

    async def _answered_check(self, call_id: str) -> None:
        """End an answered call whose room its users left (the hang-up of leaving the page)."""
        call = await self.store.call_get(call_id=call_id)
        if call is None or call.status != ANSWERED:
            return
        node = await node_get()
        in_room = {peer.user_id for peer in await node.registry.peers_list(slug=call.slug)}
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
    config = signaling_config()
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


def presence_services() -> list[PresenceService]:
    """Every event loop's presence service (a server has one loop; a test run may have several)."""
    return list(_services.values())
