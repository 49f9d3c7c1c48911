"""Project-wide middleware: HTTP (Django) and, for WebSockets, ASGI."""

import logging
from collections.abc import Callable

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, parse_cookie
from django.template.loader import render_to_string
from django.utils.cache import patch_cache_control

from calls.infra.socket_auth import socket_session_open
from calls.protocol import CLOSE_CODES, error_frame

logger = logging.getLogger(__name__)


class DatabaseUnavailableMiddleware:
    """Answer 503 with a readable page when the database is down, instead of a 500.

    It sits before the session and auth middleware so that their lazy queries, which
    run inside the view, are covered too.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, (OperationalError, InterfaceError)):
            logger.error("database unavailable: %s", exception)
            body = render_to_string("503.html", request=None)
            response = HttpResponse(body, status=503)
            response["Retry-After"] = "10"
            return response
        return None


class HandshakeDatabaseUnavailable(Exception):
    """The database failed a look-up a WebSocket handshake needs, before anything was answered."""


class DatabaseUnavailableWebSocketMiddleware:
    """ASGI, for WebSockets: a handshake that needs the database (session, user) while it is down
    gets the contract's readable refusal, error `unavailable` then close 4503 (try again later),
    instead of a dropped handshake that a client cannot tell from a network fault.

    The handshake's look-ups are WebSocketAuthMiddleware's, before any consumer runs (the
    consumers accept first, and a database error after that is theirs): it raises
    HandshakeDatabaseUnavailable, so nothing has been received or sent yet. Nothing here wraps
    the socket's `receive` or `send`: a wrapper is one more coroutine on every frame.
    """

    MESSAGE = "Parley is briefly unavailable (its database cannot be reached); try again shortly."

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "websocket":
            return await self.app(scope, receive, send)
        try:
            return await self.app(scope, receive, send)
        except HandshakeDatabaseUnavailable as failed:
            logger.error("database unavailable at a WebSocket handshake: %s", failed.__cause__)
            await receive()  # websocket.connect
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.send", "text": error_frame("unavailable", self.MESSAGE)})
            await send({"type": "websocket.close", "code": CLOSE_CODES["unavailable"]})


class WebSocketAuthMiddleware:
    """ASGI, for WebSockets: `scope["session"]` and `scope["user"]` from the session cookie.

    Channels' AuthMiddlewareStack does this on Django's one database thread, where a join
    storm's handshakes queue one after another, and then wraps every frame the socket sends
    to save a session a socket never changes. Here the session is read from Redis and the
    user by one query on the event loop (calls.infra.socket_auth); the checks are Django's.
    A database failure is raised as HandshakeDatabaseUnavailable (see the middleware above).
    """

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        cookies = parse_cookie(_header(scope, b"cookie"))
        try:
            session, user = await socket_session_open(cookie=cookies.get(settings.SESSION_COOKIE_NAME))
        except (OperationalError, InterfaceError) as error:
            raise HandshakeDatabaseUnavailable() from error
        return await self.app(dict(scope, session=session, user=user), receive, send)


def _header(scope, name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return ""


class ContentSecurityPolicyMiddleware:
    """Send a strict Content-Security-Policy: scripts only from our origin, no inline code."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.policy = getattr(
            settings,
            "CONTENT_SECURITY_POLICY",
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
            "media-src 'self' blob: mediastream:; connect-src 'self' ws: wss:; "
            "frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'",
        )

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not request.path.startswith("/admin/"):
            response.setdefault("Content-Security-Policy", self.policy)
        return response


class PrivatePagesMiddleware:
    """Pages for a signed-in user say `Cache-Control: private, no-store`: no shared cache keeps
    them, and the browser does not show them again from its cache after signing out."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        # A 5xx may come from a database that cannot be reached: the user is not asked for then.
        if response.status_code < 500 and request.user.is_authenticated:
            patch_cache_control(response, private=True, no_store=True)
        return response
