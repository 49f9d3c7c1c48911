"""Production logs: one JSON object per line, with the room, peer and user of the socket at hand.

A socket's consumer (and its Session, once joined) sets `log_context_set(room=..., user=...,
peer=...)` once it knows them; the context variables follow that socket's task (and the tasks
and timers it starts), and `LogContextFilter` copies them onto each record of the socket-scoped
loggers. Process-wide loggers (the node, its rooms, bus and sweeps) get none: their tasks may
have been started from some socket, whose ids would be wrong there. A value given with `extra=` wins.

Never logged: SDP, ICE candidates, chat text, tokens, passwords, cookies. The code logs none of
them, and `JsonFormatter` drops any field of those names passed with `extra=` all the same.
"""

import contextvars
import logging

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

_room: contextvars.ContextVar[str | None] = contextvars.ContextVar("log_room", default=None)
_peer: contextvars.ContextVar[str | None] = contextvars.ContextVar("log_peer", default=None)
_user: contextvars.ContextVar[int | None] = contextvars.ContextVar("log_user", default=None)

# Loggers whose records belong to one socket (and their children). Not the room's, the bus's or the
# node's (calls.signaling.room, .bus, .housekeeping...): a room is shared by its sockets, and work
# one socket started there (a timer, a flush) may be another's.
SOCKET_LOGGERS = (
    "calls.consumers",
    "calls.signaling.session",
    "calls.signaling.joining",
    "calls.signaling.leaving",
    "calls.signaling.frames",
    "calls.services.direct_calls",
    "calls.services.call_steps",
)
# Fields never written, whatever a call site passes.
FORBIDDEN_FIELDS = frozenset(
    {"sdp", "candidate", "text", "chat", "token", "resume_token", "password", "secret", "cookie", "credential"}
)


def log_context_set(*, room: str | None = None, peer: str | None = None, user: int | None = None) -> None:
    """Name the socket of the current task (and of what it starts from now on) in its log lines."""
    if room is not None:
        _room.set(room)
    if peer is not None:
        _peer.set(peer)
    if user is not None:
        _user.set(user)


class LogContextFilter(logging.Filter):
    """Add `room`, `peer` and `user` to the records of socket-scoped loggers (for the handler)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith(SOCKET_LOGGERS):
            for name, var in (("room", _room), ("peer", _peer), ("user", _user)):
                value = var.get()
                if value is not None and not hasattr(record, name):
                    setattr(record, name, value)
        return True


class JsonFormatter(_JsonFormatter):
    """python-json-logger's formatter, minus the forbidden fields."""

    def process_log_record(self, log_data: dict) -> dict:
        for name in FORBIDDEN_FIELDS & log_data.keys():
            del log_data[name]
        return log_data
