from django import forms
from django.contrib.auth.forms import UserCreationForm
from django.utils.translation import gettext_lazy as _

from .models import User


class UniqueEmailMixin:
    """An email address belongs to one account, so a password reset reaches one person.

    Compared case-insensitively; the error does not say which account has it.
    """

    def clean_email(self) -> str:
        email = self.cleaned_data["email"]
        others = User.objects.filter(email__iexact=email)
        if self.instance.pk is not None:
            others = others.exclude(pk=self.instance.pk)
        if email and others.exists():
            raise forms.ValidationError(_("This email address is already used by another account."))
        return email


class SignUpForm(UniqueEmailMixin, UserCreationForm):
    email = forms.EmailField(label=_("Email"), required=True, help_text=_("For password resets."))
    display_name = forms.CharField(label=_("Display name"), max_length=64, required=False)

    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username", "email", "display_name")


class ProfileForm(UniqueEmailMixin, forms.ModelForm):
    class Meta:
        model = User
        fields = ("display_name", "email")
