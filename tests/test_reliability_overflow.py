"""A socket that cannot keep up: its outbox overflows, it alone is closed, the drop is counted and logged."""

import logging

import pytest
from asgiref.sync import sync_to_async

from calls.protocol.outgoing import Chat
from calls.signaling.node import node_get
from tests.helpers import join

pytestmark = [pytest.mark.django_db(transaction=True)]


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


async def test_outbox_overflow_closes_the_slow_socket_only_counted_and_logged(signaling, make_user, make_room):
    signaling.update(OUTBOX_LIMIT=20)
    owner, slow_user, third = [await sync_to_async(make_user)() for _ in range(3)]
    room = await sync_to_async(make_room)(owner)
    a = await join(room.slug, owner)
    slow = await join(room.slug, slow_user)
    c = await join(room.slug, third)
    node = await node_get()
    before = node.stats.dropped_overflow
    chat = {"id": "x", "sender": a.peer_id, "user": a.welcome["you"], "ts": "2026-01-01T00:00:00.000Z"}
    records = Records()
    logging.getLogger("calls.signaling.session").addHandler(records)
    # 50 frames for one socket within one event-loop turn, as a relayed batch from another
    # process arrives: its writer cannot drain in between, so its outbox overflows.
    try:
        for i in range(50):
            node.rooms[room.slug].send(node.node_id, slow.peer_id, Chat(**chat, text=f"burst {i}").to_text())
    finally:
        logging.getLogger("calls.signaling.session").removeHandler(records)
    assert await slow.expect_close(timeout=5) == 4503
    assert node.stats.dropped_overflow == before + 1, "one overflow, counted once"
    assert any("overflowed" in message for message in records.messages)
    # The others see it leave and carry on: nothing crashed.
    left = await a.recv_type("peer-left")
    assert left["peer_id"] == slow.peer_id and left["reason"] == "disconnected"
    await c.send({"type": "chat", "text": "still fine"})
    assert (await a.recv_type("chat"))["text"] == "still fine"
    await a.close()
    await c.close()
