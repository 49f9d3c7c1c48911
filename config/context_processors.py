from django.conf import settings
from django.http import HttpRequest


def parley(request: HttpRequest) -> dict:
    return {"SIGNUP_ENABLED": settings.SIGNUP_ENABLED}
