"""/metrics: only with the bearer token, and its figures follow real calls through the real consumer."""

import asyncio

import pytest
from asgiref.sync import sync_to_async
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import join, server_frames_checked  # noqa: F401

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("server_frames_checked")]

TOKEN = "scrape-me-0123456789"


async def scrape(headers: list[tuple[bytes, bytes]] | None = None) -> tuple[int, bytes, dict]:
    """GET /metrics through the real ASGI application: (status, body, headers)."""
    from config.asgi import application

    sent: list[dict] = []
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/metrics",
        "query_string": b"",
        "headers": [(b"host", b"10.0.0.7:8000"), *(headers or [])],  # a container's address, as Prometheus sends it
    }

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    await application(scope, receive, send)
    start = sent[0]
    return start["status"], b"".join(m.get("body", b"") for m in sent[1:]), dict(start["headers"])


async def figures() -> dict[tuple[str, tuple], float]:
    """Every sample of an authorized scrape: {(name, sorted labels): value}."""
    status, body, _ = await scrape([(b"authorization", f"Bearer {TOKEN}".encode())])
    assert status == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def moved(before: dict, after: dict, name: str, **labels) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0) - before.get(key, 0)


async def test_without_the_token_the_endpoint_is_not_there_or_refuses(settings):
    settings.METRICS_TOKEN = ""
    status, body, _ = await scrape()
    assert status == 404 and b"parley_" not in body
    settings.METRICS_TOKEN = TOKEN
    status, body, headers = await scrape()
    assert status == 401 and b"parley_" not in body and headers[b"www-authenticate"].startswith(b"Bearer")
    status, body, _ = await scrape([(b"authorization", b"Bearer wrong-token")])
    assert status == 401 and b"parley_" not in body


async def test_counters_and_gauges_follow_a_real_call(signaling, settings, make_user, make_room):
    settings.METRICS_TOKEN = TOKEN
    settings.TURN_URLS = ["turn:turn.example.com:3478"]
    settings.TURN_SECRET = "turn-secret"
    signaling["RESUME_GRACE"] = 10
    people = [await sync_to_async(make_user)(name) for name in ("alice", "bob", "carol")]
    room = await sync_to_async(make_room)(people[0], capacity=2)
    before = await figures()

    a = await join(room.slug, people[0])
    b = await join(room.slug, people[1])
    await a.recv_type("peer-joined")
    await b.send({"type": "offer", "to": a.peer_id, "sdp": "v=0 metrics"})
    await a.recv_type("offer")
    await a.send({"type": "chat", "text": "hello"})
    await b.recv_type("chat")
    during = await figures()
    assert moved(before, during, "parley_join_seconds_count") == 2
    assert moved(before, during, "parley_turn_credentials_issued_total") == 2
    assert moved(before, during, "parley_frames_received_total", type="offer") == 1
    assert moved(before, during, "parley_frames_received_total", type="chat") == 1
    # the offer to alice, the chat to both, bob's peer-joined to alice: all in this process
    assert moved(before, during, "parley_frames_delivered_local_total") >= 4
    assert during[("parley_room_sockets", ())] >= 2
    assert during[("parley_rooms_active", ())] >= 1
    assert moved(before, during, "parley_room_peers_bucket", le="2") >= 1

    refused = await join_refused(room.slug, people[2])
    assert refused["code"] == "room-full"
    token = b.welcome["resume_token"]
    await b.close()  # dropped, not left
    await asyncio.sleep(0.2)
    back = await join(room.slug, people[1], query=f"resume={token}")
    assert back.welcome["resumed"] is True
    after = await figures()
    assert moved(before, after, "parley_refusals_total", socket="room", code="room-full") == 1
    assert moved(before, after, "parley_resumes_total", kind="same-process") == 1
    await a.close()
    await back.close()


async def join_refused(slug: str, user) -> dict:
    from tests.helpers import connect

    peer = await connect(f"/ws/rooms/{slug}/", user)
    frame, _ = await peer.refused()
    return frame


async def test_the_grafana_dashboard_plots_only_metrics_the_process_serves(settings):
    import json
    import re

    from tests.cluster import ROOT

    settings.METRICS_TOKEN = TOKEN
    served = {name for name, _ in await figures()}
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/parley.json").read_text())
    plotted = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"\b((?:parley|process)_[a-z_]+)", target["expr"])
    }
    # a labelled counter nobody has counted yet has no sample: its family is still described
    _, body, _ = await scrape([(b"authorization", f"Bearer {TOKEN}".encode())])
    described = set(re.findall(rb"^# TYPE (\S+) (\S+)", body, re.MULTILINE))
    families = {name.decode() + suffix for name, kind in described for suffix in ("", "_total", "_bucket", "_count")}
    assert plotted and plotted <= served | families, plotted - served - families
