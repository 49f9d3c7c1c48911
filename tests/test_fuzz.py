"""Fuzzing the wire: the validator only ever raises ProtocolError, and a live socket fed
arbitrary frames stays usable while no other peer receives anything from a bad one."""

import asyncio
import json

import msgspec
import orjson
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from calls.protocol import (
    ERROR_CODES,
    INCOMING,
    PRESENCE_INCOMING,
    ClientFrame,
    Limits,
    ProtocolError,
    frame_parse,
)
from calls.protocol.outgoing import Ice, Offer
from tests.helpers import join

LIMITS = Limits(max_frame_bytes=3000, max_sdp_bytes=600, max_candidate_bytes=200, max_chat_chars=80)
FUZZ = settings(max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
types = st.sampled_from(sorted({*INCOMING, *PRESENCE_INCOMING})) | st.text(max_size=12) | json_values
field_names = st.sampled_from(["to", "sdp", "candidate", "text", "audio", "video", "screen", "peer", "locked", "id"])
candidates = st.none() | st.fixed_dictionaries(
    {},
    optional={
        "candidate": st.text(max_size=250) | json_values,
        "sdpMid": st.none() | st.text(max_size=5) | json_values,
        "sdpMLineIndex": st.none() | st.integers() | json_values,
        "usernameFragment": st.none() | st.text(max_size=5),
        "extra": json_values,
    },
)
field_values = json_values | st.text(min_size=0, max_size=900) | candidates | st.booleans()
frames = st.builds(
    lambda kind, fields: {"type": kind, **fields}, types, st.dictionaries(field_names, field_values, max_size=6)
)
texts = (
    st.text(max_size=200)
    | json_values.map(json.dumps)  # (the stdlib writes integers of any size: so may a client)
    | frames.map(json.dumps)
    | st.just("x" * 3001)
    | st.none()  # a binary frame
)


def parse_outcome(text: str | None, limits: Limits = LIMITS) -> ClientFrame | ProtocolError:
    try:
        return frame_parse(text, limits=limits)
    except ProtocolError as error:
        return error


@FUZZ
@given(texts)
def test_frame_parse_raises_only_protocol_errors(text):
    outcome = parse_outcome(text)  # anything but ProtocolError escapes and fails the test
    if isinstance(outcome, ProtocolError):
        assert outcome.code in ERROR_CODES and outcome.message
        return
    # Accepted frames are exactly what the contract allows, within the limits.
    assert type(outcome) is INCOMING[outcome.type]
    for field in msgspec.structs.fields(outcome):
        if field.type in (str, bool):
            assert type(getattr(outcome, field.name)) is field.type
    if outcome.type in ("offer", "answer"):
        sent = orjson.loads(Offer(sender="p", sdp=outcome.sdp).to_text())["sdp"]  # relayed as the client wrote it
        assert isinstance(sent, str) and 0 < len(sent.encode()) <= LIMITS.max_sdp_bytes
    if outcome.type == "chat":
        assert 0 < len(outcome.text) <= LIMITS.max_chat_chars
    if outcome.type == "ice" and outcome.candidate is not None:
        sent = orjson.loads(Ice(sender="p", candidate=outcome.candidate).to_text())["candidate"]
        assert isinstance(sent["candidate"], str)
        assert set(sent) <= {"candidate", "sdpMid", "sdpMLineIndex", "usernameFragment"}
        assert len(orjson.dumps(sent)) <= LIMITS.max_candidate_bytes


@FUZZ
@given(st.sampled_from(["offer", "answer", "ice", "chat", "media", "kick", "lock"]), st.data())
def test_a_field_of_the_wrong_type_is_always_refused(kind, data):
    valid = {
        "offer": {"to": "p", "sdp": "v=0"},
        "answer": {"to": "p", "sdp": "v=0"},
        "ice": {"to": "p", "candidate": None},
        "chat": {"text": "hi"},
        "media": {"audio": True, "video": False, "screen": False},
        "kick": {"peer": "p"},
        "lock": {"locked": True},
    }[kind]
    assert frame_parse(orjson.dumps({"type": kind, **valid}).decode(), limits=LIMITS).type == kind
    key = data.draw(st.sampled_from(sorted(valid)))
    expected = type(valid[key]) if valid[key] is not None else dict
    wrong = data.draw(
        st.one_of(
            st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), st.text(max_size=5), st.lists(st.booleans())
        ).filter(lambda v: not isinstance(v, expected) or (expected is int and isinstance(v, bool)))
    )
    assume(not (kind == "ice" and wrong is None))
    frame = {"type": kind, **valid, key: wrong}
    with pytest.raises(ProtocolError) as refused:
        frame_parse(orjson.dumps(frame).decode(), limits=LIMITS)
    assert refused.value.code == "bad-message"


HARMFUL = {"leave", "kick", "lock"}  # valid ones would legitimately end the socket or change the room


@pytest.mark.django_db(transaction=True)
def test_live_socket_survives_arbitrary_frames_and_leaks_nothing(signaling, make_user, make_room):
    signaling.update(RATE=100000.0, BURST=100000.0, USER_RATE=100000.0, USER_BURST=100000.0)
    from calls.signaling.admission import limits_from_settings

    limits = limits_from_settings()
    runner = asyncio.Runner()  # its close cancels what the test left running (the SQL pool's workers)
    loop = runner.get_loop()
    owner, other = make_user(), make_user()
    room = make_room(owner)
    fuzzer = loop.run_until_complete(join(room.slug, owner))
    observer = loop.run_until_complete(join(room.slug, other))
    loop.run_until_complete(fuzzer.recv_type("peer-joined"))
    counter = {"n": 0}

    async def one(text: str | None) -> None:
        counter["n"] += 1
        before = len(fuzzer.frames)
        if text is None:
            await fuzzer.ws.send_input({"type": "websocket.receive", "bytes": b"\x00binary"})
        else:
            await fuzzer.ws.send_input({"type": "websocket.receive", "text": text})
        # Frames are handled in order: the pong means the fuzz frame was dealt with.
        await fuzzer.send({"type": "ping", "id": f"probe-{counter['n']}"})
        while True:
            frame = await fuzzer.recv(timeout=5)
            if frame["type"] == "pong" and frame.get("id") == f"probe-{counter['n']}":
                break
        replies = [f for f in fuzzer.frames[before:] if not (f["type"] == "pong" and f.get("id"))]
        outcome = parse_outcome(text, limits)
        leaked = []
        while not await observer.nothing(0.02):
            leaked.append(await observer.recv())
        if isinstance(outcome, ProtocolError):
            assert [f["type"] for f in replies] == ["error"], replies
            assert replies[0]["code"] == outcome.code
            assert leaked == [], f"a bad frame reached another peer: {leaked}"

    @settings(FUZZ, max_examples=150)
    @given(texts)
    def check(text):
        outcome = parse_outcome(text, limits)
        assume(isinstance(outcome, ProtocolError) or outcome.type not in HARMFUL)
        loop.run_until_complete(one(text))

    try:
        check()
        # Still a working call after all that.
        loop.run_until_complete(fuzzer.send({"type": "chat", "text": "still here"}))
        assert loop.run_until_complete(observer.recv_type("chat"))["text"] == "still here"
    finally:
        loop.run_until_complete(fuzzer.close())
        loop.run_until_complete(observer.close())
        runner.close()


# --- Any nesting depth, size or type in any field of any frame (security issue #13) ------------
# One `ice` frame whose candidate nested 300 levels deep crashed its socket and, through it, the
# liveness of every room of the process. Frames here are written as text, so that they can nest
# past what a Python encoder would write (up to 2000 levels; orjson reads 1024, encodes 255).

ROOM_VALID = {
    "offer": {"to": '"x"', "sdp": '"v=0"'},
    "answer": {"to": '"x"', "sdp": '"v=0"'},
    "ice": {"to": '"x"', "candidate": None},  # None: the candidate's own fields are fuzzed too
    "chat": {"text": '"hi"'},
    "media": {"audio": "true", "video": "true", "screen": "false"},
    "ice-servers": {},
    "ping": {},
    "leave": {},
    "kick": {"peer": '"x"'},
    "lock": {"locked": "true"},
    "hand": {"raised": "true"},
    "reaction": {"emoji": '"👍"'},
    "record": {"active": "false"},
    "view": {"to": '"x"', "size": '"thumb"'},
    "knock-answer": {"knock": '"x"', "admit": "false"},
}
PRESENCE_VALID = {
    "call": {"username": '"nobody-here"'},
    "accept": {"call_id": '"x"'},
    "decline": {"call_id": '"x"'},
    "cancel": {"call_id": '"x"'},
    "hangup": {"call_id": '"x"'},
    "ping": {},
}
CANDIDATE_VALID = {"candidate": '"candidate:1 1 udp 2122260223 127.0.0.1 5000 typ host"', "sdpMid": '"0"'}
CANDIDATE_KEYS = ("candidate", "sdpMid", "sdpMLineIndex", "usernameFragment", "extra")

depths = st.integers(0, 12) | st.integers(250, 260) | st.integers(1020, 1030) | st.integers(0, 2000)
leaves = st.sampled_from(["1", '"c"', "{}", "[]", "null"])
nested = st.builds(lambda depth, leaf: "[" * depth + leaf + "]" * depth, depths, leaves) | st.builds(
    lambda depth, leaf: '{"k":' * depth + leaf + "}" * depth, depths, leaves
)
sizes = st.sampled_from([0, 1, 64, 65, 150, 151, 2000, 2001, 2100, 4096, 65536, 65537, 98304, 98305]) | st.integers(
    0, 110_000
)
sized_strings = st.builds(
    lambda n, char: orjson.dumps(char * n).decode(), sizes, st.sampled_from(["v", "é", " ", "\\"])
)
scalars = st.sampled_from(
    ["null", "true", "false", "0", "-1", "1.5", "18446744073709551616", "1e308", '""', "{}", "[]"]
)
field_texts = nested | nested | sized_strings | scalars | json_values.map(json.dumps)


def _nested_in_candidate(depth: int) -> str:
    return '{"type":"ice","to":"x","candidate":{"candidate":"c","x":' + "[" * depth + "]" * depth + "}}"


# The frame of the report (a candidate field nested 300 levels deep).
REPORTED_FRAME = _nested_in_candidate(300)


def _object(fields: dict[str, str]) -> str:
    return "{" + ",".join(f"{json.dumps(key)}:{value}" for key, value in fields.items()) + "}"


@st.composite
def deep_frames(draw, valid: dict[str, dict[str, str | None]]) -> str:
    """A valid frame of any type with one or two of its fields (or `id`, or an extra one) replaced."""
    kind = draw(st.sampled_from(sorted(valid)))
    fields = {"type": json.dumps(kind), **valid[kind]}
    candidate = dict(CANDIDATE_VALID)
    slots = [*fields, "id", "extra"] + ([f"candidate.{key}" for key in CANDIDATE_KEYS] if kind == "ice" else [])
    for slot in draw(st.lists(st.sampled_from(slots), min_size=1, max_size=2, unique=True)):
        value = draw(field_texts)
        if slot.startswith("candidate."):
            candidate[slot.removeprefix("candidate.")] = value
        else:
            fields[slot] = value
    if fields.get("candidate", "") is None:
        fields["candidate"] = _object(candidate)
    return _object(fields)


@FUZZ
@given(deep_frames(ROOM_VALID) | deep_frames(PRESENCE_VALID))
@example(REPORTED_FRAME)
def test_any_depth_size_or_type_in_any_field_is_only_ever_a_protocol_error(text):
    for schemas, limits in ((INCOMING, Limits()), (PRESENCE_INCOMING, Limits(max_frame_bytes=4096))):
        try:
            frame = frame_parse(text, limits=limits, schemas=schemas)
        except ProtocolError as error:
            assert error.code in ERROR_CODES and error.message
            continue
        msgspec.json.encode(frame)  # what the server reads of an accepted frame can always be sent on


async def _answers(sock, observer, text: str, probe: str) -> tuple[list[dict], list[dict]]:
    """Send `text`, then a ping: the replies before its pong, and what the observer received meanwhile."""
    before = len(sock.frames)
    await sock.ws.send_input({"type": "websocket.receive", "text": text})
    await sock.send({"type": "ping", "id": probe})
    while True:  # a close here raises ConnectionClosed: the test fails
        frame = await sock.recv(timeout=5)  # every frame is checked against OUTGOING on the way
        if frame["type"] == "pong" and frame.get("id") == probe:  # a room pong carries a token too
            break
    leaked = []
    while not await observer.nothing(0.01):
        leaked.append(await observer.recv())
    return sock.frames[before:-1], leaked


def _check_answers(text: str, replies: list[dict], leaked: list[dict], *, limits: Limits, schemas: dict) -> None:
    try:
        outcome = frame_parse(text, limits=limits, schemas=schemas)
    except ProtocolError as error:
        outcome = error
    if isinstance(outcome, ProtocolError):
        assert [(f["type"], f["code"]) for f in replies] == [("error", outcome.code)], (text[:200], replies)
        assert leaked == [], f"a refused frame reached another socket: {leaked}"
        return
    # An accepted frame gets its normal reply: at most one frame, and an error only with a contract code.
    assert len(replies) <= 1, replies
    assert all(f["code"] in ERROR_CODES for f in replies if f["type"] == "error"), replies


@pytest.mark.django_db(transaction=True)
def test_live_sockets_answer_any_depth_size_or_type_and_stay_open(signaling, make_user, make_room, monkeypatch):
    assert set(ROOM_VALID) == set(INCOMING) and set(PRESENCE_VALID) == set(PRESENCE_INCOMING)
    signaling.update(RATE=100000.0, BURST=100000.0, USER_RATE=100000.0, USER_BURST=100000.0)
    from calls.services import direct_calls
    from calls.signaling.admission import limits_from_settings
    from tests.test_direct_calls import online

    monkeypatch.setattr(direct_calls, "FRAME_RATE", 100000.0)
    monkeypatch.setattr(direct_calls, "FRAME_BURST", 100000.0)
    room_limits = limits_from_settings()
    presence_limits = Limits(max_frame_bytes=4096)
    runner = asyncio.Runner()  # its close cancels what the test left running (the SQL pool's workers)
    loop = runner.get_loop()
    owner, other = make_user(), make_user()
    room = make_room(owner)
    observer = loop.run_until_complete(join(room.slug, owner))
    fuzzer = loop.run_until_complete(join(room.slug, other))  # not a moderator: kick and lock are refused
    presence = loop.run_until_complete(online(other))
    presence_observer = loop.run_until_complete(online(owner))
    loop.run_until_complete(observer.recv_type("peer-joined"))
    loop.run_until_complete(presence.recv_type("user-online"))
    counter = iter(range(1_000_000))

    @settings(FUZZ, max_examples=40)
    @given(deep_frames(ROOM_VALID))
    @example(REPORTED_FRAME)
    @example(_nested_in_candidate(255))  # around orjson's limits: it encodes 255 levels, decodes 1024
    @example(_nested_in_candidate(1022))
    def room_check(text):
        outcome = parse_outcome(text, room_limits)
        assume(isinstance(outcome, ProtocolError) or outcome.type != "leave")
        replies, leaked = loop.run_until_complete(_answers(fuzzer, observer, text, f"p{next(counter)}"))
        _check_answers(text, replies, leaked, limits=room_limits, schemas=INCOMING)

    @settings(FUZZ, max_examples=25)
    @given(deep_frames(PRESENCE_VALID))
    @example('{"type":"call","username":"x","x":' + "[" * 300 + "]" * 300 + "}")
    def presence_check(text):
        replies, leaked = loop.run_until_complete(_answers(presence, presence_observer, text, f"p{next(counter)}"))
        _check_answers(text, replies, leaked, limits=presence_limits, schemas=PRESENCE_INCOMING)

    try:
        room_check()
        presence_check()
        loop.run_until_complete(fuzzer.send({"type": "chat", "text": "still here"}))
        assert loop.run_until_complete(observer.recv_type("chat"))["text"] == "still here"
    finally:
        for sock in (fuzzer, observer, presence, presence_observer):
            loop.run_until_complete(sock.close())
        runner.close()
