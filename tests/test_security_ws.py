"""Security of the signaling sockets: hijacking, floods, and user text delivered as text.

Runs on both signaling backends (process memory and Redis).
"""

import pytest
from asgiref.sync import sync_to_async

from tests.helpers import connect, join

pytestmark = [pytest.mark.django_db(transaction=True)]

XSS = '<img src=x onerror=alert(1)><script>alert("x")</script>'


@pytest.fixture
def people(make_user, make_room):
    def make():
        owner = make_user()
        return owner, make_user(), make_room(owner)

    return make


@pytest.mark.parametrize(
    "origin",
    [
        b"http://evil.example",
        None,
        b"http://testserver.evil.com",
        b"http://eviltestserver",
        b"http://testserver.evil.com:80",
        b"https://evil.example/http://testserver",
        b"null",
    ],
    ids=["wrong", "missing", "suffix-lookalike", "prefix-lookalike", "lookalike-port", "path-trick", "null"],
)
async def test_cross_site_websocket_hijacking_is_refused(signaling, people, origin):
    owner, _, room = await sync_to_async(people)()
    for path in (f"/ws/rooms/{room.slug}/", "/ws/presence/"):
        peer = await connect(path, owner, origin=origin)
        assert peer.connected is False, f"{path} accepted Origin {origin!r}"
    honest = await join(room.slug, owner)  # the same cookie from the right origin works
    await honest.close()


async def test_flood_on_one_connection_is_warned_then_closed_4429(signaling, people):
    signaling.update(RATE=1.0, BURST=5.0, RATE_WARNINGS=2)
    owner, other, room = await sync_to_async(people)()
    flooder = await join(room.slug, owner)
    victim = await join(room.slug, other)
    await flooder.recv_type("peer-joined")
    for i in range(10):  # 5 pass, 2 are warned, the 8th closes; the rest would be too late
        if flooder.ws.future.done():
            break
        await flooder.send({"type": "chat", "text": f"spam {i}"})
    assert await flooder.expect_close(timeout=10) == 4429
    errors = [f for f in flooder.frames if f["type"] == "error"]
    assert [e["code"] for e in errors] == ["rate-limited"] * 3, "two warnings, then the closing error"
    assert "Slow down" in errors[0]["message"]
    while not await victim.nothing(1.0):  # (a receive timeout would end the test socket)
        await victim.recv()
    relayed = [f["text"] for f in victim.frames if f["type"] == "chat"]
    assert 5 <= len(relayed) <= 7, f"only the burst gets through, not the flood: {len(relayed)}"
    # The victim's socket is fine.
    await victim.send({"type": "ping", "id": "still-here"})
    assert (await victim.recv_type("pong"))["id"] == "still-here"
    await victim.close()


async def test_flood_spread_over_one_users_sockets_is_limited_per_user(signaling, make_user, make_room):
    signaling.update(RATE=1000.0, BURST=1000.0, USER_RATE=1.0, USER_BURST=6.0, RATE_WARNINGS=2)
    spammer, bystander = await sync_to_async(make_user)(), await sync_to_async(make_user)()
    rooms = [await sync_to_async(make_room)(spammer) for _ in range(3)]
    sockets = [await join(room.slug, spammer) for room in rooms]
    quiet_room = await sync_to_async(make_room)(bystander)
    quiet = await join(quiet_room.slug, bystander)
    for i in range(8):  # 24 frames: 4x the user's burst, each socket far below its own limit
        for socket in sockets:
            if not socket.ws.future.done():
                await socket.send({"type": "chat", "text": f"spam {i}"})
    codes = []
    for socket in sockets:
        try:
            codes.append(await socket.expect_close(timeout=3))
        except TimeoutError:
            codes.append(None)
    limited = [f for s in sockets for f in s.frames if f.get("code") == "rate-limited"]
    assert len(limited) >= 3, "the user's sockets were warned"
    assert 4429 in codes, f"a socket that kept flooding was closed: {codes}"
    # Another user is not charged for it.
    for i in range(5):
        await quiet.send({"type": "chat", "text": f"hello {i}"})
    for i in range(5):
        assert (await quiet.recv_type("chat"))["text"] == f"hello {i}"
    assert not [f for f in quiet.frames if f["type"] == "error"]
    await quiet.close()


async def test_xss_payloads_arrive_verbatim_on_peers_sockets(signaling, make_user, make_room):
    owner = await sync_to_async(make_user)(display_name=XSS)
    other = await sync_to_async(make_user)()
    room = await sync_to_async(make_room)(owner, name=XSS)
    a = await join(room.slug, owner)
    b = await join(room.slug, other)
    assert b.welcome["room"]["name"] == XSS
    assert b.welcome["peers"][0]["user"]["display_name"] == XSS
    await a.recv_type("peer-joined")
    await a.send({"type": "chat", "text": XSS})
    chat = await b.recv_type("chat")
    assert chat["text"] == XSS and chat["user"]["display_name"] == XSS, "sent as data, neither escaped nor stripped"
    await a.close()
    await b.close()
