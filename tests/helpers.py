"""Test helpers: signed-in WebSocket clients against the real ASGI application."""

import asyncio

import orjson
import pytest
import redis
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from calls.protocol import outgoing_validate

ORIGIN = b"http://testserver"


@pytest.fixture
def server_frames_checked(monkeypatch):
    """Check every text frame the server queues on any socket against OUTGOING, read by a test or not.

    Use it with `pytest.mark.usefixtures("server_frames_checked")` after importing it.
    """
    from calls.signaling.outbox import Outbox

    invalid: list[str] = []
    put = Outbox.put

    def checked_put(self, item):
        if isinstance(item, str):
            try:
                outgoing_validate(orjson.loads(item))
            except AssertionError as error:
                invalid.append(f"{error}: {item[:200]}")
        return put(self, item)

    monkeypatch.setattr(Outbox, "put", checked_put)
    yield
    assert not invalid, invalid


def redis_available(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def redis_delete_prefix(url: str, prefix: str) -> int:
    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)
    return len(keys)


def session_cookie_for(user) -> str:
    """A real session for `user`, as the sign-in form would create it."""
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


class Peer:
    """A signed-in WebSocket client that checks every frame it receives against the schema."""

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.ws = communicator
        self.welcome: dict | None = None
        self.frames: list[dict] = []

    @property
    def peer_id(self) -> str:
        return self.welcome["peer_id"]

    async def send(self, frame: dict | str) -> None:
        text = frame if isinstance(frame, str) else orjson.dumps(frame).decode()
        await self.ws.send_to(text_data=text)

    async def recv(self, timeout: float = 3) -> dict:
        message = await self.ws.receive_output(timeout)
        if message["type"] == "websocket.close":
            raise ConnectionClosed(message.get("code"))
        frame = orjson.loads(message["text"])
        outgoing_validate(frame)
        self.frames.append(frame)
        return frame

    async def recv_type(self, kind: str, timeout: float = 3) -> dict:
        """Next frame of type `kind`, skipping pongs and others' media updates."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise TimeoutError(f"no {kind} frame")
            frame = await self.recv(left)
            if frame["type"] == kind:
                return frame

    async def expect_close(self, timeout: float = 3) -> int:
        """Read frames until the server closes; returns the close code."""
        while True:
            message = await self.ws.receive_output(timeout)
            if message["type"] == "websocket.close":
                return message.get("code")
            frame = orjson.loads(message["text"])
            outgoing_validate(frame)
            self.frames.append(frame)

    async def nothing(self, timeout: float = 0.3) -> bool:
        """True if no frame arrives within `timeout` (a frame that does arrive stays queued)."""
        return await self.ws.receive_nothing(timeout)

    async def refused(self, timeout: float = 3) -> tuple[dict, int]:
        """The one error frame and the close code of a refused socket."""
        frame = await self.recv(timeout)
        assert frame["type"] == "error", frame
        code = await self.expect_close(timeout)
        assert len(self.frames) == 1, f"more than one frame before the close: {self.frames}"
        return frame, code

    async def close(self) -> None:
        await self.ws.disconnect()


class ConnectionClosed(Exception):
    pass


async def connect(path: str, user=None, origin: bytes | None = ORIGIN, cookie: str | None = None) -> Peer:
    """Open `path` as `user` (signed in with a real session) through the real application."""
    from config.asgi import application

    headers = []
    if origin is not None:
        headers.append((b"origin", origin))
    if user is not None and cookie is None:
        cookie = await sync_to_async(session_cookie_for)(user)
    if cookie is not None:
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await communicator.connect(timeout=5)
    peer = Peer(communicator)
    peer.connected = connected
    return peer


async def join(slug: str, user, query: str = "", **kwargs) -> Peer:
    """Connect to a room (`query`: e.g. "resume=<token>") and read the welcome frame."""
    path = f"/ws/rooms/{slug}/" + (f"?{query}" if query else "")
    peer = await connect(path, user, **kwargs)
    assert peer.connected, "handshake refused"
    frame = await peer.recv()
    assert frame["type"] == "welcome", frame
    peer.welcome = frame
    return peer
