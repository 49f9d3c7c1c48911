"""Fuzzing the wire: the validator only ever raises ProtocolError, and a live socket fed
arbitrary frames stays usable while no other peer receives anything from a bad one."""

import asyncio
import json

import orjson
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from calls.protocol import ERROR_CODES, INCOMING, PRESENCE_INCOMING, Limits, ProtocolError, frame_parse
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


def parse_outcome(text: str | None, limits: Limits = LIMITS) -> dict | ProtocolError:
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
    assert outcome["type"] in INCOMING
    for key, spec in INCOMING[outcome["type"]].items():
        assert key in outcome
        if spec is str:
            assert isinstance(outcome[key], str)
        elif spec is bool:
            assert isinstance(outcome[key], bool)
    if outcome["type"] in ("offer", "answer"):
        assert 0 < len(outcome["sdp"].encode()) <= LIMITS.max_sdp_bytes
    if outcome["type"] == "chat":
        assert 0 < len(outcome["text"]) <= LIMITS.max_chat_chars
    if outcome["type"] == "ice" and outcome["candidate"] is not None:
        assert isinstance(outcome["candidate"]["candidate"], str)
        assert set(outcome["candidate"]) <= {"candidate", "sdpMid", "sdpMLineIndex", "usernameFragment"}


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
    assert frame_parse(orjson.dumps({"type": kind, **valid}).decode(), limits=LIMITS)["type"] == kind
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
    from calls.services.signaling import limits_from_settings

    limits = limits_from_settings()
    loop = asyncio.new_event_loop()
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
        assume(isinstance(outcome, ProtocolError) or outcome["type"] not in HARMFUL)
        loop.run_until_complete(one(text))

    try:
        check()
        # Still a working call after all that.
        loop.run_until_complete(fuzzer.send({"type": "chat", "text": "still here"}))
        assert loop.run_until_complete(observer.recv_type("chat"))["text"] == "still here"
    finally:
        loop.run_until_complete(fuzzer.close())
        loop.run_until_complete(observer.close())
        loop.close()
