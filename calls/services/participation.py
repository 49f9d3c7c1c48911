"""The audit trail of who was in which room, and when."""

from django.utils import timezone

from calls.models import Participation


def participation_open(*, room_id: int, user_id: int, peer_id: str) -> int:
    return Participation.objects.create(room_id=room_id, user_id=user_id, peer_id=peer_id).pk


def participation_close(*, participation_id: int, reason: str) -> None:
    Participation.objects.filter(pk=participation_id, left_at__isnull=True).update(
        left_at=timezone.now(), reason=reason
    )
