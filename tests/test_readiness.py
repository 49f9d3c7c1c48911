"""/healthz says the process is alive; /readyz that it can admit calls (database and Redis answer)."""

import pytest

from tests.cluster import port_free

pytestmark = pytest.mark.django_db


def test_ready_when_the_database_and_redis_answer(client, settings, redis_url):
    settings.REDIS_URL = redis_url
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"ready": True, "checks": {"database": "ok", "redis": "ok"}}
    assert "no-store" in response["Cache-Control"]


def test_not_ready_while_redis_is_unreachable_though_alive(client, settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{port_free()}/0"  # nothing listens there
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"ready": False, "checks": {"database": "ok", "redis": "down"}}
    assert client.get("/healthz").status_code == 200


def test_the_embedded_default_needs_only_its_database(client, settings):
    settings.REDIS_URL = ""
    response = client.get("/readyz")
    assert response.status_code == 200 and response.json()["checks"] == {"database": "ok"}
