"""calls.protocol: incoming validation never lets an off-contract frame through, and never crashes;
outgoing schemas are strict; and the suite checks every server frame against them."""

import json
import re
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calls.protocol import ERROR_CODES, INCOMING, OUTGOING, Limits, ProtocolError, frame_parse, outgoing_validate

LIMITS = Limits()
TESTS = Path(__file__).parent

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(
    kind=st.sampled_from([*INCOMING, "nope", ""]),
    fields=st.dictionaries(
        st.sampled_from(["to", "sdp", "candidate", "text", "audio", "video", "screen", "peer", "locked", "id", "from"]),
        json_values,
        max_size=6,
    ),
)
def test_any_frame_is_either_valid_or_a_protocol_error(kind, fields):
    text = json.dumps({"type": kind, **fields})
    try:
        frame = frame_parse(text, limits=LIMITS)
    except ProtocolError as error:
        assert error.code in ERROR_CODES and error.message
        return
    spec = INCOMING[frame["type"]]
    for key in spec:
        assert key in frame
    if frame["type"] == "chat":
        assert 0 < len(frame["text"]) <= LIMITS.max_chat_chars and frame["text"] == frame["text"].strip()
    if frame["type"] in ("offer", "answer"):
        assert isinstance(frame["sdp"], str) and 0 < len(frame["sdp"].encode()) <= LIMITS.max_sdp_bytes
    if frame["type"] == "ice" and frame["candidate"] is not None:
        assert isinstance(frame["candidate"]["candidate"], str)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200) | st.binary(max_size=50).map(lambda raw: raw.decode("latin-1")))
def test_arbitrary_text_never_crashes_the_parser(text):
    try:
        frame_parse(text, limits=LIMITS)
    except ProtocolError as error:
        assert error.code in ERROR_CODES


def test_candidate_fields_are_whitelisted():
    frame = frame_parse(
        orjson.dumps(
            {"type": "ice", "to": "p", "candidate": {"candidate": "c", "sdpMid": None, "sdpMLineIndex": 0, "x": 1}}
        ).decode(),
        limits=LIMITS,
    )
    assert frame["candidate"] == {"candidate": "c", "sdpMid": None, "sdpMLineIndex": 0}


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "pong", "extra": 1},
        {"type": "peer-left", "peer_id": "p", "reason": "vanished"},
        {"type": "chat", "id": "1", "from": "p", "user": {"id": 1, "username": "u"}, "text": "t", "ts": "now"},
        {"type": "offer", "from": "p"},
        {"type": "error", "code": "made-up", "message": "m"},
        {"type": "media", "from": "p", "audio": 1, "video": True, "screen": False},
        {"type": "not-a-type"},
        {"type": "room", "locked": True, "by": "x"},
    ],
)
def test_outgoing_schemas_are_strict(frame):
    with pytest.raises(AssertionError):
        outgoing_validate(frame)


# Every frame type the room socket sends, by the contract (shared/PROTOCOL.md).
ROOM_FRAMES_SENT = frozenset(
    {
        "welcome",
        "peer-joined",
        "peer-left",
        "offer",
        "answer",
        "ice",
        "chat",
        "media",
        "room",
        "ice-servers",
        "pong",
        "kicked",
        "error",
    }
)


def test_every_room_frame_of_the_contract_has_a_schema():
    assert ROOM_FRAMES_SENT <= set(OUTGOING)
    assert set(INCOMING) == {"offer", "answer", "ice", "chat", "media", "ice-servers", "ping", "leave", "kick", "lock"}


def test_no_test_reads_server_frames_around_the_schema_check():
    """Frames are read only through tests.helpers (Peer, RealPeer), which validate each one,
    and every signaling test module also checks what the server queues (server_frames_checked)."""
    raw_reads = re.compile(r"receive_output\(|receive_from\(|receive_json_from\(|\.ws\.recv\(|\bwebsocket\.recv\(")
    for path in sorted(TESTS.glob("test_*.py")):
        source = path.read_text()
        if path.name == "test_protocol.py":
            continue
        assert not raw_reads.search(source), f"{path.name} reads frames without validating them"
        if path.name.startswith("test_signaling_"):
            assert "server_frames_checked" in source, f"{path.name} does not check the frames the server sends"


def _doc_examples() -> dict[str, list[dict]]:
    """The JSON examples of docs/protocol.md by section heading (a block holds one or more objects)."""
    examples: dict[str, list[dict]] = {}
    section = ""
    text = (TESTS.parent / "docs" / "protocol.md").read_text()
    for part in re.split(r"(^## [^\n]*$|```json\n.*?```)", text, flags=re.M | re.S):
        if part.startswith("## "):
            section = part[3:].strip()
        elif part.startswith("```json"):
            body, index = part[len("```json\n") : -3], 0
            while body[index:].strip():
                index += len(body[index:]) - len(body[index:].lstrip())
                frame, index = json.JSONDecoder().raw_decode(body, index)
                examples.setdefault(section, []).append(frame)
    return examples


def test_every_documented_example_is_valid_and_every_frame_has_one():
    examples = _doc_examples()
    sent = examples["Refusals"] + examples["Server to client"]
    for frame in sent:
        outgoing_validate(frame)
    for frame in examples["Client to server"]:
        frame_parse(json.dumps(frame), limits=LIMITS)
    assert {frame["type"] for frame in sent} == ROOM_FRAMES_SENT
    assert {frame["type"] for frame in examples["Client to server"]} == set(INCOMING)
