import redis
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import DatabaseError, connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from calls.forms import RoomCreateForm
from calls.infra.redis import redis_sync_client
from calls.models import Room
from calls.occupancy_views import occupancy_row
from calls.services.call_records import call_history_for_user
from calls.services.draining import process_draining
from calls.services.invites import invite_create, invite_path, invite_qr_svg, invites_active
from calls.services.occupancy import occupancy_for_rooms, room_ban_for_user
from calls.services.ratelimit import ratelimit_hit
from calls.services.rooms import (
    RoomAccessError,
    room_create,
    room_get_for_join,
    room_lobby_for_user,
    room_may_moderate,
)
from calls.services.turn import ice_servers_build
from calls.signaling.admission import KICK_BAN_SECONDS
from calls.signaling.knocks import knock_pass_valid
from config.context_processors import CALLS_SEEN_KEY


@login_required
def lobby(request: HttpRequest) -> HttpResponse:
    form = RoomCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        room = room_create(owner=request.user, **form.cleaned_data)
        if room.is_private:  # a private room is shared by invitation: the owner gets one at once
            invite_create(room=room, by=request.user, lifetime="7d")
        messages.success(request, _("Your room is ready. Share the invite link so others can join."))
        return redirect(room)
    mine, others = room_lobby_for_user(user=request.user)
    live = occupancy_for_rooms(slugs=[room.slug for room in (*mine, *others)])
    for listed in (*mine, *others):
        listed.live = occupancy_row(listed, live.get(listed.slug), people=True)
    return render(request, "calls/lobby.html", {"my_rooms": mine, "rooms": others, "form": form})


@login_required
def room(request: HttpRequest, slug: str) -> HttpResponse:
    admission_pass = request.GET.get("pass") or None  # a knock let in (calls.signaling.knocks)
    admitted = knock_pass_valid(token=admission_pass, slug=slug, user_id=request.user.pk)
    try:
        room = room_get_for_join(slug=slug, user=request.user, admitted=admitted)
    except RoomAccessError as error:
        if error.code == "no-such-room":
            raise Http404(error.message) from None
        context = {"reason": error.reason, "slug": slug, "may_knock": error.reason in ("private", "locked")}
        return render(request, "calls/refused.html", context, status=403)
    moderator = room_may_moderate(room=room, user=request.user)
    ban = None if moderator else room_ban_for_user(slug=room.slug, user_id=request.user.pk)
    if ban is not None:  # kicked a moment ago: said before the device check, with who and how long
        minutes = -(-ban.seconds_left // 60)
        by = ban.by and (ban.by.get("display_name") or ban.by.get("username"))
        return render(request, "calls/refused.html", {"reason": "removed", "by": by, "minutes": minutes}, status=403)
    live = occupancy_row(
        room, occupancy_for_rooms(slugs=[room.slug]).get(room.slug), people=True, viewer_id=request.user.pk
    )
    context = {
        "live": live,
        "admission_pass": admission_pass if admitted else None,
        "room": room,
        "moderator": moderator,
        "may_record": moderator or room.everyone_may_record,
        "invite_url": _invite_url(request, room, moderator=moderator),
        "webrtc_loopback_only": settings.WEBRTC_LOOPBACK_ONLY,
        "ban_minutes": KICK_BAN_SECONDS // 60,
    }
    if context["invite_url"]:
        context["invite_qr"] = invite_qr_svg(context["invite_url"])
    return render(request, "calls/room.html", context)


def _invite_url(request: HttpRequest, room: Room, *, moderator: bool) -> str | None:
    """The link to share: a public room's address; for a private room, its owner's newest live
    invitation (nobody else can let people in)."""
    if not room.is_private:
        return request.build_absolute_uri(room.get_absolute_url())
    invite = invites_active(room=room).first() if moderator else None
    return request.build_absolute_uri(invite_path(invite=invite)) if invite else None


@login_required
@require_GET
def call_history(request: HttpRequest) -> HttpResponse:
    request.session[CALLS_SEEN_KEY] = timezone.now().isoformat()  # the missed calls are seen now
    return render(request, "calls/history.html", {"rows": call_history_for_user(user=request.user)})


@require_GET
@never_cache
def ice_servers(request: HttpRequest) -> JsonResponse:
    """ICE servers with fresh TURN credentials, for signed-in users only."""
    if not request.user.is_authenticated:
        return JsonResponse({"error": "unauthenticated", "message": "Sign in first."}, status=401)
    if not ratelimit_hit(key=f"ice:{request.user.pk}", limit=30, period=60):
        return JsonResponse({"error": "rate-limited", "message": "Too many requests."}, status=429)
    servers, ttl = ice_servers_build(user_id=request.user.pk)
    response = JsonResponse({"ice_servers": servers, "ice_ttl": ttl})
    response["Cache-Control"] = "no-store"
    return response


def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """Ready for calls: the database and Redis (where configured) answer. /healthz says only that the
    process is alive; this one is for the proxy and the orchestrator to route around a process that
    cannot admit anyone."""
    status, body = readiness_report()
    return JsonResponse(body, status=status)


def readiness_report() -> tuple[int, dict]:
    """(HTTP status, body) of /readyz: 200 when every dependency answers, 503 otherwise, and 503
    at once while the process stops (calls.services.draining: the proxy stops sending it sockets)."""
    if process_draining():
        return 503, {"ready": False, "draining": True}
    checks = {"database": _database_answers()}
    if settings.REDIS_URL:
        checks["redis"] = _redis_answers()
    ready = all(checks.values())
    body = {"ready": ready, "checks": {name: "ok" if ok else "down" for name, ok in checks.items()}}
    return (200 if ready else 503), body


def _database_answers() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except DatabaseError:
        return False


def _redis_answers() -> bool:
    try:
        return bool(redis_sync_client(settings.REDIS_URL).ping())
    except (redis.RedisError, OSError):
        return False
