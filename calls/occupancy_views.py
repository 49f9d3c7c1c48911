"""Live occupancy of rooms for the lobby and the pre-join screen: a small JSON endpoint polled
every few seconds (static/js/occupancy.js). Polling, not a push on the presence socket: the
registry answers every room of a page in one round trip, and a push would have every process
fan each join and leave out to every lobby, filtered per viewer by the room's rules."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from calls.models import Room
from calls.services.occupancy import Occupancy, occupancy_for_rooms
from calls.services.ratelimit import ratelimit_hit
from calls.services.rooms import (
    RoomAccessError,
    room_access_check,
    room_list_for_user,
    room_may_moderate,
    room_with_access,
)

# Polls a person may make in a minute (the pages poll every 5 s; several tabs share this).
POLLS_PER_MINUTE = 60
NOBODY = Occupancy(count=0, people=[])


def occupancy_row(room: Room, occupancy: Occupancy | None, *, people: bool, viewer_id: int | None = None) -> dict:
    """One room's line: count, capacity, full, locked, and who is in it if the viewer may join.

    A room is not full for a viewer who already has a seat in it: a browser that crashed takes
    its held seat back on joining (calls.signaling.takeover); the server still says `full` to
    a second device that finds no seat."""
    occupancy = occupancy or NOBODY
    seated = viewer_id is not None and any(person.get("id") == viewer_id for person in occupancy.people)
    row = {
        "slug": room.slug,
        "count": occupancy.count,
        "capacity": room.capacity,
        "full": occupancy.count >= room.capacity and not seated,
        "locked": room.is_locked,
    }
    if people:
        row["people"] = occupancy.people
    return row


def room_may_see_people(room: Room, user) -> bool:
    try:
        room_access_check(room=room, user=user)
    except RoomAccessError:
        return False
    return True


@require_GET
@never_cache
@login_required
def room_occupancy(request: HttpRequest) -> JsonResponse:
    """`{"rooms": [row]}` for the rooms of the viewer's lobby, or `?room=<slug>` for one room (403
    for a private room the viewer is not allowed in: its call is nobody else's business)."""
    if not ratelimit_hit(key=f"occupancy:{request.user.pk}", limit=POLLS_PER_MINUTE, period=60):
        return JsonResponse({"error": "rate-limited", "message": "Too many requests."}, status=429)
    slug = request.GET.get("room")
    if slug is not None:
        room = room_with_access(slug=slug, user=request.user).filter(is_direct=False).first()
        if room is None:
            return JsonResponse({"error": "no-such-room", "message": "There is no open room here."}, status=404)
        if room.is_private and not room.user_allowed and not room_may_moderate(room=room, user=request.user):
            return JsonResponse({"error": "forbidden", "message": "This room is private."}, status=403)
        rooms, people = [room], room_may_see_people(room, request.user)
    else:
        rooms = list(room_list_for_user(user=request.user))
    live = occupancy_for_rooms(slugs=[room.slug for room in rooms])
    if slug is not None:
        row = occupancy_row(rooms[0], live.get(slug), people=people, viewer_id=request.user.pk)
        return JsonResponse({"rooms": [row]})
    # The lobby lists only rooms the viewer may join (owners also see their locked ones).
    return JsonResponse({"rooms": [occupancy_row(room, live.get(room.slug), people=True) for room in rooms]})
