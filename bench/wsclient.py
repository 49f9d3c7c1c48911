"""A lean WebSocket client for load generation (RFC 6455 text frames, no extensions).

A general library (`websockets`) spends more CPU per frame than the server under test
does, so the load tool would measure itself. This client is an asyncio Protocol that
parses frames in `data_received` and calls back synchronously: no task, no await and
no copy per frame, and a sender can write many frames in one `transport.write`.
Frames are masked as the RFC requires (C `apply_mask`, one random key per connection).
"""

import asyncio
import base64
import os
from collections.abc import Callable

from websockets.speedups import apply_mask


class HandshakeRefused(Exception):
    pass


class WSClient(asyncio.Protocol):
    """One client socket. `on_text(payload: bytes)` gets every text frame; `close_code` is set on close."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        path: str,
        cookie: str,
        on_text: Callable[[bytes], None],
        on_made: Callable[["WSClient"], None] | None = None,
    ) -> None:
        self.request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\nSec-WebSocket-Version: 13\r\n"
            f"Origin: http://{host}:{port}\r\nCookie: sessionid={cookie}\r\n\r\n"
        ).encode()
        self.on_text = on_text
        self.on_made = on_made
        self.mask = os.urandom(4)
        self.buf = bytearray()
        self.fragments: list[bytes] | None = None
        self.handshaken = False
        self.transport: asyncio.Transport | None = None
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future = loop.create_future()
        self.closed: asyncio.Future = loop.create_future()
        self.close_code: int | None = None

    # asyncio.Protocol -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        transport.write(self.request)
        if self.on_made is not None:
            # The owner learns of this client now: a server may send its first frame in the
            # same segment as the 101, and that frame is handled before ws_connect returns.
            self.on_made(self)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(HandshakeRefused(f"connection lost before handshake: {exc}"))
        if not self.closed.done():
            self.closed.set_result(self.close_code)

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        if not self.handshaken:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(buf[: buf.find(b"\r\n")])
            if b" 101 " not in status:
                self.opened.set_exception(HandshakeRefused(status.decode(errors="replace")))
                self.transport.close()
                return
            del buf[: end + 4]
            self.handshaken = True
            self.opened.set_result(None)
        pos, size = 0, len(buf)
        while size - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            length, head = b1 & 0x7F, 2
            if length == 126:
                if size - pos < 4:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
            elif length == 127:
                if size - pos < 10:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
            if size - pos < head + length:
                break
            payload = bytes(buf[pos + head : pos + head + length])
            pos += head + length
            self._frame(b0 & 0x80, b0 & 0x0F, payload)
        if pos:
            del buf[:pos]

    def _frame(self, fin: int, opcode: int, payload: bytes) -> None:
        if opcode == 1 or opcode == 0:
            if not fin:
                self.fragments = [*(self.fragments or []), payload]
                return
            if self.fragments is not None:
                payload = b"".join([*self.fragments, payload])
                self.fragments = None
            self.on_text(payload)
        elif opcode == 8:
            self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            self._write_control(0x88, payload[:2])
            self.transport.close()
        elif opcode == 9:
            self._write_control(0x8A, payload)

    # Sending ------------------------------------------------------------------------------
    def encode(self, payload: bytes, opcode: int = 0x81) -> bytes:
        """One masked frame, ready to be joined with others into a single write."""
        size = len(payload)
        if size < 126:
            head = bytes((opcode, 0x80 | size))
        elif size < 65536:
            head = bytes((opcode, 0xFE)) + size.to_bytes(2, "big")
        else:
            head = bytes((opcode, 0xFF)) + size.to_bytes(8, "big")
        return head + self.mask + apply_mask(payload, self.mask)

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def send(self, payload: bytes) -> None:
        self.write(self.encode(payload))

    def _write_control(self, opcode: int, payload: bytes) -> None:
        self.write(self.encode(payload, opcode))

    def close(self, code: int = 1000) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self._write_control(0x88, code.to_bytes(2, "big"))


async def ws_connect(
    *, host: str, port: int, path: str, cookie: str, on_text, on_made=None, timeout: float = 30.0
) -> WSClient:
    loop = asyncio.get_running_loop()
    _, client = await asyncio.wait_for(
        loop.create_connection(
            lambda: WSClient(host=host, port=port, path=path, cookie=cookie, on_text=on_text, on_made=on_made),
            host,
            port,
        ),
        timeout,
    )
    await asyncio.wait_for(client.opened, timeout)
    return client
