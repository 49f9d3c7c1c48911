"""uvicorn's sans-I/O WebSocket protocol, with a fast path for the frames signaling sends.

Measured on a saturated relay (docs/performance.md, "Where the time goes"), the ASGI server's
WebSocket layer took ~40% of the process: websockets' generator-based frame parser (a
generator step per header field, a Frame object and an enum per frame), its serializer, and
one `send` system call per outgoing frame. This protocol keeps uvicorn's and websockets'
implementation for everything (handshake, control frames, fragments, closing, limits, errors)
and adds:

- **incoming**: a complete, final, masked, uncompressed text frame within `--ws-max-size`
  (every frame Parley's clients send) is unmasked (websockets' C `apply_mask`), decoded and
  queued for the application here. Any other frame is handed whole to websockets' parser, so
  it always sits at a frame boundary and handles it as before: pings, pongs, closes,
  fragmented messages (and every frame until the message ends), binary frames, frames with
  reserved bits (1002), invalid UTF-8 (1007), oversized messages (1009, with everything after
  them: the connection is closing). Frames that arrive before the handshake is answered (no
  browser sends any) make the whole connection use websockets' parser;
- **outgoing**: a text message is framed here (a server frame is unmasked: two to ten header
  bytes) while the connection is open, instead of by websockets' Frame objects;
- **no task per frame sent**: `text_send_now` writes a text frame at once when `send` would
  not wait (calls.signaling.outbox.Outbox uses it);
- **one write per loop turn**: a socket's writes are gathered during the loop turn and go out
  together at the start of the next (CoalescingTransport): the same bytes in the same order, a
  few microseconds later, in one system call. Closing sends what is gathered first;
- the messages for the application wait in a plain list (MessageQueue), not an asyncio.Queue;
- **memory per socket** (docs/performance.md, "What an idle socket holds"): once the handshake
  is answered, the request's headers (copied into the scope by uvicorn) and the response are
  let go, and `writable` is a flag that makes an asyncio.Event only while the transport is
  paused (an Event's deque is 760 bytes per socket);
- a frame the application sends after the client has gone is dropped, as daphne does,
  instead of raising uvicorn's ClientDisconnected into the sender: the socket's outbox writer
  (calls.signaling.outbox.Outbox) does not expect it, and every hang-up that raced a frame logged
  "Task exception was never retrieved" with a traceback. The consumer still gets its
  `websocket.disconnect`.

config.serve runs uvicorn with `--ws config.ws_protocol:ParleyWebSocketsProtocol`;
tests/test_ws_protocol.py checks the protocol's edge cases against this server.
"""

import asyncio
import struct

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State
from websockets.speedups import apply_mask

OPEN = State.OPEN
FINAL_TEXT = 0x81  # FIN, no reserved bits, opcode 1
MASKED = 0x80
# Messages queued for the application before the socket stops being read (see _text_received).
QUEUE_PAUSE = 64
# Bytes gathered for one loop turn's write past which text_send_now leaves frames to the outbox:
# asyncio's and uvloop's default write-buffer high-water mark.
GATHER_LIMIT = 64 * 1024


class CoalescingTransport:
    """A transport whose `write`s wait for the end of the loop turn and go out as one."""

    __slots__ = (
        "chunks",
        "gathered",
        "is_closing",
        "loop",
        "pause_reading",
        "resume_reading",
        "scheduled",
        "transport",
    )

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.transport = transport
        self.loop = loop
        self.chunks: list[bytes] = []
        self.gathered = 0  # bytes in `chunks`
        self.scheduled = False
        # Called for every batch of frames: the real transport's own methods, not __getattr__'s lookup.
        self.is_closing = transport.is_closing
        self.pause_reading = transport.pause_reading
        self.resume_reading = transport.resume_reading

    def write(self, data: bytes) -> None:
        if not data:
            return
        self.chunks.append(data)
        self.gathered += len(data)
        if not self.scheduled:
            self.scheduled = True
            self.loop.call_soon(self.flush)

    def flush(self) -> None:
        self.scheduled = False
        chunks = self.chunks
        if not chunks:
            return
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self.gathered = 0
        if not self.transport.is_closing():
            self.transport.write(data)

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def abort(self) -> None:
        self.chunks.clear()
        self.gathered = 0
        self.transport.abort()

    def __getattr__(self, name: str):
        # Everything else (is_closing, pause_reading, get_extra_info, ...) is the real transport's.
        return getattr(self.transport, name)


class MessageQueue:
    """What uvicorn uses of asyncio.Queue between the protocol and the application (put_nowait,
    get, empty, qsize), for one reader: a list and a future only while the reader waits.
    asyncio.Queue's bookkeeping (getter deques, loop checks, wake-ups) was 9% of a saturated relay.
    A list, not a deque: an empty deque is 760 bytes per socket, a list 56, and it never holds
    more than a batch of frames (reading pauses at QUEUE_PAUSE), so `pop(0)` moves little."""

    __slots__ = ("items", "loop", "waiter")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.items: list = []
        self.loop = loop
        self.waiter: asyncio.Future | None = None

    def put_nowait(self, item) -> None:
        self.items.append(item)
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    async def get(self):
        items = self.items
        while not items:
            waiter = self.waiter = self.loop.create_future()
            await waiter
        return items.pop(0)

    def empty(self) -> bool:
        return not self.items

    def qsize(self) -> int:
        return len(self.items)


class Writable:
    """uvicorn's `writable` (set, clear, wait) without an asyncio.Event per socket: the Event,
    and its waiters' deque, exist only while the transport has paused writing."""

    __slots__ = ("paused",)

    def __init__(self) -> None:
        self.paused: asyncio.Event | None = None

    def is_set(self) -> bool:
        return self.paused is None

    def set(self) -> None:
        paused, self.paused = self.paused, None
        if paused is not None:
            paused.set()

    def clear(self) -> None:
        if self.paused is None:
            self.paused = asyncio.Event()

    async def wait(self) -> bool:
        paused = self.paused
        if paused is not None:
            await paused.wait()
        return True


def text_frame(data: bytes) -> bytes:
    """A final, unmasked text frame (a server's) carrying `data`."""
    size = len(data)
    if size < 126:
        return bytes((FINAL_TEXT, size)) + data
    if size < 65536:
        return struct.pack("!BBH", FINAL_TEXT, 126, size) + data
    return struct.pack("!BBQ", FINAL_TEXT, 127, size) + data


class ParleyWebSocketsProtocol(WebSocketsSansIOProtocol):
    """WebSocketsSansIOProtocol with the fast paths of the module's docstring."""

    # uvicorn's attributes (all set by its __init__, connection_made and handle_connect) and
    # ours, in slots: its instance dict held ~40 keys, too many for CPython's shared-key dicts,
    # 1.6 KB per socket; slots are 8 bytes each. An attribute not listed (a later uvicorn's)
    # still goes in the instance dict.
    __slots__ = (
        "app",
        "app_state",
        "asgi_version",
        "client",
        "close_sent",
        "close_timeout",
        "close_timer",
        "config",
        "conn",
        "connections",
        "curr_msg_data_type",
        "default_headers",
        "disconnected",
        "early_frames",
        "fast",
        "frames",
        "handshake_complete",
        "handshake_initiated",
        "initial_response",
        "last_ping_rtt",
        "logger",
        "loop",
        "pending",
        "pending_ping_payload",
        "ping_interval",
        "ping_sent_at",
        "ping_timeout",
        "ping_timer",
        "pong_timer",
        "queue",
        "read_paused",
        "request",
        "response",
        "root_path",
        "scheme",
        "scope",
        "server",
        "tasks",
        "transport",
        "writable",
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.queue = MessageQueue(self.loop)  # type: ignore[assignment]
        self.writable = Writable()  # type: ignore[assignment]
        self.fast: bool | None = None  # None until the handshake is answered
        self.early_frames = False  # bytes reached websockets' parser after the request
        self.pending = b""  # the start of a frame not complete yet

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.transport = CoalescingTransport(self.transport, self.loop)  # type: ignore[assignment]

    # Incoming ---------------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        fast = self.fast
        if fast is None:
            if self.handshake_complete and not self.close_sent and self.conn.state is OPEN:
                fast = self.fast = not self.early_frames
            elif self.handshake_initiated:
                self.early_frames = True
        if fast:
            self._frames_receive(self.pending + data if self.pending else data)
        else:
            super().data_received(data)

    # One flat loop on purpose (C901): it runs for every frame of every socket, and splitting the
    # header parsing out costs a call per frame on the relay's hottest path.
    def _frames_receive(self, buf: bytes) -> None:  # noqa: C901
        size, pos, max_size = len(buf), 0, self.config.ws_max_size
        while size - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            length, head = b1 & 0x7F, 2
            if length == 126:
                if size - pos < 4:
                    break
                length, head = (buf[pos + 2] << 8) | buf[pos + 3], 4
            elif length == 127:
                if size - pos < 10:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
            if length > max_size:  # websockets refuses it (1009); the connection is closing
                self.fast, self.pending = False, b""
                super().data_received(buf[pos:])
                return
            end = pos + head + (4 if b1 & MASKED else 0) + length
            if end > size:
                break
            if b0 == FINAL_TEXT and b1 & MASKED and not self.frames:
                start = pos + head + 4
                if not self._text_received(apply_mask(buf[start:end], buf[start - 4 : start])):
                    self.pending = b""
                    return
            else:  # anything else, whole, to websockets' parser (see the module's docstring)
                super().data_received(buf[pos:end])
                if self.close_sent or self.transport.is_closing():
                    self.pending = b""
                    return
            pos = end
        self.pending = buf[pos:]

    def _text_received(self, payload: bytes) -> bool:
        """uvicorn's send_receive_event_to_app for one text message; False if the socket is closing.

        uvicorn stops reading the socket after every message until the application has taken
        it (two epoll changes per batch of frames); here only once QUEUE_PAUSE messages wait:
        still bounded, as a flood's frames stay in the kernel's buffers."""
        try:
            text = payload.decode()
        except UnicodeDecodeError:
            self.conn.send_close(1007)
            self.handle_parser_exception()
            return False
        queue = self.queue
        queue.put_nowait({"type": "websocket.receive", "text": text})
        if not self.read_paused and queue.qsize() >= QUEUE_PAUSE:
            self.read_paused = True
            self.transport.pause_reading()
        return True

    # Outgoing ---------------------------------------------------------------------------------
    async def send(self, message) -> None:
        kind = message["type"]
        if kind == "websocket.send" or kind == "websocket.close":
            if self.disconnected:
                return  # the client is gone: nothing to send it (see the module's docstring)
            if kind == "websocket.send" and self.handshake_complete and not self.close_sent:
                if self.initial_response is None and self.conn.state is not OPEN:
                    return  # the client's close frame came: it reads nothing more
                text = message.get("text")
                if text is not None and self.initial_response is None:
                    if self.writable.paused is not None:
                        await self.writable.wait()
                    if not self.disconnected:
                        self.transport.write(text_frame(text.encode()))
                    return
        await super().send(message)
        if kind == "websocket.accept" and self.handshake_complete and not self.disconnected:
            self.handshake_release()

    def text_send_now(self, text: str) -> bool:
        """Write a text message at once if `send` would without waiting (open, handshake
        answered, writes not paused); False if it must go through `send`. True, as `send`
        would drop it, when the client is gone. calls.signaling.outbox.Outbox writes through
        this: no task, coroutine or message dict per frame.

        Also False once GATHER_LIMIT bytes wait for this loop turn's write: the transport
        pauses writing only when they reach it, and until then a burst for one socket must
        still meet its outbox's limit (a slow reader is closed, not buffered without bound)."""
        if self.disconnected:
            return True
        if (
            self.writable.paused is None
            and self.transport.gathered < GATHER_LIMIT
            and self.handshake_complete
            and not self.close_sent
            and self.initial_response is None
            and self.conn.state is OPEN
        ):
            self.transport.write(text_frame(text.encode()))
            return True
        return False

    def handshake_release(self) -> None:
        """The 101 is sent: nothing reads the request's headers (the scope has its own copy) or
        the response again. The request itself stays referenced by websockets' parser."""
        self.request.headers.clear()
        self.response = None  # type: ignore[assignment]
