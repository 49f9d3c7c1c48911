"""TURN credentials (coturn use-auth-secret) and GET /api/ice-servers/.

The real coturn accepting these credentials is proven in test_turn_coturn.py.
"""

import base64
import logging
import shutil
import subprocess
import time
from types import SimpleNamespace

import pytest
from django.core.cache import cache
from django.test import Client

from calls.services import turn
from calls.services.turn import ice_servers_build, turn_credential_compute, turn_credentials_issue

TURN_URLS = ["turn:turn.example.com:3478?transport=udp", "turn:turn.example.com:3478?transport=tcp"]
TURNS_URL = "turns:turn.example.com:5349?transport=tcp"
STUN_URLS = ["stun:turn.example.com:3478"]
NOW = 1_700_000_000


@pytest.fixture
def turn_settings(settings, monkeypatch):
    settings.TURN_SECRET = "parley-secret"
    settings.TURN_URLS = [*TURN_URLS, TURNS_URL]
    settings.STUN_URLS = STUN_URLS
    settings.TURN_TTL = 3600
    monkeypatch.setattr(turn, "_warned_no_secret", False)
    return settings


@pytest.fixture
def fresh_ratelimit():
    """The rate limit counts per user id, and ids repeat across tests on a rolled-back database."""
    cache.clear()
    yield
    cache.clear()


def test_credential_matches_rfc2202_hmac_sha1_vector():
    # RFC 2202 test case 2: HMAC-SHA1(key="Jefe", data="what do ya want for nothing?")
    # = effcdf6ae5eb2fa2d27416d5f184df9c259a7c79, here base64-encoded as coturn expects.
    assert turn_credential_compute(secret="Jefe", username="what do ya want for nothing?") == (
        "7/zfauXrL6LSdBbV8YTfnCWafHk="
    )


def test_credential_matches_openssl_for_a_turn_username():
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    username = "1700003600:42"
    digest = subprocess.run(
        [openssl, "dgst", "-sha1", "-hmac", "parley-secret", "-binary"],
        input=username.encode(),
        capture_output=True,
        check=True,
    ).stdout
    assert turn_credential_compute(secret="parley-secret", username=username) == base64.b64encode(digest).decode()
    assert base64.b64encode(digest).decode() == "UzsJglS2Uy8d6K/dUptKwPRXg7U="


def test_username_is_expiry_then_user_id_and_credential_signs_it(turn_settings):
    issued = turn_credentials_issue(user_id=42, now=NOW)
    assert issued["username"] == f"{NOW + 3600}:42"
    assert issued["credential"] == "UzsJglS2Uy8d6K/dUptKwPRXg7U="


def test_ttl_comes_from_settings(turn_settings):
    turn_settings.TURN_TTL = 600
    assert turn_credentials_issue(user_id=7, now=NOW)["username"] == f"{NOW + 600}:7"
    assert turn_credentials_issue(user_id=7, ttl=60, now=NOW + 0.9)["username"] == f"{NOW + 60}:7"


def test_credentials_default_to_the_current_time(turn_settings):
    before = int(time.time())
    expiry = int(turn_credentials_issue(user_id=3)["username"].split(":")[0])
    assert before + 3600 <= expiry <= int(time.time()) + 3600


def test_other_secret_or_user_gives_another_credential(turn_settings):
    mine = turn_credentials_issue(user_id=1, now=NOW)
    theirs = turn_credentials_issue(user_id=2, now=NOW)
    assert mine["credential"] != theirs["credential"]
    turn_settings.TURN_SECRET = "rotated-secret"
    assert turn_credentials_issue(user_id=1, now=NOW)["credential"] != mine["credential"]


def test_ice_servers_list_stun_then_turn_with_credentials(turn_settings):
    servers, ttl = ice_servers_build(user_id=42)
    assert ttl == 3600
    assert servers[0] == {"urls": STUN_URLS}
    assert servers[1]["urls"] == [*TURN_URLS, TURNS_URL]
    expiry, user_id = servers[1]["username"].split(":")
    assert user_id == "42"
    assert abs(int(expiry) - (time.time() + 3600)) < 5
    assert servers[1]["credential"] == turn_credential_compute(secret="parley-secret", username=servers[1]["username"])
    assert len(servers) == 2


def test_without_secret_only_stun_and_a_warning(turn_settings, caplog):
    turn_settings.TURN_SECRET = ""
    with caplog.at_level(logging.WARNING, logger="calls.services.turn"):
        servers, _ = ice_servers_build(user_id=42)
        ice_servers_build(user_id=42)
    assert servers == [{"urls": STUN_URLS}]
    assert "credential" not in str(servers)
    warnings = [record for record in caplog.records if "TURN_SECRET" in record.getMessage()]
    assert len(warnings) == 1, "warn once per process, not per request"


def test_without_any_turn_config_an_empty_list_and_a_warning(turn_settings, caplog):
    turn_settings.TURN_SECRET = ""
    turn_settings.TURN_URLS = []
    turn_settings.STUN_URLS = []
    with caplog.at_level(logging.WARNING, logger="calls.services.turn"):
        servers, _ = ice_servers_build(user_id=42)
    assert servers == []
    assert any("STUN only" in record.getMessage() for record in caplog.records)


# --- GET /api/ice-servers/ -------------------------------------------------------------


@pytest.mark.django_db
def test_api_requires_sign_in_with_a_json_401(turn_settings):
    response = Client().get("/api/ice-servers/")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"] == "unauthenticated"
    assert "credential" not in response.content.decode()


@pytest.mark.django_db
def test_api_gives_signed_in_user_fresh_credentials_not_cached(turn_settings, make_user, fresh_ratelimit):
    user = make_user()
    client = Client()
    client.force_login(user)
    response = client.get("/api/ice-servers/")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    body = response.json()
    assert body["ice_ttl"] == 3600
    turn_entry = body["ice_servers"][1]
    assert turn_entry["username"].endswith(f":{user.pk}")
    assert turn_entry["credential"] == turn_credential_compute(secret="parley-secret", username=turn_entry["username"])


@pytest.mark.django_db
def test_api_refuses_writes(turn_settings, make_user, fresh_ratelimit):
    client = Client()
    client.force_login(make_user())
    assert client.post("/api/ice-servers/").status_code == 405


@pytest.mark.django_db
def test_api_rate_limits_each_user(turn_settings, make_user, fresh_ratelimit, monkeypatch):
    # One fixed-window second for the whole burst, so a window boundary cannot split it.
    monkeypatch.setattr("calls.services.ratelimit.time", SimpleNamespace(time=lambda: NOW + 1.0))
    greedy, other = Client(), Client()
    greedy.force_login(make_user())
    other.force_login(make_user())
    assert [greedy.get("/api/ice-servers/").status_code for _ in range(30)] == [200] * 30
    limited = greedy.get("/api/ice-servers/")
    assert limited.status_code == 429
    assert limited.json()["error"] == "rate-limited"
    assert "credential" not in limited.content.decode()
    assert other.get("/api/ice-servers/").status_code == 200, "one user's burst must not lock out another"
