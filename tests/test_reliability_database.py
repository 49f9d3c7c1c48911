"""PostgreSQL down, then back: pages answer 503 with a readable page, WebSockets a readable
refusal, a call in progress carries on, and everything works again once it is back.

The shared PostgreSQL is never stopped: the server process reaches its own throwaway
database through a loopback TCP relay that the test takes down and brings back.
"""

import asyncio
import shutil
import time
from urllib.parse import urlsplit

import pytest

from tests.cluster import Client, Cluster, TcpProxy, pg_admin_url, pg_database, pg_reachable, wait_until
from tests.conftest import require


@pytest.fixture(scope="module")
def pg_cluster(tmp_path_factory):
    require("REDIS", shutil.which("redis-server") is not None, "redis-server is not installed")
    admin = pg_admin_url()
    require("POSTGRES", pg_reachable(admin), f"PostgreSQL is not reachable at {admin}")
    parts = urlsplit(admin)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    proxy.up()
    with pg_database(host="127.0.0.1", port=proxy.port) as url:
        cluster = Cluster(tmp_path_factory.mktemp("pgdown"), database_url=url)
        try:
            cluster.setup()
            cluster.data = cluster.seed(users=["ann", "ben", "cat"], rooms=["db-down"])
            cluster.proxy = proxy
            cluster.s1 = cluster.server("db1")
            yield cluster
        finally:
            cluster.teardown()
            proxy.close()


async def test_database_down_then_back(pg_cluster):
    cluster, server = pg_cluster, pg_cluster.s1
    cookie = {name: user["cookie"] for name, user in cluster.data["users"].items()}

    status, body, _ = await asyncio.to_thread(server.get, "/", cookie["ann"])
    assert status == 200 and "db-down" in body
    a = await Client.join(server, "db-down", cookie["ann"])
    b = await Client.join(server, "db-down", cookie["ben"])
    await a.recv_type("peer-joined")
    await b.send({"type": "chat", "text": "settled"})  # handled after b's join has finished
    await a.recv_type("chat", text="settled")
    try:
        cluster.proxy.down()
        went_down = time.monotonic()

        status, body, headers = await asyncio.to_thread(server.get, "/", cookie["ann"])
        assert status == 503, body[:500]
        assert "briefly unavailable" in body and "Traceback" not in body
        assert headers.get("Retry-After") == "10"

        refused = await Client.open(server, "db-down", cookie["cat"])
        error = await refused.next_frame(lambda f: True, timeout=20)
        assert error["type"] == "error" and error["code"] == "unavailable", error
        assert "try again" in error["message"]
        assert await refused.wait_closed(10) == 4503

        # The call in progress does not need the database: signaling carries on.
        await b.send({"type": "offer", "to": a.peer_id, "sdp": "during the outage"})
        assert (await a.recv_type("offer"))["sdp"] == "during the outage"
        print(f"\nFIGURE db-down: 503 page and WebSocket refusal within {time.monotonic() - went_down:.2f}s")

        cluster.proxy.up()
        back = time.monotonic()
        status, body, _ = await asyncio.to_thread(server.get, "/", cookie["ann"])
        assert status == 200 and "db-down" in body
        c = await Client.join(server, "db-down", cookie["cat"])
        assert {p["peer_id"] for p in c.welcome["peers"]} == {a.peer_id, b.peer_id}
        print(f"FIGURE db-down: pages and joins back {time.monotonic() - back:.2f}s after the database returned")
        await c.close()
    finally:
        await a.close()
        await b.close()
    log = server.log_text()
    assert "database unavailable" in log
    wait_until(lambda: server.proc.poll() is None, 1, what="server still running")


async def test_a_database_that_never_answers_gives_the_503_page_within_seconds(pg_cluster):
    """A database host that takes the connection and then says nothing (a dropped route, a
    frozen server) is an outage too: without a connect timeout the page would hang, and with
    it Django's one database thread, every later page and the process's shutdown."""
    cluster, server = pg_cluster, pg_cluster.s1
    cookie = cluster.data["users"]["ann"]["cookie"]
    cluster.proxy.down()  # cuts the connections the server holds, so it has to open a new one
    cluster.proxy.hang()
    try:
        started = time.monotonic()
        status, body, _ = await asyncio.to_thread(server.get, "/", cookie)
        took = time.monotonic() - started
        print(f"\nFIGURE db-silent: 503 page after {took:.1f}s")
        assert status == 503 and "briefly unavailable" in body
        assert took < 9, "connect_timeout is 5 s"
    finally:
        cluster.proxy.down()
        cluster.proxy.up()
    status, body, _ = await asyncio.to_thread(server.get, "/", cookie)
    assert status == 200 and "db-down" in body
