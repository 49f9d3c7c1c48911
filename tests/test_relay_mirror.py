"""The hub's per-process view of who is in a room, under the join race between processes.

Two peers join the same room at the same moment on two processes. Redis orders their seat
claims: the first claim returns no peers, the second returns the first. The second peer's
`peer-joined` can reach the first peer's process before that peer's own join has attached
there. That join must still enter the room's view, or everything the first peer sends
afterwards (chat, media state) never reaches the second: in a 200-room load test, whole
sender/receiver pairs were missing.
"""

import orjson
from django.conf import settings

from calls.services.relay import Hub, MemoryTransport
from calls.services.room_state import MemoryRoomState, PeerRecord


class FakeSocket:
    def __init__(self, slug: str, peer: PeerRecord) -> None:
        self.slug, self.peer, self.user_id, self.session_key, self.last_seen = slug, peer, 1, None, 0.0
        self.frames: list[dict] = []

    def deliver(self, text: str) -> None:
        self.frames.append(orjson.loads(text))

    def control(self, message: dict) -> None:
        pass


def test_a_join_announced_while_our_peer_is_still_joining_enters_the_room_view():
    hub = Hub(state=MemoryRoomState(), transport=MemoryTransport(), node_id="here", config=settings.SIGNALING)
    first = PeerRecord(peer_id="first", node="here", user={"id": 1, "username": "a", "display_name": "A"})
    second = {"peer_id": "second", "user": {"id": 2, "username": "b", "display_name": "B"}}
    announcement = orjson.dumps({"type": "peer-joined", "peer": second}).decode()

    hub.expect("first")  # its seat is claimed; attach() has not run yet
    hub._on_remote([[["first"], announcement, {"slug": "room", "join": ["second", "there"]}]])
    socket = FakeSocket("room", first)
    hub.attach(socket, [])  # its claim came first: no other peers in its reply
    for text in hub.expected("first"):
        socket.deliver(text)

    assert hub.rooms["room"] == {"first": "here", "second": "there"}
    assert [frame["type"] for frame in socket.frames] == ["peer-joined"]


def test_an_announcement_for_a_room_we_are_not_in_makes_no_view():
    hub = Hub(state=MemoryRoomState(), transport=MemoryTransport(), node_id="here", config=settings.SIGNALING)
    hub._on_remote([[["nobody"], "{}", {"slug": "elsewhere", "join": ["x", "there"]}]])
    assert "elsewhere" not in hub.rooms
