"""The load generator: one client process driving a share of the rooms through the real protocol.

Every room's peers live in the same client process, so a sender's window and a
receiver's per-sender sequence check need no coordination. Phases are started by
the orchestrator through a multiprocessing barrier:

1. set-up: all peers connect at once, wait for `welcome`; the later joiner offers to
   each peer in its welcome and trickles 10 candidates, the other answers and trickles
   10 back (22 relayed frames per pair, as a browser does);
2. saturate: every peer keeps WINDOW candidates in flight to the others for `duration` s;
3. latency: a fixed total rate, one candidate at a time, timestamped;
4. idle (separate run): sockets that only sit in their rooms.

`spec["protocol"]` is "parley" (docs/protocol.md: session cookie, `welcome`, relayed frames
carry `from`) or "seed" (the seed's Node server, ../shared/anchors/seed-node/server.js: `join`
with a `roomId` after connecting, `joined`, then `ready` to both with `isInitiator` for the later
joiner, frames relayed verbatim to the other peer of a 2-peer room). The workload is the same:
the later joiner offers, 4.1 KB SDPs, 250 B candidates, everyone connects at t0.

Each relayed `ice` frame carries `candidate:<seq> ...` (per sender->receiver pair) and the
send time, so the receiver counts loss, duplication and reordering and measures latency.
"""

import asyncio
import resource
import time

import orjson

from bench.wsclient import ws_connect

# The workload (#17): SDPs of 4.1 KB and candidate frames of ~250 B, as browsers send.
SDP = ("v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" + "a=x-bench:" + "x" * 80 + "\r\n") * 27
SETUP_CANDIDATES = 10
WINDOW = 16
PING_EVERY = 5.0


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Peer:
    __slots__ = (
        "cookie",
        "expected",
        "got_setup",
        "index",
        "inflight",
        "peer_id",
        "port",
        "room",
        "run",
        "seq_in",
        "seq_out",
        "targets",
        "turn",
        "ws",
    )

    def __init__(self, run: "Run", room: "Room", cookie: str, port: int, index: int) -> None:
        self.run = run
        self.room = room
        self.index = index
        self.cookie = cookie
        self.port = port
        self.ws = None
        self.peer_id: str | None = None
        self.seq_out: dict[str, int] = {}
        self.seq_in: dict[str, int] = {}
        self.got_setup = 0
        self.expected = 0
        self.inflight = 0
        self.targets: list[str] = []
        self.turn = 0

    def ice(self, to: str) -> bytes:
        seq = self.seq_out.get(to, 0) + 1
        self.seq_out[to] = seq
        return (
            b'{"type":"ice","to":"%s","candidate":{"candidate":"candidate:%d 1 udp 2122260223 127.0.0.1 9 typ host '
            b'generation 0 ufrag sXh4 network-id 1 network-cost 10 raddr 0.0.0.0 rport 0","sdpMid":"0",'
            b'"sdpMLineIndex":0,"usernameFragment":"%d"}}' % (to.encode(), seq, time.monotonic_ns())
        )

    def ws_made(self, client) -> None:
        self.ws = client

    def send_json(self, frame: dict) -> None:
        self.ws.send(orjson.dumps(frame))

    def refill(self) -> None:
        """Top the window up to WINDOW frames in flight, in one write."""
        if self.inflight >= WINDOW or not self.targets:
            return
        encode, targets, chunks = self.ws.encode, self.targets, []
        while self.inflight < WINDOW:
            self.turn = (self.turn + 1) % len(targets)
            chunks.append(encode(self.ice(targets[self.turn])))
            self.inflight += 1
        self.ws.write(b"".join(chunks))

    def on_text(self, payload: bytes) -> None:
        run = self.run
        frame = orjson.loads(payload)
        kind = frame["type"]
        if kind == "ice":
            sender = frame.get("from") or self.other()
            candidate = frame["candidate"]
            seq = int(candidate["candidate"][10 : candidate["candidate"].index(" ")])
            last = self.seq_in.get(sender, 0)
            if seq == last + 1:
                run.received += 1
            elif seq <= last:
                run.duplicated += 1
                return
            else:
                run.gaps += seq - last - 1
                run.received += 1
            self.seq_in[sender] = seq
            phase = run.phase
            if phase == "setup":
                self._setup_progress()
            elif phase == "saturate" or phase == "drain":
                source = run.peers.get(sender)
                if source is not None:
                    source.inflight -= 1
                    if phase == "saturate" and source.inflight <= WINDOW // 2:
                        source.refill()
                    elif phase == "drain" and source.inflight == 0:
                        run.check_drained()
            elif phase == "latency":
                sent_ns = int(candidate["usernameFragment"])
                run.latencies.append((time.monotonic_ns() - sent_ns) / 1e6)
                run.latency_sent_at.append(sent_ns / 1e9)
                run.latency_pending -= 1
                if run.latency_pending == 0 and run.latency_done is not None and not run.latency_done.done():
                    run.latency_done.set_result(None)
        elif kind == "welcome":
            self.peer_id = frame["peer_id"]
            run.peers[self.peer_id] = self
            if run.phase == "setup":
                for peer in frame["peers"]:  # the joiner offers (docs/protocol.md, negotiation rule)
                    to = peer["peer_id"]
                    chunks = [self.ws.encode(orjson.dumps({"type": "offer", "to": to, "sdp": SDP}))]
                    chunks += [self.ws.encode(self.ice(to)) for _ in range(SETUP_CANDIDATES)]
                    self.ws.write(b"".join(chunks))
            run.welcome_done(self)
        elif kind == "offer":
            to = frame.get("from") or self.other()
            chunks = [self.ws.encode(orjson.dumps({"type": "answer", "to": to, "sdp": SDP}))]
            chunks += [self.ws.encode(self.ice(to)) for _ in range(SETUP_CANDIDATES)]
            self.ws.write(b"".join(chunks))
            self._setup_progress()
        elif kind == "answer":
            self._setup_progress()
        elif kind == "joined":  # the seed: in the room; it names no peer, the bench does
            self.peer_id = f"{self.room.slug}#{self.index}"
            run.peers[self.peer_id] = self
            run.welcome_done(self)
        elif kind == "ready":  # the seed: both are in; the later joiner is the initiator and offers
            if frame.get("isInitiator") and run.phase == "setup":
                to = self.other()
                chunks = [self.ws.encode(orjson.dumps({"type": "offer", "to": to, "sdp": SDP}))]
                chunks += [self.ws.encode(self.ice(to)) for _ in range(SETUP_CANDIDATES)]
                self.ws.write(b"".join(chunks))
        elif kind == "error":
            run.errors.append(frame.get("code") or frame.get("message") or "?")
        elif kind == "full":
            run.errors.append("full")

    def other(self) -> str:
        """The seed relays without `from`: in its 2-peer rooms the sender is the other peer."""
        return f"{self.room.slug}#{1 - self.index}"

    def _setup_progress(self) -> None:
        self.got_setup += 1
        if self.got_setup == self.expected:
            self.room.peer_ready()


class Room:
    def __init__(self, run: "Run", slug: str, members: list[tuple[str, int]]) -> None:
        self.slug = slug
        self.peers = [Peer(run, self, cookie, port, i) for i, (cookie, port) in enumerate(members)]
        for peer in self.peers:
            peer.expected = (SETUP_CANDIDATES + 1) * (len(members) - 1)
        self.ready = 0
        self.run = run

    def peer_ready(self) -> None:
        self.ready += 1
        if self.ready == len(self.peers):
            self.run.room_ready()


class Run:
    """One client process's share of a benchmark run."""

    def __init__(self, spec: dict) -> None:
        self.spec = spec
        self.rooms = [Room(self, slug, members) for slug, members in spec["rooms"]]
        self.peers: dict[str, Peer] = {}
        self.phase = "setup"
        self.received = 0
        self.duplicated = 0
        self.gaps = 0
        self.errors: list[str] = []
        self.connect_failures: list[str] = []
        self.latencies: list[float] = []
        self.latency_sent_at: list[float] = []
        self.latency_pending = 0
        self.latency_done: asyncio.Future | None = None
        self.rooms_ready = 0
        self.all_ready: asyncio.Future = asyncio.get_running_loop().create_future()
        self.welcomes = 0
        self.first_open: float | None = None  # the first handshake completed (101 received)
        self.first_welcome: float | None = None  # the first socket in its room (welcome/joined)
        self.all_welcomed: asyncio.Future = asyncio.get_running_loop().create_future()
        self.drained: asyncio.Future | None = None
        self.all_peers = [peer for room in self.rooms for peer in room.peers]

    # Completion signals ----------------------------------------------------------------------
    def room_ready(self) -> None:
        self.rooms_ready += 1
        if self.rooms_ready == len(self.rooms) and not self.all_ready.done():
            self.all_ready.set_result(time.monotonic())

    def welcome_done(self, peer: Peer) -> None:
        if self.first_welcome is None:
            self.first_welcome = time.monotonic()
        self.welcomes += 1
        if self.welcomes == len(self.all_peers) and not self.all_welcomed.done():
            self.all_welcomed.set_result(None)

    def check_drained(self) -> None:
        if self.drained is not None and not self.drained.done() and all(p.inflight <= 0 for p in self.all_peers):
            self.drained.set_result(None)

    # Phases ----------------------------------------------------------------------------------
    async def connect_all(self, *, concurrency: int) -> None:
        gate = asyncio.Semaphore(concurrency)
        host = self.spec["host"]
        seed = self.spec.get("protocol") == "seed"

        async def connect(peer: Peer) -> None:
            async with gate:
                try:
                    peer.ws = await ws_connect(
                        host=host,
                        port=peer.port,
                        path="/" if seed else f"/ws/rooms/{peer.room.slug}/",
                        cookie=peer.cookie,
                        on_text=peer.on_text,
                        on_made=peer.ws_made,
                    )
                except Exception as error:
                    peer.ws = None  # on_made may have set it before the handshake failed
                    self.connect_failures.append(repr(error)[:200])
                    return
                if self.first_open is None:
                    self.first_open = time.monotonic()
                if seed:
                    peer.send_json({"type": "join", "roomId": peer.room.slug})

        await asyncio.gather(*(connect(peer) for peer in self.all_peers))

    async def setup(self, timeout: float) -> dict:
        started = time.monotonic()
        started_cpu = cpu_seconds()
        await self.connect_all(concurrency=self.spec.get("connect_concurrency", 1000))
        try:
            finished = await asyncio.wait_for(asyncio.shield(self.all_ready), timeout)
        except TimeoutError:
            finished = None
        return {
            "started": started,
            "finished": finished,
            "rooms": len(self.rooms),
            "rooms_ready": self.rooms_ready,
            "first_open": self.first_open,
            "first_welcome": self.first_welcome,
            "client_cpu": cpu_seconds() - started_cpu,
        }

    async def saturate(self, duration: float) -> dict:
        for peer in self.all_peers:
            peer.targets = [p.peer_id for p in peer.room.peers if p is not peer and p.peer_id]
        base = self.received
        started_cpu = cpu_seconds()
        started = time.monotonic()
        self.phase = "saturate"
        for peer in self.all_peers:
            if peer.ws is not None:
                peer.refill()
        await asyncio.sleep(duration)
        counted = self.received - base
        elapsed = time.monotonic() - started
        self.phase = "drain"
        self.drained = asyncio.get_running_loop().create_future()
        self.check_drained()
        try:
            await asyncio.wait_for(self.drained, 15)
        except TimeoutError:
            pass
        return {
            "received": counted,
            "elapsed": elapsed,
            "client_cpu": cpu_seconds() - started_cpu,
            "inflight_left": sum(max(0, p.inflight) for p in self.all_peers),
        }

    async def latency(self, rate: float, duration: float) -> dict:
        self.phase = "latency"
        pairs = [(peer, target) for peer in self.all_peers if peer.ws for target in peer.targets]
        if not pairs or rate <= 0:
            return {"latencies": [], "sent_at": []}
        loop = asyncio.get_running_loop()
        total = int(rate * duration)
        self.latency_pending = total
        self.latency_done = loop.create_future()
        start = loop.time() + 0.05
        for i in range(total):
            delay = start + i / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            peer, target = pairs[i % len(pairs)]
            peer.ws.send(peer.ice(target))
        try:
            await asyncio.wait_for(self.latency_done, 15)
        except TimeoutError:
            pass
        return {
            "latencies": self.latencies,
            "sent_at": self.latency_sent_at,
            "latency_sent": total,
            "latency_missing": self.latency_pending,
        }

    async def ping_forever(self) -> None:
        """Every socket pings every PING_EVERY s, spread over that interval as a population of
        browsers' own timers is. All at once, 800 pings and pongs in one burst every 5 s were a
        stall that the latency probe measured, and that no real set of clients sends."""
        slices = 50
        while True:
            for index in range(slices):
                await asyncio.sleep(PING_EVERY / slices)
                for peer in self.all_peers[index::slices]:
                    if peer.ws is not None and peer.peer_id is not None:  # in its room
                        peer.ws.send(b'{"type":"ping"}')

    def close_all(self) -> None:
        """Hang up as the call page does: `leave` (else the server keeps the seat for a resume)."""
        for peer in self.all_peers:
            if peer.ws is not None:
                peer.ws.send(b'{"type":"leave"}')
                peer.ws.close()

    def totals(self) -> dict:
        sent = sum(sum(p.seq_out.values()) for p in self.all_peers)
        closes = [p.ws.close_code for p in self.all_peers if p.ws is not None and p.ws.close_code is not None]
        return {
            "sent": sent,
            "received": self.received,
            "duplicated": self.duplicated,
            "gaps": self.gaps,
            "lost": sent - self.received,
            "errors": self.errors[:20],
            "error_count": len(self.errors),
            "connect_failures": self.connect_failures[:5],
            "connect_failure_count": len(self.connect_failures),
            "unexpected_closes": [code for code in closes if code != 1000][:20],
        }


async def _barrier(barrier) -> None:
    await asyncio.get_running_loop().run_in_executor(None, barrier.wait)


async def worker_async(spec: dict, barrier, results) -> None:
    run = Run(spec)
    out: dict = {"mode": spec["mode"]}
    pinger = asyncio.get_running_loop().create_task(run.ping_forever())
    try:
        if spec["mode"] == "calls":
            await _barrier(barrier)  # everyone starts at once
            out["setup"] = await run.setup(spec["setup_timeout"])
            await _barrier(barrier)
            out["saturate"] = await run.saturate(spec["duration"])
            await _barrier(barrier)
            out["latency"] = await run.latency(spec["latency_rate"], spec["latency_duration"])
            await _barrier(barrier)
        else:  # idle sockets
            run.phase = "idle"
            await run.connect_all(concurrency=spec.get("connect_concurrency", 200))
            try:
                await asyncio.wait_for(asyncio.shield(run.all_welcomed), 60)
            except TimeoutError:
                pass
            out["welcomed"] = run.welcomes
            await _barrier(barrier)  # the orchestrator measures memory now
            await _barrier(barrier)
        out["totals"] = run.totals()
    finally:
        pinger.cancel()
        run.close_all()
        await asyncio.sleep(0.5)
    results.put(out)


def worker_main(spec: dict, barrier, results) -> None:
    import uvloop

    uvloop.run(worker_async(spec, barrier, results))
