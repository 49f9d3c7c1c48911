"""A sign-in that ends ends its sockets, on every process (issue #13.3).

Django's rule: changing the password signs the user's other sessions out, and the browser that
changed it stays signed in. The sockets follow it: every room and presence socket of the other
sessions gets `error/unauthenticated` and 4401, those of the changing browser stay open; a
password changed any other way, a deleted session, close theirs within heartbeat/3 (the
sweep). Two real daphne processes on a private Redis (tests.cluster), heartbeat 1 s.
"""

import asyncio
import contextlib
import shutil
import sqlite3
import subprocess
import time

import pytest

from tests.cluster import PYTHON, ROOT, Client, Cluster, Server
from tests.conftest import require

HEARTBEAT = 1.0
PRESENCE_SWEEP = 1.0  # calls.services.direct_calls.SWEEP_SECONDS
# What the sweep promises (docs/protocol.md: heartbeat/3; the presence sweep runs every second),
# with room for a loaded machine.
SWEEP_BOUND = max(HEARTBEAT / 3, PRESENCE_SWEEP) + 1.5
SET_PASSWORD = """
import sys, django
django.setup()
from accounts.models import User
user = User.objects.get(username=sys.argv[1])
user.set_password(sys.argv[2])
user.save()
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    require("REDIS", shutil.which("redis-server") is not None, "redis-server is not installed")
    cluster = Cluster(tmp_path_factory.mktemp("sessions"), SIGNALING_HEARTBEAT=str(HEARTBEAT)).setup()
    data = cluster.seed(users=["alice", "bob", "carol", "dave"], rooms=["changed", "backstop", "deleted"])
    cluster.cookie = {name: user["cookie"] for name, user in data["users"].items()}
    yield cluster
    cluster.teardown()


@pytest.fixture(scope="module")
def servers(cluster):
    return cluster.server("s1"), cluster.server("s2")


async def signed_out_within(client: Client, seconds: float) -> float:
    """Wait for `error/unauthenticated` then close 4401; how long after now it came."""
    start = time.monotonic()
    error = await client.recv_type("error", timeout=seconds)
    assert error["code"] == "unauthenticated", error
    assert await client.wait_closed(seconds) == 4401
    return time.monotonic() - start


async def still_open(client: Client) -> None:
    """The socket answers a ping, with no error: it was not signed out."""
    await client.send({"type": "ping", "id": "alive"})
    await client.recv_type("pong", id="alive", timeout=5)
    assert client.of_type("error") == [] and client.closed_code is None


async def refused(server: Server, slug: str, cookie: str) -> tuple[str, int]:
    client = await Client.open(server, slug, cookie)
    frame = await client.next_frame(lambda frame: True, timeout=10)
    code = await client.wait_closed(10)
    await client.close()
    return frame.get("code"), code


async def test_a_password_change_signs_the_other_session_out_of_every_socket(cluster, servers):
    s1, s2 = servers
    changing = cluster.cookie["alice"]
    stolen = await asyncio.to_thread(s2.sign_in, "alice", "pw-alice")
    mine_room = await Client.join(s2, "changed", changing)
    mine_presence = await Client.presence(s1, changing)
    stolen_room = await Client.join(s1, "changed", stolen)
    stolen_presence = await Client.presence(s2, stolen)
    bob = await Client.join(s1, "changed", cluster.cookie["bob"])
    try:
        new = "a-new-passphrase-7"
        form = {"old_password": "pw-alice", "new_password1": new, "new_password2": new}
        start = time.monotonic()
        status, renewed = await asyncio.to_thread(s1.form_post, "/accounts/password_change/", form, changing)
        assert status == 302 and renewed and renewed != changing  # Django gave the session a new key
        await asyncio.gather(signed_out_within(stolen_room, 5), signed_out_within(stolen_presence, 5))
        took = time.monotonic() - start
        print(f"other session's sockets closed {took:.3f} s after the form was sent")
        assert took < 5  # heartbeat/3 at the default heartbeat; here it is at once
        peer_left = await bob.recv_type("peer-left", peer_id=stolen_room.peer_id)
        assert peer_left["reason"] == "disconnected"

        await asyncio.sleep(3 * HEARTBEAT)  # nine room sweeps, three presence sweeps
        await still_open(mine_room)
        await still_open(mine_presence)
        await bob.send({"type": "chat", "text": "after the change"})
        assert (await mine_room.recv_type("chat"))["text"] == "after the change"
        assert stolen_room.of_type("chat") == []

        assert await refused(s2, "changed", stolen) == ("unauthenticated", 4401)
        assert await refused(s1, "changed", changing) == ("unauthenticated", 4401)  # the old key is gone
        fresh = await Client.presence(s2, renewed)  # the new key is this browser's
        await fresh.close()
    finally:
        for client in (mine_room, mine_presence, bob):
            await client.close()


async def test_a_password_changed_elsewhere_closes_every_socket_within_a_sweep(cluster, servers):
    """Not through the page (the admin, `manage.py`, a reset link): no session stays signed in."""
    s1, s2 = servers
    cookie = cluster.cookie["carol"]
    other = await asyncio.to_thread(s1.sign_in, "carol", "pw-carol")
    sockets = [
        await Client.join(s1, "backstop", cookie),
        await Client.join(s2, "backstop", other),
        await Client.presence(s2, cookie),
        await Client.presence(s1, other),
    ]
    await asyncio.to_thread(
        subprocess.run, [PYTHON, "-c", SET_PASSWORD, "carol", "reset-9x"], cwd=ROOT, env=cluster.env(), check=True
    )
    took = await asyncio.gather(*(signed_out_within(client, SWEEP_BOUND) for client in sockets))
    print(f"sockets closed {max(took):.3f} s after the password was saved")
    for client in sockets:
        await client.close()


async def test_a_deleted_session_closes_its_room_and_presence_sockets_within_a_sweep(cluster, servers):
    s1, s2 = servers
    cookie = cluster.cookie["dave"]
    kept = await asyncio.to_thread(s2.sign_in, "dave", "pw-dave")
    room, call = await Client.join(s1, "deleted", cookie), await Client.presence(s2, cookie)
    other_room, other_call = await Client.join(s2, "deleted", kept), await Client.presence(s1, kept)
    with contextlib.closing(sqlite3.connect(cluster.db, timeout=10)) as db, db:
        db.execute("DELETE FROM django_session WHERE session_key = ?", (cookie,))  # ended, not signed out
    took = await asyncio.gather(signed_out_within(room, SWEEP_BOUND), signed_out_within(call, SWEEP_BOUND))
    print(f"deleted session's sockets closed in {max(took):.3f} s")
    await still_open(other_room)
    await still_open(other_call)
    for client in (room, call, other_room, other_call):
        await client.close()
