"""No ghost seats: a browser that comes back without a resume token (it crashed, or its tab was
closed and opened again) takes back the seat it still holds in the room.

The browser keeps a device id (static/js/device.js, in localStorage) and sends it on the room
socket's URL (`?device=<id>`, docs/protocol.md). A fresh join of the same user with the same
device id first ends that user's peers of the device that are only held: suspended (their socket
dropped) or with a socket silent for 1.5 heartbeats (half-open after a crash). The
others get `peer-left` ("disconnected") for the old peer, then `peer-joined` for the new one, and
the seat is free for it. A socket of the device that is alive (another tab) keeps its seat, and
two devices of one user count separately.
"""

import asyncio
import logging
import re
import time

from .records import Gone

logger = logging.getLogger(__name__)

DEVICE_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
TAKEBACK_WAIT = 2.0  # the longest a join waits for the held peers' processes to let them go
DEAD_AFTER = 0.3  # ... or this long, for a process that no longer listens on the bus (it died)
POLL = 0.05
# A socket is taken for half-open once silent this many heartbeats (a live client pings every one;
# at two, housekeeping times it out anyway).
SILENT_HEARTBEATS = 1.5


def socket_silent(session) -> bool:
    return time.monotonic() - session.last_seen > SILENT_HEARTBEATS * session.config["HEARTBEAT"]


def device_id_clean(raw: str) -> str:
    """The device id of the socket's query, "" if absent or not one (ignored, never refused)."""
    return raw if DEVICE_ID.fullmatch(raw) else ""


async def seats_take_back(session) -> None:
    """End the held peers of this user and device (see the module), waiting until they are gone."""
    node = session.node
    registry = node.registry
    held = [
        peer
        for peer in await registry.peers_list(slug=session.slug)
        if peer.user_id == session.user_id and peer.device == session.device
    ]
    for peer in held:
        session.room.control(peer.node, peer.peer_id, "release")
    held = [peer for peer in held if not _alive_here(session.room, peer)]  # another tab: no wait for it
    started = time.monotonic()
    while held and time.monotonic() - started < TAKEBACK_WAIT:
        await asyncio.sleep(POLL)
        still = []
        for peer in held:
            if await registry.peer_get(slug=session.slug, peer_id=peer.peer_id) is None:
                continue
            if time.monotonic() - started > DEAD_AFTER and not await node.bus.listening(peer.node):
                await _remove(session, peer)  # its process died: nobody else will let it go soon
                continue
            still.append(peer)
        held = still
    if held:
        logger.info("device peers %s are alive: user %s joins beside them", [p.peer_id for p in held], session.user_id)


def _alive_here(room, peer) -> bool:
    """The peer has a live (not silent) socket on this process: it stays, nothing to wait for."""
    local = room.local.get(peer.peer_id) if peer.node == room.node.node_id else None
    return local is not None and not socket_silent(local)


async def _remove(session, peer) -> None:
    removed, remaining = await session.node.registry.leave(slug=session.slug, peer=peer)
    if removed:
        session.room.peers_gone([Gone(peer=peer, reason="disconnected")], remaining)
