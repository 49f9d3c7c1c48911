"""Call history page, the admin's call list filters, and the pages that carry the presence client."""

from datetime import timedelta

import pytest
from django.utils import timezone

from calls.models import Call

pytestmark = pytest.mark.django_db


@pytest.fixture
def calls(make_user, make_room):
    alice = make_user("alice", display_name="<script>alert(1)</script>")
    bob = make_user("bob", display_name="Bob Builder")
    carol = make_user("carol")
    now = timezone.now()
    made = {
        "answered": Call.objects.create(
            call_id="c-answered",
            caller=alice,
            callee=bob,
            status=Call.Status.ANSWERED,
            answered_at=now - timedelta(seconds=95),
            ended_at=now - timedelta(seconds=5),
        ),
        "missed": Call.objects.create(call_id="c-missed", caller=bob, callee=alice, status=Call.Status.MISSED),
        "others": Call.objects.create(call_id="c-others", caller=bob, callee=carol, status=Call.Status.DECLINED),
    }
    Call.objects.filter(call_id="c-others").update(started_at=now - timedelta(days=400))
    return alice, bob, carol, made


def rows(html: str) -> dict[str, str]:
    """The history table's rows by call id (their text, tags dropped)."""
    import re

    found = {}
    for call_id, body in re.findall(r'<tr class="[^"]*" data-call-id="([^"]+)">(.*?)</tr>', html, re.S):
        found[call_id] = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)).strip()
    return found


def test_history_lists_my_calls_with_direction_peer_duration_and_missed(client, calls):
    alice, bob, _, _ = calls
    client.force_login(bob)
    html = client.get("/calls/").content.decode()
    table = rows(html)
    assert set(table) == {"c-answered", "c-missed", "c-others"}
    assert table["c-answered"].startswith("Incoming") and "@alice" in table["c-answered"]
    assert " 1:30 " in table["c-answered"] and "Missed" not in table["c-answered"]
    assert table["c-missed"].startswith("Outgoing") and "No answer" in table["c-missed"]
    assert "Missed" not in table["c-missed"], "the caller's own unanswered call is not a missed call"
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html

    client.force_login(alice)
    table = rows(client.get("/calls/").content.decode())
    assert set(table) == {"c-answered", "c-missed"}  # never someone else's calls
    assert table["c-answered"].startswith("Outgoing") and "Bob Builder" in table["c-answered"]
    assert table["c-missed"].startswith("Incoming") and "Missed call" in table["c-missed"]
    assert "Call back" in table["c-missed"]


def test_history_needs_sign_in(client):
    response = client.get("/calls/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_admin_filters_calls_by_user_and_date(client, calls, make_user):
    alice, _, carol, _ = calls
    admin = make_user("root", is_staff=True, is_superuser=True)
    client.force_login(admin)

    def listed(query: str) -> set[str]:
        response = client.get(f"/admin/calls/call/?{query}")
        assert response.status_code == 200
        return {call.call_id for call in response.context["cl"].result_list}

    assert listed("") == {"c-answered", "c-missed", "c-others"}
    assert listed(f"caller__id__exact={alice.pk}") == {"c-answered"}
    assert listed(f"callee__id__exact={carol.pk}") == {"c-others"}
    year = timezone.now().year
    assert listed(f"started_at__year={year}") >= {"c-answered", "c-missed"}
    assert "c-others" not in listed("started_at__gte=" + (timezone.now() - timedelta(days=7)).date().isoformat())


def test_signed_in_pages_carry_the_presence_client_and_the_lobby_a_call_form(client, calls):
    html = client.get("/accounts/login/").content.decode()
    assert "js/presence.js" not in html and "ring-dialog" not in html
    client.force_login(calls[0])
    lobby = client.get("/").content.decode()
    assert "js/presence.js" in lobby and 'id="ring-dialog"' in lobby
    assert 'id="call-form"' in lobby and 'id="online-users"' in lobby
    assert 'href="/calls/"' in lobby


@pytest.mark.parametrize(
    ("status", "caller_reads", "callee_reads"),
    [
        ("answered", "Answered", "Answered"),
        ("declined", "Bob Builder declined", "You declined"),
        ("missed", "No answer", "Missed call"),
        ("cancelled", "You cancelled", "Missed call"),
        ("busy", "Bob Builder was in another call", "Missed: you were in another call"),
        ("offline", "Bob Builder was offline", "Missed: you were offline"),
    ],
)
def test_each_side_reads_the_outcome_from_where_it_stands(client, make_user, status, caller_reads, callee_reads):
    alice, bob = make_user("alice", display_name="Alice A"), make_user("bob", display_name="Bob Builder")
    Call.objects.create(call_id="c-1", caller=alice, callee=bob, status=status)
    for user, expected in ((alice, caller_reads), (bob, callee_reads)):
        client.force_login(user)
        assert expected in rows(client.get("/calls/").content.decode())["c-1"]


def test_durations_and_dates_read_unambiguously(client, make_user):
    from calls.templatetags.calls_format import clock, relative_when

    assert [clock(s) for s in (None, 0, 16, 90, 3599, 3725)] == ["—", "0:00", "0:16", "1:30", "59:59", "1:02:05"]
    now = timezone.now().replace(hour=13, minute=48)
    assert relative_when(now, now) == "today 13:48"
    assert relative_when(now - timedelta(days=1), now) == "yesterday 13:48"
    assert relative_when(now.replace(year=2024, month=3, day=12), now) == "12 March 2024 13:48"


def test_missed_calls_badge_until_the_history_is_seen(client, make_user):
    alice, bob = make_user("alice"), make_user("bob")
    Call.objects.create(call_id="c-m", caller=alice, callee=bob, status=Call.Status.MISSED)
    Call.objects.create(call_id="c-o", caller=bob, callee=alice, status=Call.Status.MISSED)  # his own: no badge
    client.force_login(bob)
    assert (
        '<span id="calls-badge" class="calls-badge" aria-label="missed calls">1</span>'
        in client.get("/").content.decode()
    )
    client.get("/calls/")
    assert 'id="calls-badge" class="calls-badge" hidden' in client.get("/").content.decode()
    Call.objects.create(call_id="c-n", caller=alice, callee=bob, status=Call.Status.CANCELLED)
    assert 'aria-label="missed calls">1</span>' in client.get("/").content.decode()
