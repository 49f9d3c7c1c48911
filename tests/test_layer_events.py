"""Sign-out and admin events reach room sockets through their process's channel-layer membership.

Each room is a channel-layer group whose members are the processes with sockets in it
(calls.signaling.layer_inlet). Run against the real Redis channel layer: the group has one
member however many sockets a process has, no group outlives the call, a group Redis forgot
is renewed, and events still reach exactly the sockets they concern.
"""

import asyncio
import secrets

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer

from calls.services.eviction import room_group_name, room_sockets_notify, user_sockets_evict
from calls.signaling.node import node_get
from tests.helpers import join, server_frames_checked  # noqa: F401

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("server_frames_checked")]


@pytest.fixture
def redis_layer(settings, redis_url):
    """The production channel layer on the real Redis, under a prefix of this test's own."""
    prefix = f"parley-test-{secrets.token_hex(4)}"
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "config.channel_layers.ResilientRedisChannelLayer",
            "CONFIG": {"hosts": [{"address": redis_url, "socket_timeout": None}], "prefix": prefix + ":layer"},
        }
    }
    yield prefix
    from tests.helpers import redis_delete_prefix

    redis_delete_prefix(redis_url, prefix)


def _group_key(group: str) -> str:
    """Where channels-redis keeps a group: its documented `prefix` and its storage format (the
    layer's own name for this is private), so a test can look at a group's members."""
    return f"{get_channel_layer().prefix}:group:{group}"


async def _members(group: str) -> list[bytes]:
    layer = get_channel_layer()
    async with layer.connection(layer.consistent_hash(group)) as redis:
        return await redis.zrange(_group_key(group), 0, -1)


async def _group_forgotten(group: str) -> None:
    """What a Redis restart does to a group."""
    layer = get_channel_layer()
    async with layer.connection(layer.consistent_hash(group)) as redis:
        await redis.delete(_group_key(group))


async def test_a_burst_of_group_changes_waits_for_the_layers_bounded_pool(settings, redis_layer):
    """Pins what config.channel_layers relies on: channels-redis takes each pool from the layer's
    `create_pool`, so a burst larger than `max_connections` waits for a connection instead of
    failing (channels-redis's own pool raises `Too many connections`), and the public
    `group_add`/`group_discard` reach every member."""
    layer = get_channel_layer()
    layer.hosts[0]["max_connections"] = 4
    channel = await layer.new_channel()
    groups = [f"burst-{n}" for n in range(100)]
    await asyncio.gather(*(layer.group_add(group, channel) for group in groups))
    assert all(await asyncio.gather(*(_members(group) for group in groups)))
    await asyncio.gather(*(layer.group_discard(group, channel) for group in groups))
    assert not any(await asyncio.gather(*(_members(group) for group in groups)))
    await layer.flush()


async def test_a_room_group_holds_the_process_once_and_goes_with_the_last_socket(
    signaling, redis_layer, make_user, make_room
):
    alice, bob = [await sync_to_async(make_user)(name) for name in ("alice", "bob")]
    room = await sync_to_async(make_room)(alice)
    a = await join(room.slug, alice)
    b = await join(room.slug, bob)
    node = await node_get()
    assert await _members(room_group_name(room.slug)) == [node.inlet.channel.encode()]
    await a.send({"type": "leave"})
    assert await a.expect_close() == 1000
    assert await _members(room_group_name(room.slug)) == [node.inlet.channel.encode()]
    await b.send({"type": "leave"})
    assert await b.expect_close() == 1000
    for _ in range(50):
        if not await _members(room_group_name(room.slug)):
            break
        await a.nothing(0.05)
    assert await _members(room_group_name(room.slug)) == []


async def test_admin_events_reach_the_room_again_after_redis_forgot_its_group(
    signaling, redis_layer, make_user, make_room
):
    alice, bob = [await sync_to_async(make_user)(name) for name in ("alice", "bob")]
    room = await sync_to_async(make_room)(alice)
    other = await sync_to_async(make_room)(alice)
    a = await join(room.slug, alice)
    elsewhere = await join(other.slug, bob)
    await sync_to_async(room_sockets_notify)(slug=room.slug, event="locked", locked=True)
    assert await a.recv_type("room") == {"type": "room", "locked": True}

    await _group_forgotten(room_group_name(room.slug))
    await sync_to_async(room_sockets_notify)(slug=room.slug, event="locked", locked=False)
    assert await a.nothing(0.3), "nobody hears a group Redis forgot"
    await (await node_get()).inlet.renew()
    await sync_to_async(room_sockets_notify)(slug=room.slug, event="closed")
    assert (await a.recv_type("error"))["code"] == "no-such-room"
    assert await a.expect_close() == 4404
    assert await elsewhere.nothing(0.3), "another room's socket heard it"
    await elsewhere.close()


async def test_sign_out_closes_only_that_sessions_sockets(signaling, redis_layer, make_user, make_room):
    from tests.helpers import session_cookie_for

    alice, bob = [await sync_to_async(make_user)(name) for name in ("alice", "bob")]
    room = await sync_to_async(make_room)(alice)
    signed_out_cookie = await sync_to_async(session_cookie_for)(bob)
    signed_out = await join(room.slug, bob, cookie=signed_out_cookie)
    other_tab = await join(room.slug, bob)
    a = await join(room.slug, alice)
    session_key = signed_out_cookie
    await sync_to_async(user_sockets_evict)(user_id=bob.pk, session_key=session_key, reason="signed-out")
    assert (await signed_out.recv_type("error"))["code"] == "unauthenticated"
    assert await signed_out.expect_close() == 4401
    assert (await other_tab.recv_type("peer-left"))["peer_id"] == signed_out.peer_id
    await sync_to_async(user_sockets_evict)(user_id=bob.pk, session_key=None, reason="deactivated")
    assert await other_tab.expect_close() == 4401
    assert (await a.recv_type("peer-left"))["peer_id"] == signed_out.peer_id
    assert (await a.recv_type("peer-left"))["peer_id"] == other_tab.peer_id
    await a.close()
