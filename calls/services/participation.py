"""The audit trail of who was in which room, and when."""

from django.utils import timezone

from calls.models import Participation


def participation_open(*, room_id: int, user_id: int, peer_id: str) -> int:
    return Participation.objects.create(room_id=room_id, user_id=user_id, peer_id=peer_id).pk


def participation_close(*, peer_id: str, reason: str) -> None:
    """Close the open row of `peer_id` (a resumed peer keeps one row across its sockets)."""
    Participation.objects.filter(peer_id=peer_id, left_at__isnull=True).update(left_at=timezone.now(), reason=reason)


def participations_close(*, gone: list[tuple[str, str]]) -> None:
    """Close the rows of peers the server removed, as (peer_id, reason) pairs."""
    for peer_id, reason in gone:
        participation_close(peer_id=peer_id, reason=reason)
