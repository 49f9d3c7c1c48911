"""Sockets follow the session: signing out or being deactivated ends a user's calls."""

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import post_save
from django.dispatch import receiver

from calls.services.eviction import user_sockets_evict


@receiver(user_logged_out)
def _evict_on_logout(sender, request, user, **kwargs) -> None:
    if user is not None:
        user_sockets_evict(user_id=user.pk, session_key=request.session.session_key, reason="signed-out")


@receiver(post_save, sender=get_user_model())
def _evict_on_deactivation(sender, instance, created, **kwargs) -> None:
    if not created and not instance.is_active:
        user_sockets_evict(user_id=instance.pk, session_key=None, reason="deactivated")
