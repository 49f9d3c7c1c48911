"""Receivers say what they show (docs/protocol.md `view`): a directed frame relayed to one peer
of the room, so that its browser scales (or pauses) the video it sends on that one link.

A layout change sends one `view` per person shown, so the frame has a budget of its own besides
the socket's: VIEW_RATE a second, VIEW_BURST saved up; over it, a `rate-limited` error and the
frame is dropped (the next change says the size again)."""

from calls.protocol import ProtocolError, incoming
from calls.protocol.outgoing import View

PEER_ID_MAX = 64
VIEW_RATE = 8.0
VIEW_BURST = 32.0


async def view(session, frame: incoming.View) -> None:
    if not session.budget.kind_allows("view", rate=VIEW_RATE, burst=VIEW_BURST):
        raise ProtocolError("rate-limited", "Too many view changes: this one was dropped.")
    if frame.to == session.peer.peer_id:
        raise ProtocolError("unknown-peer", "You cannot send a view to yourself.")
    node = await session.room.locate(frame.to) if len(frame.to) <= PEER_ID_MAX else None
    if node is None:
        raise ProtocolError("unknown-peer", "No such peer in this room.")
    session.node.stats.count("relayed_view")
    session.room.send(node, frame.to, View(sender=session.peer.peer_id, size=frame.size).to_text())
