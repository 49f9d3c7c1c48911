"""A room socket's end: it leaves (the others are told `peer-left`), its seat is held for a resume
(it dropped: `peer-suspended`), or it moves to another process (a drain: nothing is announced)."""

import logging

from calls.protocol import CLOSE_CODES
from calls.protocol.outgoing import PeerLeft

from .away import peer_suspended_announce
from .hooks import peers_left

logger = logging.getLogger(__name__)


async def session_leave(session, reason: str) -> None:
    """Remove the peer once; tell the others unless someone (a reaper) already did."""
    if not session.joined or session.left:
        return
    session.left = True
    session.room.detach(session)
    failed = False
    try:
        removed, remaining = await session.node.registry.leave(slug=session.slug, peer=session.peer)
    except Exception:
        logger.exception("could not remove peer %s from %s", session.peer.peer_id, session.slug)
        removed, remaining, failed = False, [], True
    if removed:
        session.room.broadcast(
            PeerLeft(peer_id=session.peer.peer_id, reason=reason).to_text(),
            targets=remaining,
            left=session.peer.peer_id,
        )
        peers_left(session.room, [session.peer.peer_id], remaining)
    elif not failed:
        return  # a reaper removed it (and closed its row), or another process adopted it
    session.node.participations.close(peer_id=session.peer.peer_id, reason=reason)


async def session_move(session) -> None:
    """The process is draining (calls.services.draining): the seat is held as for a dropped
    socket, without telling the others, what the outbox holds goes out, then close 4012: the
    client resumes the same peer on another process at once."""
    if session.joined and not session.left:
        await session_suspend(session, announce=False)
    session.outbox.put({"type": "websocket.close", "code": CLOSE_CODES["moving"]})


async def session_suspend(session, *, announce: bool = True) -> None:
    """The socket dropped without `leave`: keep the seat for RESUME_GRACE seconds, then leave.
    `announce`: the others see the peer as reconnecting (`peer-suspended`)."""
    grace = session.config["RESUME_GRACE"]
    if not session.joined or session.left:
        return
    if grace <= 0:
        await session_leave(session, "disconnected")
        return
    session.left = True
    session.room.suspend(session, grace)
    try:
        marked = await session.node.registry.suspend(slug=session.slug, peer=session.peer, grace=grace)
    except Exception:
        logger.exception("could not suspend peer %s; it leaves now", session.peer.peer_id)
        session.room.suspended.confirm(session.peer.peer_id, False)
        session.left = False
        await session_leave(session, "disconnected")
        return
    session.room.suspended.confirm(session.peer.peer_id, marked)
    if marked and announce:
        peer_suspended_announce(room=session.room, peer_id=session.peer.peer_id)
