"""The channel layer's way onto the bus: sign-out and admin events for this process's room sockets.

Synchronous code (the sign-out signal, the admin) reaches sockets through the channel layer
(calls.services.eviction). Each room is a channel-layer group (`room.<slug>`), but its members
are the *processes* with sockets in the room, not the sockets: one receive loop and one
`group_add` per room per process, instead of a receive task and two `group_add`s per socket.
That was an eighth of a join's CPU and a few KB per idle socket (docs/performance.md). Sign-outs
go to one group every process belongs to. Each event becomes a typed envelope
(calls.signaling.envelopes) handled like one from the bus.

Memberships are renewed now and then, so that a call longer than the layer's `group_expiry`
(24 h) or a Redis restart, which forgets every group, does not leave a room deaf to the admin.
"""

import asyncio
import contextlib
import logging

from calls.infra.tasks import background
from calls.services.eviction import NODES_GROUP, room_group_name

from .envelopes import layer_message_envelope

logger = logging.getLogger(__name__)


class LayerInlet:
    """The process's channel-layer membership, on behalf of its room sockets."""

    def __init__(self, *, layer, node) -> None:
        self.layer = layer
        self.node = node
        self.channel: str | None = None
        self.rooms: dict[str, asyncio.Task] = {}  # slug -> its group_add, done or under way
        self.changes: dict[str, asyncio.Task] = {}  # slug -> the last membership change under way
        self.receiver: asyncio.Task | None = None

    async def start(self) -> None:
        self.channel = await self.layer.new_channel()
        await self.layer.group_add(NODES_GROUP, self.channel)
        self.receiver = asyncio.get_running_loop().create_task(self._receive_forever())

    async def close(self) -> None:
        if self.receiver is not None:
            self.receiver.cancel()

    def _present(self) -> set[str]:
        return {slug for slug, room in self.node.rooms.items() if room.local}

    async def room_entered(self, slug: str) -> None:
        """A local socket joined `slug`: make sure this process hears the room's events.

        Only the first socket of a room on this process waits for Redis; later ones find it done.
        """
        joined = self.rooms.get(slug)
        if joined is None:
            joined = self.rooms[slug] = self._membership(slug, add=True)
        try:
            await asyncio.shield(joined)
        except asyncio.CancelledError:
            raise
        except Exception:
            if self.rooms.get(slug) is joined:
                del self.rooms[slug]  # the next socket, or the next renewal, tries again
            raise

    def room_left(self, slug: str) -> None:
        """No local socket is left in `slug`: leave the room's group (no key outlives a call)."""
        room = self.node.rooms.get(slug)
        if slug in self.rooms and (room is None or not room.local):
            del self.rooms[slug]
            self._membership(slug, add=False)

    async def renew(self) -> None:
        """Leave the groups of rooms without local sockets; (re-)join the others (expiry, Redis
        restarts, a `room_entered` that failed)."""
        present = self._present()
        for slug in list(self.rooms):
            self.room_left(slug)
        await self.layer.group_add(NODES_GROUP, self.channel)
        for slug in present:
            self.rooms[slug] = self._membership(slug, add=True)
        await asyncio.gather(*(self.rooms[slug] for slug in present), return_exceptions=True)

    def _membership(self, slug: str, *, add: bool) -> asyncio.Task:
        """Join or leave the room's group after the previous change of it, so Redis sees them in order."""
        task = background(self._change(slug, add, self.changes.get(slug)))
        self.changes[slug] = task
        return task

    async def _change(self, slug: str, add: bool, previous: asyncio.Task | None) -> None:
        try:
            if previous is not None:
                with contextlib.suppress(Exception):
                    await previous
            group = room_group_name(slug)
            await (self.layer.group_add(group, self.channel) if add else self.layer.group_discard(group, self.channel))
        finally:
            if self.changes.get(slug) is asyncio.current_task():
                del self.changes[slug]

    async def _receive_forever(self) -> None:
        while True:
            message = await self.layer.receive(self.channel)
            try:
                envelope = layer_message_envelope(message)
                if envelope is not None:
                    self.node.receive_event(envelope)
            except Exception:
                logger.exception("channel-layer event %r failed", message.get("type"))
