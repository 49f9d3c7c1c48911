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


class WebSocketSessionMiddleware:
    """ASGI, for WebSockets: `scope["session"]` and `scope["user"]` from the session cookie, or the
    contract's readable refusal while the database is down.

    Channels' AuthMiddlewareStack does this on Django's one database thread, where a join
    storm's handshakes queue one after another, and then wraps every frame the socket sends
    to save a session a socket never changes. Here the session is read from Redis and the
    user by one query on the event loop (calls.infra.socket_auth); the checks are Django's.

    A handshake whose look-ups fail on the database gets error `unavailable`, then close 4503
    (try again later), instead of a dropped handshake a client cannot tell from a network fault;
    nothing has been received or sent yet then, and a database error after the handshake is the
    consumer's. Nothing here wraps the socket's `receive` or `send` (a coroutine on every frame),
    the keys are set on the server's scope instead of a copy, and the look-ups run in a coroutine
    of their own so the parsed cookie is not held for the socket's life: an idle socket is memory
    (docs/performance.md, "What an idle socket holds").
    """

    MESSAGE = "Parley is briefly unavailable (its database cannot be reached); try again shortly."

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        try:
            scope["session"], scope["user"] = await _socket_session(scope)
        except (OperationalError, InterfaceError) as error:
            logger.error("database unavailable at a WebSocket handshake: %s", error)
            await receive()  # websocket.connect
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.send", "text": error_frame("unavailable", self.MESSAGE)})
            await send({"type": "websocket.close", "code": CLOSE_CODES["unavailable"]})
            return None
        return await self.app(scope, receive, send)


async def _socket_session(scope):
    cookies = parse_cookie(_header(scope, b"cookie"))
    return await socket_session_open(cookie=cookies.get(settings.SESSION_COOKIE_NAME))


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
