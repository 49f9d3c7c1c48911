from django.conf import settings
from django.http import HttpRequest

from calls.services.call_records import calls_missed_unseen

# The session key of when the user last opened their call history.
CALLS_SEEN_KEY = "calls_seen_at"


def parley(request: HttpRequest) -> dict:
    context = {
        "SIGNUP_ENABLED": settings.SIGNUP_ENABLED,
        "VIDEO_BUDGET_KBPS": settings.VIDEO_BUDGET_KBPS,
        "VIDEO_BUDGET_PHONE_KBPS": settings.VIDEO_BUDGET_PHONE_KBPS,
    }
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        context["calls_missed"] = calls_missed_unseen(user=user, seen_at=request.session.get(CALLS_SEEN_KEY))
    return context
