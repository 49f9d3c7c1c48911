from django import forms
from django.utils.translation import gettext_lazy as _

from calls.models import MAX_CAPACITY, MIN_CAPACITY, Room
from calls.services.invites import INVITE_LIFETIME_LABELS

# In a mesh every person sends their video to every other: what a room's size costs each browser (docs/media.md).
MESH_COMFORTABLE = 8
CAPACITY_HELP = _(
    "Everyone sends their camera straight to every other person (a mesh): each person uploads one "
    "video per other person, and the pictures get smaller as the room fills. Up to 8 people suits "
    "most home connections and laptops."
)
CAPACITY_WARNING = _(
    "More than 8 people: pictures get small, and slower laptops, phones and home connections may not keep up."
)


def capacity_widget() -> forms.NumberInput:
    """The page script shows the warning while the number is above what a mesh carries comfortably."""
    return forms.NumberInput(attrs={"data-warn-above": MESH_COMFORTABLE, "data-warning": CAPACITY_WARNING})


class RoomCreateForm(forms.Form):
    name = forms.CharField(label=_("Room name"), max_length=100)
    capacity = forms.IntegerField(
        label=_("Capacity"),
        min_value=MIN_CAPACITY,
        max_value=MAX_CAPACITY,
        initial=8,
        help_text=CAPACITY_HELP,
        widget=capacity_widget(),
    )
    is_private = forms.BooleanField(label=_("Private (only people you allow)"), required=False)


class RoomSettingsForm(forms.ModelForm):
    class Meta:
        model = Room
        fields = ("name", "capacity", "is_private", "everyone_may_record")
        labels = {
            "name": _("Room name"),
            "is_private": _("Private (only people you allow)"),
            "everyone_may_record": _("Everyone in the call may record it"),
        }
        help_texts = {"capacity": CAPACITY_HELP}
        widgets = {"capacity": capacity_widget()}


class InviteCreateForm(forms.Form):
    lifetime = forms.ChoiceField(
        label=_("The link works for"), choices=list(INVITE_LIFETIME_LABELS.items()), initial="7d"
    )
