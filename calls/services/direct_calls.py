"""Direct calls by username and the online list: one `/ws/presence/` socket (PresenceSession).

Delivery: a presence frame for a user goes to the channel-layer group
`presence.<user id>` (every presence socket of that user, on any process) and the
online list's changes to `presence.all`. Direct-call frames are few (a handful per
call), so the channel layer's per-message cost does not matter, and with REDIS_URL it
already reaches every process; the signaling bus is built for the room's high-rate
per-peer routing. The groups are not the room sockets' `user.<id>` group: a room socket
has no handler for presence events.

Who is online and which call is ringing lives in a PresenceStore (calls.services.presence,
Redis or process memory), never in the group membership; each process's PresenceService
(calls.services.presence_service) keeps it fresh; what a call frame does is in
calls.services.call_steps, its database rows in calls.services.call_records.
"""

import logging
import secrets
import time

from channels.db import database_sync_to_async

from calls.infra.socket_auth import SocketSession
from calls.protocol import (
    CLOSE_CODES,
    PRESENCE_INCOMING,
    ClientFrame,
    Limits,
    ProtocolError,
    error_frame,
    frame_parse,
    incoming,
)
from calls.protocol.outgoing import Pong
from calls.protocol.presence_frames import Presence, Ring, Ringing, UserOffline, UserOnline
from calls.services.call_records import users_public
from calls.services.call_steps import call_accept, call_end, call_place
from calls.services.eviction import user_group_name
from calls.services.metrics import refusal_count
from calls.services.presence import RINGING, TooManyPresenceSockets
from calls.services.presence_service import (
    PRESENCE_ALL,
    PresenceService,
    broadcast_online,
    presence_group_name,
    presence_service_get,
    ring_timeout,
    signaling_config,
)
from calls.signaling.budgets import FrameBudget

logger = logging.getLogger(__name__)

MAX_PRESENCE_SOCKETS = 16  # open tabs per user
ONLINE_LIST_LIMIT = 500
# Presence frames a socket may send: `call` is the expensive one (a room and a row).
FRAME_RATE, FRAME_BURST = 5.0, 20.0
RATE_WARNINGS = 3


class PresenceSession:
    """The presence logic of one socket; the consumer only moves frames.

    `conn` provides `channel_name`, `channel_layer`, `send_text(str)` and `close_soon(code)`.
    """

    def __init__(self, *, conn, user, session: SocketSession) -> None:
        self.conn = conn
        self.user = user
        self.user_id = user.pk
        # The sweep closes the socket once this sign-in ends (calls.services.sessions).
        self.session_key = session.session_key
        self.auth_hash = session.auth_hash
        self.service: PresenceService | None = None
        self.socket_id = secrets.token_urlsafe(12)
        self.last_seen = time.monotonic()
        self.budget = FrameBudget(rate=FRAME_RATE, burst=FRAME_BURST, max_warnings=RATE_WARNINGS)
        self.limits = Limits(max_frame_bytes=4096)
        self.opened = False
        self.groups_at = 0.0

    async def refuse(self, code: str, message: str, close_code: int) -> None:
        """Tell the client why, leave presence now (not when the client acknowledges), and close."""
        refusal_count(code, socket="presence")
        await self.conn.send_text(error_frame(code, message))
        await self.close()
        self.conn.close_soon(close_code)

    async def open(self) -> None:
        """Register the socket and send the online list, or refuse it."""
        if not self.user.is_authenticated:
            await self.refuse("unauthenticated", "Sign in to receive calls.", CLOSE_CODES["unauthenticated"])
            return
        self.service = service = presence_service_get()
        config = signaling_config()
        try:
            came_online = await service.store.socket_add(
                user_id=self.user.pk, socket_id=self.socket_id, ttl=config["PEER_TTL"], max_sockets=MAX_PRESENCE_SOCKETS
            )
        except TooManyPresenceSockets:
            limited = CLOSE_CODES["rate-limited"]
            await self.refuse("rate-limited", f"You have {MAX_PRESENCE_SOCKETS} Parley pages open; close one.", limited)
            return
        self.opened = True  # from here on, close() undoes what open() did
        service.local[self.socket_id] = self
        await self.groups_join()
        online_ids = [uid for uid in await service.store.online_list(limit=ONLINE_LIST_LIMIT) if uid != self.user.pk]
        online = await database_sync_to_async(users_public)(user_ids=online_ids)
        heartbeat, ring_seconds = max(1, int(config["HEARTBEAT"])), max(1, int(ring_timeout()))
        you = self.user.public_dict()
        await self.conn.send_text(
            Presence(you=you, online=online, heartbeat=heartbeat, ring_timeout=ring_seconds).to_text()
        )
        await self._ringing_replay()
        if came_online:
            await broadcast_online(UserOnline(user=you).to_text(), about=self.user.pk)

    async def _ringing_replay(self) -> None:
        """A page opened (or reloaded) while the user's call rings shows it too: `ring` or `ringing` again."""
        call_id = await self.service.store.user_call(user_id=self.user.pk)
        call = await self.service.store.call_get(call_id=call_id) if call_id else None
        if call is None or call.status != RINGING:
            return
        left = max(1, int(call.deadline - time.time()))
        if call.callee["id"] == self.user.pk:
            room = {"slug": call.slug, "url": call.url}
            await self.conn.send_text(Ring(call_id=call_id, caller=call.caller, room=room, timeout=left).to_text())
        else:
            await self.conn.send_text(Ringing(call_id=call_id, callee=call.callee, timeout=left).to_text())

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
        if not await self._detach():
            return
        try:
            went_offline = await self.service.store.socket_remove(user_id=self.user.pk, socket_id=self.socket_id)
        except Exception:
            logger.exception("could not remove presence socket of user %s", self.user.pk)
            return
        if went_offline:
            await broadcast_online(UserOffline(user=self.user.public_dict()).to_text(), about=self.user.pk)
            self.service.caller_check_later(self.user.pk)

    async def move(self) -> None:
        """The process is draining (calls.services.draining): close 4012, and the user stays online
        for the reconnect on another process (this socket's entry expires after PEER_TTL), so the
        others see no `user-offline` and `user-online` in between."""
        await self._detach()
        self.conn.close_soon(CLOSE_CODES["moving"])

    async def _detach(self) -> bool:
        """Out of this process's presence (its local list, its groups); False if it was not in."""
        if not self.opened:
            return False
        self.opened = False
        self.service.local.pop(self.socket_id, None)
        await self._groups_leave()
        return True

    # Frames from the client -------------------------------------------------------------------
    async def receive(self, text: str | None) -> None:
        if not self.opened:
            return
        self.last_seen = now = time.monotonic()
        admitted = self.budget.admit(now)
        if admitted is None:
            await self.refuse(
                "rate-limited", "Too many messages: the connection is closed.", CLOSE_CODES["rate-limited"]
            )
            return
        if admitted is False:
            await self.conn.send_text(error_frame("rate-limited", "Slow down: that message was dropped."))
            return
        frame: ClientFrame | None = None
        try:
            frame = frame_parse(text, limits=self.limits, schemas=PRESENCE_INCOMING)
            await self.handle(frame)
        except ProtocolError as error:
            await self.conn.send_text(error_frame(error.code, error.message, error.ref or getattr(frame, "id", None)))
        except Exception:  # Redis or the database failing: say so, keep the socket
            logger.exception("presence frame %s failed", getattr(frame, "type", None))
            message = "The call service is unavailable; try again shortly."
            await self.conn.send_text(error_frame("unavailable", message, getattr(frame, "id", None)))

    async def handle(self, frame: ClientFrame) -> None:
        match frame:
            case incoming.Ping(id=ref):
                await self.conn.send_text(Pong(id=ref).to_text())
            case incoming.Call(username=username):
                await call_place(self, username)
            case incoming.Accept(call_id=call_id):
                await call_accept(self, call_id)
            case incoming.CallStep(call_id=call_id):  # decline, cancel, hangup
                await call_end(self, frame.type, call_id)

    async def event(self, event: dict) -> None:
        """A frame addressed to this user (or everybody); of `accepted`, the sockets that open the room
        get the `join: true` text."""
        if not self.opened or event.get("about") == self.user.pk:  # not its own online or offline
            return
        opens_room = self.conn.channel_name in event.get("join", ())
        await self.conn.send_text(event["join_text"] if opens_room else event["text"])
