from channels.security.websocket import WebsocketDenier
from django.urls import re_path

from calls import consumers

websocket_urlpatterns = [
    re_path(r"^ws/rooms/(?P<slug>[-a-zA-Z0-9_]{1,64})/$", consumers.RoomConsumer.as_asgi()),
    re_path(r"^ws/presence/$", consumers.PresenceConsumer.as_asgi()),
    # Anything else (a slug no room can have, a NUL byte, an unknown path) is refused at the
    # handshake with 403; without this Channels' router raises and the server answers 500.
    re_path(r"", WebsocketDenier.as_asgi()),
]
