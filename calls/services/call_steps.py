"""What a presence socket's call frames do: place a call, accept it, decline, cancel or hang up.

Each step is an atomic transition of the call in the PresenceStore (it happens once, whichever
process sees it), its Call row in the database, and the frames to both users' pages.
"""

import logging
import secrets
import time

from channels.db import database_sync_to_async
from django.urls import reverse

from accounts.models import User
from calls.models import Call
from calls.protocol import ProtocolError
from calls.protocol.presence_frames import Accepted, Busy, Ring, Ringing, UserOffline
from calls.services.call_records import call_finish, call_record, direct_room_create, user_find
from calls.services.metrics import direct_call_count
from calls.services.presence import ANSWERED, ENDED, RINGING, CallRecord
from calls.services.presence_service import ring_timeout, send_to_users
from calls.services.ratelimit import ratelimit_hit
from calls.signaling.node import node_get

logger = logging.getLogger(__name__)

CALLS_PER_MINUTE = 20


async def call_place(session, username: str) -> None:
    """Ring `username`, or say why not (offline, busy, no such user, too many calls)."""
    store = session.service.store
    allowed = await database_sync_to_async(ratelimit_hit)(
        key=f"direct-call:{session.user.pk}", limit=CALLS_PER_MINUTE, period=60
    )
    if not allowed:
        raise ProtocolError("rate-limited", "Too many calls in a minute; wait a little.")
    callee = await database_sync_to_async(user_find)(username=username)
    if callee is None or callee.pk == session.user.pk:
        raise ProtocolError("no-such-user", "There is nobody else with that username.")
    if await store.user_call(user_id=session.user.pk):
        raise ProtocolError("busy", "You are already in a call: hang up first.")
    call_id = secrets.token_urlsafe(16)
    callee_public = callee.public_dict()
    if not await store.is_online(user_id=callee.pk):
        await database_sync_to_async(call_record)(
            call_id=call_id, caller_id=session.user.pk, callee_id=callee.pk, status=Call.Status.OFFLINE
        )
        await session.conn.send_text(UserOffline(user=callee_public, call_id=call_id).to_text())
        return
    node = await node_get()
    if await node.registry.user_sockets_live(user_id=callee.pk):
        await _busy(session, call_id, callee)
        return
    await _ring(session, call_id, callee)


async def _ring(session, call_id: str, callee: User) -> None:
    """Claim the call for both users (each may be in one call only), make its room, ring both pages."""
    store = session.service.store
    slug = f"call-{secrets.token_hex(8)}"
    timeout = ring_timeout()
    record = CallRecord(
        call_id=call_id,
        caller=session.user.public_dict(),
        callee=callee.public_dict(),
        slug=slug,
        url=reverse("room", kwargs={"slug": slug}),
        caller_channel=session.conn.channel_name,
        deadline=time.time() + timeout,
    )
    claimed = await store.call_start(call=record)
    if claimed == "caller-busy":
        raise ProtocolError("busy", "You are already in a call: hang up first.")
    if claimed == "busy":
        await _busy(session, call_id, callee)
        return
    try:
        await database_sync_to_async(direct_room_create)(call_id=call_id, slug=slug, caller=session.user, callee=callee)
    except Exception:
        logger.exception("could not create the room of call %s", call_id)
        await store.call_transition(call_id=call_id, from_status=RINGING, to_status=Call.Status.CANCELLED)
        raise ProtocolError("unavailable", "The call could not be placed; try again shortly.") from None
    session.service.ring_timer_start(call_id, timeout)
    room = {"slug": slug, "url": record.url}
    ringing = Ringing(call_id=call_id, callee=record.callee, timeout=int(timeout))
    await send_to_users([session.user.pk], ringing.to_text())
    ring = Ring(call_id=call_id, caller=record.caller, room=room, timeout=ringing.timeout)
    await send_to_users([callee.pk], ring.to_text())


async def _busy(session, call_id: str, callee: User) -> None:
    await database_sync_to_async(call_record)(
        call_id=call_id, caller_id=session.user.pk, callee_id=callee.pk, status=Call.Status.BUSY
    )
    await session.conn.send_text(Busy(call_id=call_id, user=callee.public_dict()).to_text())


async def _own_call(session, call_id: str) -> CallRecord:
    call = await session.service.store.call_get(call_id=call_id)
    if call is None or session.user.pk not in call.user_ids:
        raise ProtocolError("no-such-call", "There is no such call.")
    return call


async def call_accept(session, call_id: str) -> None:
    call = await _own_call(session, call_id)
    if call.callee["id"] != session.user.pk:
        raise ProtocolError("forbidden", "Only the person called can accept.")
    answered = await session.service.store.call_transition(call_id=call_id, from_status=RINGING, to_status=ANSWERED)
    if answered is None:
        raise ProtocolError("no-such-call", "This call is no longer ringing.")
    await database_sync_to_async(call_finish)(call_id=call_id, status=Call.Status.ANSWERED, answered=True)
    direct_call_count(Call.Status.ANSWERED)
    room = {"slug": call.slug, "url": call.url}
    await send_to_users(
        call.user_ids,
        Accepted(call_id=call_id, room=room, join=False).to_text(),
        join=[call.caller_channel, session.conn.channel_name],
        join_text=Accepted(call_id=call_id, room=room, join=True).to_text(),
    )


async def call_end(session, kind: str, call_id: str) -> None:
    """decline (callee), cancel (caller), hangup (either; while ringing it declines or cancels)."""
    call = await _own_call(session, call_id)
    is_caller = call.caller["id"] == session.user.pk
    if kind == "decline" and is_caller:
        raise ProtocolError("forbidden", "The caller cancels; only the person called declines.")
    if kind == "cancel" and not is_caller:
        raise ProtocolError("forbidden", "Only the caller can cancel; decline instead.")
    store = session.service.store
    if kind == "hangup" and call.status == ANSWERED:
        ended = await store.call_transition(call_id=call_id, from_status=ANSWERED, to_status=ENDED)
        if ended is None:
            raise ProtocolError("no-such-call", "This call has already ended.")
        await session.service.call_end(ended, status=ENDED, frame_type="hangup")
        return
    status = Call.Status.CANCELLED if is_caller else Call.Status.DECLINED
    ended = await store.call_transition(call_id=call_id, from_status=RINGING, to_status=status)
    if ended is None:
        raise ProtocolError("no-such-call", "This call is no longer ringing.")
    await session.service.call_end(ended, status=status, frame_type=str(status))


# Frames from the channel layer ------------------------------------------------------------
