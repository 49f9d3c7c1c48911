"""Room features on top of the signaling core: raise hand, reactions, recording, recent chat.

The core calls in at four points only: the `hand`, `reaction` and `record` handlers in DISPATCH
(calls.signaling.frames); `welcome_section` (a WELCOME_SECTIONS hook: hands and recorders for
the `welcome`, and the recent chat replayed after it on a fresh join); `chat_keep` for every chat
message; `peers_left` (a PEERS_LEFT hook: a leaving or expired peer's hand and recording end;
everything of the room goes with its last peer). State lives in the node's FeatureStore
(calls.signaling.features_store: Redis shared by every process, or process memory), never in
the socket.
"""

import logging

from channels.db import database_sync_to_async

from calls.infra.tasks import background
from calls.models import Room as RoomModel
from calls.protocol import ProtocolError, incoming
from calls.protocol.outgoing import ChatHistory, Hand, Reaction, Recording
from calls.services.outages import outage_failed

from .features_store import FeatureSnapshot
from .hooks import PEERS_LEFT, WELCOME_SECTIONS, WelcomeSection

logger = logging.getLogger(__name__)

# Per socket, on top of the frame rate limit every frame counts against: reactions (2/s,
# bursts of 6), and hand or recording changes (1/s, bursts of 4).
REACTION_RATE, REACTION_BURST = 2.0, 6.0
CHANGE_RATE, CHANGE_BURST = 1.0, 4.0


async def welcome_section(session, *, fresh: bool) -> WelcomeSection:
    """The room's hands and recorders for a `welcome`, and on a fresh join its recent chat after it.

    Read once the seat is claimed: a change made after that reaches the socket as a frame (held
    until it is attached), so nothing falls between the two (a change can come twice: clients
    treat them as idempotent, chat by its id). Never raises: a store that cannot be read costs
    the joiner these extras, not the call.
    """
    try:
        snapshot = await session.node.features.snapshot(slug=session.slug, chat=fresh)
    except Exception:
        logger.exception("could not read the features of room %s", session.slug)
        snapshot = FeatureSnapshot()
    # The history's entries are the chat frames as sent, without their type.
    entries = [{k: v for k, v in message.items() if k != "type"} for message in snapshot.chat]
    after = [ChatHistory(messages=entries).to_text()] if entries else []
    return WelcomeSection(fields={"hands": snapshot.hands, "recorders": snapshot.recorders}, after=after)


def chat_keep(session, text: str) -> None:
    """Keep a chat frame (as sent) for the late joiners' `chat-history`; never waits, never raises."""
    session.node.features.chat_keep(slug=session.slug, text=text)


def peers_left(room, peer_ids: list[str], remaining: list | None) -> None:
    """Peers left: their hands and recordings end (the others learn it from `peer-left`); with
    nobody left (`remaining == []`), the room's features go, its chat included."""
    background(_peers_left(room.node, room.slug, list(peer_ids), emptied=remaining == []))


async def _peers_left(node, slug: str, peer_ids: list[str], *, emptied: bool) -> None:
    store = node.features
    try:
        # Someone may have joined since (or is the joiner whose seat claim reaped these peers):
        # then the room lives on, with its chat.
        if emptied and not await node.registry.peers_list(slug=slug):
            await store.room_clear(slug=slug)
        else:
            await store.peers_forget(slug=slug, peer_ids=peer_ids)
    except Exception as error:
        outage_failed(what=f"clean-up of the features of room {slug}", error=error, log=logger)


WELCOME_SECTIONS.append(welcome_section)
PEERS_LEFT.append(peers_left)


# Frames (registered in calls.signaling.frames.DISPATCH) -----------------------------------------
async def reaction(session, frame: incoming.Reaction) -> None:
    _rate_check(session, "reaction", REACTION_RATE, REACTION_BURST)
    session.room.broadcast(Reaction(sender=session.peer.peer_id, emoji=frame.emoji).to_text(), snapshot=True)


async def hand(session, frame: incoming.Hand) -> None:
    """Raise or lower your own hand; a moderator may lower someone else's."""
    own = session.peer.peer_id
    target = frame.peer or own
    if target != own:
        if frame.raised:
            raise ProtocolError("bad-message", "You can raise only your own hand.")
        if not session.info.moderator:
            raise ProtocolError("forbidden", "Only the room owner or staff may lower someone else's hand.")
        if await session.room.locate(target) is None:
            raise ProtocolError("unknown-peer", "No such peer in this room.")
    _rate_check(session, "change", CHANGE_RATE, CHANGE_BURST)
    if await session.node.features.hand_set(slug=session.slug, peer_id=target, raised=frame.raised):
        text = Hand(sender=target, raised=frame.raised, by=own if target != own else None).to_text()
        session.room.broadcast(text, snapshot=True)


async def record(session, frame: incoming.Record) -> None:
    """You started or stopped recording the call in your browser."""
    if frame.active and not session.info.moderator and not await _everyone_may_record(session.info.id):
        raise ProtocolError("forbidden", "Only the room owner or staff may record this room.")
    _rate_check(session, "change", CHANGE_RATE, CHANGE_BURST)
    own = session.peer.peer_id
    if await session.node.features.recorder_set(slug=session.slug, peer_id=own, active=frame.active):
        session.room.broadcast(Recording(sender=own, active=frame.active).to_text(), snapshot=True)


@database_sync_to_async
def _everyone_may_record(room_id: int) -> bool:
    return RoomModel.objects.filter(pk=room_id, everyone_may_record=True).exists()


def _rate_check(session, kind: str, rate: float, burst: float) -> None:
    if not session.budget.kind_allows(kind, rate=rate, burst=burst):
        raise ProtocolError("rate-limited", "Slow down: that was dropped; try again in a moment.")
