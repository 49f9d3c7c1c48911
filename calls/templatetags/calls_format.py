"""How the call pages show times: durations as h:mm:ss, dates relative to today."""

from datetime import datetime

from django import template
from django.utils import formats, timezone
from django.utils.translation import gettext as _

register = template.Library()


@register.filter
def clock(seconds: int | None) -> str:
    """16 -> "0:16", 3725 -> "1:02:05"; nothing for a call that was never answered."""
    if seconds is None:
        return "—"
    hours, rest = divmod(int(seconds), 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


@register.filter
def relative_when(moment: datetime, now: datetime | None = None) -> str:
    """ "today 13:48", "yesterday 09:05", else the date with the month by name (never 12/03 or 03/12)."""
    local = timezone.localtime(moment)
    today = timezone.localtime(now or timezone.now()).date()
    time = local.strftime("%H:%M")
    days = (today - local.date()).days
    if days == 0:
        return _("today %(time)s") % {"time": time}
    if days == 1:
        return _("yesterday %(time)s") % {"time": time}
    if local.year == today.year:
        return _("%(date)s %(time)s") % {"date": formats.date_format(local, _("j F")), "time": time}
    return _("%(date)s %(time)s") % {"date": formats.date_format(local, _("j F Y")), "time": time}


@register.filter
def full_when(moment: datetime) -> str:
    """The whole date and time, for the hover text."""
    return formats.date_format(timezone.localtime(moment), _("l, j F Y, H:i:s"))
