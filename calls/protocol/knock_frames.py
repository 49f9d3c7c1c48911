"""Server frames of asking to join: to the knock socket, and the prompt of the owner and staff in the call."""

from typing import Literal

from msgspec import field

from .parts import ServerFrame, User

KNOCK_OUTCOMES = ("admitted", "denied", "no-answer", "moved")


class Knocking(ServerFrame, tag="knocking"):
    timeout: int


class KnockPrompt(ServerFrame, tag="knock"):
    knock: str
    user: User
    timeout: int


class KnockEnded(ServerFrame, tag="knock-ended"):
    knock: str
    outcome: Literal[KNOCK_OUTCOMES]
    by: User | None = None  # who answered it, when someone did


class Admitted(ServerFrame, tag="admitted"):
    pass_token: str = field(name="pass")


KNOCK_FRAMES = (Knocking, KnockPrompt, KnockEnded, Admitted)
