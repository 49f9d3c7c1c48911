"""calls.protocol: incoming validation never lets an off-contract frame through, and never crashes;
outgoing schemas are strict; and the suite checks every server frame against them."""

import json
import re
from pathlib import Path

import msgspec
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calls.protocol import (
    CLOSE_TABLE,
    ERROR_CODES,
    FATAL_CLOSE_CODES,
    INCOMING,
    OUTGOING,
    PRESENCE_INCOMING,
    Limits,
    ProtocolError,
    frame_parse,
    ice_frame_spliced,
    outgoing_validate,
)
from calls.protocol.close_codes import close_codes_js
from calls.protocol.outgoing import Ice

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
    assert type(frame) is INCOMING[kind] and frame.type == kind
    for field in msgspec.structs.fields(frame):
        if field.required:
            assert field.name in fields
    if frame.type == "chat":
        assert 0 < len(frame.text) <= LIMITS.max_chat_chars and frame.text == frame.text.strip()
    if frame.type in ("offer", "answer"):
        assert isinstance(frame.sdp_text, str) and 0 < len(frame.sdp_text.encode()) <= LIMITS.max_sdp_bytes
    if frame.type == "ice" and frame.candidate is not None:
        assert isinstance(frame.candidate.candidate, str)


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
    sent = orjson.loads(Ice(sender="q", candidate=frame.candidate).to_text())
    assert sent == {"type": "ice", "from": "q", "candidate": {"candidate": "c", "sdpMid": None, "sdpMLineIndex": 0}}


@pytest.mark.parametrize("candidate", [{"candidate": 'c "quoted" \\ é', "sdpMid": "0", "x": [1]}, None])
def test_a_relayed_candidate_is_the_frame_the_schema_builds(candidate):
    """The relay splices the candidate's JSON in (outgoing.ice_frame_spliced): the text sent is
    exactly ice_frame's, valid against the schema, for a candidate and for the end of them."""
    frame = frame_parse(orjson.dumps({"type": "ice", "to": "p", "candidate": candidate}).decode(), limits=LIMITS)
    spliced = ice_frame_spliced(sender="Ab-9_z", candidate_json=frame.candidate_json)
    assert spliced == Ice(sender="Ab-9_z", candidate=frame.candidate).to_text()
    outgoing_validate(orjson.loads(spliced))


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


# Every frame type the room socket sends, by the contract (docs/protocol.md).
ROOM_FRAMES_SENT = frozenset(
    {
        "welcome",
        "peer-joined",
        "peer-left",
        "peer-suspended",
        "peer-resumed",
        "view",
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
        "chat-history",
        "hand",
        "reaction",
        "recording",
        "knocking",
        "admitted",
        "knock",
        "knock-ended",
    }
)


def test_every_room_frame_of_the_contract_has_a_schema():
    assert ROOM_FRAMES_SENT <= set(OUTGOING)
    kinds = {"offer", "answer", "ice", "chat", "media", "ice-servers", "ping", "leave", "kick", "lock", "view"}
    assert set(INCOMING) == kinds | {"hand", "reaction", "record", "knock-answer"}


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


def test_the_browser_client_has_the_servers_close_codes():
    """static/js/close-codes.js is the server's table, rendered (`make close-codes`)."""
    assert (TESTS.parent / "static" / "js" / "close-codes.js").read_text() == close_codes_js(), "make close-codes"


def test_every_close_code_of_the_contract_is_in_the_table_and_no_other():
    text = (TESTS.parent / "docs" / "protocol.md").read_text()
    documented = {int(code) for code in re.findall(r"^\| (\d{4})\b", text, flags=re.M)}
    assert documented == {entry.code for entry in CLOSE_TABLE}
    refusals = text.split("## Refusals")[1].split("Other close codes")[0]
    assert {int(code) for code in re.findall(r"^\| (\d{4})\b", refusals, flags=re.M)} == FATAL_CLOSE_CODES


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ({"type": "offer", "to": "p"}, "'sdp' is missing."),
        ({"type": "offer", "to": "p", "sdp": 5}, "'sdp' must be a string."),
        ({"type": "media", "audio": "yes", "video": True, "screen": False}, "'audio' must be true or false."),
        ({"type": "ice", "to": "p", "candidate": {"sdpMid": "0"}}, "'candidate.candidate' is missing."),
        (
            {"type": "ice", "to": "p", "candidate": {"candidate": "c", "sdpMid": 0}},
            "'candidate.sdpMid' must be a string or null.",
        ),
        ({"type": "ice", "to": "p", "candidate": "c"}, "'candidate' must be an object or null."),
        ({"type": "ping", "id": 5}, "'id' must be a string of at most 64 characters."),
    ],
)
def test_a_refused_field_is_named_in_the_message(frame, message):
    with pytest.raises(ProtocolError) as refused:
        frame_parse(orjson.dumps(frame).decode(), limits=LIMITS)
    assert (refused.value.code, refused.value.message) == ("bad-message", message)


@pytest.mark.parametrize(
    ("depth", "code"), [(6, None), (7, "bad-message"), (300, "bad-message"), (2000, "bad-message")]
)
def test_nesting_in_a_field_the_server_skips_is_limited_too(depth, code):
    """A frame (1) with its candidate (2): an unknown field of the candidate may add 6 levels, no more."""
    text = '{"type":"ice","to":"p","id":"n","candidate":{"candidate":"c","x":' + "[" * depth + "]" * depth + "}}"
    try:
        frame = frame_parse(text, limits=LIMITS)
    except ProtocolError as error:
        assert error.code == code
        assert error.ref in ("n", None)  # past what the parser reads, the id cannot be read either
        return
    assert code is None and frame.candidate.candidate == "c"


def test_a_presence_name_is_one_to_150_characters():
    for username, code in (("", "bad-message"), ("x" * 151, "bad-message"), ("x" * 150, None)):
        text = orjson.dumps({"type": "call", "username": username}).decode()
        try:
            assert frame_parse(text, limits=LIMITS, schemas=PRESENCE_INCOMING).username == username
            assert code is None
        except ProtocolError as error:
            assert error.code == code and "'username'" in error.message
