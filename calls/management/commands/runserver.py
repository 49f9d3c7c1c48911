"""`manage.py runserver`: daphne's development server (ASGI: HTTP and WebSocket) with Parley's
WebSocket handling (config.daphne_server: a message over the limit gets a 1009 close frame)."""

from daphne.management.commands.runserver import Command as DaphneRunserverCommand

from config.daphne_server import ParleyDaphneServer


class Command(DaphneRunserverCommand):
    server_cls = ParleyDaphneServer
