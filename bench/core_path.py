"""The relay's own CPU per frame, in one process: a socket's text in, the relayed text in the
other socket's outbox, drained by its writer task (what a server does per frame, less the
WebSocket framing and the network). No Redis, no server: stable on a busy machine, where the
end-to-end benchmark's per-CPU-second figures swing by a factor of two.

    .venv/bin/python bench/core_path.py --seconds 2 --repeat 5
"""

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

import django

django.setup()

import orjson  # noqa: E402
from django.conf import settings  # noqa: E402

SDP = "v=0\r\n" + "a=candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host\r\n" * 40


class User:
    is_authenticated = True

    def __init__(self, pk: int) -> None:
        self.pk = pk

    def public_dict(self) -> dict:
        return {"id": self.pk, "username": f"u{self.pk}", "display_name": f"U {self.pk}"}


async def _discard(message: dict) -> None:
    return None


def mix(to: str) -> list[str]:
    """The frames of a call set-up: an offer, candidates, a chat, a ping."""
    frames = [{"type": "offer", "to": to, "sdp": SDP}]
    frames += [
        {"type": "ice", "to": to, "candidate": {"candidate": f"candidate:{i} 1 udp 1 127.0.0.1 5000{i} typ host"}}
        for i in range(6)
    ]
    frames += [{"type": "chat", "text": "hello there"}, {"type": "ping", "id": "p"}]
    return [orjson.dumps(frame).decode() for frame in frames]


async def pair():
    """Two joined sessions of one room; returns (sender's receive, the texts to send)."""
    from calls.signaling.admission import RoomInfo
    from calls.signaling.bus import MemoryBus
    from calls.signaling.node import Node
    from calls.signaling.outbox import Outbox
    from calls.signaling.records import PeerRecord
    from calls.signaling.registry_memory import MemoryRegistry
    from calls.signaling.session import Session

    config = dict(settings.SIGNALING, RATE=1e9, BURST=1e9, USER_RATE=1e9, USER_BURST=1e9, OUTBOX_LIMIT=10**9)
    node = Node(node_id="n", config=config, registry=MemoryRegistry(), bus=MemoryBus())
    sessions = []
    for pk in (1, 2):
        session = Session(
            node=node, outbox=Outbox(_discard, limit=10**9), user=User(pk), slug="r", session_key=None, auth_hash=""
        )
        session.peer = PeerRecord(peer_id=f"peer{pk}", node="n", user=session.user.public_dict())
        session.info = RoomInfo(id=1, slug="r", name="r", capacity=8, locked=False, moderator=False)
        session.joined = True
        sessions.append(session)
    for session in sessions:
        session.room.attach(session, [s.peer for s in sessions if s is not session], first=[])
    return sessions[0].receive, mix("peer2")


async def measure(seconds: float, *, candidates_only: bool = False) -> float:
    receive, texts = await pair()
    if candidates_only:
        texts = [text for text in texts if text.startswith('{"type":"ice"')]
    count, started = 0, time.process_time()
    while time.process_time() - started < seconds:
        for text in texts:
            await receive(text)
        count += len(texts)
        await asyncio.sleep(0)  # the writers drain
    return count / (time.process_time() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--candidates", action="store_true", help="relay only `ice` frames (most of a call's frames)")
    args = parser.parse_args()
    for _ in range(args.repeat):
        rate = asyncio.run(measure(args.seconds, candidates_only=args.candidates))
        print(f"{rate:,.0f} frames relayed per CPU-second")


if __name__ == "__main__":
    main()
