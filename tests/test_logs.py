"""Production logs: one JSON object per line, naming room, peer and user; never SDP, candidates or chat."""

import io
import logging
import logging.config

import orjson
import pytest
from asgiref.sync import sync_to_async

from calls.signaling.node import node_get
from tests.helpers import join, server_frames_checked  # noqa: F401

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("server_frames_checked")]

SDP = "v=0 o=- 4611731400430051336 2 IN IP4 127.0.0.1 s=MARK-SDP"
CANDIDATE = "candidate:842163049 1 udp 1677729535 127.0.0.1 50000 typ srflx MARK-CANDIDATE"
CHAT = "MARK-CHAT the launch code is 0000"


def production_settings(monkeypatch):
    """config.settings.production as a server would load it (its required variables set)."""
    import importlib
    import sys

    monkeypatch.setenv("SECRET_KEY", "k" * 25 + "abcdefghijklmnopqrstuvwxy")
    monkeypatch.setenv("ALLOWED_HOSTS", "parley.example.com")
    monkeypatch.delenv("LOG_FORMAT", raising=False)
    module = sys.modules.get("config.settings.production")
    return importlib.reload(module) if module else importlib.import_module("config.settings.production")


@pytest.fixture
def production_log(monkeypatch):
    """The production settings' logging (JSON), written to a buffer; the test settings' put back after."""
    from django.conf import settings

    import config.asgi  # noqa: F401  (its django.setup() configures logging: before, not after, the switch)

    buffer = io.StringIO()
    logging.config.dictConfig(production_settings(monkeypatch).LOGGING)
    logging.getLogger().handlers[0].setStream(buffer)
    yield buffer
    logging.config.dictConfig(settings.LOGGING)


def test_production_logs_json_and_development_plain(monkeypatch):
    from config.settings.base import LOGGING as development

    assert production_settings(monkeypatch).LOGGING["handlers"]["console"]["formatter"] == "json"
    assert development["handlers"]["console"]["formatter"] == "plain"


async def test_a_calls_log_lines_are_json_with_its_ids_and_none_of_its_content(
    signaling, settings, make_user, make_room, production_log, monkeypatch
):
    settings.TURN_URLS = ["turn:turn.example.com:3478"]
    settings.TURN_SECRET = "MARK-TURN-SECRET"
    alice = await sync_to_async(make_user)("alice")
    bob = await sync_to_async(make_user)("bob")
    room = await sync_to_async(make_room)(alice)
    a = await join(room.slug, alice)
    b = await join(room.slug, bob)
    await a.recv_type("peer-joined")
    await b.send({"type": "offer", "to": a.peer_id, "sdp": SDP})
    await a.recv_type("offer")
    await b.send({"type": "ice", "to": a.peer_id, "candidate": {"candidate": CANDIDATE, "sdpMid": "0"}})
    await a.recv_type("ice")
    await b.send({"type": "chat", "text": CHAT})
    await a.recv_type("chat")

    async def media_set_fails(**kwargs):  # a failure inside bob's frame: logged with its traceback
        raise RuntimeError("room state unavailable")

    monkeypatch.setattr((await node_get()).registry, "media_set", media_set_fails)
    await b.send({"type": "media", "audio": False, "video": True, "screen": False, "id": "m1"})
    assert (await b.recv_type("error"))["code"] == "unavailable"
    await b.send({"type": "leave"})
    await a.recv_type("peer-left")
    await a.close()

    lines = [line for line in production_log.getvalue().splitlines() if line.strip()]
    records = [orjson.loads(line) for line in lines]  # every line is one JSON object
    assert all({"time", "level", "logger", "message"} <= record.keys() for record in records)
    bobs = [r for r in records if r.get("peer") == b.peer_id]
    assert {"room socket joined", "room socket closed by the server: left (1000)"} <= {r["message"] for r in bobs}
    assert all(r["room"] == room.slug and r["user"] == bob.pk for r in bobs)
    failed = next(r for r in bobs if "frame failed" in r["message"])
    assert failed["level"] == "ERROR" and "RuntimeError: room state unavailable" in failed["exc_info"]
    alices = [r for r in records if r.get("peer") == a.peer_id]
    assert alices and all(r["user"] == alice.pk for r in alices)
    text = production_log.getvalue()
    for secret in ("MARK-SDP", "MARK-CANDIDATE", "MARK-CHAT", "MARK-TURN-SECRET", b.welcome["resume_token"]):
        assert secret not in text


def test_fields_that_must_never_be_logged_are_dropped_even_when_passed(production_log):
    logger = logging.getLogger("calls.consumers")
    logger.warning("odd frame", extra={"sdp": SDP, "text": CHAT, "token": "t", "code": "bad-frame"})
    (record,) = [orjson.loads(line) for line in production_log.getvalue().splitlines()]
    assert record["code"] == "bad-frame" and not {"sdp", "text", "token"} & record.keys()
