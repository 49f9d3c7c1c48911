"""One room on one process: a channel-layer group in name (`room.<slug>`), and in code the
peers of this process in it (their sessions), where every other peer is (the mirror), what is
held for a peer that is joining or away, and the sending: to a peer or to everyone.

Routing a frame needs no Redis round trip: the mirror follows the `peer-joined`/`peer-left`
broadcasts the room relays, and a miss falls back to the registry. Order is kept per sender and
receiver: a local delivery is synchronous, and the bus keeps a node's envelopes in order.
"""

import logging
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

from calls.infra.tasks import background
from calls.protocol.outgoing import PeerLeft

from .envelopes import Control, Frames
from .handover import Handovers
from .hooks import peers_left
from .records import Gone, PeerRecord
from .suspension import Suspended

logger = logging.getLogger(__name__)


class Room:
    """This process's part of one room's call."""

    __slots__ = ("handovers", "joining", "knocks", "local", "mirror", "node", "slug", "suspended")

    def __init__(self, node, slug: str) -> None:
        self.node = node
        self.slug = slug
        self.local: dict[str, object] = {}  # peer_id -> its Session, for the peers with a socket here
        self.mirror: dict[str, str] = {}  # peer_id -> node, every peer of the room this process knows
        self.joining: dict[str, list[str]] = {}  # peer_id -> frames that came before its socket attached
        self.suspended = Suspended(self)
        self.knocks: dict[str, object] = {}  # knock id -> a Knock waiting here (calls.signaling.knocks)
        self.handovers = Handovers(self)  # peers resuming here from another live node

    def idle(self) -> bool:
        """Nothing of this process is in the room any more: it can be forgotten."""
        return not (self.local or self.suspended or self.joining)

    # Membership -------------------------------------------------------------------------------
    @contextmanager
    def expecting(self, peer_id: str) -> Iterator[None]:
        """A socket is claiming `peer_id`: frames for it are held until `attach` (other processes
        may learn of the peer from the registry before this one has its reply); if it does not
        attach, they are dropped with the claim."""
        self.joining[peer_id] = []
        try:
            yield
        finally:
            if self.joining.pop(peer_id, None) is not None:
                self.node.room_release(self)

    def attach(self, session, others: list[PeerRecord], first: list[str], held: list[str] = ()) -> None:
        """The socket has the peer: it gets `first` (its welcome, what was kept for it), then what
        was held meanwhile (from other processes, then `held`: from this one's, see `Handovers.wait`),
        then whatever comes."""
        peer_id = session.peer.peer_id
        self.suspended.drop(peer_id)
        self.local[peer_id] = session
        local = self.local
        for peer in others:
            if peer.peer_id not in local:  # a peer attached here meanwhile: `others` may predate its resume
                self.mirror[peer.peer_id] = peer.node
        self.mirror[peer_id] = self.node.node_id
        for text in [*first, *self.joining.pop(peer_id, ()), *held]:
            session.outbox.put(text)
        self.node.socket_counted(session.user_id, 1)

    def detach(self, session) -> None:
        peer_id = session.peer.peer_id
        self._unlink(session)
        self.mirror.pop(peer_id, None)
        self.node.room_left(self)

    def suspend(self, session, grace: float) -> None:
        """The socket is gone but the peer stays for `grace` seconds (calls.signaling.suspension)."""
        self._unlink(session)
        self.suspended.add(session.peer.peer_id, grace)
        self.node.room_left(self)

    def _unlink(self, session) -> None:
        if self.local.get(session.peer.peer_id) is session:
            del self.local[session.peer.peer_id]
            self.node.socket_counted(session.user_id, -1)

    def peers_gone(self, gone: list[Gone], remaining: list[PeerRecord] | None = None) -> None:
        """Announce peers removed by expiry (or a refused join's reaping) and close their audit rows."""
        for entry in gone:
            logger.info("peer %s left %s (%s)", entry.peer.peer_id, self.slug, entry.reason)
            text = PeerLeft(peer_id=entry.peer.peer_id, reason=entry.reason).to_text()
            self.broadcast(text, targets=remaining, left=entry.peer.peer_id)
            self.suspended.drop(entry.peer.peer_id)
        if gone:
            self.node.peers_gone([(entry.peer.peer_id, entry.reason) for entry in gone])
            peers_left(self, [entry.peer.peer_id for entry in gone], remaining)
            self.node.room_release(self)

    def peers_met(self, met: list[PeerRecord]) -> None:
        """Peers this process did not know of are in the room (they joined while Redis was being
        restored): they go in the mirror, so frames reach them."""
        for peer in met:
            self.mirror.setdefault(peer.peer_id, peer.node)

    # Sending ---------------------------------------------------------------------------------
    async def locate(self, peer_id: str) -> str | None:
        """The node of `peer_id` if it is in the room, else None."""
        node = self.mirror.get(peer_id)
        if node is not None:
            return node
        record = await self.node.registry.peer_get(slug=self.slug, peer_id=peer_id)
        if record is None:
            return None
        self.mirror[peer_id] = record.node
        return record.node

    def send(self, node: str, peer_id: str, text: str) -> None:
        """Deliver `text` to one peer whose node is known."""
        if node != self.node.node_id:
            self.node.bus.publish(node, Frames(slug=self.slug, peers=[peer_id], text=text))
            return
        session = self.local.get(peer_id)
        if session is None:
            self._absent(peer_id, text)
            return
        self.node.stats.delivered_local += 1
        session.outbox.put(text)

    def broadcast(
        self,
        text: str,
        *,
        exclude: str | None = None,
        targets: list[PeerRecord] | None = None,
        joined: PeerRecord | None = None,
        left: str | None = None,
        snapshot: bool = False,
    ) -> None:
        """Deliver `text` to every peer of the room (or `targets`: joins and leaves pass the registry's
        member list, so a peer that joined a moment ago is never missed), updating the mirrors."""
        snapshot = snapshot or joined is not None or left is not None
        if targets is not None:
            members = {peer.peer_id: peer.node for peer in targets}
        else:
            members = dict(self.mirror)
        if joined is not None:
            self.mirror[joined.peer_id] = joined.node
        if left is not None:
            self.mirror.pop(left, None)
        remote = self._deliver_local(members, text, exclude, left, snapshot)
        joined_pair = (joined.peer_id, joined.node) if joined is not None else None
        for node, peer_ids in remote.items():
            envelope = Frames(
                slug=self.slug, peers=peer_ids, text=text, snapshot=snapshot, joined=joined_pair, left=left
            )
            self.node.bus.publish(node, envelope)

    def _deliver_local(self, members: dict, text: str, exclude, left, snapshot: bool) -> dict[str, list[str]]:
        """Deliver to the members on this node; returns the others by node."""
        remote: dict[str, list[str]] = defaultdict(list)
        here = self.node.node_id
        stats = self.node.stats
        for peer_id, node in members.items():
            if peer_id == exclude or peer_id == left:
                continue
            if node != here:
                remote[node].append(peer_id)
                continue
            session = self.local.get(peer_id)
            if session is not None:
                stats.delivered_local += 1
                session.outbox.put(text)
            else:
                self._absent(peer_id, text, snapshot=snapshot)
        return remote

    def control(self, node: str, peer_id: str, kind: str, by: dict | None = None) -> None:
        """Deliver a server decision (kick, replace) to one peer's socket, wherever it is."""
        if node == self.node.node_id:
            self.control_local([peer_id], kind, by)
        else:
            self.node.bus.publish(node, Control(slug=self.slug, peers=[peer_id], kind=kind, by=by))

    def control_local(self, peer_ids: list[str], kind: str, by: dict | None) -> None:
        for peer_id in peer_ids:
            session = self.local.get(peer_id) or self.knocks.get(peer_id)  # or a Knock
            if session is not None:
                session.control(kind, by=by)
            elif kind == "kick" and peer_id in self.suspended:
                background(self.suspended.remove(peer_id, "kicked"))
            elif kind == "release" and peer_id in self.suspended:  # its device is back (calls.signaling.takeover)
                background(self.suspended.remove(peer_id, "disconnected"))

    # From other processes --------------------------------------------------------------------
    def receive(self, envelope: Frames) -> None:
        if envelope.joined is not None:
            self.mirror[envelope.joined[0]] = envelope.joined[1]
        if envelope.left is not None:
            self.mirror.pop(envelope.left, None)
        local = self.local
        text = envelope.text
        for peer_id in envelope.peers:
            session = local.get(peer_id)
            if session is None:
                self._absent(peer_id, text, snapshot=envelope.snapshot, remote=True)
            else:
                session.outbox.put(text)

    def _absent(self, peer_id: str, text: str, *, snapshot: bool = False, remote: bool = False) -> None:
        """A frame for a peer with no socket here: hold it if the peer is joining or away here.
        A frame from this node's peers for one being handed over waits behind the old node's."""
        if not remote and self.handovers.hold(peer_id, text):
            return
        early = self.joining.get(peer_id)
        if early is not None:
            if len(early) < self.node.config["OUTBOX_LIMIT"]:
                early.append(text)
            return
        if peer_id not in self.suspended:
            self.node.stats.dropped_no_peer += 1
        elif not snapshot:  # a snapshot is not kept: the resume's welcome carries the room as it is then
            self.suspended.keep(peer_id, text)
