from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _


class User(AbstractUser):
    """A Parley user. `display_name` is what other people see in calls and chat."""

    display_name = models.CharField(_("display name"), max_length=64, blank=True)

    @property
    def shown_name(self) -> str:
        return self.display_name or self.username

    def public_dict(self) -> dict:
        """The user as peers see it on the wire (docs/protocol.md `USER`)."""
        return {"id": self.pk, "username": self.username, "display_name": self.shown_name}
