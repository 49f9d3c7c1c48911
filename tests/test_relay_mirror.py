"""A room's per-process view of who is in it (its mirror), under the join race between processes.

Two peers join the same room at the same moment on two processes. Redis orders their seat
claims: the first claim returns no peers, the second returns the first. The second peer's
`peer-joined` can reach the first peer's process before that peer's own join has attached
there. That join must still enter the room's view, or everything the first peer sends
afterwards (chat, media state) never reaches the second: in a 200-room load test, whole
sender/receiver pairs were missing.
"""

import orjson
from django.conf import settings

from calls.signaling.bus import MemoryBus
from calls.signaling.envelopes import Frames, batch_decode, batch_encode
from calls.signaling.node import Node
from calls.signaling.records import PeerRecord
from calls.signaling.registry_memory import MemoryRegistry


class FakeOutbox:
    def __init__(self) -> None:
        self.frames: list[dict] = []

    def put(self, text: str) -> bool:
        self.frames.append(orjson.loads(text))
        return True


class FakeSession:
    def __init__(self, peer: PeerRecord) -> None:
        self.peer, self.user_id, self.outbox = peer, peer.user_id, FakeOutbox()


def _node() -> Node:
    return Node(node_id="here", config=settings.SIGNALING, registry=MemoryRegistry(), bus=MemoryBus())


def _arrives(node: Node, *envelopes) -> None:
    """As the bus hands them over: encoded and decoded, one batch."""
    node.receive(batch_decode(batch_encode(list(envelopes))))


def test_a_join_announced_while_our_peer_is_still_joining_enters_the_room_view():
    node = _node()
    first = PeerRecord(peer_id="first", node="here", user={"id": 1, "username": "a", "display_name": "A"})
    second = {"peer_id": "second", "user": {"id": 2, "username": "b", "display_name": "B"}}
    announcement = orjson.dumps({"type": "peer-joined", "peer": second}).decode()
    room = node.room("room")
    session = FakeSession(first)

    with room.expecting("first"):  # its seat is claimed; attach() has not run yet
        _arrives(
            node, Frames(slug="room", peers=["first"], text=announcement, snapshot=True, joined=("second", "there"))
        )
        room.attach(session, [], first=[])  # its claim came first: no other peers in its reply

    assert room.mirror == {"first": "here", "second": "there"}
    assert [frame["type"] for frame in session.outbox.frames] == ["peer-joined"]


def test_an_announcement_for_a_room_we_are_not_in_makes_no_view():
    node = _node()
    _arrives(node, Frames(slug="elsewhere", peers=["nobody"], text="{}", joined=("x", "there")))
    assert "elsewhere" not in node.rooms


def test_a_claim_that_fails_drops_what_was_held_and_the_room():
    node = _node()
    room = node.room("room")
    try:
        with room.expecting("first"):
            _arrives(node, Frames(slug="room", peers=["first"], text="{}"))
            raise ConnectionError("the seat claim failed")
    except ConnectionError:
        pass
    assert "room" not in node.rooms and room.joining == {}
