from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from calls.models import Call, Participation, Room
from calls.services.eviction import room_sockets_notify


class AllowedUserInline(admin.TabularInline):
    model = Room.allowed_users.through
    extra = 1
    autocomplete_fields = ("user",)
    verbose_name = _("allowed user")
    verbose_name_plural = _("allowed users (private rooms)")


class ParticipationInline(admin.TabularInline):
    """The audit trail of a room, read-only."""

    model = Participation
    extra = 0
    can_delete = False
    fields = ("user", "peer_id", "joined_at", "left_at", "reason")
    readonly_fields = fields
    ordering = ("-joined_at",)
    max_num = 0
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "owner", "capacity", "is_private", "is_locked", "is_active", "created_at")
    list_filter = ("is_active", "is_locked", "is_private", "is_direct", "created_at")
    search_fields = ("name", "slug", "owner__username", "owner__display_name")
    prepopulated_fields = {"slug": ("name",)}
    autocomplete_fields = ("owner",)
    readonly_fields = ("created_at", "updated_at")
    exclude = ("allowed_users",)
    inlines = (AllowedUserInline, ParticipationInline)
    actions = ("lock_rooms", "unlock_rooms", "close_rooms")

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        if change and "is_active" in form.changed_data and not obj.is_active:
            room_sockets_notify(slug=obj.slug, event="closed")
        elif change and "is_locked" in form.changed_data:
            room_sockets_notify(slug=obj.slug, event="locked", locked=obj.is_locked)

    def _update(self, request: HttpRequest, queryset: QuerySet[Room], verb: str, **fields) -> None:
        slugs = list(queryset.values_list("slug", flat=True))
        queryset.update(**fields)
        for slug in slugs:
            if "is_active" in fields:
                room_sockets_notify(slug=slug, event="closed")
            else:
                room_sockets_notify(slug=slug, event="locked", locked=fields["is_locked"])
        self.message_user(
            request,
            ngettext("%(count)d room %(verb)s.", "%(count)d rooms %(verb)s.", len(slugs))
            % {"count": len(slugs), "verb": verb},
            messages.SUCCESS,
        )

    @admin.action(description=_("Lock selected rooms (nobody new may join)"))
    def lock_rooms(self, request, queryset) -> None:
        self._update(request, queryset, "locked", is_locked=True)

    @admin.action(description=_("Unlock selected rooms"))
    def unlock_rooms(self, request, queryset) -> None:
        self._update(request, queryset, "unlocked", is_locked=False)

    @admin.action(description=_("Close selected rooms (ends their calls)"))
    def close_rooms(self, request, queryset) -> None:
        self._update(request, queryset, "closed", is_active=False)


@admin.register(Participation)
class ParticipationAdmin(admin.ModelAdmin):
    list_display = ("room", "user", "joined_at", "left_at", "reason")
    list_filter = ("reason", "joined_at")
    search_fields = ("room__name", "room__slug", "user__username")
    readonly_fields = ("room", "user", "peer_id", "joined_at", "left_at", "reason")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Call)
class CallAdmin(admin.ModelAdmin):
    list_display = ("caller", "callee", "status", "started_at", "answered_at", "ended_at", "duration")
    list_filter = (
        "status",
        "started_at",
        ("caller", admin.RelatedOnlyFieldListFilter),
        ("callee", admin.RelatedOnlyFieldListFilter),
    )
    search_fields = ("caller__username", "callee__username")
    date_hierarchy = "started_at"
    readonly_fields = ("call_id", "caller", "callee", "room", "status", "started_at", "answered_at", "ended_at")

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description=_("duration (s)"))
    def duration(self, obj: Call) -> int | None:
        return obj.duration_seconds
