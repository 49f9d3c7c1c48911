"""Pages a room's owner (or staff) runs it from, outside the admin, and the invitation link."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.models import User
from calls.forms import InviteCreateForm, RoomSettingsForm
from calls.models import Room
from calls.services.invites import (
    InviteError,
    invite_accept,
    invite_create,
    invite_path,
    invite_qr_svg,
    invite_revoke,
    invites_active,
)
from calls.services.rooms import (
    room_allow,
    room_close,
    room_disallow,
    room_may_moderate,
    room_people_search,
    room_settings_update,
)


def _room_to_run(request: HttpRequest, slug: str) -> Room:
    """The open room `slug` if the user may run it (owner or staff): 404 if closed, 403 otherwise."""
    room = get_object_or_404(Room, slug=slug, is_active=True, is_direct=False)
    if not room_may_moderate(room=room, user=request.user):
        raise PermissionDenied(_("Only the room's owner can change its settings."))
    return room


@login_required
def room_settings(request: HttpRequest, slug: str) -> HttpResponse:
    room = _room_to_run(request, slug)
    form = RoomSettingsForm(request.POST or None, instance=Room.objects.get(pk=room.pk))
    if request.method == "POST" and form.is_valid():
        changed = room_settings_update(room=room, by=request.user, **form.cleaned_data)
        if changed:
            messages.success(request, _("Settings saved."))
        return redirect("room-settings", slug=room.slug)
    query = request.GET.get("q", "")[:100]
    invites = [(invite, request.build_absolute_uri(invite_path(invite=invite))) for invite in invites_active(room=room)]
    context = {
        "room": room,
        "form": form,
        "invite_form": InviteCreateForm(),
        "invites": [(invite, url, invite_qr_svg(url)) for invite, url in invites],
        "allowed": room.allowed_users.order_by("username"),
        "query": query,
        "found": room_people_search(room=room, query=query),
    }
    return render(request, "calls/room_settings.html", context)


@login_required
@require_POST
def room_people(request: HttpRequest, slug: str) -> HttpResponse:
    """Add someone to the allowed people, or take them off."""
    room = _room_to_run(request, slug)
    try:
        user_id = int(request.POST.get("user", ""))
    except ValueError:
        raise Http404 from None
    if request.POST.get("action") == "remove":
        if room_disallow(room=room, user_id=user_id, by=request.user):
            messages.success(request, _("Removed from the allowed people."))
    else:
        user = get_object_or_404(User, pk=user_id, is_active=True)
        if room_allow(room=room, user=user, by=request.user):
            messages.success(request, _("%(name)s may now join.") % {"name": user.shown_name})
    return redirect("room-settings", slug=room.slug)


@login_required
@require_POST
def room_invites(request: HttpRequest, slug: str) -> HttpResponse:
    """Create an invitation, or revoke one."""
    room = _room_to_run(request, slug)
    if "revoke" in request.POST:
        try:
            invite_id = int(request.POST["revoke"])
        except ValueError:
            raise Http404 from None
        if invite_revoke(room=room, invite_id=invite_id, by=request.user):
            messages.success(request, _("The invitation was revoked: its link no longer lets anyone in."))
        return redirect("room-settings", slug=room.slug)
    form = InviteCreateForm(request.POST)
    if form.is_valid():
        invite_create(room=room, by=request.user, lifetime=form.cleaned_data["lifetime"])
        messages.success(request, _("New invitation created: copy its link below."))
    return redirect("room-settings", slug=room.slug)


@login_required
@require_POST
def room_close_view(request: HttpRequest, slug: str) -> HttpResponse:
    room = _room_to_run(request, slug)
    room_close(room=room, by=request.user)
    messages.success(request, _("“%(name)s” is closed: its call ended for everyone.") % {"name": room.name})
    return redirect("lobby")


INVITE_REFUSALS = {"invalid": "invite-invalid", "expired": "invite-expired", "revoked": "invite-revoked"}


@login_required
def room_invite(request: HttpRequest, slug: str, token: str) -> HttpResponse:
    """An invitation link: the signed-in user joins the room's allowed people and lands in the room
    (signed out, `login_required` sends them to sign in or sign up first, and back here)."""
    room = get_object_or_404(Room, slug=slug, is_active=True, is_direct=False)
    try:
        invite_accept(room=room, token=token, user=request.user)
    except InviteError as error:
        return render(request, "calls/refused.html", {"reason": INVITE_REFUSALS[error.code]}, status=403)
    return redirect(room)
