"""WebSocket handshakes and transport limits, on the servers as Parley runs them.

- A path that is no room or presence socket is refused at the handshake (403), never a 500
  with a traceback in the log.
- In production an Origin must match the site's scheme, host and port.
- A message over the transport limit (128 KiB) is answered with a close frame 1009 and a
  reason, by daphne as config.daphne_server runs it and by uvicorn as production does (config.serve);
  one between the protocol's 96 KiB and 128 KiB gets error `too-large` and the socket stays.
"""

import asyncio
import json
import logging
import os
import shutil
import socket
import subprocess
import sys

import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from tests.cluster import ROOT, Client, Cluster
from tests.conftest import require
from tests.helpers import connect

BAD_PATHS = [
    "/ws/rooms/demo\x00/",
    "/ws/rooms/" + "a" * 65 + "/",
    "/ws/rooms/demo/extra/",
    "/ws/nothing-here/",
    "/ws/",
]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", BAD_PATHS, ids=["nul", "long-slug", "extra-part", "unknown", "bare"])
async def test_a_path_that_is_no_socket_is_refused_without_an_error_log(make_user, path, caplog):
    user = await asyncio.to_thread(make_user)
    caplog.set_level(logging.INFO)
    for who in (user, None):
        peer = await connect(path, who)
        assert peer.connected is False, f"{path!r} was accepted"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], [r.getMessage() for r in caplog.records]


ORIGIN_PROBE = """
import asyncio, json, os
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.production"
from channels.testing import WebsocketCommunicator
from config.asgi import application

async def main(origins):
    out = {}
    for origin in origins:
        communicator = WebsocketCommunicator(application, "/ws/presence/", headers=[(b"origin", origin.encode())])
        connected, _ = await communicator.connect(timeout=5)
        out[origin] = connected
        await communicator.disconnect()
    print(json.dumps(out))

asyncio.run(main(json.loads(os.environ["ORIGINS"])))
"""


def production_handshakes(origins: list[str], **env: str) -> dict[str, bool]:
    """Which Origins a production process lets through to the consumer (it then refuses the
    signed-out socket itself, after accepting: that still counts as let through)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_URL"))}
    environ.update(SECRET_KEY="probe-" + "x" * 50, ALLOWED_HOSTS="parley.example.org", ORIGINS=json.dumps(origins))
    environ.pop("CSRF_TRUSTED_ORIGINS", None)
    environ.update(env)
    done = subprocess.run(
        [sys.executable, "-c", ORIGIN_PROBE], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_production_compares_the_origin_scheme_host_and_port():
    found = production_handshakes(
        [
            "https://parley.example.org",
            "http://parley.example.org",
            "https://parley.example.org:8443",
            "https://evil.example.org",
            "https://parley.example.org.evil.com",
        ]
    )
    assert found == {
        "https://parley.example.org": True,
        "http://parley.example.org": False,
        "https://parley.example.org:8443": False,
        "https://evil.example.org": False,
        "https://parley.example.org.evil.com": False,
    }


def test_production_origins_follow_csrf_trusted_origins():
    found = production_handshakes(
        ["https://parley.example.org:8443", "https://parley.example.org"],
        CSRF_TRUSTED_ORIGINS="https://parley.example.org:8443",
    )
    assert found == {"https://parley.example.org:8443": True, "https://parley.example.org": False}


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    require("REDIS", shutil.which("redis-server") is not None, "redis-server is not installed")
    cluster = Cluster(tmp_path_factory.mktemp("handshake")).setup()
    cluster.data = cluster.seed(users=["ann"], rooms=["limits"])
    cluster.started = {kind: cluster.server(kind, kind) for kind in ("daphne", "uvicorn")}
    yield cluster
    cluster.teardown()


def raw_handshake(port: int, path: str) -> str:
    """The status line a server answers a WebSocket upgrade of `path` with (raw bytes: no client
    library would send a NUL in a path)."""
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Origin: http://127.0.0.1:{port}\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request.encode())
        return sock.recv(4096).decode("latin-1").split("\r\n", 1)[0]


@pytest.mark.parametrize("kind", ["daphne", "uvicorn"])
def test_bad_socket_paths_get_403_from_the_real_servers(servers, kind):
    server = servers.started[kind]
    for path in ("/ws/rooms/demo%00/", "/ws/rooms/" + "a" * 65 + "/", "/ws/unknown/"):
        status = raw_handshake(server.port, path)
        assert " 403 " in status + " ", f"{kind} answered {status!r} for {path}"
    log = server.log_text()
    assert "Traceback" not in log and "ERROR" not in log, log[-2000:]


@pytest.mark.parametrize("kind", ["daphne", "uvicorn"])
async def test_a_message_over_the_transport_limit_is_closed_with_1009_and_a_reason(servers, kind):
    server = servers.started[kind]
    client = await Client.join(server, "limits", servers.data["users"]["ann"]["cookie"], ping=False)
    try:
        # Over the protocol's 96 KiB, under the transport's 128 KiB: refused, the socket stays.
        await client.send(json.dumps({"type": "chat", "text": "x" * (100 * 1024)}))
        error = await client.recv_type("error")
        assert error["code"] == "too-large"
        await client.send({"type": "ping", "id": "still-here"})
        assert (await client.recv_type("pong"))["id"] == "still-here"
        # Over 128 KiB: the transport closes with a close frame, 1009 and why.
        await client.send("x" * (200 * 1024))
        assert await client.wait_closed(timeout=10) == 1009
        assert client.ws.close_reason, "the close frame gives no reason"
    finally:
        await client.close()


@pytest.mark.parametrize("kind", ["daphne", "uvicorn"])
async def test_a_one_megabyte_message_is_closed_with_1009(servers, kind):
    """A plain client (no protocol frames first) sees the close frame, not a dropped connection."""
    server = servers.started[kind]
    cookie = servers.data["users"]["ann"]["cookie"]
    async with ws_connect(
        f"{server.ws}/ws/rooms/limits/",
        origin=f"http://127.0.0.1:{server.port}",
        additional_headers={"Cookie": f"sessionid={cookie}"},
        max_size=2**20,
    ) as ws:
        await ws.send("y" * 2**20)
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(ws.recv(), 10)
        assert closed.value.rcvd is not None, "no close frame: the connection was dropped"
        assert closed.value.rcvd.code == 1009
