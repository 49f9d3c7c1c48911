"""One room socket's signaling: admission (calls.signaling.joining), each frame it sends
(calls.signaling.frames), what the server decides for it, and its end. The session talks only to
its Room, and writes to its socket only through its Outbox: a frame flows one way,
consumer -> session -> room -> bus or outbox -> socket.
"""

import logging
import time

from calls.infra.logs import log_context_set
from calls.infra.tasks import background
from calls.protocol import CLOSE_CODES, ProtocolError, error_frame, frame_parse
from calls.protocol.outgoing import Kicked, RoomUpdate
from calls.services.eviction import user_evict_concerns
from calls.services.metrics import join_observe
from calls.services.outages import outage_failed

from .admission import Refusal, limits_from_settings
from .budgets import FrameBudget
from .frames import DISPATCH
from .joining import session_join
from .knocks import session_knock
from .leaving import session_leave, session_suspend
from .outbox import Outbox
from .takeover import socket_silent

logger = logging.getLogger(__name__)

UNAVAILABLE = "The call service is unavailable; try again shortly."


def socket_refuse(outbox: Outbox, code: str, message: str, **details) -> None:
    """An error frame (with a refusal's `details`), then close with the contract's code for it."""
    outbox.put(error_frame(code, message, **details))
    outbox.put({"type": "websocket.close", "code": CLOSE_CODES[code]})


class Session:
    """The signaling state of one socket in one room."""

    __slots__ = (
        "auth_hash",
        "budget",
        "config",
        "device",
        "info",
        "joined",
        "last_seen",
        "left",
        "limits",
        "node",
        "outbox",
        "peer",
        "room",
        "session_key",
        "slug",
        "started",
        "user",
        "user_id",
    )

    def __init__(
        self,
        *,
        node,
        outbox: Outbox,
        user,
        slug: str,
        session_key: str | None,
        auth_hash: str,
        started: float | None = None,
        device: str = "",
    ) -> None:
        self.node = node
        self.outbox = outbox
        outbox.on_overflow = self._overflow
        self.user = user
        self.user_id = user.pk
        self.slug = slug
        self.session_key = session_key
        self.auth_hash = auth_hash
        self.device = device  # the browser's device id (calls.signaling.takeover), "" if none
        self.config = node.config
        self.limits = limits_from_settings()
        self.budget = FrameBudget(
            rate=self.config["RATE"], burst=self.config["BURST"], max_warnings=self.config["RATE_WARNINGS"]
        )
        self.last_seen = time.monotonic()
        self.started = started or self.last_seen  # the socket's handshake (the join's time, for metrics)
        self.room = node.room(slug)
        self.info = None  # the RoomInfo admission gave
        self.peer = None  # its PeerRecord once joined
        self.joined = False
        self.left = False

    async def open(self, *, resume_token: str | None, knock: bool = False, admission_pass: str | None = None) -> None:
        """Join (or resume), or refuse the socket with an error frame and its close code; a
        knocking socket asks to join instead (calls.signaling.knocks)."""
        try:
            if knock:
                await session_knock(self)
                self.node.room_release(self.room)
                return
            await session_join(self, resume_token=resume_token, admission_pass=admission_pass)
            # A resume may wait for the old process to hand the peer over (up to two
            # heartbeats); pings during that wait are not read, so silence counts from here.
            self.last_seen = time.monotonic()
        except Refusal as refusal:
            self.node.room_release(self.room)
            self.refuse(refusal.code, refusal.message, **refusal.details)
            return
        except Exception as error:
            outage_failed(what=f"joining room {self.slug}", error=error, log=logger)
            await session_leave(self, "disconnected")
            self.node.room_release(self.room)
            self.refuse("unavailable", UNAVAILABLE)
            return
        join_observe(started=self.started)
        log_context_set(peer=self.peer.peer_id)
        logger.info("room socket joined")
        inlet = self.node.inlet
        if inlet is not None:
            try:
                await inlet.room_entered(self.slug)
            except Exception:  # the call works; admin events reach it once the node renews (a minute)
                logger.warning("room %s: could not join its channel-layer group", self.slug, exc_info=True)

    def refuse(self, code: str, message: str, **details) -> None:
        logger.info("room socket refused: %s", code)
        self.node.stats.count(f"refused_{code}")
        socket_refuse(self.outbox, code, message, **details)

    def room_claim(self):
        """The room as the node has it now, to make a claim on (a join, a resume, a knock) with no
        await before `Room.expecting`: an empty Room is forgotten when another claim on it ends or
        a socket leaves, and a socket attached to a forgotten Room would receive nothing."""
        self.room = self.node.room(self.slug)
        return self.room

    def reply(self, text: str) -> None:
        self.outbox.put(text)

    def reply_error(self, code: str, message: str, ref: str | None = None) -> None:
        self.outbox.put(error_frame(code, message, ref))

    # Frames ---------------------------------------------------------------------------------
    async def receive(self, text: str | None) -> None:
        if not self.joined or self.left:
            return
        self.last_seen = now = time.monotonic()
        admitted = self.budget.admit(now, self.node.user_bucket(self.user_id))
        if admitted is None:
            self.node.stats.rate_closes += 1
            self.reply_error("rate-limited", "Too many messages: the connection is closed.")
            await self.close(CLOSE_CODES["rate-limited"], "disconnected")
            return
        if admitted is False:
            self.node.stats.rate_warnings += 1
            self.reply_error("rate-limited", "Slow down: messages over the rate limit are dropped.")
            return
        frame = None
        try:
            frame = frame_parse(text, limits=self.limits)
            self.node.stats.frames[type(frame)] += 1
            await DISPATCH[type(frame)](self, frame)
        except ProtocolError as error:
            self.reply_error(error.code, error.message, error.ref or getattr(frame, "id", None))
        except Exception as error:  # Redis failing, or a bug: say so and keep the socket working
            kind = getattr(frame, "type", None)
            outage_failed(what=f"peer {self.peer.peer_id} in {self.slug}: {kind} frame", error=error, log=logger)
            self.reply_error(
                "unavailable", "The server could not handle that message; try again.", getattr(frame, "id", None)
            )

    # Server decisions -------------------------------------------------------------------------
    def control(self, kind: str, *, by: dict | None = None) -> None:
        """Kick, timeout, evict (signed out), replace (the peer came back on another socket) or release
        (its device joined again: calls.signaling.takeover)."""
        if kind == "kick":
            self.outbox.put(Kicked(by=by).to_text())
            self._close_soon("forbidden", "kicked")
        elif kind == "timeout":
            self._close_soon("timeout", "timeout")
        elif kind == "evict":
            self.outbox.put(error_frame("unauthenticated", "You were signed out."))
            self._close_soon("unauthenticated", "disconnected")
        elif kind == "replace":
            background(self._replaced())
        elif kind == "release" and socket_silent(self):
            self._close_soon("replaced", "disconnected")  # half-open: its device is back (calls.signaling.takeover)

    def room_event(self, event: str, *, locked: bool) -> None:
        """The admin closed or (un)locked the room."""
        if event == "closed":
            self.outbox.put(error_frame("no-such-room", "This room was closed."))
            self._close_soon("no-such-room", "disconnected")
        elif event == "locked":
            self.outbox.put(RoomUpdate(locked=locked).to_text())

    def evicted_by(self, event) -> bool:
        return user_evict_concerns(
            {"user_id": event.user_id, "session_key": event.session_key, "keep": event.keep}, self
        )

    def _close_soon(self, code: str, reason: str) -> None:
        background(self.close(CLOSE_CODES[code], reason))

    async def _replaced(self) -> None:
        """The client came back on a new socket (this one is probably half-open): hand the peer over."""
        await session_suspend(self)
        self.outbox.put({"type": "websocket.close", "code": CLOSE_CODES["replaced"]})

    def _overflow(self) -> None:
        logger.warning("outbox of peer %s overflowed: closing the slow socket", self.peer)
        self.node.stats.dropped_overflow += 1
        self._close_soon("unavailable", "disconnected")

    # The end ----------------------------------------------------------------------------------
    async def close(self, code: int, reason: str) -> None:
        logger.info("room socket closed by the server: %s (%s)", reason, code)
        await session_leave(self, reason)
        self.outbox.put({"type": "websocket.close", "code": code})

    def stop(self) -> None:
        """The socket's loop ended: nothing of it may stay referenced (no cycle to collect)."""
        self.outbox.stop()
