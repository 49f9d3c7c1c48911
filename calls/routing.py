from django.urls import re_path

from calls import consumers

websocket_urlpatterns = [
    re_path(r"^ws/rooms/(?P<slug>[-a-zA-Z0-9_]{1,64})/$", consumers.RoomConsumer.as_asgi()),
    re_path(r"^ws/presence/$", consumers.PresenceConsumer.as_asgi()),
]
