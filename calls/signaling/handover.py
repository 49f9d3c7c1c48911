"""A peer moving between live nodes (a process draining, a socket replaced on another process):
the node it resumes on asks the old one to send on what it holds, and holds its own frames for the
peer meanwhile, so that the peer gets them all in order. One per Room (`room.handovers`).
"""

import asyncio
import logging

from .envelopes import Handover, Moved
from .records import PeerRecord

logger = logging.getLogger(__name__)

HANDOVER_WAIT = 1.0  # the longest a resume waits for its old node's Handover (typically a few ms)


class Handovers:
    """The peers of one room resuming on this node from another live one, and the answers to
    other nodes that take a peer from here."""

    __slots__ = ("room", "waiting")

    def __init__(self, room) -> None:
        self.room = room
        # peer_id -> (the old node's Handover, frames from this node's peers held until it comes)
        self.waiting: dict[str, tuple[asyncio.Future, list[str]]] = {}

    async def wait(self, peer_id: str, previous_node: str) -> list[str]:
        """A peer resuming here was suspended on another live node, which may still hold frames for
        it, or get some, from this node's peers among others: from now on this node's frames for it
        stay here, the old node is told (`Moved`) and sends on what it has, then `Handover`. Until
        that comes (HANDOVER_WAIT at most), this node's frames for the peer are held, to follow the
        old node's. Returns them, for `Room.attach`."""
        room, node = self.room, self.room.node
        if previous_node == node.node_id or not await node.bus.listening(previous_node):
            return []  # nothing on the way from there (a dead node's frames are rerouted by the bus)
        done = asyncio.get_running_loop().create_future()
        self.waiting[peer_id] = (done, held := [])
        room.mirror[peer_id] = node.node_id
        node.bus.publish(previous_node, Moved(slug=room.slug, peer_id=peer_id, node=node.node_id, answer=True))
        try:
            await asyncio.wait_for(done, HANDOVER_WAIT)
        except TimeoutError:
            logger.warning("node %s did not hand peer %s over within %.1f s", previous_node, peer_id, HANDOVER_WAIT)
        finally:
            self.waiting.pop(peer_id, None)
        return held

    def hold(self, peer_id: str, text: str) -> bool:
        """Keep a frame from this node's peers for one being handed over; False if it is not."""
        entry = self.waiting.get(peer_id)
        if entry is None:
            return False
        entry[1].append(text)
        return True

    def done(self, peer_id: str) -> None:
        """The old node's `Handover` came: what it held has arrived before it."""
        entry = self.waiting.get(peer_id)
        if entry is not None and not entry[0].done():
            entry[0].set_result(None)

    def moved(self, peer_id: str, node: str, *, answer: bool) -> None:
        """`peer_id` resumed on `node`. Asked to `answer` (`wait`): once what waits here for it has
        gone on, `Handover` (at once if it was not away here)."""
        room = self.room
        if peer_id in room.mirror:
            room.mirror[peer_id] = node
        if not answer:
            return
        if peer_id in room.suspended:
            room.suspended.hand_over(peer_id, node)
        else:
            room.node.bus.publish(node, Handover(slug=room.slug, peer_id=peer_id))

    def announce(self, peer: PeerRecord, others: list[PeerRecord], previous_node: str, *, told: bool = False) -> None:
        """A peer resumed on this node: point the other nodes' mirrors (and its old node, unless
        `told` by `wait`) here."""
        room = self.room
        here = room.node.node_id
        nodes = {other.node for other in others} | ({previous_node} if not told else set())
        nodes.discard(here)
        for node in nodes:
            room.node.bus.publish(node, Moved(slug=room.slug, peer_id=peer.peer_id, node=here))
