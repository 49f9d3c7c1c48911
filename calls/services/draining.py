"""A web process that stops without dropping its calls (config.serve runs the steps on SIGTERM).

1. `drain_begin`: /readyz answers 503 (calls.views.readiness_report), so the proxy's health checks
   take the process out and send new sockets elsewhere (DRAIN_NOTICE seconds);
2. `sockets_move`: every room socket's peer is held as if its socket had dropped, without telling
   the others (no `peer-suspended`), its outbox is written out, and the socket closed with 4012
   `moving`; presence sockets close with 4012 too, the user staying online, and a waiting knock
   ends (`knock-ended` `moved`) with 4012, so that it is asked again elsewhere. The clients reconnect
   at once, to another process, and resume: same peer id, the frames meanwhile delivered, in
   order (calls.signaling.joining, calls.signaling.handover). A socket that opens from then on is
   closed with 4012 before it joins;
3. `handovers_pending`: what still waits for the other processes (peers not resumed elsewhere yet,
   frames being kept or forwarded for them); the process exits when nothing does, or at DRAIN_TIMEOUT.
"""

import logging

from calls.services.metrics import sockets_drained_count

logger = logging.getLogger(__name__)


class _Drain:
    __slots__ = ("draining", "moving")

    def __init__(self) -> None:
        self.draining = False
        self.moving = False


_drain = _Drain()


def drain_begin() -> None:
    """From now on the process is not ready (/readyz 503); its sockets still work."""
    _drain.draining = True


def process_draining() -> bool:
    return _drain.draining


def sockets_moving() -> bool:
    """The sockets are being moved: a new one is closed with 4012 before it joins."""
    return _drain.moving


async def sockets_move() -> int:
    """Move every room and presence socket of the process (see the module); how many it moved.
    Called again until no socket is left: one that finished joining meanwhile is moved by the next call."""
    from calls.services.presence_service import presence_services
    from calls.signaling.leaving import session_move
    from calls.signaling.node import nodes_serving

    _drain.draining = _drain.moving = True
    moved = 0
    for _, node in nodes_serving():
        for session in node.sessions():
            try:
                await session_move(session)
            except Exception:  # the socket closes anyway; its peer is then suspended as for a drop
                logger.exception("could not hand over peer %s", session.peer.peer_id)
            sockets_drained_count("room")
            moved += 1
        for room in list(node.rooms.values()):
            for knock in list(room.knocks.values()):  # asked again on another process (knock.js)
                knock.control("move")
                sockets_drained_count("knock")
                moved += 1
    for service in presence_services():
        for presence in list(service.local.values()):
            await presence.move()
            sockets_drained_count("presence")
            moved += 1
    return moved


def handovers_pending() -> int:
    """Peers this process still holds for a resume elsewhere, and rooms with frames being kept or
    forwarded for them: the process waits for these before it exits."""
    from calls.signaling.node import nodes_serving

    pending = 0
    for _, node in nodes_serving():
        for room in list(node.rooms.values()):
            suspended = room.suspended
            here = [peer for peer in suspended.peers if room.mirror.get(peer, node.node_id) == node.node_id]
            pending += len(here) + (1 if suspended.pending or suspended.buffering else 0)
    return pending
