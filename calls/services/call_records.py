"""Direct calls in the database: the Call rows, the private room of a call, and the history page.

Synchronous (Django's ORM): the presence code runs these through `database_sync_to_async`.
"""

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from accounts.models import User
from calls.models import Call, Room
from calls.services.eviction import room_sockets_notify
from calls.services.metrics import direct_call_count


def user_find(*, username: str) -> User | None:
    """The active user of that username: exact first, else the one that matches ignoring case."""
    users = User.objects.filter(is_active=True)
    username = username.strip()
    return users.filter(username=username).first() or users.filter(username__iexact=username).order_by("pk").first()


def users_public(*, user_ids: list[int]) -> list[dict]:
    users = User.objects.filter(pk__in=user_ids, is_active=True).order_by("username")
    return [user.public_dict() for user in users]


def call_record(*, call_id: str, caller_id: int, callee_id: int, status: str) -> None:
    """A call that never rang (callee offline or busy): history only."""
    now = timezone.now()
    Call.objects.create(call_id=call_id, caller_id=caller_id, callee_id=callee_id, status=status, ended_at=now)
    direct_call_count(status)


@transaction.atomic
def direct_room_create(*, call_id: str, slug: str, caller: User, callee: User) -> None:
    """The fresh private room of a call: two people, only these two."""
    room = Room.objects.create(
        slug=slug,
        name=f"{caller.shown_name} · {callee.shown_name}"[:100],
        owner=caller,
        capacity=2,
        is_private=True,
        is_direct=True,
    )
    room.allowed_users.set([caller, callee])
    Call.objects.create(call_id=call_id, caller=caller, callee=callee, room=room, status=Call.Status.RINGING)


def call_finish(*, call_id: str, status: str | None, answered: bool = False, ended: bool = False) -> None:
    now = timezone.now()
    fields: dict = {}
    if status is not None:
        fields["status"] = status
    if answered:
        fields["answered_at"] = now
    if ended:
        fields["ended_at"] = now
    Call.objects.filter(call_id=call_id).update(**fields)


def room_close(*, slug: str) -> None:
    """Close the call's room and end any socket still in it."""
    Room.objects.filter(slug=slug, is_direct=True).update(is_active=False)
    room_sockets_notify(slug=slug, event="closed")


# Calls that rang the viewer and were not answered: the ones to call back.
_MISSED_BY_CALLEE = ("missed", "cancelled", "busy", "offline")


def _call_result(status: str, *, outgoing: bool, peer: str) -> str:
    """What happened, said from the side of whoever reads their history."""
    if status == Call.Status.ANSWERED:
        return gettext("Answered")
    if status == Call.Status.RINGING:
        return gettext("Ringing")
    if outgoing:
        texts = {
            "declined": gettext("%(name)s declined"),
            "missed": gettext("No answer"),
            "cancelled": gettext("You cancelled"),
            "busy": gettext("%(name)s was in another call"),
            "offline": gettext("%(name)s was offline"),
        }
    else:
        texts = {
            "declined": gettext("You declined"),
            "missed": gettext("Missed call"),
            "cancelled": gettext("Missed call"),
            "busy": gettext("Missed: you were in another call"),
            "offline": gettext("Missed: you were offline"),
        }
    return texts[status] % {"name": peer}


def call_history_for_user(*, user: User, limit: int = 100) -> list[dict]:
    """The user's recent direct calls, newest first, as the history page shows them."""
    from django.db.models import Q

    calls = (
        Call.objects.filter(Q(caller=user) | Q(callee=user))
        .select_related("caller", "callee")
        .order_by("-started_at")[:limit]
    )
    rows = []
    for call in calls:
        outgoing = call.caller_id == user.pk
        peer = call.callee if outgoing else call.caller
        missed = not outgoing and call.status in _MISSED_BY_CALLEE
        rows.append(
            {
                "call": call,
                "outgoing": outgoing,
                "peer": peer,
                "missed": missed,
                "result": _call_result(call.status, outgoing=outgoing, peer=peer.shown_name),
                "duration": call.duration_seconds,
            }
        )
    return rows


def calls_missed_unseen(*, user: User, seen_at: str | None) -> int:
    """How many calls rang `user` unanswered since they last opened their history (`seen_at`,
    ISO time, kept in their session): the badge on the Calls link."""
    from datetime import datetime

    calls = Call.objects.filter(callee=user, status__in=_MISSED_BY_CALLEE)
    if seen_at:
        calls = calls.filter(started_at__gt=datetime.fromisoformat(seen_at))
    return calls.count()
