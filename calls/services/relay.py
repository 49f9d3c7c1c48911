"""The per-process relay hub: delivers signaling frames to peers, locally or via Redis.

Measured on this machine, the channel layer dominated relay cost (300-1,000 msgs/s).
So frames addressed to a peer on this process go straight into its socket's outbox,
and only frames for peers on other processes cross Redis: one pub/sub channel per
process ("node"), batched per event-loop turn. Order is kept per sender and
receiver: local delivery is synchronous, and a node's channel is FIFO.

Each process mirrors the membership of the rooms it has local peers in, so routing a
frame needs no Redis round trip; the mirror follows the `peer-joined`/`peer-left`
broadcasts it relays, and a miss falls back to the shared room state.

A peer whose socket dropped without `leave` is *suspended* for RESUME_GRACE seconds: it
keeps its seat and peer_id, and frames for it are buffered in the room state until it
resumes (on any process) or the grace runs out (then the others get `peer-left`).
"""

import asyncio
import logging
import secrets
import time
import weakref
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import orjson
from channels.layers import get_channel_layer
from django.conf import settings

from .batches import slices
from .layer_events import LayerEvents
from .room_state import (
    BUFFERED,
    GONE,
    Gone,
    MemoryRoomState,
    PeerRecord,
    RedisRoomState,
    RoomState,
    redis_client_create,
)
from .tasks import background

logger = logging.getLogger(__name__)

# Channel-layer memberships are renewed every this many sweeps (a minute at the default heartbeat).
EVENTS_RENEW_SWEEPS = 12
# Rooms reaped per Redis pipeline by the sweeper.
REAP_SLICE = 50


class Connection(Protocol):
    """What the hub needs of a room socket (implemented by the consumer)."""

    slug: str
    peer: PeerRecord
    user_id: int
    session_key: str | None
    last_seen: float
    outbox: "Outbox"

    def deliver(self, text: str) -> None: ...
    def control(self, message: dict) -> None: ...


class TokenBucket:
    """`rate` tokens a second, at most `burst` saved up."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = time.monotonic()

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class Outbox:
    """A socket's send queue, drained by one writer task so frames keep their order.

    Senders never wait for a slow receiver; a receiver whose queue passes `limit`
    is closed (overflow) instead of growing memory without bound. The writer task is
    started by the first frame and parked by the sweeper once the socket has had nothing
    to send for a sweep: an idle socket holds no task (memory), a busy one keeps its task
    (no task per burst), and nothing of a closed socket is left in a reference cycle.
    """

    __slots__ = ("busy", "closed", "limit", "on_overflow", "overflowed", "queue", "send", "task", "waiter")

    def __init__(self, send: Callable[[dict], Awaitable[None]], *, limit: int, on_overflow: Callable[[], None]) -> None:
        self.queue: deque[str | dict] = deque()
        self.send = send
        self.limit = limit
        self.on_overflow = on_overflow
        self.overflowed = False
        self.closed = False
        self.busy = False  # something was queued since the last park()
        self.task: asyncio.Task | None = None
        self.waiter: asyncio.Future | None = None

    def put(self, item: str | dict) -> bool:
        """Queue a text frame, or a close message (which always gets in: nothing may follow it)."""
        if self.closed:
            return False
        if len(self.queue) >= self.limit:
            if isinstance(item, str):
                if not self.overflowed:
                    self.overflowed = True
                    self.on_overflow()
                return False
            self.queue.clear()  # a reader this slow would not see the frames before the close anyway
        self.queue.append(item)
        self.busy = True
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._run())
        elif self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)
        return True

    async def _run(self) -> None:
        queue = self.queue
        send = self.send
        loop = asyncio.get_running_loop()
        try:
            while True:
                while queue:
                    item = queue.popleft()
                    if isinstance(item, str):
                        await send({"type": "websocket.send", "text": item})
                    else:  # a close message: nothing may follow it
                        self.closed = True
                        queue.clear()
                        await send(item)
                        return
                self.waiter = loop.create_future()
                await self.waiter
                self.waiter = None
        finally:
            if self.task is asyncio.current_task():
                self.task = self.waiter = None

    def park(self) -> None:
        """Stop the writer of a socket that had nothing to send since the last call (the sweeper's)."""
        if not self.busy and not self.queue and self.waiter is not None and self.task is not None:
            self.task.cancel()
            self.task = self.waiter = None
        self.busy = False

    def stop(self) -> None:
        self.closed = True
        self.queue.clear()
        self.on_overflow = None  # the socket's method: no cycle back to it
        if self.task is not None:
            self.task.cancel()


@dataclass(slots=True)
class Suspension:
    slug: str
    timer: asyncio.TimerHandle
    ready: bool = False  # the room state has marked it: frames can be buffered there


class Stats:
    """Counters a benchmark or an operator can read (nothing lost goes uncounted)."""

    def __init__(self) -> None:
        self.delivered_local = 0
        self.published = 0
        self.received_remote = 0
        self.dropped_overflow = 0
        self.dropped_no_peer = 0
        self.publish_errors = 0
        self.buffered_suspended = 0
        self.dropped_unreachable = 0


# --- Transports ---------------------------------------------------------------------------


class MemoryTransport:
    """Single process: every peer is local, nothing crosses a process boundary."""

    def __init__(self) -> None:
        self.on_items: Callable[[list], None] | None = None

    async def start(self, on_items: Callable[[list], None]) -> None:
        self.on_items = on_items

    def publish(self, node: str, item: list) -> None:
        logger.warning("memory transport asked to reach node %s: dropped", node)

    async def close(self) -> None:
        return None


class RedisTransport:
    """One pub/sub channel per process; publishes batched per event-loop turn, retried on failure."""

    MAX_BUFFERED = 100_000
    RETRY_INTERVAL = 0.1
    UNREACHED_GIVE_UP = 10.0  # a node silent this long has died; its peers expire from the room state

    def __init__(self, *, client, prefix: str, node_id: str, stats: Stats) -> None:
        self.redis = client
        self.prefix = prefix
        self.node_id = node_id
        self.stats = stats
        self.buffers: dict[str, list] = defaultdict(list)
        self.buffered = 0
        self.flushing = False
        self.listener: asyncio.Task | None = None
        self.ready = asyncio.Event()
        # Frames for nodes that had no subscriber when published (Redis just restarted and the
        # node has not resubscribed yet): node -> (first miss, items), retried in order.
        self.unreached: dict[str, tuple[float, list]] = {}
        self.retrier: asyncio.Task | None = None

    def channel(self, node: str) -> str:
        return f"{self.prefix}:node:{node}"

    async def start(self, on_items: Callable[[list], None]) -> None:
        self.listener = asyncio.get_running_loop().create_task(self._listen(on_items))
        await asyncio.wait_for(self.ready.wait(), timeout=10)

    async def _listen(self, on_items: Callable[[list], None]) -> None:
        backoff = 0.1
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel(self.node_id))
                self.ready.set()
                backoff = 0.1
                while True:
                    message = await pubsub.get_message(timeout=None)
                    if message is None:
                        continue
                    try:
                        items = orjson.loads(message["data"])
                    except orjson.JSONDecodeError:
                        logger.error("undecodable relay message dropped")
                        continue
                    self.stats.received_remote += len(items)
                    on_items(items)
            except asyncio.CancelledError:
                await pubsub.aclose()
                raise
            except Exception as error:  # Redis restarted or unreachable: resubscribe
                logger.warning("relay subscription lost (%s); retrying in %.1fs", error, backoff)
                try:
                    await pubsub.aclose()
                except Exception:
                    pass
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)

    def publish(self, node: str, item: list) -> None:
        if self.buffered >= self.MAX_BUFFERED:
            self.stats.publish_errors += 1
            logger.error("relay buffer full: frame for node %s dropped", node)
            return
        if node in self.unreached:  # keep order behind the frames still being retried
            self.unreached[node][1].append(item)
            return
        self.buffers[node].append(item)
        self.buffered += 1
        if not self.flushing:
            self.flushing = True
            background(self._flush())

    async def _flush(self) -> None:
        backoff = 0.05
        try:
            while self.buffers:
                await asyncio.sleep(0)  # let this turn's frames gather into one batch
                batch, self.buffers = self.buffers, defaultdict(list)
                count = self.buffered
                try:
                    async with self.redis.pipeline(transaction=False) as pipe:
                        for node, items in batch.items():
                            pipe.publish(self.channel(node), orjson.dumps(items))
                        receivers = await pipe.execute()
                    self.buffered -= count
                    self.stats.published += count
                    backoff = 0.05
                    for (node, items), heard in zip(batch.items(), receivers, strict=True):
                        if not heard:
                            self._retry_later(node, items)
                except Exception as error:
                    # Keep the batch, ahead of anything queued since, and retry: nothing is lost
                    # for a peer that is still there when Redis comes back.
                    self.stats.publish_errors += 1
                    logger.warning("relay publish failed (%s); retrying in %.2fs", error, backoff)
                    for node, items in self.buffers.items():
                        batch[node].extend(items)
                    self.buffers = batch
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 1.0)
        finally:
            self.flushing = False

    def _retry_later(self, node: str, items: list) -> None:
        """Hold `items` (and anything queued for `node` since) until the node is subscribed again."""
        newer = self.buffers.pop(node, [])
        self.buffered -= len(newer)
        self.unreached[node] = (time.monotonic(), items + newer)
        if self.retrier is None or self.retrier.done():
            self.retrier = asyncio.get_running_loop().create_task(self._retry_unreached())

    async def _retry_unreached(self) -> None:
        """Republish frames nobody heard until their node resubscribes, or give up on a dead node."""
        while self.unreached:
            await asyncio.sleep(self.RETRY_INTERVAL)
            for node, (first, items) in list(self.unreached.items()):
                sent = len(items)
                try:
                    heard = await self.redis.publish(self.channel(node), orjson.dumps(items))
                except Exception as error:
                    logger.warning("relay retry failed (%s)", error)
                    break
                if heard:
                    # Frames queued behind these while the publish was in flight go out next, in order.
                    del self.unreached[node]
                    for item in items[sent:]:
                        self.publish(node, item)
                elif time.monotonic() - first > self.UNREACHED_GIVE_UP:
                    del self.unreached[node]
                    self.stats.dropped_unreachable += len(items)
                    logger.warning(
                        "node %s unreachable for %.0fs: %d frames dropped", node, self.UNREACHED_GIVE_UP, len(items)
                    )

    async def close(self) -> None:
        if self.retrier is not None:
            self.retrier.cancel()
        if self.listener:
            self.listener.cancel()
            try:
                await self.listener
            except (asyncio.CancelledError, Exception):
                pass


# --- The hub -------------------------------------------------------------------------------


class Hub:
    """Routes frames to peers and keeps this process's peers alive in the shared state."""

    def __init__(self, *, state: RoomState, transport, node_id: str, config: dict) -> None:
        self.state = state
        self.transport = transport
        self.node_id = node_id
        self.config = config
        self.stats = Stats()
        self.local: dict[str, Connection] = {}
        self.rooms: dict[str, dict[str, str]] = {}  # slug -> {peer_id: node}
        self.user_buckets: dict[int, TokenBucket] = {}
        self.sweeper: asyncio.Task | None = None
        self.session_checker: Callable[[list[Connection]], Awaitable[list[Connection]]] | None = None
        # Told the (peer_id, reason) pairs of peers the sweeper or a grace expiry removed.
        self.on_gone: Callable[[list[tuple[str, str]]], None] | None = None
        self.participations = None  # the ParticipationLog of the process, written behind
        self.events = None  # LayerEvents: sign-out and admin events for the local sockets
        self.suspended: dict[str, Suspension] = {}  # peer_id -> its suspension on this node
        self.joining: dict[str, list[str]] = {}  # peer_id -> frames that arrived before its socket attached
        self._pending: deque[tuple[str, str, str]] = deque()  # (slug, peer_id, text) to buffer, in order
        self._buffering = False
        self._sweeps = 0

    async def start(self) -> None:
        await self.state.start()
        await self.transport.start(self._on_remote)
        if self.events is not None:
            await self.events.start()
        self.sweeper = asyncio.get_running_loop().create_task(self._sweep_forever())

    async def close(self) -> None:
        if self.sweeper:
            self.sweeper.cancel()
        for suspension in self.suspended.values():
            suspension.timer.cancel()
        if self.participations is not None:
            await self.participations.close_log()
        if self.events is not None:
            await self.events.close()
        await self.transport.close()
        await self.state.close()

    # Membership -------------------------------------------------------------------------
    def expect(self, peer_id: str) -> None:
        """A socket is claiming `peer_id`: hold frames for it until `expected` (others may
        learn of the peer from the room state before this process has its reply)."""
        self.joining[peer_id] = []

    def expected(self, peer_id: str) -> list[str]:
        """Stop holding frames for `peer_id`; returns those that arrived meanwhile, in order."""
        return self.joining.pop(peer_id, [])

    def attach(self, conn: Connection, others: list[PeerRecord]) -> None:
        suspension = self.suspended.pop(conn.peer.peer_id, None)
        if suspension is not None:
            suspension.timer.cancel()
        self.local[conn.peer.peer_id] = conn
        mirror = self.rooms.setdefault(conn.slug, {})
        for peer in others:
            mirror[peer.peer_id] = peer.node
        mirror[conn.peer.peer_id] = self.node_id

    def detach(self, conn: Connection) -> None:
        if self.local.get(conn.peer.peer_id) is conn:
            del self.local[conn.peer.peer_id]
        mirror = self.rooms.get(conn.slug)
        if mirror is not None:
            mirror.pop(conn.peer.peer_id, None)
            self._mirror_prune(conn.slug)
        if not any(c.user_id == conn.user_id for c in self.local.values()):
            self.user_buckets.pop(conn.user_id, None)
        if self.events is not None:
            self.events.room_left(conn.slug)

    def suspend(self, conn: Connection, grace: float) -> None:
        """The socket is gone but the peer stays in the room for `grace` seconds.

        Frames for it wait here until `suspension_confirm` says the room state has
        marked it suspended; from then on they are buffered there.
        """
        peer_id = conn.peer.peer_id
        if self.local.get(peer_id) is conn:
            del self.local[peer_id]
        timer = asyncio.get_running_loop().call_later(grace + 0.1, self._grace_expired, conn.slug, peer_id)
        self.suspended[peer_id] = Suspension(slug=conn.slug, timer=timer)
        if not any(c.user_id == conn.user_id for c in self.local.values()):
            self.user_buckets.pop(conn.user_id, None)
        if self.events is not None:
            self.events.room_left(conn.slug)

    def suspension_confirm(self, peer_id: str, marked: bool) -> None:
        """The room state marked the peer suspended (or it was already gone: forget it)."""
        suspension = self.suspended.get(peer_id)
        if suspension is None:
            return
        if marked:
            suspension.ready = True
        else:
            suspension.timer.cancel()
            del self.suspended[peer_id]
        self._buffer_start()

    def _grace_expired(self, slug: str, peer_id: str) -> None:
        background(self._reap_room(slug, forget=peer_id))

    async def _reap_room(self, slug: str, forget: str | None = None) -> None:
        try:
            reaped, remaining = await self.state.reap(slug=slug)
            self.peers_gone(slug, reaped, remaining)
        except Exception:
            logger.exception("reaping %s failed", slug)
        if forget is not None and self.suspended.pop(forget, None) is not None:
            # It resumed on another node: nothing left to do here.
            mirror = self.rooms.get(slug)
            if mirror is not None:
                mirror.pop(forget, None)
        self._mirror_prune(slug)

    def peers_gone(self, slug: str, gone: list[Gone], remaining: list[PeerRecord] | None = None) -> None:
        """Announce peers removed by expiry and close their audit rows."""
        from calls.protocol import frame_encode

        for entry in gone:
            logger.info("peer %s left %s (%s)", entry.peer.peer_id, slug, entry.reason)
            text = frame_encode({"type": "peer-left", "peer_id": entry.peer.peer_id, "reason": entry.reason})
            self.broadcast(slug, text, targets=remaining, left=entry.peer.peer_id)
            suspension = self.suspended.pop(entry.peer.peer_id, None)
            if suspension is not None:
                suspension.timer.cancel()
        if gone:
            self._mirror_prune(slug)
        if gone and self.on_gone is not None:
            self.on_gone([(entry.peer.peer_id, entry.reason) for entry in gone])

    def route_announce(self, slug: str, peer: PeerRecord, others: list[PeerRecord], previous_node: str) -> None:
        """A peer resumed on this node: point the other nodes' mirrors (and its old node) here."""
        nodes = {other.node for other in others} | {previous_node}
        nodes.discard(self.node_id)
        for node in nodes:
            self.transport.publish(node, [[], None, {"slug": slug, "join": [peer.peer_id, self.node_id]}])

    # Suspended peers ---------------------------------------------------------------------------
    def _absent(self, peer_id: str, text: str) -> None:
        """A frame for a peer with no socket here: hold it if the peer is joining or suspended here."""
        early = self.joining.get(peer_id)
        if early is not None:
            if len(early) < self.config["OUTBOX_LIMIT"]:
                early.append(text)
            return
        suspension = self.suspended.get(peer_id)
        if suspension is None:
            self.stats.dropped_no_peer += 1
            return
        if text.startswith(_SNAPSHOT_PREFIXES):
            return  # the resume welcome carries the room as it is then
        self._pending.append((suspension.slug, peer_id, text))
        self._buffer_start()

    def _buffer_start(self) -> None:
        if self._pending and not self._buffering:
            self._buffering = True
            background(self._buffer_pending())

    async def _buffer_pending(self) -> None:
        """Store frames for suspended peers in the room state, one at a time so they keep their order."""
        limit = self.config.get("RESUME_BUFFER", 256)
        try:
            while self._pending:
                slug, peer_id, text = self._pending[0]
                suspension = self.suspended.get(peer_id)
                if suspension is not None and not suspension.ready:
                    return  # suspension_confirm restarts the queue
                self._pending.popleft()
                if suspension is None:  # the grace ran out, or it resumed here
                    self._deliver_or_drop(peer_id, text)
                    continue
                try:
                    where = await self.state.buffer(
                        slug=slug, peer_id=peer_id, node=self.node_id, text=text, limit=limit
                    )
                except Exception:
                    logger.exception("could not buffer a frame for suspended peer %s", peer_id)
                    continue
                if where == BUFFERED:
                    self.stats.buffered_suspended += 1
                elif where == GONE:
                    self.stats.dropped_no_peer += 1
                elif where == self.node_id:  # it resumed here meanwhile
                    self._deliver_or_drop(peer_id, text)
                else:  # it resumed on another node meanwhile
                    self.transport.publish(where, [[peer_id], text])
        finally:
            self._buffering = False

    def _deliver_or_drop(self, peer_id: str, text: str) -> None:
        conn = self.local.get(peer_id)
        if conn is not None:
            conn.deliver(text)
        elif peer_id in self.joining:
            self.joining[peer_id].append(text)
        else:
            self.stats.dropped_no_peer += 1

    def _suspended_kick(self, peer_id: str, message: dict) -> None:
        suspension = self.suspended.get(peer_id)
        if suspension is not None and message.get("type") == "kick":
            task = background(self._remove_suspended(suspension.slug, peer_id, "kicked"))
            task.add_done_callback(_log_failure)

    async def _remove_suspended(self, slug: str, peer_id: str, reason: str) -> None:
        peer = await self.state.peer_get(slug=slug, peer_id=peer_id)
        if peer is None:
            return
        removed, remaining = await self.state.leave(slug=slug, peer=peer)
        if removed:
            self.peers_gone(slug, [Gone(peer=peer, reason=reason)], remaining)

    def user_bucket(self, user_id: int) -> TokenBucket:
        bucket = self.user_buckets.get(user_id)
        if bucket is None:
            bucket = self.user_buckets[user_id] = TokenBucket(self.config["USER_RATE"], self.config["USER_BURST"])
        return bucket

    # Routing -----------------------------------------------------------------------------
    async def locate(self, slug: str, peer_id: str) -> str | None:
        """The node of `peer_id` if it is in room `slug`, else None."""
        mirror = self.rooms.get(slug)
        node = mirror.get(peer_id) if mirror else None
        if node is not None:
            return node
        record = await self.state.peer_get(slug=slug, peer_id=peer_id)
        if record is None:
            return None
        if mirror is not None:
            mirror[peer_id] = record.node
        return record.node

    def send(self, node: str, peer_id: str, text: str) -> None:
        """Deliver `text` to one peer whose node is known."""
        if node == self.node_id:
            conn = self.local.get(peer_id)
            if conn is None:
                self._absent(peer_id, text)
                return
            self.stats.delivered_local += 1
            conn.deliver(text)
        else:
            self.transport.publish(node, [[peer_id], text])

    def broadcast(
        self,
        slug: str,
        text: str,
        *,
        exclude: str | None = None,
        targets: list[PeerRecord] | None = None,
        joined: PeerRecord | None = None,
        left: str | None = None,
    ) -> None:
        """Deliver `text` to every peer of the room (or `targets`), updating room mirrors on the way.

        Joins and leaves pass the authoritative member list from the room state as
        `targets`, so a peer that joined a moment ago is never missed.
        """
        if targets is not None:
            members = {peer.peer_id: peer.node for peer in targets}
        else:
            members = dict(self.rooms.get(slug, {}))
        if joined is not None:
            self._mirror_update(slug, joined=[joined.peer_id, joined.node])
        if left is not None:
            self._mirror_update(slug, left=left)
        remote: dict[str, list[str]] = defaultdict(list)
        for peer_id, node in members.items():
            if peer_id == exclude or peer_id == left:
                continue
            if node == self.node_id:
                conn = self.local.get(peer_id)
                if conn is not None:
                    self.stats.delivered_local += 1
                    conn.deliver(text)
                else:
                    self._absent(peer_id, text)
            else:
                remote[node].append(peer_id)
        for node, peer_ids in remote.items():
            item: list = [peer_ids, text]
            if joined is not None:
                item.append({"slug": slug, "join": [joined.peer_id, joined.node]})
            elif left is not None:
                item.append({"slug": slug, "left": left})
            self.transport.publish(node, item)

    def control(self, node: str, peer_id: str, message: dict) -> None:
        """Deliver a server control message (kick, evict) to one peer's socket."""
        if node == self.node_id:
            conn = self.local.get(peer_id)
            if conn is not None:
                conn.control(message)
            else:
                self._suspended_kick(peer_id, message)
        else:
            self.transport.publish(node, [[peer_id], None, {"control": message}])

    def _mirror_prune(self, slug: str) -> None:
        """Forget a room's mirror once no peer of this node (live or suspended) is in it."""
        mirror = self.rooms.get(slug)
        if mirror is not None and not any(pid in self.local or pid in self.suspended for pid in mirror):
            del self.rooms[slug]

    def _mirror_update(
        self, slug: str, *, joined: list | None = None, left: str | None = None, create: bool = False
    ) -> None:
        mirror = self.rooms.setdefault(slug, {}) if create else self.rooms.get(slug)
        if mirror is None:
            return
        if joined is not None:
            mirror[joined[0]] = joined[1]
        if left is not None:
            mirror.pop(left, None)

    def _on_remote(self, items: list) -> None:
        local = self.local
        for item in items:
            peer_ids, text = item[0], item[1]
            meta = item[2] if len(item) > 2 else None
            if meta is not None:
                if "control" in meta:
                    for peer_id in peer_ids:
                        conn = local.get(peer_id)
                        if conn is not None:
                            conn.control(meta["control"])
                        else:
                            self._suspended_kick(peer_id, meta["control"])
                    continue
                # A peer of ours may still be between its seat claim and attach(): the room has
                # no mirror here yet, but this join must be in it, or what that peer sends would
                # never reach the one that joined (its own claim came first, so it is not among
                # the peers its claim returned).
                joining = any(peer_id in self.joining for peer_id in peer_ids)
                self._mirror_update(meta["slug"], joined=meta.get("join"), left=meta.get("left"), create=joining)
            for peer_id in peer_ids:
                conn = local.get(peer_id)
                if conn is None:
                    self._absent(peer_id, text)
                    continue
                conn.deliver(text)

    # Liveness ------------------------------------------------------------------------------
    async def _sweep_forever(self) -> None:
        interval = max(0.2, self.config["HEARTBEAT"] / 3)
        while True:
            await asyncio.sleep(interval)
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("sweep failed")

    async def sweep(self) -> None:
        """Drop silent sockets, keep local peers alive, reap peers of dead processes."""
        now = time.monotonic()
        silent_after = 2 * self.config["HEARTBEAT"]
        conns = list(self.local.values())
        for conn in conns:
            if now - conn.last_seen > silent_after:
                conn.control({"type": "timeout"})
            conn.outbox.park()
        live = [(c.slug, c.peer) for c in conns if now - c.last_seen <= silent_after]
        await self.state.refresh(peers=live, ttl=self.config["PEER_TTL"])
        self._sweeps += 1
        if not self.joining:  # mirrors made for a join that then failed (see _on_remote)
            for slug in list(self.rooms):
                self._mirror_prune(slug)
        if self._sweeps % 5 == 0:  # now and then every room, also those where no peer of ours is left
            slugs = set(self.rooms) | set(await self.state.rooms_list())
        else:  # rooms with peers of other processes (this one keeps its own alive, or times them out)
            slugs = {slug for slug, mirror in self.rooms.items() if any(n != self.node_id for n in mirror.values())}
        # A slice of rooms at a time, each slice one Redis pipeline: reaping 400 rooms one round
        # trip after another kept the loop busy in bursts that delayed relayed frames.
        for chunk in slices(sorted(slugs), REAP_SLICE):
            results = await asyncio.gather(*(self.state.reap(slug=slug) for slug in chunk))
            for slug, (reaped, remaining) in zip(chunk, results, strict=True):
                self.peers_gone(slug, reaped, remaining)
        if self.session_checker is not None and conns:
            for conn in await self.session_checker(conns):
                conn.control({"type": "evict", "reason": "signed-out"})
        if self.events is not None and self._sweeps % EVENTS_RENEW_SWEEPS == 0:
            await self.events.renew()


# Server frames that a resume welcome supersedes, so they are not buffered for a suspended peer.
_SNAPSHOT_PREFIXES = ('{"type":"peer-joined"', '{"type":"peer-left"', '{"type":"media"', '{"type":"room"')


def _log_failure(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("signaling background task failed", exc_info=task.exception())


# --- One hub per event loop -------------------------------------------------------------------

_hubs: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Future]" = weakref.WeakKeyDictionary()


def _hub_create() -> Hub:
    config = settings.SIGNALING
    node_id = secrets.token_hex(6)
    if config["BACKEND"] == "redis":
        client = redis_client_create(config["REDIS_URL"])
        stats_holder = Stats()
        state = RedisRoomState(client=client, prefix=config["KEY_PREFIX"])
        transport = RedisTransport(client=client, prefix=config["KEY_PREFIX"], node_id=node_id, stats=stats_holder)
        hub = Hub(state=state, transport=transport, node_id=node_id, config=config)
        hub.stats = stats_holder
    else:
        hub = Hub(state=MemoryRoomState(), transport=MemoryTransport(), node_id=node_id, config=config)
    from calls.services.participation import ParticipationLog

    layer = get_channel_layer()
    if layer is not None:
        hub.events = LayerEvents(layer=layer, connections=hub.local)
    hub.session_checker = _revoked_connections
    hub.participations = ParticipationLog()
    hub.on_gone = hub.participations.close_many
    return hub


async def _revoked_connections(conns: list[Connection]) -> list[Connection]:
    """Sockets whose user was deactivated or whose session ended (one query for all)."""
    from calls.services.sessions import sessions_find_revoked

    revoked = await sessions_find_revoked(pairs=[(conn.user_id, conn.session_key) for conn in conns])
    return [conn for conn in conns if (conn.user_id, conn.session_key) in revoked]


async def hub_get() -> Hub:
    """This process's hub, started on first use."""
    loop = asyncio.get_running_loop()
    future = _hubs.get(loop)
    if future is None:
        future = loop.create_future()
        _hubs[loop] = future
        try:
            hub = _hub_create()
            await hub.start()
        except BaseException as error:
            del _hubs[loop]
            future.set_exception(error)
            future.exception()  # retrieved: the caller gets the error below
            raise
        future.set_result(hub)
    return await asyncio.shield(future)
