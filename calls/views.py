from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from calls.forms import RoomCreateForm
from calls.services.direct_calls import call_history_for_user
from calls.services.ratelimit import ratelimit_hit
from calls.services.rooms import RoomAccessError, room_create, room_get_for_join, room_list_for_user
from calls.services.turn import ice_servers_build


@login_required
def lobby(request: HttpRequest) -> HttpResponse:
    form = RoomCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        room = room_create(owner=request.user, **form.cleaned_data)
        return redirect(room)
    rooms = room_list_for_user(user=request.user)
    return render(request, "calls/lobby.html", {"rooms": rooms, "form": form})


@login_required
def room(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        room = room_get_for_join(slug=slug, user=request.user)
    except RoomAccessError as error:
        if error.code == "no-such-room":
            raise Http404(error.message) from None
        raise PermissionDenied(error.message) from None
    context = {"room": room, "webrtc_loopback_only": settings.WEBRTC_LOOPBACK_ONLY}
    return render(request, "calls/room.html", context)


@login_required
@require_GET
def call_history(request: HttpRequest) -> HttpResponse:
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
