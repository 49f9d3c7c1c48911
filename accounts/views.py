from django.conf import settings
from django.contrib import messages
from django.contrib.auth import HASH_SESSION_KEY, login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import PasswordChangeView
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from .forms import ProfileForm, SignUpForm
from .signals import password_change_finished, password_change_started


def signup(request: HttpRequest) -> HttpResponse:
    if not settings.SIGNUP_ENABLED:
        raise Http404(_("Sign-up is switched off on this server."))
    next_url = _safe_next(request)
    if request.user.is_authenticated:
        return redirect(next_url or "lobby")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, _("Welcome to Parley, %(name)s.") % {"name": user.shown_name})
        return redirect(next_url or "lobby")
    return render(request, "registration/signup.html", {"form": form, "next": next_url})


def _safe_next(request: HttpRequest) -> str | None:
    """Where to go after signing up (an invitation link, say): a path on this site, never elsewhere."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    allowed = url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return candidate if allowed else None


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    form = ProfileForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Profile saved."))
        return redirect("profile")
    return render(request, "accounts/profile.html", {"form": form})


class PasswordChange(PasswordChangeView):
    """Django's password change, announced (accounts.signals), so that what follows a sign-in,
    such as open call sockets, follows Django's rule: every other session ends, and this
    browser's moves to the new key Django gives it."""

    def form_valid(self, form):
        session, user = self.request.session, form.user
        old_key, new_key, auth_hash = session.session_key, None, None
        password_change_started.send(sender=type(self), user=user, session_key=old_key)
        try:
            response = super().form_valid(form)
            new_key, auth_hash = session.session_key, session[HASH_SESSION_KEY]
        finally:
            password_change_finished.send(
                sender=type(self), user=user, old_key=old_key, new_key=new_key, auth_hash=auth_hash
            )
        return response
