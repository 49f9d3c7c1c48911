"""Can the Channels channel layer itself be the bus between processes? (issue #14)

Relays frames between two nodes of one room set, the way a split room (one peer on each process)
does, through each candidate bus, and prints frames per CPU-second of the process that holds both
nodes (sender and receiver: both are server work). Loopback only, its own redis-server.

- `bus`: calls.signaling.bus.RedisBus, what the server uses: one pub/sub channel per node, the
  envelopes of an event-loop turn for a node in one PUBLISH (msgspec-encoded), pipelined;
- `layer`: channels-redis's RedisPubSubChannelLayer with one group per room (the product's
  "channel-layer groups as rooms"), each node's channel in the groups of its rooms, and the same
  per-turn batching on top: the frames of a turn for a room in one `group_send`. Every node in
  a room hears every frame sent to the room, including the sender's own node.

    .venv/bin/python bench/bus.py --rooms 200 --turns 300
"""

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

import django

django.setup()

from bench.signaling import RedisServer  # noqa: E402
from calls.infra.redis import redis_client_create  # noqa: E402
from calls.signaling.bus import RedisBus  # noqa: E402
from calls.signaling.envelopes import Frames  # noqa: E402
from calls.signaling.stats import Stats  # noqa: E402

TEXT = '{"type":"ice","from":"Zk9yZXN0LWdyZWVu","candidate":{"candidate":"candidate:1 1 udp 2122260223 ' + (
    '127.0.0.1 50000 typ host","sdpMid":"0","sdpMLineIndex":0}}'
)


async def run_bus(url: str, rooms: int, turns: int) -> tuple[int, float, float]:
    client = redis_client_create(url)
    sender = RedisBus(client=client, prefix="bench", node_id="a", stats=Stats())
    receiver = RedisBus(client=redis_client_create(url), prefix="bench", node_id="b", stats=Stats())
    got = 0
    done = asyncio.Event()
    total = rooms * turns

    def arrived(envelopes) -> None:
        nonlocal got
        got += sum(len(envelope.peers) for envelope in envelopes)
        if got >= total:
            done.set()

    await sender.start(lambda envelopes: None, lambda *a: None, lambda: None)
    await receiver.start(arrived, lambda *a: None, lambda: None)
    return await _drive(
        lambda room: sender.publish("b", Frames(slug=f"r{room}", peers=[f"p{room}"], text=TEXT)),
        rooms,
        turns,
        done,
        lambda: got,
        [sender, receiver],
    )


class LayerNodes:
    """Two nodes on channels-redis's pub/sub layer, each in every room's group."""

    def __init__(self, url: str, rooms: int, total: int) -> None:
        from channels_redis.pubsub import RedisPubSubChannelLayer

        self.nodes = [RedisPubSubChannelLayer(hosts=[url], prefix="bench") for _ in range(2)]
        self.rooms, self.total = rooms, total
        self.got = 0
        self.done = asyncio.Event()
        self.pending: dict[int, list] = {}
        self.tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        for index, layer in enumerate(self.nodes):
            channel = await layer.new_channel()
            for room in range(self.rooms):
                await layer.group_add(f"room.r{room}", channel)
            self.tasks.append(asyncio.create_task(self._receive(layer, channel, receiver=index == 1)))

    async def _receive(self, layer, channel: str, *, receiver: bool) -> None:
        while True:
            message = await layer.receive(channel)
            if receiver:  # the receiving node keeps the frames for its peers; the sender's drops its own
                self.got += len(message["frames"])
                if self.got >= self.total:
                    self.done.set()

    def send(self, room: int) -> None:
        if not self.pending:
            self.tasks.append(asyncio.create_task(self._flush()))
        self.pending.setdefault(room, []).append([[f"p{room}"], TEXT])

    async def _flush(self) -> None:
        await asyncio.sleep(0)  # the turn's frames, one group_send per room
        batch, self.pending = self.pending, {}
        sender = self.nodes[0]
        await asyncio.gather(
            *(sender.group_send(f"room.r{room}", {"type": "relay", "frames": frames}) for room, frames in batch.items())
        )

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for layer in self.nodes:
            await layer.flush()


async def run_layer(url: str, rooms: int, turns: int) -> tuple[int, float, float]:
    nodes = LayerNodes(url, rooms, rooms * turns)
    await nodes.start()
    return await _drive(nodes.send, rooms, turns, nodes.done, lambda: nodes.got, [nodes])


async def _drive(send, rooms: int, turns: int, done: asyncio.Event, count, closers) -> tuple[int, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    for _turn in range(turns):
        for room in range(rooms):
            send(room)
        await asyncio.sleep(0.001)  # the next turn: frames keep coming while earlier ones fly
    await asyncio.wait_for(done.wait(), 60)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    for closer in closers:
        await closer.close()
    return count(), wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rooms", type=int, default=200)
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    redis = RedisServer()
    try:
        for _ in range(args.repeat):
            for name, run in (("bus", run_bus), ("layer", run_layer)):
                delivered, wall, cpu = asyncio.run(run(redis.url, args.rooms, args.turns))
                print(
                    f"{name:6} {delivered:,} frames in {wall:.2f}s: {delivered / wall:,.0f}/s, "
                    f"{delivered / cpu:,.0f} per CPU-second"
                )
    finally:
        redis.stop()


if __name__ == "__main__":
    main()
