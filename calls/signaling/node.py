"""The signaling runtime of one server process (a "node"): its bus, its registry, its rooms,
its housekeeping, and the counters an operator reads (`Stats`). Built whole by `node_build`,
one per event loop, started on first use by `node_get`.
"""

import asyncio
import logging
import secrets

from channels.layers import get_channel_layer
from django.conf import settings

from calls.infra.loops import LoopLocal
from calls.infra.redis import redis_client_create

from .budgets import TokenBucket
from .bus import MemoryBus, RedisBus
from .envelopes import Control, Envelope, Frames, Handover, Moved, RoomEvent, UserEvict
from .features_store import feature_store_for
from .housekeeping import Housekeeping
from .layer_inlet import LayerInlet
from .registry import RedisRegistry
from .registry_memory import MemoryRegistry
from .room import Room
from .stats import Stats

logger = logging.getLogger(__name__)


class Node:
    """This process's rooms and what they share: the bus, the registry, the per-user rate buckets."""

    def __init__(self, *, node_id: str, config: dict, registry, bus, layer=None, participations=None) -> None:
        self.node_id = node_id
        self.config = config
        self.registry = registry
        self.features = feature_store_for(registry)  # hands, recorders, recent chat (calls.signaling.features)
        self.bus = bus
        self.stats = Stats()
        bus.stats = self.stats
        self.rooms: dict[str, Room] = {}
        self.participations = participations  # the audit trail, written behind
        self.user_buckets: dict[int, TokenBucket] = {}
        self.user_sockets: dict[int, int] = {}  # user_id -> sockets attached here
        self.inlet = LayerInlet(layer=layer, node=self) if layer is not None else None
        self.housekeeping = Housekeeping(self)

    async def start(self) -> None:
        await self.registry.start()
        await self.bus.start(self.receive, self.housekeeping.node_lost, self.housekeeping.redis_back)
        if self.inlet is not None:
            await self.inlet.start()
        self.housekeeping.start()

    async def close(self) -> None:
        self.housekeeping.stop()
        for room in self.rooms.values():
            room.suspended.cancel()
        if self.participations is not None:
            await self.participations.close_log()
        if self.inlet is not None:
            await self.inlet.close()
        await self.bus.close()
        await self.registry.close()

    # Rooms and sockets --------------------------------------------------------------------------
    def room(self, slug: str) -> Room:
        room = self.rooms.get(slug)
        if room is None:
            room = self.rooms[slug] = Room(self, slug)
        return room

    def room_release(self, room: Room) -> None:
        """Forget a room once nothing of this process is in it."""
        if room.idle() and self.rooms.get(room.slug) is room:
            del self.rooms[room.slug]

    def room_left(self, room: Room) -> None:
        """A local socket left the room (or went away): the process leaves its group once none is left."""
        if self.inlet is not None and not room.local:
            self.inlet.room_left(room.slug)
        self.room_release(room)

    def sessions(self) -> list:
        return [session for room in self.rooms.values() for session in room.local.values()]

    def session(self, peer_id: str):
        """The session of a peer with a socket here, or None."""
        return next((room.local[peer_id] for room in self.rooms.values() if peer_id in room.local), None)

    def socket_counted(self, user_id: int, change: int) -> None:
        count = self.user_sockets.get(user_id, 0) + change
        if count > 0:
            self.user_sockets[user_id] = count
        else:
            self.user_sockets.pop(user_id, None)
            self.user_buckets.pop(user_id, None)

    def user_bucket(self, user_id: int) -> TokenBucket:
        bucket = self.user_buckets.get(user_id)
        if bucket is None:
            bucket = self.user_buckets[user_id] = TokenBucket(self.config["USER_RATE"], self.config["USER_BURST"])
        return bucket

    def peers_gone(self, gone: list[tuple[str, str]]) -> None:
        if self.participations is not None:
            self.participations.close_many(gone)

    # From the bus -------------------------------------------------------------------------------
    def receive(self, envelopes: list[Envelope]) -> None:
        rooms = self.rooms
        for envelope in envelopes:
            if type(envelope) is Frames:
                room = rooms.get(envelope.slug)
                if room is not None:
                    room.receive(envelope)
                else:
                    self.stats.dropped_no_peer += len(envelope.peers)
            else:
                self.receive_event(envelope)

    def receive_event(self, envelope: Envelope) -> None:
        """Everything but frames: controls, moves, admin and sign-out events (also from LayerInlet)."""
        room = self.rooms.get(getattr(envelope, "slug", ""))
        match envelope:
            case Control(peers=peers, kind=kind, by=by) if room is not None:
                room.control_local(peers, kind, by)
            case Moved():
                self._moved(envelope, room)
            case Handover(peer_id=peer_id) if room is not None:
                room.handovers.done(peer_id)
            case RoomEvent(event=event, locked=locked) if room is not None:
                for session in list(room.local.values()):
                    session.room_event(event, locked=locked)
            case UserEvict():
                for session in self.sessions():
                    if session.evicted_by(envelope):
                        session.control("evict")

    def _moved(self, moved: Moved, room: Room | None) -> None:
        self.bus.reroute(moved.peer_id, moved.node)
        if room is not None:
            room.handovers.moved(moved.peer_id, moved.node, answer=moved.answer)
        elif moved.answer:  # nothing of the room here: nothing to send on
            self.bus.publish(moved.node, Handover(slug=moved.slug, peer_id=moved.peer_id))


def node_build(config: dict | None = None) -> Node:
    """A node from the settings: Redis registry and bus, or both in memory (one process)."""
    from calls.services.participation import ParticipationLog

    config = config or settings.SIGNALING
    node_id = secrets.token_hex(6)
    if config["BACKEND"] == "redis":
        client = redis_client_create(config["REDIS_URL"])
        registry = RedisRegistry(client=client, prefix=config["KEY_PREFIX"])
        bus = RedisBus(client=client, prefix=config["KEY_PREFIX"], node_id=node_id, stats=None)
    else:
        registry, bus = MemoryRegistry(), MemoryBus()
    return Node(
        node_id=node_id,
        config=config,
        registry=registry,
        bus=bus,
        layer=get_channel_layer(),
        participations=ParticipationLog(),
    )


async def node_get() -> Node:
    """This process's node, started on first use (a failed start is tried again by the next caller)."""
    return await asyncio.shield(_nodes.get())


async def _node_start() -> Node:
    try:
        node = node_build()
        await node.start()
    except BaseException:
        _nodes.values.pop(asyncio.get_running_loop(), None)
        raise
    return node


_nodes: "LoopLocal[asyncio.Task]" = LoopLocal(lambda: asyncio.get_running_loop().create_task(_node_start()))


def node_running() -> Node | None:
    """The running loop's node if it has started (for metrics and tests), else None."""
    task = _nodes.values.get(asyncio.get_running_loop())
    return task.result() if task is not None and task.done() and not task.cancelled() and not task.exception() else None


def nodes_serving() -> list[tuple[asyncio.AbstractEventLoop, Node]]:
    """Every started node of this process with its loop, for code off those loops (a page's
    thread reading the in-memory registry: `calls.services.occupancy`)."""
    return [
        (loop, task.result())
        for loop, task in list(_nodes.values.items())
        if not loop.is_closed() and task.done() and not task.cancelled() and not task.exception()
    ]
