"""Close a user's open sockets from synchronous code (sign-out, deactivation, admin)."""

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)


# Every server process's room sockets, through calls.signaling.layer_inlet.
NODES_GROUP = "signaling.nodes"


def user_group_name(user_id: int) -> str:
    return f"user.{user_id}"


def room_group_name(slug: str) -> str:
    return f"room.{slug}"


def _group_send(group: str, message: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, message)
    except Exception:  # the layer being down must not break sign-out or the admin
        logger.exception("could not notify group %s", group)


def user_sockets_evict(*, user_id: int, session_key: str | None, reason: str, keep: tuple[str, ...] = ()) -> None:
    """Ask every server process to close the user's sockets (only those of `session_key` if given;
    never those of the sessions in `keep`): presence sockets are members of the user's group,
    room sockets hear it through their process."""
    event = {"type": "user.evict", "user_id": user_id, "session_key": session_key, "keep": list(keep), "reason": reason}
    _group_send(user_group_name(user_id), event)
    _group_send(NODES_GROUP, event)


def user_evict_concerns(event: dict, socket) -> bool:
    """Whether a `user.evict` event closes `socket` (with its `user_id` and `session_key`)."""
    return (
        event["user_id"] == socket.user_id
        and event.get("session_key") in (None, socket.session_key)
        and socket.session_key not in event.get("keep", ())
    )


def room_sockets_notify(*, slug: str, event: str, **fields) -> None:
    """Tell the sockets of a room that an admin closed or (un)locked it."""
    _group_send(room_group_name(slug), {"type": "room.control", "slug": slug, "event": event, **fields})
