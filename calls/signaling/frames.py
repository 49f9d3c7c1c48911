"""What a room socket's frames do: one handler per client frame type, registered in DISPATCH.

A new frame type is a Struct in calls.protocol.incoming, a handler here, and one line in
DISPATCH. A handler raises ProtocolError for a refused frame (an error frame with its code,
nothing changed).
"""

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from channels.db import database_sync_to_async

from calls.models import Room as RoomModel
from calls.protocol import (
    CLOSE_CODES,
    ClientFrame,
    ProtocolError,
    ice_frame_spliced,
    incoming,
)
from calls.protocol.outgoing import Answer, Chat, IceServersSent, Media, Offer, Pong, RoomUpdate
from calls.services.rooms import room_set_locked
from calls.services.turn import ice_servers_build

from . import features
from .admission import KICK_BAN_SECONDS
from .joining import resume_token
from .views import view

PEER_ID_MAX = 64  # longer ids are unknown without a look-up

Handler = Callable[..., Awaitable[None]]


async def _route(session, to: str) -> str:
    """The node of peer `to` of this room, for a relayed offer, answer or candidate."""
    if to == session.peer.peer_id:
        raise ProtocolError("unknown-peer", "You cannot signal yourself.")
    node = await session.room.locate(to) if len(to) <= PEER_ID_MAX else None
    if node is None:
        raise ProtocolError("unknown-peer", "No such peer in this room.")
    return node


async def offer(session, frame: incoming.Offer) -> None:
    session.node.stats.relayed_offer += 1
    text = Offer(sender=session.peer.peer_id, sdp=frame.sdp).to_text()
    session.room.send(await _route(session, frame.to), frame.to, text)


async def answer(session, frame: incoming.Answer) -> None:
    session.node.stats.relayed_answer += 1
    text = Answer(sender=session.peer.peer_id, sdp=frame.sdp).to_text()
    session.room.send(await _route(session, frame.to), frame.to, text)


async def ice(session, frame: incoming.Ice) -> None:
    session.node.stats.relayed_ice += 1
    text = ice_frame_spliced(sender=session.peer.peer_id, candidate_json=frame.candidate_json)
    session.room.send(await _route(session, frame.to), frame.to, text)


async def ping(session, frame: incoming.Ping) -> None:
    session.reply(Pong(id=frame.id, resume_token=resume_token(session)).to_text())


async def chat(session, frame: incoming.Chat) -> None:
    session.node.stats.relayed_chat += 1
    ts = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    peer = session.peer
    text = Chat(id=uuid.uuid4().hex, sender=peer.peer_id, user=peer.user, text=frame.text, ts=ts).to_text()
    features.chat_keep(session, text)
    session.room.broadcast(text)


async def media(session, frame: incoming.Media) -> None:
    peer = session.peer
    before = peer.media
    peer.media = {"audio": frame.audio, "video": frame.video, "screen": frame.screen}
    try:
        await session.node.registry.media_set(slug=session.slug, peer=peer)
    except BaseException:  # not stored, so not announced: the record stays as the others know it
        peer.media = before
        raise
    session.node.stats.relayed_media += 1
    session.room.broadcast(Media(sender=peer.peer_id, **peer.media).to_text(), exclude=peer.peer_id, snapshot=True)


async def ice_servers(session, frame: incoming.IceServers) -> None:
    servers, ttl = ice_servers_build(user_id=session.user_id)
    session.reply(IceServersSent(ice_servers=servers, ice_ttl=ttl).to_text())


def _require_moderator(session) -> None:
    if not session.info.moderator:
        raise ProtocolError("forbidden", "Only the room owner or staff may do that.")


async def kick(session, frame: incoming.Kick) -> None:
    _require_moderator(session)
    if frame.peer == session.peer.peer_id:
        raise ProtocolError("bad-message", "You cannot kick yourself; use leave.")
    registry = session.node.registry
    target = await registry.peer_get(slug=session.slug, peer_id=frame.peer)
    if target is None:
        raise ProtocolError("unknown-peer", "No such peer in this room.")
    await registry.ban(slug=session.slug, user_id=target.user_id, seconds=KICK_BAN_SECONDS, by=session.peer.user)
    session.node.stats.relayed_kick += 1
    session.room.control(target.node, frame.peer, "kick", by=session.peer.user)


async def lock(session, frame: incoming.Lock) -> None:
    _require_moderator(session)
    await database_sync_to_async(_room_lock)(session.info.id, frame.locked)
    session.info.locked = frame.locked
    session.node.stats.relayed_lock += 1
    session.room.broadcast(RoomUpdate(locked=frame.locked).to_text(), snapshot=True)


def _room_lock(room_id: int, locked: bool) -> None:
    room_set_locked(room=RoomModel.objects.get(pk=room_id), locked=locked)


async def leave(session, frame: incoming.Leave) -> None:
    await session.close(CLOSE_CODES["left"], "left")


async def knock_answer(session, frame: incoming.KnockAnswer) -> None:
    """Let a knocking person in (or not), on whichever process their knock waits (calls.signaling.knocks)."""
    _require_moderator(session)
    node, _, _ = frame.knock.partition(".")
    kind = ("admit-allow" if frame.allow else "admit") if frame.admit else "deny"
    session.room.control(node, frame.knock, kind, by=session.peer.user)


DISPATCH: dict[type[ClientFrame], Handler] = {
    incoming.Offer: offer,
    incoming.Answer: answer,
    incoming.Ice: ice,
    incoming.Ping: ping,
    incoming.Chat: chat,
    incoming.Media: media,
    incoming.IceServers: ice_servers,
    incoming.Kick: kick,
    incoming.Lock: lock,
    incoming.Leave: leave,
    incoming.Hand: features.hand,
    incoming.Reaction: features.reaction,
    incoming.Record: features.record,
    incoming.KnockAnswer: knock_answer,
    incoming.View: view,
}
