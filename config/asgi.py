"""ASGI entry point: HTTP through Django, WebSockets through the signaling consumers.

`/metrics` (Prometheus, bearer token), `/readyz` and `/healthz` are answered before Django, whatever
the Host header (probes reach a process by its address): config.internal_endpoints.

Only signed-in users signal: WebSocketSessionMiddleware identifies them by their session, and the
origin validator refuses a handshake from another site (cross-site WebSocket hijacking): in
production its Origin must be one of WEBSOCKET_ALLOWED_ORIGINS (scheme, host and port, from
CSRF_TRUSTED_ORIGINS); elsewhere its host must be one of ALLOWED_HOSTS.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator, OriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from calls.routing import websocket_urlpatterns  # noqa: E402
from config.internal_endpoints import internal_endpoints  # noqa: E402
from config.middleware import WebSocketSessionMiddleware  # noqa: E402
from config.warmup import lifespan  # noqa: E402


def websocket_origin_validator(app):
    """The site's origin check for WebSocket handshakes (see the module's docstring)."""
    if settings.WEBSOCKET_ALLOWED_ORIGINS is None:
        return AllowedHostsOriginValidator(app)
    return OriginValidator(app, settings.WEBSOCKET_ALLOWED_ORIGINS)


application = ProtocolTypeRouter(
    {
        "http": internal_endpoints(django_asgi_app),
        "websocket": websocket_origin_validator(WebSocketSessionMiddleware(URLRouter(websocket_urlpatterns))),
        # The production server (config.serve) warms the process up before it listens.
        "lifespan": lifespan,
    }
)
