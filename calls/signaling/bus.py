"""The bus between server processes ("nodes"): typed envelopes (calls.signaling.envelopes) out
to one node's channel, in from this node's own.

Measured on this machine, the channel layer dominated relay cost (300-1,000 msgs/s), and its
pub/sub flavour with one group per room still cost more than this (docs/architecture.md, "The
bus"). So frames for peers on this process never touch the bus, and those for peers on other
processes are batched per event-loop turn: one PUBLISH per node per turn, in a pipeline. Order is
kept per sender and receiver: a node's channel is FIFO.

Delivery is kept through a Redis restart (a failed publish is retried, ahead of newer ones) and
through a node's death: envelopes nobody heard are retried until their node subscribes again;
a peer of that node that resumes elsewhere meanwhile gets its frames rerouted (`reroute`), and
after UNREACHED_GIVE_UP the node is dead and its frames go to its peers' resume buffers (`on_lost`).
"""

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable

import msgspec

from calls.infra.tasks import background
from calls.services.outages import outage_failed, redis_outage

from .envelopes import Envelope, Frames, batch_decode, batch_encode

logger = logging.getLogger(__name__)

Receiver = Callable[[list[Envelope]], None]


class MemoryBus:
    """Single process: every peer is local, nothing crosses a process boundary."""

    flushing = None  # nothing is ever on its way

    async def start(self, on_envelopes: Receiver, on_lost: Callable, on_back: Callable) -> None:
        return None

    def publish(self, node: str, envelope: Envelope) -> None:
        logger.warning("memory bus asked to reach node %s: dropped", node)

    def reroute(self, peer_id: str, new: str) -> list[str]:
        return []

    async def listening(self, node: str) -> bool:
        return True

    async def flushed(self) -> None:
        return None

    async def close(self) -> None:
        return None


class RedisBus:
    """One pub/sub channel per node; publishes batched per event-loop turn, retried on failure."""

    MAX_BUFFERED = 100_000
    RETRY_INTERVAL = 0.1
    RECONNECT_BACKOFF_MAX = 0.5  # a restarted Redis is noticed (and the registry restored) this soon
    UNREACHED_GIVE_UP = 10.0  # a node silent this long has died: its frames go to resume buffers

    def __init__(self, *, client, prefix: str, node_id: str, stats) -> None:
        self.redis = client
        self.prefix = prefix
        self.node_id = node_id
        self.stats = stats
        self.buffers: dict[str, list[Envelope]] = defaultdict(list)
        self.buffered = 0
        self.flushing: asyncio.Task | None = None
        self.listener: asyncio.Task | None = None
        self.ready = asyncio.Event()
        # Envelopes for nodes that had no subscriber when published (Redis just restarted and the
        # node has not resubscribed yet, or it died): node -> (first miss, envelopes), retried in order.
        self.unreached: dict[str, tuple[float, list[Envelope]]] = {}
        self.retrier: asyncio.Task | None = None
        self.on_lost: Callable[[str, list[Envelope]], None] | None = None

    def channel(self, node: str) -> str:
        return f"{self.prefix}:node:{node}"

    async def start(self, on_envelopes: Receiver, on_lost: Callable, on_back: Callable) -> None:
        """Subscribe; `on_lost(node, envelopes)` gets what a dead node never heard, `on_back()` is
        called when the subscription is back after Redis was lost (it may have restarted empty)."""
        self.on_lost = on_lost
        self.listener = asyncio.get_running_loop().create_task(self._listen(on_envelopes, on_back))
        await asyncio.wait_for(self.ready.wait(), timeout=10)

    async def _listen(self, on_envelopes: Receiver, on_back: Callable) -> None:
        backoff = 0.1
        lost = False
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel(self.node_id))
                self.ready.set()
                redis_outage.succeeded(log=logger)
                backoff = 0.1
                if lost:
                    lost = False
                    on_back()
                await self._receive(pubsub, on_envelopes)
            except asyncio.CancelledError:
                await pubsub.aclose()
                raise
            except Exception as error:  # Redis restarted or unreachable: resubscribe
                lost = True
                outage_failed(what="bus subscription", error=error, log=logger)
                try:
                    await pubsub.aclose()
                except Exception:
                    pass
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.RECONNECT_BACKOFF_MAX)

    async def _receive(self, pubsub, on_envelopes: Receiver) -> None:
        while True:
            message = await pubsub.get_message(timeout=None)
            if message is None:
                continue
            try:
                envelopes = batch_decode(message["data"])
            except msgspec.DecodeError:
                logger.error("undecodable bus message dropped")
                continue
            self.stats.bus_received += len(envelopes)
            on_envelopes(envelopes)

    def publish(self, node: str, envelope: Envelope) -> None:
        if self.buffered >= self.MAX_BUFFERED:
            self.stats.publish_errors += 1
            logger.error("bus buffer full: an envelope for node %s dropped", node)
            return
        if node in self.unreached:  # keep order behind the envelopes still being retried
            self.unreached[node][1].append(envelope)
            return
        self.buffers[node].append(envelope)
        self.buffered += 1
        if self.flushing is None:
            self.flushing = background(self._flush())

    async def flushed(self) -> None:
        """Wait until what was published so far reached Redis (or failed for now)."""
        if self.flushing is not None:
            await asyncio.shield(self.flushing)

    async def _flush(self) -> None:
        backoff = 0.05
        try:
            while self.buffers:
                await asyncio.sleep(0)  # let this turn's envelopes gather into one batch
                batch, self.buffers = self.buffers, defaultdict(list)
                try:
                    await self._send(batch)
                    backoff = 0.05
                except Exception as error:
                    # Keep the batch, ahead of anything queued since, and retry: nothing is lost
                    # for a peer that is still there when Redis comes back.
                    self.stats.publish_errors += 1
                    outage_failed(what="bus publish", error=error, log=logger)
                    for node, envelopes in self.buffers.items():
                        batch[node].extend(envelopes)
                    self.buffers = batch
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 1.0)
        finally:
            self.flushing = None

    async def _send(self, batch: dict[str, list[Envelope]]) -> None:
        count = sum(len(envelopes) for envelopes in batch.values())
        async with self.redis.pipeline(transaction=False) as pipe:
            for node, envelopes in batch.items():
                pipe.publish(self.channel(node), batch_encode(envelopes))
            receivers = await pipe.execute()
        self.buffered -= count
        self.stats.bus_published += count
        for (node, envelopes), heard in zip(batch.items(), receivers, strict=True):
            if not heard:
                self._retry_later(node, envelopes)

    def _retry_later(self, node: str, envelopes: list[Envelope]) -> None:
        """Hold `envelopes` (and anything queued for `node` since) until the node is subscribed again."""
        newer = self.buffers.pop(node, [])
        self.buffered -= len(newer)
        self.unreached[node] = (time.monotonic(), envelopes + newer)
        if self.retrier is None or self.retrier.done():
            self.retrier = asyncio.get_running_loop().create_task(self._retry_unreached())

    async def _retry_unreached(self) -> None:
        """Republish envelopes nobody heard until their node resubscribes, or give up on a dead node."""
        while self.unreached:
            await asyncio.sleep(self.RETRY_INTERVAL)
            for node, (first, envelopes) in list(self.unreached.items()):
                sent = len(envelopes)
                try:
                    heard = await self.redis.publish(self.channel(node), batch_encode(envelopes))
                except Exception as error:
                    outage_failed(what="bus retry", error=error, log=logger)
                    break
                if heard:
                    # Envelopes queued behind these while the publish was in flight go out next, in order.
                    del self.unreached[node]
                    for envelope in envelopes[sent:]:
                        self.publish(node, envelope)
                elif time.monotonic() - first > self.UNREACHED_GIVE_UP:
                    del self.unreached[node]
                    logger.warning(
                        "node %s unreachable for %.0fs: its peers' frames kept for their resume",
                        node,
                        self.UNREACHED_GIVE_UP,
                    )
                    self.on_lost(node, envelopes)

    async def listening(self, node: str) -> bool:
        """Whether `node` is subscribed to its channel: a process that died is not."""
        if node == self.node_id:
            return True
        counts = await self.redis.pubsub_numsub(self.channel(node))
        return bool(counts and counts[0][1])

    def reroute(self, peer_id: str, new: str) -> list[str]:
        """Peer `peer_id`, last seen on a node that stopped answering, is now on `new`: what waits
        for it goes there (ahead of anything sent to it from now on). Returns the frame texts if
        `new` is this node."""
        texts: list[str] = []
        for _first, envelopes in self.unreached.values():
            texts += self._take(peer_id, new, envelopes)
        return texts

    def _take(self, peer_id: str, new: str, envelopes: list[Envelope]) -> list[str]:
        texts: list[str] = []
        for envelope in envelopes:
            if peer_id not in getattr(envelope, "peers", ()):
                continue
            envelope.peers = [pid for pid in envelope.peers if pid != peer_id]
            if not isinstance(envelope, Frames):
                continue  # a control for the old socket: moot
            if new == self.node_id:
                texts.append(envelope.text)
            else:
                self.publish(new, Frames(slug=envelope.slug, peers=[peer_id], text=envelope.text))
        return texts

    async def close(self) -> None:
        if self.retrier is not None:
            self.retrier.cancel()
        if self.listener:
            self.listener.cancel()
            try:
                await self.listener
            except (asyncio.CancelledError, Exception):
                pass
