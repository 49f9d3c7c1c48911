"""The peers of a room that are away: their socket dropped without `leave`, and they keep their
seat and peer_id for RESUME_GRACE seconds. Frames for them are kept in the registry until they
resume (on any process) or the grace runs out (then the others get `peer-left`)."""

import asyncio
import logging
from collections import deque
from dataclasses import dataclass

from calls.infra.tasks import background

from .envelopes import Handover
from .records import BUFFERED, GONE, Gone

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Suspension:
    timer: asyncio.TimerHandle
    ready: bool = False  # the registry has marked it: frames can be buffered there


class Suspended:
    """One room's suspended peers on this node, and the queue of frames to keep for them
    (made on first use: a room with nobody away holds none, a few hundred bytes per room)."""

    __slots__ = ("buffering", "peers", "pending", "room")

    def __init__(self, room) -> None:
        self.room = room
        self.peers: dict[str, Suspension] = {}
        # (peer_id, text, None) to buffer, in order; (peer_id, Handover, node) to send once those are
        self.pending: deque[tuple[str, str | Handover, str | None]] | None = None
        self.buffering = False

    def __contains__(self, peer_id: str) -> bool:
        return peer_id in self.peers

    def __bool__(self) -> bool:
        return bool(self.peers)

    def add(self, peer_id: str, grace: float) -> None:
        """Frames for the peer wait here until `confirm` says the registry marked it suspended."""
        timer = asyncio.get_running_loop().call_later(grace + 0.1, self._expired, peer_id)
        self.peers[peer_id] = Suspension(timer=timer)

    def _expired(self, peer_id: str) -> None:
        background(self._expire(peer_id))

    async def _expire(self, peer_id: str) -> None:
        """The grace ran out: the registry reaps the peer (unless it resumed elsewhere), the others are told."""
        room = self.room
        try:
            reaped, remaining = await room.node.registry.reap(slug=room.slug)
            room.peers_gone(reaped, remaining)
        except Exception:
            logger.exception("reaping %s failed", room.slug)
        if self.drop(peer_id):
            room.mirror.pop(peer_id, None)  # it resumed on another node: nothing left to do here
        room.node.room_release(room)

    async def remove(self, peer_id: str, reason: str) -> None:
        """A moderator removed the peer while it was away."""
        room = self.room
        registry = room.node.registry
        try:
            peer = await registry.peer_get(slug=room.slug, peer_id=peer_id)
            if peer is None:
                return
            removed, remaining = await registry.leave(slug=room.slug, peer=peer)
            if removed:
                room.peers_gone([Gone(peer=peer, reason=reason)], remaining)
        except Exception:
            logger.exception("removing suspended peer %s failed", peer_id)

    def drop(self, peer_id: str) -> bool:
        """Forget the peer (it resumed, or is gone); True if it was suspended here."""
        suspension = self.peers.pop(peer_id, None)
        if suspension is None:
            return False
        suspension.timer.cancel()
        return True

    def confirm(self, peer_id: str, marked: bool) -> None:
        """The registry marked the peer suspended (or it was already gone: forget it)."""
        suspension = self.peers.get(peer_id)
        if suspension is None:
            return
        if marked:
            suspension.ready = True
        else:
            self.drop(peer_id)
        self._start()

    def hand_over(self, peer_id: str, node: str) -> None:
        """The peer resumed on `node`: once the frames queued for it before now are sent on (or
        kept), tell that node (`Handover`), which holds the frames its own peers send the peer
        until then, so that they come after these (calls.signaling.joining)."""
        self.keep(peer_id, Handover(slug=self.room.slug, peer_id=peer_id), to=node)

    def keep(self, peer_id: str, text, to: str | None = None) -> None:
        if self.pending is None:
            self.pending = deque()
        self.pending.append((peer_id, text, to))
        self._start()

    def cancel(self) -> None:
        for suspension in self.peers.values():
            suspension.timer.cancel()

    def _start(self) -> None:
        if self.pending and not self.buffering:
            self.buffering = True
            background(self._buffer_pending())

    async def _buffer_pending(self) -> None:
        """Store frames for suspended peers in the registry, one at a time so they keep their order."""
        room = self.room
        node = room.node
        try:
            while self.pending:
                peer_id, text, to = self.pending[0]
                suspension = self.peers.get(peer_id)
                if suspension is not None and not suspension.ready:
                    return  # confirm() restarts the queue
                self.pending.popleft()
                if not self.pending:
                    self.pending = None
                if to is not None:  # what was queued for the peer before its move is on its way
                    node.bus.publish(to, text)
                    continue
                if suspension is None:  # the grace ran out, or it resumed here
                    self._deliver_or_drop(peer_id, text)
                    continue
                try:
                    where = await node.registry.buffer(
                        slug=room.slug,
                        peer_id=peer_id,
                        node=node.node_id,
                        text=text,
                        limit=node.config["RESUME_BUFFER"],
                    )
                except Exception:
                    logger.exception("could not buffer a frame for suspended peer %s", peer_id)
                    continue
                self._kept(peer_id, text, where)
        finally:
            self.buffering = False

    def _deliver_or_drop(self, peer_id: str, text: str) -> None:
        session = self.room.local.get(peer_id)
        if session is not None:
            session.outbox.put(text)
        elif peer_id in self.room.joining:
            self.room.joining[peer_id].append(text)
        else:
            self.room.node.stats.dropped_no_peer += 1

    def _kept(self, peer_id: str, text: str, where: str) -> None:
        node = self.room.node
        if where == BUFFERED:
            node.stats.buffered_suspended += 1
        elif where == GONE:
            node.stats.dropped_no_peer += 1
        elif where == node.node_id:  # it resumed here meanwhile
            self._deliver_or_drop(peer_id, text)
        else:  # it resumed on another node meanwhile
            self.room.send(where, peer_id, text)
