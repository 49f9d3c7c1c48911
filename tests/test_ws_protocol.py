"""The production WebSocket protocol (config.ws_protocol) on the wire, as config.serve runs it.

Its fast path takes the frames signaling sends; everything else must still be RFC 6455 as
websockets implements it: fragments, control frames, closing, refusals. A raw client
(bench/wsclient.py) writes frames byte for byte.
"""

import asyncio
import os
import shutil

import orjson
import pytest

from bench.wsclient import ws_connect
from tests.cluster import Cluster
from tests.conftest import require


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require("REDIS", shutil.which("redis-server") is not None, "redis-server is not installed")
    cluster = Cluster(tmp_path_factory.mktemp("wsproto")).setup()
    # One user per room: a user may hold only a few sockets, and a closed one keeps its seat a while.
    cluster.data = cluster.seed(users=[f"user{i}" for i in range(8)], rooms=[f"wire{i}" for i in range(8)])
    cluster.started = cluster.server("prod", "uvicorn")
    yield cluster
    cluster.teardown()


def frame(payload: bytes, *, opcode: int = 1, fin: bool = True, masked: bool = True, rsv: int = 0) -> bytes:
    """A client frame; `rsv` sets the reserved bits (0x40: RSV1)."""
    head = bytes([(0x80 if fin else 0) | rsv | opcode])
    size = len(payload)
    flag = 0x80 if masked else 0
    if size < 126:
        head += bytes([flag | size])
    elif size < 65536:
        head += bytes([flag | 126]) + size.to_bytes(2, "big")
    else:
        head += bytes([flag | 127]) + size.to_bytes(8, "big")
    if not masked:
        return head + payload
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def ping(ref: str) -> bytes:
    return orjson.dumps({"type": "ping", "id": ref})


async def joined(server, room: str, user: str | None = None):
    """A raw socket in `room`, its welcome read; returns (client, frames received)."""
    user = user or room.replace("wire", "user")
    frames: list[dict] = []
    client = await ws_connect(
        host="127.0.0.1",
        port=server.started.port,
        path=f"/ws/rooms/{room}/",
        cookie=server.data["users"][user]["cookie"],
        on_text=lambda payload: frames.append(orjson.loads(payload)),
    )
    await wait_for(lambda: any(f["type"] == "welcome" for f in frames))
    return client, frames


async def wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "not reached in time"
        await asyncio.sleep(0.01)


def pongs(frames: list[dict]) -> list[str]:
    return [f.get("id") for f in frames if f["type"] == "pong"]


def test_frames_in_one_write_and_split_byte_by_byte_all_arrive_in_order(server):
    async def scenario():
        client, frames = await joined(server, "wire0")
        client.write(b"".join(frame(ping(f"a{i}")) for i in range(50)))
        big = orjson.dumps({"type": "ping", "id": "big", "pad": "x" * 70_000})  # a 64-bit length
        data = b"".join(frame(ping(f"b{i}")) for i in range(3)) + frame(big)
        for i in range(0, len(data), 997):  # across writes, headers and masks cut anywhere
            client.write(data[i : i + 997])
            await asyncio.sleep(0)
        await wait_for(lambda: len(pongs(frames)) == 54)
        client.close()
        return pongs(frames)

    got = asyncio.run(scenario())
    assert got == [f"a{i}" for i in range(50)] + [f"b{i}" for i in range(3)] + ["big"]


def test_a_fragmented_message_and_control_frames_between_fragments(server):
    async def scenario():
        client, frames = await joined(server, "wire1")
        payload = ping("frag")
        pongs_seen: list[bytes] = []
        original = client._frame

        def on_frame(fin, opcode, data):
            if opcode == 0xA:
                pongs_seen.append(data)
            original(fin, opcode, data)

        client._frame = on_frame
        client.write(frame(payload[:5], fin=False) + frame(b"hello", opcode=9) + frame(payload[5:], opcode=0))
        client.write(frame(ping("after")))
        await wait_for(lambda: pongs(frames) == ["frag", "after"] and pongs_seen == [b"hello"])
        client.close()

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("bad", "code", "room"),
    [
        (frame(b"\xff\xfe not UTF-8"), 1007, "wire2"),
        (frame(ping("plain"), masked=False), 1002, "wire3"),
        (frame(ping("rsv1"), rsv=0x40), 1002, "wire4"),
        (frame(b"x" * 200_000), 1009, "wire5"),
    ],
    ids=["invalid-utf8", "unmasked", "reserved-bit", "over-128-KiB"],
)
def test_a_frame_breaking_the_protocol_is_closed_with_its_code(server, bad, code, room):
    async def scenario():
        client, frames = await joined(server, room)
        client.write(frame(ping("before")))
        await wait_for(lambda: pongs(frames) == ["before"])
        client.write(bad + frame(ping("after")))
        await asyncio.wait_for(client.closed, 10)
        return client.close_code, pongs(frames)

    close_code, got = asyncio.run(scenario())
    assert close_code == code
    assert got == ["before"], "nothing after the bad frame is read"


def test_a_client_close_is_answered_with_its_code(server):
    async def scenario():
        client, _ = await joined(server, "wire6")
        client.write(frame(ping("last")) + frame((4000).to_bytes(2, "big") + b"bye", opcode=8))
        await asyncio.wait_for(client.closed, 10)
        return client.close_code

    assert asyncio.run(scenario()) == 4000


@pytest.fixture(scope="module")
def small_outbox(server):
    """A second production server on the same data: outboxes of 100 frames, no rate limits (one
    client sends far more than a person may)."""
    limits = {name: "1000000" for name in ("RATE", "BURST", "USER_RATE", "USER_BURST")}
    return server.server(
        "small-outbox", "uvicorn", SIGNALING_OUTBOX_LIMIT="100", **{f"SIGNALING_{k}": v for k, v in limits.items()}
    )


def test_a_client_that_stops_reading_is_closed_in_order_once_its_outbox_overflows(server, small_outbox):
    """Frames are written at once while the socket takes them; once the client stops reading
    and the buffers fill, writes pause, the outbox queues, and past its limit the socket is
    closed 4503: what was written before arrives complete and in order, then the close."""

    async def scenario():
        frames: list[dict] = []
        client = await ws_connect(
            host="127.0.0.1",
            port=small_outbox.port,
            path="/ws/rooms/wire7/",
            cookie=server.data["users"]["user7"]["cookie"],
            on_text=lambda payload: frames.append(orjson.loads(payload)),
        )
        await wait_for(lambda: any(f["type"] == "welcome" for f in frames))
        client.transport.pause_reading()  # the client stops reading: its buffers fill
        for start in range(0, 30_000, 1_000):
            client.write(b"".join(frame(ping(str(i))) for i in range(start, start + 1_000)))
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.5)
        client.transport.resume_reading()
        await asyncio.wait_for(client.closed, 20)
        return client.close_code, frames

    close_code, frames = asyncio.run(scenario())
    got = [int(ref) for ref in pongs(frames)]
    assert close_code == 4503
    assert 0 < len(got) < 30_000, "closed, not buffered without bound"
    assert got == list(range(len(got))), "in order, nothing lost before the close"
