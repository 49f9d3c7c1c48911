"""Project-wide middleware: HTTP (Django) and, for WebSockets, ASGI."""

import logging
from collections.abc import Callable
from urllib.parse import urlparse

from channels.security.websocket import WebsocketDenier
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


class WebSocketEntry:
    """ASGI, for WebSockets: the origin check, who the socket belongs to, the route, then the
    consumer, in one coroutine.

    - **origin**: Channels' OriginValidator's own check (`valid_origin`), given by config.asgi;
      a handshake from another site is denied (403) before anything is looked up;
    - **who**: `scope["session"]` and `scope["user"]` from the session cookie. Channels'
      AuthMiddlewareStack does this on Django's one database thread, where a join storm's
      handshakes queue one after another, and then wraps every frame the socket sends to save a
      session a socket never changes. Here the session is read from Redis and the user by one
      query on the event loop (calls.infra.socket_auth); the checks are Django's;
    - **database down**: a handshake whose look-ups fail gets the contract's readable refusal,
      error `unavailable` then close 4503 (try again later), instead of a dropped handshake that
      a client cannot tell from a network fault. Only the look-ups are covered: a consumer's
      database errors after it accepted are its own;
    - **route**: the first of `routes` (Django `re_path`s of `as_asgi()` consumers, as
      Channels' URLRouter takes them) whose pattern matches the path; its consumer runs here.

    Why one coroutine, and the scope's keys set instead of a copy: every layer of ASGI middleware
    is a coroutine frame, and each copy of the scope a dict, that an idle socket holds for its
    whole life (with Channels' OriginValidator, URLRouter and `as_asgi`, and two middlewares of
    ours, 5 frames and 2 scope copies, ~2.5 KB a socket: docs/performance.md, "What an idle
    socket holds"). Setting keys on the server's scope is safe here: nothing upstream (uvicorn,
    its proxy-headers middleware, Channels' protocol router) reads them. For the same reason a
    routed consumer gets the scope without its `headers`: what Parley needs of them (cookie,
    Origin) is read here, and a consumer that needs another header must take it here.
    """

    MESSAGE = "Parley is briefly unavailable (its database cannot be reached); try again shortly."

    def __init__(self, *, origin_valid: Callable, routes: list) -> None:
        self.origin_valid = origin_valid
        self.routes = routes

    async def __call__(self, scope, receive, send):
        consumer = await self.consumer_find(scope, receive, send)
        if consumer is not None:
            await consumer(scope, receive, send)

    async def consumer_find(self, scope, receive, send):
        """The consumer (or WebsocketDenier) for this handshake, or None if it has been answered
        already. A function of its own so that what it looked at (headers, cookie, the parsed
        Origin, the match) is not held by the socket's coroutine for its whole life."""
        cookie = origin = None
        for key, value in scope.get("headers", ()):
            if key == b"cookie" and cookie is None:
                cookie = value.decode("latin-1")
            elif key == b"origin":
                origin = urlparse(value.decode("latin-1"))
        if not self.origin_valid(origin):
            return WebsocketDenier()
        try:
            named = parse_cookie(cookie or "").get(settings.SESSION_COOKIE_NAME)
            scope["session"], scope["user"] = await socket_session_open(cookie=named)
        except (OperationalError, InterfaceError) as error:
            logger.error("database unavailable at a WebSocket handshake: %s", error)
            await receive()  # websocket.connect
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.send", "text": error_frame("unavailable", self.MESSAGE)})
            await send({"type": "websocket.close", "code": CLOSE_CODES["unavailable"]})
            return None
        path = scope["path"][len(scope.get("root_path", "")) :].lstrip("/")
        for route in self.routes:
            match = route.pattern.match(path)
            if match:
                _, args, kwargs = match
                scope["url_route"] = {"args": args, "kwargs": kwargs}
                # Read above; the consumers read none (1 KB a socket, kept for its whole life).
                scope["headers"] = ()
                app = route.callback  # Channels' as_asgi(): its consumer class, made here
                return app.consumer_class(**app.consumer_initkwargs)
        return WebsocketDenier()


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
