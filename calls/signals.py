"""Sockets follow the sign-in: signing out, being deactivated or changing the password ends a
user's calls elsewhere (calls.services.eviction), as it ends their other sessions on the site."""

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import post_save
from django.dispatch import receiver

from accounts.signals import password_change_finished, password_change_started
from calls.services.eviction import user_sockets_evict
from calls.services.sessions import session_move_begin, session_moved


@receiver(user_logged_out)
def _evict_on_logout(sender, request, user, **kwargs) -> None:
    if user is not None:
        user_sockets_evict(user_id=user.pk, session_key=request.session.session_key, reason="signed-out")


@receiver(post_save, sender=get_user_model())
def _evict_on_deactivation(sender, instance, created, **kwargs) -> None:
    if not created and not instance.is_active:
        user_sockets_evict(user_id=instance.pk, session_key=None, reason="deactivated")


@receiver(password_change_started)
def _session_move_on_password_change(sender, user, session_key, **kwargs) -> None:
    """The changing browser's sockets must not be closed while Django re-keys its session."""
    session_move_begin(user_id=user.pk, session_key=session_key)


@receiver(password_change_finished)
def _evict_on_password_change(sender, user, old_key, new_key, auth_hash, **kwargs) -> None:
    """The other sessions' sockets close now (the sweep would within heartbeat/3); the changing
    browser's follow its session to `new_key`."""
    session_moved(user_id=user.pk, old_key=old_key, new_key=new_key, auth_hash=auth_hash)
    if new_key is not None:
        user_sockets_evict(user_id=user.pk, session_key=None, keep=(old_key, new_key), reason="password-changed")
