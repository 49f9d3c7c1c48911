"""Ask to join across two server processes (issue 16 item 3): the knock waits on one process, the
owner answers on another, and the admitted person enters through either."""

import shutil

import pytest

from tests.cluster import Client, Cluster
from tests.conftest import require

USERS = ["owner", "guest", "other"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    require("REDIS", shutil.which("redis-server") is not None, "redis-server is not installed")
    cluster = Cluster(tmp_path_factory.mktemp("knocks")).setup()
    data = cluster.seed(users=USERS, rooms=["knock", "deny"])
    cluster.cookie = {name: data["users"][name]["cookie"] for name in USERS}
    yield cluster
    cluster.teardown()


@pytest.fixture(scope="module")
def servers(cluster):
    return cluster.server("k1"), cluster.server("k2")


async def _locked_room_with_owner(server, slug: str, cookie: str) -> Client:
    owner = await Client.join(server, slug, cookie)
    await owner.send({"type": "lock", "locked": True})
    await owner.recv_type("room", locked=True)
    return owner


async def test_a_knock_on_one_process_is_admitted_from_the_other(cluster, servers):
    k1, k2 = servers
    owner = await _locked_room_with_owner(k1, "knock", cluster.cookie["owner"])
    knock = await Client.open(k2, "knock", cluster.cookie["guest"], query="?knock=1")
    assert (await knock.recv_type("knocking"))["timeout"] == 60
    prompt = await owner.recv_type("knock")
    assert prompt["user"]["username"] == "guest"
    await owner.send({"type": "knock-answer", "knock": prompt["knock"], "admit": True})
    admitted = await knock.recv_type("admitted")
    assert await knock.wait_closed(10) == 1000
    assert (await owner.recv_type("knock-ended"))["outcome"] == "admitted"
    guest = await Client.join(k2, "knock", cluster.cookie["guest"], query=f"?pass={admitted['pass']}")
    assert [peer["user"]["username"] for peer in guest.welcome["peers"]] == ["owner"]
    assert (await owner.recv_type("peer-joined"))["peer"]["user"]["username"] == "guest"
    for client in (guest, owner):
        await client.close()


async def test_a_knock_denied_from_the_other_process_is_refused_with_who(cluster, servers):
    k1, k2 = servers
    owner = await _locked_room_with_owner(k2, "deny", cluster.cookie["owner"])
    knock = await Client.open(k1, "deny", cluster.cookie["other"], query="?knock=1")
    await knock.recv_type("knocking")
    prompt = await owner.recv_type("knock")
    await owner.send({"type": "knock-answer", "knock": prompt["knock"], "admit": False})
    refusal = await knock.recv_type("error")
    assert (refusal["reason"], refusal["by"]["username"]) == ("denied", "owner")
    assert await knock.wait_closed(10) == 4403
    await owner.close()
