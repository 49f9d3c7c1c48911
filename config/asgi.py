"""ASGI entry point: HTTP through Django, WebSockets through the signaling consumers.

Only signed-in users signal: WebSocketAuthMiddleware identifies them by their session, and the
origin validator refuses a handshake whose Origin is not one of ALLOWED_HOSTS
(cross-site WebSocket hijacking).
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from calls.routing import websocket_urlpatterns  # noqa: E402
from config.middleware import DatabaseUnavailableWebSocketMiddleware, WebSocketAuthMiddleware  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            DatabaseUnavailableWebSocketMiddleware(WebSocketAuthMiddleware(URLRouter(websocket_urlpatterns)))
        ),
    }
)
