"""One room socket's signaling logic, kept out of the consumer.

A `RoomSession` is created per WebSocket. `join()` runs the admission checks and the
atomic capacity claim (or resumes a suspended peer); `handle()` takes one validated
frame; `leave()` or `suspend()` runs once, whatever ended the socket. The database is
touched only at join and leave (and for the rare moderator lock): the per-message path
stays in memory.
"""

import asyncio
import logging
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from channels.db import database_sync_to_async
from django.conf import settings
from django.utils.crypto import constant_time_compare, salted_hmac

from calls.models import Room
from calls.protocol import PROTOCOL_VERSION, Limits, ProtocolError, error_frame, frame_encode
from calls.services.relay import Hub, TokenBucket
from calls.services.room_state import Banned, JoinResult, PeerRecord, Resumed, RoomFull, SeatRefused
from calls.services.rooms import (
    RoomAccessError,
    room_access_check,
    room_access_fetch,
    room_may_moderate,
    room_set_locked,
)
from calls.services.turn import ice_servers_build

logger = logging.getLogger(__name__)

KICK_BAN_SECONDS = 300
PEER_ID_MAX = 64  # longer ids are unknown without a look-up
TAKEOVER_WAIT = 2.0  # seconds a resuming socket waits for its old socket's process to let go
# Rate-limit warnings are forgotten after this long without another one.
WARNINGS_FORGOTTEN_AFTER = 10.0


class Refusal(Exception):
    """The socket may not join: an error frame, then close with the contract's code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


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
    """`<peer_id>.<signature>`: only this user can resume this peer in this room."""
    return f"{peer_id}.{_resume_signature(slug, peer_id, user_id)}"


def resume_token_peer(*, token: str, slug: str, user_id: int) -> str | None:
    """The peer_id a valid token names, else None."""
    peer_id, _, signature = token.partition(".")
    if not peer_id or not constant_time_compare(signature, _resume_signature(slug, peer_id, user_id)):
        return None
    return peer_id


def _resume_signature(slug: str, peer_id: str, user_id: int) -> str:
    return salted_hmac("parley.signaling.resume", f"{slug}|{peer_id}|{user_id}", algorithm="sha256").hexdigest()[:32]


async def _room_load(slug: str, user, resuming: bool) -> RoomInfo:
    room = await room_access_fetch(slug=slug, user_id=user.pk)
    try:
        room_access_check(room=room, user=user, resuming=resuming)
    except RoomAccessError as error:
        raise Refusal(error.code, error.message) from None
    return RoomInfo(
        id=room.id,
        slug=room.slug,
        name=room.name,
        capacity=room.capacity,
        locked=room.is_locked,
        moderator=room_may_moderate(room=room, user=user),
    )


class RoomSession:
    """The signaling state of one socket in one room."""

    def __init__(self, *, hub: Hub, conn, user, slug: str) -> None:
        self.hub = hub
        self.conn = conn
        self.user = user
        self.slug = slug
        self.config = settings.SIGNALING
        self.limits = limits_from_settings()
        self.bucket = TokenBucket(self.config["RATE"], self.config["BURST"])
        self.warnings = 0
        self.warned_at = 0.0
        self.room: RoomInfo | None = None
        self.peer: PeerRecord | None = None
        self.joined = False
        self.left = False

    # Join -----------------------------------------------------------------------------------
    async def join(self, *, resume_token: str | None = None) -> None:
        """Admit the socket or raise Refusal; sends `welcome` and announces `peer-joined`.

        With a valid `resume_token` of a peer still in the room (suspended, or with a socket
        that looks open), the socket takes that peer over instead: same peer_id, nothing
        announced, the frames it missed delivered.
        """
        if not self.user.is_authenticated:
            raise Refusal("unauthenticated", "Sign in to join a call.")
        resume_peer = (
            resume_token_peer(token=resume_token, slug=self.slug, user_id=self.user.pk) if resume_token else None
        )
        self.room = await _room_load(self.slug, self.user, resume_peer is not None)
        if resume_peer is not None and await self._resume(resume_peer):
            return
        self.peer = PeerRecord(
            peer_id=secrets.token_urlsafe(12),
            node=self.hub.node_id,
            user=self.user.public_dict(),
        )
        self.hub.expect(self.peer.peer_id)
        try:
            result = await self._seat_claim()
        except BaseException:
            self.hub.expected(self.peer.peer_id)
            raise
        self.joined = True
        self.hub.attach(self.conn, result.peers)
        self.hub.peers_gone(self.slug, result.reaped, result.peers)
        self._welcome(result.peers, resumed=False)
        for text in self.hub.expected(self.peer.peer_id):
            self.conn.deliver(text)
        self.hub.broadcast(
            self.slug,
            frame_encode({"type": "peer-joined", "peer": self.peer.public()}),
            exclude=self.peer.peer_id,
            targets=result.peers,
            joined=self.peer,
        )
        self.hub.participations.open(room_id=self.room.id, user_id=self.user.pk, peer_id=self.peer.peer_id)

    async def _seat_claim(self) -> JoinResult:
        try:
            return await self.hub.state.join(
                slug=self.slug,
                peer=self.peer,
                capacity=self.room.capacity,
                max_per_user=self.config["MAX_SOCKETS_PER_USER"],
                ttl=self.config["PEER_TTL"],
                refuse_banned=not self.room.moderator,
            )
        except SeatRefused as refused:
            self.hub.peers_gone(self.slug, refused.gone)
            raise self._seat_refusal(refused) from None

    def _seat_refusal(self, refused: SeatRefused) -> Refusal:
        """The protocol's error for a refused seat."""
        if isinstance(refused, Banned):
            return Refusal("forbidden", "You were removed from this room by a moderator.")
        if isinstance(refused, RoomFull):
            return Refusal("room-full", f"This room is full ({self.room.capacity} people).")
        limit = self.config["MAX_SOCKETS_PER_USER"]
        return Refusal("rate-limited", f"You already have {limit} calls open; leave one first.")

    async def _resume(self, peer_id: str) -> bool:
        self.hub.expect(peer_id)
        try:
            resumed = await self._resume_claim(peer_id) or await self._take_over(peer_id)
        except BaseException:
            self.hub.expected(peer_id)
            raise
        if resumed is None:
            self.hub.expected(peer_id)
            return False  # the grace ran out, or the peer left: join afresh
        self.peer = resumed.peer
        self.joined = True
        self.hub.attach(self.conn, resumed.others)
        self._welcome(resumed.others, resumed=True)
        for text in [*resumed.buffered, *self.hub.expected(peer_id)]:
            self.conn.deliver(text)
        self.hub.route_announce(self.slug, self.peer, resumed.others, resumed.previous_node)
        return True

    async def _resume_claim(self, peer_id: str) -> Resumed | None:
        return await self.hub.state.resume(
            slug=self.slug, peer_id=peer_id, user_id=self.user.pk, node=self.hub.node_id, ttl=self.config["PEER_TTL"]
        )

    async def _take_over(self, peer_id: str) -> Resumed | None:
        """The old socket of this peer still looks open (half-open after a network change, usually):
        ask its process to suspend it, then claim it. A process that does not answer has died:
        the peer is adopted from it."""
        record = await self.hub.state.peer_get(slug=self.slug, peer_id=peer_id)
        if record is None or record.user_id != self.user.pk:
            return None
        self.hub.control(record.node, peer_id, {"type": "replace"})
        deadline = time.monotonic() + TAKEOVER_WAIT
        while time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            resumed = await self._resume_claim(peer_id)
            if resumed is not None:
                return resumed
        if record.node == self.hub.node_id:
            return None
        return await self.hub.state.adopt(
            slug=self.slug,
            peer_id=peer_id,
            user_id=self.user.pk,
            old_node=record.node,
            node=self.hub.node_id,
            ttl=self.config["PEER_TTL"],
        )

    def _welcome(self, others: list[PeerRecord], *, resumed: bool) -> None:
        ice_servers, ice_ttl = ice_servers_build(user_id=self.user.pk)
        self.conn.deliver(
            frame_encode(
                {
                    "type": "welcome",
                    "v": PROTOCOL_VERSION,
                    "peer_id": self.peer.peer_id,
                    "room": {
                        "slug": self.room.slug,
                        "name": self.room.name,
                        "capacity": self.room.capacity,
                        "locked": self.room.locked,
                    },
                    "you": self.peer.user,
                    "peers": [peer.public() for peer in others],
                    "ice_servers": ice_servers,
                    "ice_ttl": ice_ttl,
                    "heartbeat": max(1, int(self.config["HEARTBEAT"])),
                    "moderator": self.room.moderator,
                    "resume_token": resume_token_make(slug=self.slug, peer_id=self.peer.peer_id, user_id=self.user.pk),
                    "resumed": resumed,
                    "ice_transport_policy": settings.ICE_TRANSPORT_POLICY,
                }
            )
        )

    # Frames ---------------------------------------------------------------------------------
    def reply_error(self, code: str, message: str, ref: str | None = None) -> None:
        self.conn.deliver(frame_encode(error_frame(code, message, ref)))

    def admit_rate(self) -> bool | None:
        """True to process the frame; False to drop it with a warning; None to close (4429)."""
        now = time.monotonic()
        if self.bucket.take(now) and self.hub.user_bucket(self.conn.user_id).take(now):  # not the lazy user
            return True
        if now - self.warned_at > WARNINGS_FORGOTTEN_AFTER:
            self.warnings = 0
        self.warned_at = now
        self.warnings += 1
        if self.warnings > self.config["RATE_WARNINGS"]:
            return None
        return False

    async def handle(self, frame: dict) -> None:
        """Act on one validated frame. Raises ProtocolError for a refused one."""
        kind = frame["type"]
        if kind in ("offer", "answer"):
            await self._relay(frame["to"], {"type": kind, "from": self.peer.peer_id, "sdp": frame["sdp"]})
        elif kind == "ice":
            await self._relay(frame["to"], {"type": "ice", "from": self.peer.peer_id, "candidate": frame["candidate"]})
        elif kind == "ping":
            pong = {"type": "pong"}
            if "id" in frame:
                pong["id"] = frame["id"]
            self.conn.deliver(frame_encode(pong))
        elif kind == "chat":
            self.hub.broadcast(
                self.slug,
                frame_encode(
                    {
                        "type": "chat",
                        "id": uuid.uuid4().hex,
                        "from": self.peer.peer_id,
                        "user": self.peer.user,
                        "text": frame["text"],
                        "ts": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                    }
                ),
            )
        elif kind == "media":
            self.peer.media = {"audio": frame["audio"], "video": frame["video"], "screen": frame["screen"]}
            await self.hub.state.media_set(slug=self.slug, peer=self.peer)
            self.hub.broadcast(
                self.slug,
                frame_encode({"type": "media", "from": self.peer.peer_id, **self.peer.media}),
                exclude=self.peer.peer_id,
            )
        elif kind == "ice-servers":
            ice_servers, ice_ttl = ice_servers_build(user_id=self.user.pk)
            self.conn.deliver(frame_encode({"type": "ice-servers", "ice_servers": ice_servers, "ice_ttl": ice_ttl}))
        elif kind == "kick":
            await self._kick(frame["peer"])
        elif kind == "lock":
            await self._lock(frame["locked"])
        # "leave" is handled by the consumer: it closes the socket.

    async def _relay(self, to: str, out: dict) -> None:
        if to == self.peer.peer_id:
            raise ProtocolError("unknown-peer", "You cannot signal yourself.")
        node = await self.hub.locate(self.slug, to) if len(to) <= PEER_ID_MAX else None
        if node is None:
            raise ProtocolError("unknown-peer", "No such peer in this room.")
        self.hub.send(node, to, frame_encode(out))

    def _require_moderator(self) -> None:
        if not self.room.moderator:
            raise ProtocolError("forbidden", "Only the room owner or staff may do that.")

    async def _kick(self, peer_id: str) -> None:
        self._require_moderator()
        if peer_id == self.peer.peer_id:
            raise ProtocolError("bad-message", "You cannot kick yourself; use leave.")
        target = await self.hub.state.peer_get(slug=self.slug, peer_id=peer_id)
        if target is None:
            raise ProtocolError("unknown-peer", "No such peer in this room.")
        await self.hub.state.ban(slug=self.slug, user_id=target.user_id, seconds=KICK_BAN_SECONDS)
        self.hub.control(target.node, peer_id, {"type": "kick", "by": self.peer.user})

    async def _lock(self, locked: bool) -> None:
        self._require_moderator()
        await database_sync_to_async(_room_lock)(self.room.id, locked)
        self.room.locked = locked
        self.hub.broadcast(self.slug, frame_encode({"type": "room", "locked": locked}))

    # Leave -----------------------------------------------------------------------------------
    async def leave(self, reason: str) -> None:
        """Remove the peer once; tell the others unless someone (a reaper) already did."""
        if not self.joined or self.left:
            return
        self.left = True
        self.hub.detach(self.conn)
        failed = False
        try:
            removed, remaining = await self.hub.state.leave(slug=self.slug, peer=self.peer)
        except Exception:
            logger.exception("could not remove peer %s from %s", self.peer.peer_id, self.slug)
            removed, remaining, failed = False, [], True
        if removed:
            self.hub.broadcast(
                self.slug,
                frame_encode({"type": "peer-left", "peer_id": self.peer.peer_id, "reason": reason}),
                targets=remaining,
                left=self.peer.peer_id,
            )
        elif not failed:
            return  # a reaper removed it (and closed its row), or another process adopted it
        self.hub.participations.close(peer_id=self.peer.peer_id, reason=reason)

    async def suspend(self) -> None:
        """The socket dropped without `leave`: keep the seat for RESUME_GRACE seconds, then leave."""
        grace = self.config["RESUME_GRACE"]
        if not self.joined or self.left:
            return
        if grace <= 0:
            await self.leave("disconnected")
            return
        self.left = True
        self.hub.suspend(self.conn, grace)
        try:
            marked = await self.hub.state.suspend(slug=self.slug, peer=self.peer, grace=grace)
        except Exception:
            logger.exception("could not suspend peer %s; it leaves now", self.peer.peer_id)
            self.hub.suspension_confirm(self.peer.peer_id, False)
            self.left = False
            await self.leave("disconnected")
            return
        self.hub.suspension_confirm(self.peer.peer_id, marked)


def _room_lock(room_id: int, locked: bool) -> None:
    room_set_locked(room=Room.objects.get(pk=room_id), locked=locked)
