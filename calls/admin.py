from django.contrib import admin, messages
from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from calls.models import Call, Participation, Room, RoomInvite
from calls.services.eviction import room_sockets_notify

# The room page shows the latest joins; the rest are a link away, paginated.
RECENT_PARTICIPATIONS = 20


class RoomKindFilter(admin.SimpleListFilter):
    """Rooms people made, by default; the rooms of direct calls only on request."""

    title = _("kind")
    parameter_name = "kind"

    def lookups(self, request, model_admin):
        return (("direct", _("Direct calls")), ("all", _("All")))

    def choices(self, changelist):
        yield {
            "selected": self.value() is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": _("Rooms"),
        }
        for value, label in self.lookup_choices:
            yield {
                "selected": self.value() == value,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": label,
            }

    def queryset(self, request, queryset):
        if self.value() == "all":
            return queryset
        return queryset.filter(is_direct=self.value() == "direct")


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
    verbose_name_plural = _("latest participations")

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class InviteInline(admin.TabularInline):
    model = RoomInvite
    extra = 0
    fields = ("created_by", "created_at", "expires_at", "revoked_at", "uses")
    readonly_fields = ("created_by", "created_at", "expires_at", "uses")
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "slug",
        "owner",
        "capacity",
        "live_now",
        "is_private",
        "is_locked",
        "is_active",
        "created_at",
    )
    list_filter = (RoomKindFilter, "is_active", "is_locked", "is_private", "created_at")
    search_fields = ("name", "slug", "owner__username", "owner__display_name")
    prepopulated_fields = {"slug": ("name",)}
    autocomplete_fields = ("owner",)
    readonly_fields = ("created_at", "updated_at", "all_participations")
    exclude = ("allowed_users",)
    inlines = (AllowedUserInline, InviteInline, ParticipationInline)
    actions = ("lock_rooms", "unlock_rooms", "close_rooms")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Room]:
        open_rows = Participation.objects.filter(left_at__isnull=True).select_related("user").order_by("joined_at")
        return (
            super()
            .get_queryset(request)
            .select_related("owner")
            .prefetch_related(Prefetch("participations", queryset=open_rows, to_attr="open_participations"))
        )

    @admin.display(description=_("live now"))
    def live_now(self, room: Room) -> str:
        """Who is in the call: the audit rows still open (every process writes them)."""
        people = getattr(room, "open_participations", None)
        if people is None:
            people = list(room.participations.filter(left_at__isnull=True).select_related("user"))
        if not people:
            return "—"
        names = format_html_join(", ", "{}", ((row.user.shown_name,) for row in people))
        return format_html("{} / {}: {}", len(people), room.capacity, names)

    @admin.display(description=_("participations"))
    def all_participations(self, room: Room) -> str:
        count = room.participations.count()
        url = reverse("admin:calls_participation_changelist") + f"?room__id__exact={room.pk}"
        label = ngettext("%(count)d join in all", "%(count)d joins in all", count) % {"count": count}
        return format_html('<a href="{}">{}</a>', url, label)

    def get_formset_kwargs(self, request, obj, inline, prefix):
        """The participation inline holds the latest joins only: a busy room has thousands."""
        kwargs = super().get_formset_kwargs(request, obj, inline, prefix)
        if isinstance(inline, ParticipationInline) and obj is not None:
            latest = list(
                obj.participations.order_by("-joined_at").values_list("pk", flat=True)[:RECENT_PARTICIPATIONS]
            )
            kwargs["queryset"] = Participation.objects.filter(pk__in=latest)
        return kwargs

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
    list_select_related = ("room", "user")
    list_per_page = 50
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
