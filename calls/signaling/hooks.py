"""Where features hook into the core (calls.signaling.features does): what they add to a socket's
`welcome`, and what they forget when peers leave. The core calls these; features append to them.

- WELCOME_SECTIONS: `async section(session, fresh=...) -> WelcomeSection`, run once the socket has
  its seat (a change after that reaches it as a frame, held until it attaches), for a fresh join
  (`fresh`) or a resume. Room state shared by every process lives in the feature's own store.
- PEERS_LEFT: `hook(room, peer_ids, remaining)` when peers left the room or expired; `remaining`
  is who is still in it (`[]`: it emptied), or None when not known.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from .records import PeerRecord


@dataclass(slots=True)
class WelcomeSection:
    """What a feature adds to a socket's `welcome`: fields of it (calls.protocol.outgoing.Welcome
    has them) and frames sent right after it."""

    fields: dict[str, object] = field(default_factory=dict)
    after: list[str] = field(default_factory=list)


WELCOME_SECTIONS: list[Callable[..., Awaitable[WelcomeSection]]] = []
PEERS_LEFT: list[Callable[..., None]] = []


async def welcome_sections(session, *, fresh: bool) -> WelcomeSection:
    """What the features add to this socket's `welcome`, merged."""
    merged = WelcomeSection()
    for section in WELCOME_SECTIONS:
        part = await section(session, fresh=fresh)
        merged.fields.update(part.fields)
        merged.after.extend(part.after)
    return merged


def peers_left(room, peer_ids: list[str], remaining: list[PeerRecord] | None) -> None:
    """Peers left the room or expired: the features forget them."""
    if peer_ids:
        for hook in PEERS_LEFT:
            hook(room, peer_ids, remaining)
