"""A socket's admission to a room: the checks, the atomic seat claim in the registry, or the
resume of a peer that was away (on this process, another one, or one that died).

The database is touched only here and at leave (and for the rare moderator lock): the
per-message path stays in memory.
"""

import asyncio
import contextlib
import secrets
import time

from django.conf import settings

from calls.protocol.outgoing import PROTOCOL_VERSION, PeerJoined, Welcome
from calls.services.rooms import room_access_fetch
from calls.services.turn import ice_servers_build

from .admission import Refusal, resume_token_make, resume_token_peer, room_admit, seat_refusal
from .away import peer_resumed_announce
from .hooks import welcome_sections
from .knocks import knock_pass_valid
from .records import JoinResult, PeerRecord, Restoring, Resumed, SeatRefused
from .registry import RESTORE_WINDOW
from .takeover import seats_take_back

TAKEOVER_WAIT = 2.0  # seconds a resuming socket waits for its old socket's process to let go
TAKEOVER_DEAD_AFTER = 0.3  # ... or this long, if that process no longer listens on the bus (it died)
JOIN_PUBLISH_WAIT = 1.0  # the longest a join waits for its `peer-joined` to reach Redis (an outage)
RESTORE_POLL = 0.1  # how often a join held by a registry restore tries again


async def session_join(session, *, resume_token: str | None, admission_pass: str | None = None) -> None:
    """Admit the socket or raise Refusal; sends `welcome` and announces `peer-joined`.

    With a valid `resume_token` of a peer still held in the room (suspended, or with a socket
    that looks open), the socket takes that peer over instead: same peer_id, nothing announced,
    the frames it missed delivered. A locked room lets only such a peer back.
    """
    user = session.user
    if not user.is_authenticated:
        raise Refusal("unauthenticated", "Sign in to join a call.", reason="signed-out")
    resume_peer = resume_token_peer(token=resume_token, slug=session.slug, user_id=user.pk) if resume_token else None
    access = await room_access_fetch(slug=session.slug, user_id=user.pk)
    if resume_peer is not None:
        session.info = room_admit(access, user, resuming=True)
        if await _resume(session, resume_peer):
            return
    # A fresh join, whatever token came with it (one of a peer that left, was kicked or timed
    # out, or whose grace ran out): every admission check, the locked room's included.
    admitted = knock_pass_valid(token=admission_pass, slug=session.slug, user_id=user.pk)
    session.info = room_admit(access, user, resuming=False, admitted=admitted)
    if session.device:
        await seats_take_back(session)
    session.peer = PeerRecord(
        peer_id=secrets.token_urlsafe(12), node=session.node.node_id, user=user.public_dict(), device=session.device
    )
    room = session.room_claim()  # not the one a failed resume just above let go
    with room.expecting(session.peer.peer_id):
        result = await _seat_claim(session)
        extras = await welcome_sections(session, fresh=True)
        session.joined = True
        room.peers_gone(result.reaped, result.peers)
        room.broadcast(
            PeerJoined(peer=session.peer.public()).to_text(),
            exclude=session.peer.peer_id,
            targets=result.peers,
            joined=session.peer,
        )
        # The other processes hear of the peer before it hears it is in: what their peers send
        # once it could know of them reaches it (a chat right after `welcome` was lost, 2 in 4,000).
        if session.node.bus.flushing is not None:  # something for another process is on its way
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(session.node.bus.flushed(), JOIN_PUBLISH_WAIT)
        welcome = _welcome(session, result.peers, resumed=False, extras=extras.fields)
        room.attach(session, result.peers, first=[welcome, *extras.after])
    session.node.participations.open(room_id=session.info.id, user_id=user.pk, peer_id=session.peer.peer_id)


async def _seat_claim(session) -> JoinResult:
    """The seat, or Refusal; while Redis is being restored after a restart, wait for it."""
    config = session.config
    deadline = time.monotonic() + RESTORE_WINDOW + 1.0
    while True:
        try:
            return await session.node.registry.join(
                slug=session.slug,
                peer=session.peer,
                capacity=session.info.capacity,
                max_per_user=config["MAX_SOCKETS_PER_USER"],
                ttl=config["PEER_TTL"],
                refuse_banned=not session.info.moderator,
            )
        except Restoring:
            if time.monotonic() > deadline:
                raise Refusal("unavailable", "The call service is restarting; try again shortly.") from None
            await asyncio.sleep(RESTORE_POLL)
        except SeatRefused as refused:
            session.room.peers_gone(refused.gone)
            raise await seat_refusal(
                refused,
                registry=session.node.registry,
                slug=session.slug,
                user_id=session.user_id,
                capacity=session.info.capacity,
                max_per_user=config["MAX_SOCKETS_PER_USER"],
            ) from None


async def _resume(session, peer_id: str) -> bool:
    room = session.room_claim()
    with room.expecting(peer_id):
        resumed = await _resume_claim(session, peer_id) or await _take_over(session, peer_id)
        if resumed is None:
            return False  # the grace ran out, or the peer left: join afresh
        session.peer = resumed.peer
        extras = await welcome_sections(session, fresh=False)
        held = await room.handovers.wait(peer_id, resumed.previous_node)  # no await from here to attach
        session.joined = True
        rerouted = session.node.bus.reroute(peer_id, session.node.node_id)
        welcome = _welcome(session, resumed.others, resumed=True, extras=extras.fields)
        first = [welcome, *extras.after, *resumed.buffered, *rerouted]
        room.attach(session, resumed.others, first=first, held=held)
    room.handovers.announce(session.peer, resumed.others, resumed.previous_node, told=True)
    peer_resumed_announce(room=room, peer_id=peer_id, others=resumed.others)
    return True


async def _resume_claim(session, peer_id: str) -> Resumed | None:
    resumed = await session.node.registry.resume(
        slug=session.slug,
        peer_id=peer_id,
        user_id=session.user_id,
        node=session.node.node_id,
        ttl=session.config["PEER_TTL"],
    )
    if resumed is not None:
        local = resumed.previous_node == session.node.node_id
        session.node.stats.count("resumed_local" if local else "resumed_remote")
    return resumed


async def _take_over(session, peer_id: str) -> Resumed | None:
    """The old socket of this peer still looks open (half-open after a network change, usually):
    ask its process to suspend it, then claim it. A process that does not answer has died: the
    peer is adopted from it, with the frames kept for it meanwhile."""
    node = session.node
    record = await node.registry.peer_get(slug=session.slug, peer_id=peer_id)
    if record is None or record.user_id != session.user_id:
        return None
    session.room.control(record.node, peer_id, "replace")
    started = time.monotonic()
    while time.monotonic() - started < TAKEOVER_WAIT:
        await asyncio.sleep(0.05)
        resumed = await _resume_claim(session, peer_id)
        if resumed is not None:
            return resumed
        if time.monotonic() - started > TAKEOVER_DEAD_AFTER and not await node.bus.listening(record.node):
            break
    if record.node == node.node_id:
        return None
    adopted = await node.registry.adopt(
        slug=session.slug,
        peer_id=peer_id,
        user_id=session.user_id,
        old_node=record.node,
        node=node.node_id,
        ttl=session.config["PEER_TTL"],
    )
    if adopted is not None:
        node.stats.resumed_adopted += 1
    return adopted


def _welcome(session, others: list[PeerRecord], *, resumed: bool, extras: dict) -> str:
    ice_servers, ice_ttl = ice_servers_build(user_id=session.user_id)
    info = session.info
    return Welcome(
        v=PROTOCOL_VERSION,
        peer_id=session.peer.peer_id,
        room={"slug": info.slug, "name": info.name, "capacity": info.capacity, "locked": info.locked},
        you=session.peer.user,
        peers=[peer.public() for peer in others],
        ice_servers=ice_servers,
        ice_ttl=ice_ttl,
        heartbeat=max(1, int(session.config["HEARTBEAT"])),
        moderator=info.moderator,
        resume_token=resume_token(session),
        resumed=resumed,
        ice_transport_policy=settings.ICE_TRANSPORT_POLICY,
        **extras,
    ).to_text()


def resume_token(session) -> str:
    return resume_token_make(slug=session.slug, peer_id=session.peer.peer_id, user_id=session.user_id)
