from django import forms
from django.utils.translation import gettext_lazy as _

from calls.models import MAX_CAPACITY, MIN_CAPACITY


class RoomCreateForm(forms.Form):
    name = forms.CharField(label=_("Room name"), max_length=100)
    capacity = forms.IntegerField(label=_("Capacity"), min_value=MIN_CAPACITY, max_value=MAX_CAPACITY, initial=8)
    is_private = forms.BooleanField(label=_("Private (only people you allow)"), required=False)
