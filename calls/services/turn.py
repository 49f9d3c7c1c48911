"""TURN credentials with coturn's `use-auth-secret` scheme (the TURN REST API).

username   = "<unix expiry>:<user id>"
credential = base64(HMAC-SHA1(static-auth-secret, username))
coturn recomputes the HMAC with the shared secret and refuses an expired username,
so the app never stores a TURN password.
"""

import base64
import hashlib
import hmac
import logging
import time

from django.conf import settings

from .metrics import TURN_CREDENTIALS

logger = logging.getLogger(__name__)
_warned_no_secret = False


def turn_credential_compute(*, secret: str, username: str) -> str:
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def turn_credentials_issue(*, user_id: int, ttl: int | None = None, now: float | None = None) -> dict:
    """A time-limited username/credential pair for `user_id`."""
    ttl = settings.TURN_TTL if ttl is None else ttl
    expiry = int(now if now is not None else time.time()) + ttl
    username = f"{expiry}:{user_id}"
    return {"username": username, "credential": turn_credential_compute(secret=settings.TURN_SECRET, username=username)}


def ice_servers_build(*, user_id: int) -> tuple[list[dict], int]:
    """The RTCPeerConnection `iceServers` for a user and their time-to-live in seconds.

    Without TURN_SECRET only STUN is offered (calls across strict NATs then fail), and
    the log says so once.
    """
    global _warned_no_secret
    servers: list[dict] = []
    if settings.STUN_URLS:
        servers.append({"urls": list(settings.STUN_URLS)})
    if settings.TURN_URLS:
        if settings.TURN_SECRET:
            servers.append({"urls": list(settings.TURN_URLS), **turn_credentials_issue(user_id=user_id)})
            TURN_CREDENTIALS.inc()
        elif not _warned_no_secret:
            _warned_no_secret = True
            logger.warning("TURN_URLS is set but TURN_SECRET is not: offering STUN only, no TURN relay.")
    elif not _warned_no_secret:
        _warned_no_secret = True
        logger.warning("No TURN server configured (TURN_URLS, TURN_SECRET): offering STUN only.")
    return servers, settings.TURN_TTL
