"""The others see a peer whose socket dropped as reconnecting: `peer-suspended` when the registry
holds its seat for the resume grace, `peer-resumed` when it is back (on any process). A grace that
runs out ends with the usual `peer-left` ("disconnected")."""

from calls.protocol.outgoing import PeerResumed, PeerSuspended

from .records import PeerRecord


def peer_suspended_announce(*, room, peer_id: str) -> None:
    """To every other peer of the room, on every process. A snapshot: not kept for a peer that is
    away too (the `welcome` of its resume shows the room as it is then)."""
    room.broadcast(PeerSuspended(peer_id=peer_id).to_text(), exclude=peer_id, snapshot=True)


def peer_resumed_announce(*, room, peer_id: str, others: list[PeerRecord]) -> None:
    """To the registry's members of the room (a peer that joined while it was away included)."""
    room.broadcast(PeerResumed(peer_id=peer_id).to_text(), exclude=peer_id, targets=others, snapshot=True)
