"""WebSocket consumers: transport only. The room signaling lives in calls.signaling, the presence
socket's in calls.services.direct_calls."""

import asyncio
import logging
import time
from urllib.parse import parse_qs

from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from calls.infra.logs import log_context_set
from calls.infra.tasks import background
from calls.protocol import CLOSE_CODES
from calls.services.draining import sockets_moving
from calls.services.eviction import user_evict_concerns
from calls.services.metrics import refusal_count
from calls.services.outages import outage_failed
from calls.signaling.leaving import session_suspend
from calls.signaling.node import node_get
from calls.signaling.outbox import Outbox
from calls.signaling.session import UNAVAILABLE, Session, socket_refuse
from calls.signaling.takeover import device_id_clean

logger = logging.getLogger(__name__)


class RoomConsumer(AsyncWebsocketConsumer):
    """`/ws/rooms/<slug>/`: one peer of a room call. Reads the socket and hands each text frame to
    its Session (calls.signaling.session), which writes back only through the socket's Outbox."""

    session: Session | None = None
    outbox: Outbox | None = None

    async def connect(self) -> None:
        started = time.monotonic()
        await self.accept()
        self.outbox = Outbox(self.base_send, limit=settings.SIGNALING["OUTBOX_LIMIT"])
        try:
            node = await node_get()
        except Exception as error:
            outage_failed(what="the signaling node's start", error=error, log=logger)
            refusal_count("unavailable")  # no node to count it
            socket_refuse(self.outbox, "unavailable", UNAVAILABLE)
            return
        if sockets_moving():  # this process is stopping: join another one (calls.services.draining)
            self.outbox.put({"type": "websocket.close", "code": CLOSE_CODES["moving"]})
            return
        slug = self.scope["url_route"]["kwargs"]["slug"]
        log_context_set(room=slug, user=self.scope["user"].pk)  # after node_get: the node's tasks are not this socket's
        session = self.scope.get("session")
        self.session = Session(
            node=node,
            outbox=self.outbox,
            user=self.scope["user"],
            slug=slug,
            session_key=session.session_key if session is not None else None,
            auth_hash=session.auth_hash if session is not None else "",
            started=started,
            device=device_id_clean(self._query("device") or ""),
        )
        await self.session.open(
            resume_token=self._query("resume"), knock=self._query("knock") == "1", admission_pass=self._query("pass")
        )

    def _query(self, name: str) -> str | None:
        """`?resume=<token>` of a client reconnecting after a dropped connection; `?knock=1` of one
        asking to join; `?pass=<token>` of one let in (calls.signaling.knocks); `?device=<id>`."""
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        return query.get(name, [""])[0][:200] or None

    async def __call__(self, scope, receive, send) -> None:
        """Channels' consumer loop without a task, an `asyncio.wait` and a thread hop per frame.

        The socket is read directly. Channel-layer events (sign-out, room closed) reach the
        socket through its process's node (calls.signaling.layer_inlet), not a receive task
        of its own.
        """
        self.scope = scope
        self.base_send = send
        try:
            while True:
                message = await receive()
                # Tested in turn, not a dict of bound methods: that dict was ~350 B per idle socket.
                kind = message["type"]
                if kind == "websocket.receive":
                    await self.websocket_receive(message)
                elif kind == "websocket.connect":
                    await self.websocket_connect(message)
                elif kind == "websocket.disconnect":
                    await self.websocket_disconnect(message)
                else:
                    raise ValueError(f"no handler for message type {kind}")
        except StopConsumer:
            pass
        except (Exception, asyncio.CancelledError):
            session = self.session
            if session is not None and session.joined and not session.left:
                # The loop ended without a disconnect (an error escaped, or the server cancelled it):
                # a peer left in its room with no socket would stay in the sweep and the room forever.
                logger.warning("room socket of peer %s ended without a disconnect", session.peer.peer_id)
                await session_suspend(session)
            raise
        finally:
            # The session and the outbox point back at this consumer: without this, all
            # they hold would wait for a full garbage collection (a pause after a storm).
            self.session = None
            if self.outbox is not None:
                self.outbox.stop()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.session is not None:
            await self.session.receive(text_data)

    async def disconnect(self, code: int) -> None:
        logger.info("room socket disconnected (%s)", code)
        if self.session is not None:
            await session_suspend(self.session)  # no-op if it already left for a reason


class PresenceConsumer(AsyncWebsocketConsumer):
    """`/ws/presence/`: the online list and direct calls; the logic is in calls.services.direct_calls."""

    presence = None

    async def connect(self) -> None:
        from calls.services.direct_calls import PresenceSession
        from calls.services.presence_service import presence_service_get

        await self.accept()
        presence_service_get()  # started outside this socket's log context: its sweeps are process-wide
        log_context_set(user=self.scope["user"].pk)
        self.presence = PresenceSession(conn=self, user=self.scope["user"], session=self.scope["session"])
        if sockets_moving():  # this process is stopping (calls.services.draining)
            await self.presence.move()
            return
        try:
            await self.presence.open()
        except Exception:
            logger.exception("presence socket could not open")
            await self.presence.refuse("unavailable", UNAVAILABLE, CLOSE_CODES["unavailable"])

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        await self.presence.receive(text_data)

    async def send_text(self, text: str) -> None:
        await self.send(text_data=text)

    def close_soon(self, code: int) -> None:
        background(self.close(code))

    async def presence_frame(self, event: dict) -> None:
        await self.presence.event(event)

    async def user_evict(self, event: dict) -> None:
        if user_evict_concerns(event, self.presence):
            await self.presence.refuse("unauthenticated", "You were signed out.", CLOSE_CODES["unauthenticated"])

    async def disconnect(self, code: int) -> None:
        if self.presence is not None:
            await self.presence.close()
