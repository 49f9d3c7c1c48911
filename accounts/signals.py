"""What accounts announce, for the apps whose state follows a sign-in (calls closes sockets).

Accounts import nothing of those apps: they connect receivers to these and to Django's own
`user_logged_out` and `post_save`.
"""

from django.dispatch import Signal

# A password change is starting in the session `session_key` of `user`: Django will move the
# session to a new key (`update_session_auth_hash`).
password_change_started = Signal()
# The change ended: the session `old_key` is now `new_key` with `auth_hash`, or, with
# `new_key` None, the change failed and the session is as it was.
password_change_finished = Signal()
