"""Wire micro-benchmark: the per-frame cost of the signaling wire layer, on one core.

    .venv/bin/python bench/wire.py                 # 2 s per measurement
    .venv/bin/python bench/wire.py --seconds 5

A realistic mix of client frames (4 KB offers and answers, 250 B ICE candidates, pings,
chats) is parsed and validated by `calls.protocol.frame_parse` ("parse"), then turned into
the frame the server sends on ("relay": parse, then the offer/answer/ice/chat/pong text).
Figures are frames per CPU-second (`time.process_time`), so a busy, shared machine slows
the wall clock but not the figures much; run it a few times and compare ranges.
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson

from calls.protocol import Limits, frame_parse, incoming
from calls.protocol.outgoing import Answer, Chat, Ice, Offer, Pong

LIMITS = Limits()
SENDER = "Zk9yZXN0LWdyZWVu"
TOKEN = "q3L0b1xXc2VyX2lk:1xZ8Yc:Xo3dS0bT7Qm2kRv9pFh5wN1cLgJ4eA8uZy6tH0iK2sM"
USER = {"id": 7, "username": "bob", "display_name": "Bob"}
# How many of each kind in a mix of 26 frames: a call's setup and a little of its life.
MIX = {"offer": 1, "answer": 1, "ice": 16, "ping": 6, "chat": 2}


def sdp(size: int = 4096) -> str:
    """An SDP of about `size` bytes, with the lines a browser's offer has."""
    head = "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n"
    lines = [head]
    payload = 96
    while sum(map(len, lines)) < size - 200:
        lines.append(f"a=rtpmap:{payload} VP8/90000\r\na=rtcp-fb:{payload} nack pli\r\n")
        lines.append(f"a=fmtp:{payload} level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n")
        payload += 1
    lines.append("a=fingerprint:sha-256 " + ":".join(["AB"] * 32) + "\r\n")
    return "".join(lines)[:size]


def client_frames() -> dict[str, str]:
    """One text frame of each kind, as a browser sends them."""
    candidate = {
        "candidate": "candidate:842163049 1 udp 1677729535 203.0.113.7 46154 typ srflx raddr 0.0.0.0 rport 0 "
        "generation 0 ufrag EsAw network-cost 999",
        "sdpMid": "0",
        "sdpMLineIndex": 0,
        "usernameFragment": "EsAw",
    }
    frames = {
        "offer": {"type": "offer", "to": SENDER, "sdp": sdp(), "id": "o-17"},
        "answer": {"type": "answer", "to": SENDER, "sdp": sdp(), "id": "a-17"},
        "ice": {"type": "ice", "to": SENDER, "candidate": candidate},
        "ping": {"type": "ping", "id": "hb-42"},
        "chat": {
            "type": "chat",
            "text": "  Can you hear me? The slides are up on the shared screen now.  ",
            "id": "c-3",
        },
    }
    return {kind: orjson.dumps(frame).decode() for kind, frame in frames.items()}


def relay(frame: incoming.ClientFrame) -> str:
    """The text the server sends for `frame` (the token, chat id and time are fixed: not wire costs)."""
    match frame:
        case incoming.Offer(sdp=sdp):
            return Offer(sender=SENDER, sdp=sdp).to_text()
        case incoming.Answer(sdp=sdp):
            return Answer(sender=SENDER, sdp=sdp).to_text()
        case incoming.Ice(candidate=candidate):
            return Ice(sender=SENDER, candidate=candidate).to_text()
        case incoming.Chat(text=text):
            return Chat(id="5f0c6b1e", sender=SENDER, user=USER, text=text, ts="2026-11-23T18:04:05.123Z").to_text()
    return Pong(id=frame.id, resume_token=TOKEN).to_text()


def parse_only(text: str):
    return frame_parse(text, limits=LIMITS)


def parse_and_relay(text: str) -> str:
    return relay(frame_parse(text, limits=LIMITS))


def rate(step, texts: list[str], seconds: float) -> float:
    """Frames per CPU-second of `step` over `texts`, repeated for about `seconds` of CPU.

    The clock is read once per 1,000 frames or so: reading it costs about as much as a small frame.
    """
    batch = texts * max(1, 1000 // len(texts))
    for text in texts:  # warm up
        step(text)
    done, start = 0, time.process_time()
    while (spent := time.process_time() - start) < seconds:
        for text in batch:
            step(text)
        done += len(batch)
    return done / spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="CPU seconds per measurement")
    args = parser.parse_args()
    frames = client_frames()
    mix = [text for kind, count in MIX.items() for text in [frames[kind]] * count]
    cases = {f"{kind} ({len(text.encode())} B)": [text] for kind, text in frames.items()}
    cases[f"mix ({len(mix)} frames: {', '.join(f'{n} {k}' for k, n in MIX.items())})"] = mix
    print(f"{'frames':<60} {'parse /s':>12} {'parse+relay /s':>15}")
    for name, texts in cases.items():
        parsed, relayed = rate(parse_only, texts, args.seconds), rate(parse_and_relay, texts, args.seconds)
        print(f"{name:<60} {parsed:>12,.0f} {relayed:>15,.0f}")


if __name__ == "__main__":
    main()
