"""Server frames of the presence socket: who is online, and direct calls from ring to end."""

from .common import tagged
from .parts import RoomLink, ServerFrame, User


class Presence(ServerFrame, tag="presence"):
    you: User
    online: list[User]
    heartbeat: int
    ring_timeout: int


class UserOnline(ServerFrame, tag="user-online"):
    user: User


class UserOffline(ServerFrame, tag="user-offline"):
    user: User
    call_id: str | None = None  # the reply to a `call`


class Ringing(ServerFrame, tag="ringing"):
    """To the caller: the callee's browsers ring."""

    call_id: str
    callee: User
    timeout: int


class Ring(ServerFrame, tag="ring"):
    """To the callee: who calls, and the room the call will take place in."""

    call_id: str
    caller: User
    room: RoomLink
    timeout: int


class Accepted(ServerFrame, tag="accepted"):
    call_id: str
    room: RoomLink
    join: bool  # false on the callee's other sockets: answered elsewhere


class Busy(ServerFrame, tag="busy"):
    call_id: str
    user: User


class CallOutcome(ServerFrame):
    """`declined`, `cancelled`, `missed` or `hangup`: how a direct call ended, for both users."""

    call_id: str


CALL_OUTCOMES = {
    outcome.__struct_config__.tag: outcome
    for outcome in tagged(CallOutcome, "declined", "cancelled", "missed", "hangup")
}
PRESENCE_FRAMES = (Presence, UserOnline, UserOffline, Ringing, Ring, Accepted, Busy, *CALL_OUTCOMES.values())
