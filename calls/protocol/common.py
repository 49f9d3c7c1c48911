"""What both directions of the wire share: the contract's error codes, its exception, tagged frames."""

import types

ERROR_CODES = frozenset(
    {
        "unauthenticated",
        "forbidden",
        "no-such-room",
        "room-full",
        "rate-limited",
        "bad-json",
        "bad-message",
        "unknown-type",
        "unknown-peer",
        "too-large",
        "unavailable",
        "user-offline",
        "busy",
        "no-such-call",
        "no-such-user",
    }
)


def tagged(base: type, *tags: str) -> list[type]:
    """One frame type per tag, each with `base`'s fields (msgspec Structs: frames that differ only by type)."""

    def body(namespace: dict) -> None:
        namespace["__module__"] = base.__module__

    return [types.new_class(tag.title().replace("-", ""), (base,), {"tag": tag}, body) for tag in tags]


class ProtocolError(Exception):
    """A frame the server refuses; becomes `{"type":"error","code","message","ref"?}`.

    `ref` is the refused frame's `id`, so that a client can tell which of its frames it was.
    """

    def __init__(self, code: str, message: str, ref: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.ref = ref
