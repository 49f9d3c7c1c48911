from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

MIN_CAPACITY = 2
MAX_CAPACITY = 16


class Room(models.Model):
    """A call room with a shareable URL `/rooms/<slug>/`."""

    slug = models.SlugField(_("slug"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=100)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="owned_rooms", verbose_name=_("owner")
    )
    capacity = models.PositiveSmallIntegerField(
        _("capacity"),
        default=8,
        validators=[MinValueValidator(MIN_CAPACITY), MaxValueValidator(MAX_CAPACITY)],
        help_text=_("Most people in the call at once (2 to 16): every peer sends media to every other."),
    )
    is_private = models.BooleanField(_("private"), default=False, help_text=_("Only the allowed users may join."))
    allowed_users = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="allowed_rooms", verbose_name=_("allowed users")
    )
    is_locked = models.BooleanField(_("locked"), default=False, help_text=_("Nobody new may join, but the owner."))
    is_active = models.BooleanField(_("active"), default=True, help_text=_("A closed room cannot be joined."))
    everyone_may_record = models.BooleanField(
        _("everyone may record"),
        default=False,
        help_text=_("Anyone in the call may record it in their browser; else only the owner and staff."),
    )
    is_direct = models.BooleanField(_("direct call"), default=False, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("room")
        verbose_name_plural = _("rooms")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(capacity__gte=MIN_CAPACITY, capacity__lte=MAX_CAPACITY),
                name="room_capacity_range",
            )
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("room", kwargs={"slug": self.slug})


class Participation(models.Model):
    """Audit trail: one row per join of a room socket, closed when it leaves."""

    class Reason(models.TextChoices):
        LEFT = "left", _("left")
        DISCONNECTED = "disconnected", _("disconnected")
        KICKED = "kicked", _("kicked")
        TIMEOUT = "timeout", _("timeout")

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="participations")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="participations")
    peer_id = models.CharField(max_length=64, db_index=True)
    joined_at = models.DateTimeField(_("joined"), auto_now_add=True)
    left_at = models.DateTimeField(_("left"), null=True, blank=True)
    reason = models.CharField(_("reason"), max_length=16, choices=Reason.choices, blank=True)

    class Meta:
        ordering = ["-joined_at"]
        verbose_name = _("participation")

    def __str__(self) -> str:
        return f"{self.user} in {self.room}"


class Call(models.Model):
    """A direct call by username: ringing, then answered or not."""

    class Status(models.TextChoices):
        RINGING = "ringing", _("ringing")
        ANSWERED = "answered", _("answered")
        DECLINED = "declined", _("declined")
        MISSED = "missed", _("missed (no answer)")
        CANCELLED = "cancelled", _("cancelled")
        BUSY = "busy", _("busy")
        OFFLINE = "offline", _("callee offline")

    call_id = models.CharField(max_length=64, unique=True)
    caller = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calls_made")
    callee = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calls_received")
    room = models.ForeignKey(Room, on_delete=models.SET_NULL, null=True, blank=True, related_name="direct_calls")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RINGING)
    started_at = models.DateTimeField(_("started"), auto_now_add=True, db_index=True)
    answered_at = models.DateTimeField(_("answered"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        verbose_name = _("direct call")

    def __str__(self) -> str:
        return f"{self.caller} → {self.callee} ({self.status})"

    @property
    def duration_seconds(self) -> int | None:
        if self.answered_at and self.ended_at:
            return int((self.ended_at - self.answered_at).total_seconds())
        return None


class RoomInvite(models.Model):
    """An invitation to a private room: its link adds whoever opens it to the allowed people,
    until it expires (`expires_at`, or never) or the owner revokes it."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="invites", verbose_name=_("room"))
    key = models.CharField(max_length=32, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("created by")
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    uses = models.PositiveIntegerField(_("people added"), default=0)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")

    def __str__(self) -> str:
        return f"{self.room} ({self.created_at:%Y-%m-%d})"
