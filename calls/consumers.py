"""WebSocket consumers: transport only. The signaling logic lives in calls.services."""

import logging
import time
from urllib.parse import parse_qs

from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from calls.protocol import CLOSE_CODES, ProtocolError, error_frame, frame_encode, frame_parse
from calls.services.relay import Outbox, hub_get
from calls.services.signaling import Refusal, RoomSession
from calls.services.tasks import background

logger = logging.getLogger(__name__)

# "Try again later". Not 1013: daphne (autobahn) refuses to send any code but 1000 and 3000-4999,
# and the refusal would end in an internal error (1011) instead.
UNAVAILABLE_CLOSE_CODE = 4503
# The peer resumed on a newer socket of the same client (docs/protocol.md, Resume).
REPLACED_CLOSE_CODE = 4000


class RoomConsumer(AsyncWebsocketConsumer):
    """`/ws/rooms/<slug>/`: one peer of a room call."""

    session: RoomSession | None = None
    outbox: Outbox | None = None

    async def connect(self) -> None:
        await self.accept()
        self.slug = self.scope["url_route"]["kwargs"]["slug"]
        user = self.scope["user"]
        self.user_id = user.pk
        self.session_key = self.scope["session"].session_key if "session" in self.scope else None
        self.last_seen = time.monotonic()
        self.outbox = Outbox(self.base_send, limit=self._config()["OUTBOX_LIMIT"], on_overflow=self._overflow)
        try:
            hub = await hub_get()
        except Exception:
            logger.exception("signaling hub unavailable")
            self._refuse("unavailable", "The call service is unavailable; try again shortly.", UNAVAILABLE_CLOSE_CODE)
            return
        self.session = RoomSession(hub=hub, conn=self, user=user, slug=self.slug)
        try:
            await self.session.join(resume_token=self._resume_token())
        except Refusal as refusal:
            self._refuse(refusal.code, refusal.message, CLOSE_CODES[refusal.code])
            return
        except Exception:
            logger.exception("join failed for %s", self.slug)
            await self.session.leave("disconnected")
            self._refuse("unavailable", "The call service is unavailable; try again shortly.", UNAVAILABLE_CLOSE_CODE)
            return
        if hub.events is not None:
            try:
                await hub.events.room_entered(self.slug)
            except Exception:  # the call works; admin events reach it once the hub renews (a minute)
                logger.warning("room %s: could not join its channel-layer group", self.slug, exc_info=True)

    @property
    def peer(self):
        """This socket's PeerRecord once joined (the hub routes by it)."""
        return self.session.peer if self.session is not None else None

    @staticmethod
    def _config() -> dict:
        return settings.SIGNALING

    def _resume_token(self) -> str | None:
        """`?resume=<token>` of a client reconnecting after a dropped connection."""
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        token = query.get("resume", [""])[0]
        return token[:200] or None

    def _refuse(self, code: str, message: str, close_code: int) -> None:
        self.outbox.put(frame_encode(error_frame(code, message)))
        self.outbox.put({"type": "websocket.close", "code": close_code})

    async def __call__(self, scope, receive, send) -> None:
        """Channels' consumer loop without a task, an `asyncio.wait` and a thread hop per frame.

        The socket is read directly. Channel-layer events (sign-out, room closed) reach the
        socket through its process's hub (calls.services.layer_events), not a receive task
        of its own.
        """
        self.scope = scope
        self.base_send = send
        handlers = {
            "websocket.connect": self.websocket_connect,
            "websocket.receive": self.websocket_receive,
            "websocket.disconnect": self.websocket_disconnect,
        }
        try:
            while True:
                message = await receive()
                await handlers[message["type"]](message)
        except StopConsumer:
            pass
        finally:
            # The session and the outbox point back at this consumer: without this, all
            # they hold would wait for a full garbage collection (a pause after a storm).
            self.session = None
            if self.outbox is not None:
                self.outbox.stop()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        session = self.session
        if session is None or not session.joined or session.left:
            return
        self.last_seen = time.monotonic()
        admitted = session.admit_rate()
        if admitted is None:
            session.reply_error("rate-limited", "Too many messages: the connection is closed.")
            await self._close(CLOSE_CODES["rate-limited"], "disconnected")
            return
        if admitted is False:
            session.reply_error("rate-limited", "Slow down: messages over the rate limit are dropped.")
            return
        try:
            frame = frame_parse(text_data, limits=session.limits)
        except ProtocolError as error:
            session.reply_error(error.code, error.message, error.ref)
            return
        if frame["type"] == "leave":
            await self._close(1000, "left")
            return
        try:
            await session.handle(frame)
        except ProtocolError as error:
            session.reply_error(error.code, error.message, frame.get("id"))

    # Called by the hub ------------------------------------------------------------------------
    def deliver(self, text: str) -> None:
        self.outbox.put(text)

    def control(self, message: dict) -> None:
        kind = message["type"]
        if kind == "kick":
            frame = {"type": "kicked"}
            if message.get("by"):
                frame["by"] = message["by"]
            self.outbox.put(frame_encode(frame))
            self._spawn_close(CLOSE_CODES["forbidden"], "kicked")
        elif kind == "timeout":
            self._spawn_close(4408, "timeout")
        elif kind == "evict":
            self.outbox.put(frame_encode(error_frame("unauthenticated", "You were signed out.")))
            self._spawn_close(CLOSE_CODES["unauthenticated"], "disconnected")
        elif kind == "replace":
            background(self._replaced())
        elif kind == "room-closed":
            self.outbox.put(frame_encode(error_frame("no-such-room", "This room was closed.")))
            self._spawn_close(CLOSE_CODES["no-such-room"], "disconnected")
        elif kind == "room-locked":
            self.deliver(frame_encode({"type": "room", "locked": message["locked"]}))

    def _spawn_close(self, code: int, reason: str) -> None:
        background(self._close(code, reason))

    async def _replaced(self) -> None:
        """The client came back on a new socket (this one is probably half-open): hand the peer over."""
        if self.session is not None:
            await self.session.suspend()
        self.outbox.put({"type": "websocket.close", "code": REPLACED_CLOSE_CODE})

    def _overflow(self) -> None:
        logger.warning("outbox of peer %s overflowed: closing the slow socket", self.peer)
        if self.session is not None:
            self.session.hub.stats.dropped_overflow += 1
        self._spawn_close(UNAVAILABLE_CLOSE_CODE, "disconnected")

    async def _close(self, code: int, reason: str) -> None:
        if self.session is not None:
            await self.session.leave(reason)
        self.outbox.put({"type": "websocket.close", "code": code})

    async def disconnect(self, code: int) -> None:
        if self.session is not None:
            await self.session.suspend()  # no-op if it already left for a reason


class PresenceConsumer(AsyncWebsocketConsumer):
    """`/ws/presence/`: the online list and direct calls; the logic is in calls.services.direct_calls."""

    presence = None

    async def connect(self) -> None:
        from calls.services.direct_calls import PresenceSession

        await self.accept()
        self.presence = PresenceSession(conn=self, user=self.scope["user"])
        try:
            await self.presence.open()
        except Exception:
            logger.exception("presence socket could not open")
            await self.presence.refuse(
                "unavailable", "The call service is unavailable; try again shortly.", UNAVAILABLE_CLOSE_CODE
            )

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        await self.presence.receive(text_data)

    async def send_frame(self, frame: dict) -> None:
        await self.send(text_data=frame_encode(frame))

    def close_soon(self, code: int) -> None:
        background(self.close(code))

    async def presence_frame(self, event: dict) -> None:
        await self.presence.event(event)

    async def user_evict(self, event: dict) -> None:
        if event.get("session_key") in (None, self.scope["session"].session_key):
            await self.presence.refuse("unauthenticated", "You were signed out.", CLOSE_CODES["unauthenticated"])

    async def disconnect(self, code: int) -> None:
        if self.presence is not None:
            await self.presence.close()
