"""Who is online and which direct calls are ringing, shared by every server process.

Online means "has at least one live presence socket". Like room membership, this is
not channel-layer group membership (that expires silently and keeps a crashed
process's sockets): each presence socket has an expiry its process refreshes every
heartbeat, and a user whose every socket expired is reaped — by exactly one process,
which then announces `user-offline`.

A direct call's state machine lives here too, so that caller and callee may sit on
different processes: every transition (ringing -> answered/declined/cancelled/missed,
answered -> ended) is one atomic step, so a ring timeout seen by several processes
at once still fires exactly once.

Two implementations behind one interface: RedisPresenceStore (several processes) and
MemoryPresenceStore (calls.services.presence_memory, the embedded single-process default).
Both pass the same tests.
"""

import time
from dataclasses import asdict, dataclass
from typing import Protocol

import orjson
import redis.asyncio as aioredis

RINGING = "ringing"
ANSWERED = "answered"
ENDED = "ended"
# A call's record outlives the call a while, so that a late accept gets "no longer ringing",
# and an answered call a day long still ends properly.
CALL_KEEP_SECONDS = 86400


class TooManyPresenceSockets(Exception):
    """The user already has the most presence sockets (tabs) allowed."""


@dataclass(slots=True)
class CallRecord:
    call_id: str
    caller: dict  # docs/protocol.md `USER`
    callee: dict
    slug: str
    url: str
    caller_channel: str  # the socket that placed the call: it alone navigates to the room
    deadline: float  # unix time the ringing stops
    status: str = RINGING
    answered_ts: float = 0.0
    seen_both: bool = False  # both users were in the room at once (after answering)

    def dumps(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def loads(cls, raw: bytes | str) -> "CallRecord":
        return cls(**orjson.loads(raw))

    @property
    def user_ids(self) -> tuple[int, int]:
        return self.caller["id"], self.callee["id"]


class PresenceStore(Protocol):
    async def socket_add(self, *, user_id: int, socket_id: str, ttl: float, max_sockets: int) -> bool: ...
    async def socket_remove(self, *, user_id: int, socket_id: str) -> bool: ...
    async def sockets_refresh(self, *, sockets: list[tuple[int, str]], ttl: float) -> list[int]: ...
    async def online_reap(self) -> list[int]: ...
    async def online_list(self, *, limit: int) -> list[int]: ...
    async def is_online(self, *, user_id: int) -> bool: ...
    async def call_start(self, *, call: CallRecord) -> str: ...
    async def call_get(self, *, call_id: str) -> CallRecord | None: ...
    async def call_transition(self, *, call_id: str, from_status: str, to_status: str) -> CallRecord | None: ...
    async def call_seen_both(self, *, call_id: str) -> None: ...
    async def calls_overdue(self) -> list[str]: ...
    async def calls_answered(self) -> list[str]: ...
    async def user_call(self, *, user_id: int) -> str | None: ...
    async def close(self) -> None: ...


# --- Redis ---------------------------------------------------------------------------------

# KEYS: user sockets zset, online zset; ARGV: socket_id, expiry, now, user_id, max_sockets
# Returns 1 if the user just came online, 0 if already online, -1 if over the socket limit.
_SOCKET_ADD = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
if redis.call('ZSCORE', KEYS[1], ARGV[1]) == false and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[5]) then
  return -1
end
local was = redis.call('ZSCORE', KEYS[2], ARGV[4])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[2], 'GT', ARGV[2], ARGV[4])
if was and tonumber(was) > tonumber(ARGV[3]) then return 0 end
return 1
"""

# KEYS: user sockets zset, online zset; ARGV: socket_id, now, user_id
# Returns 1 only to the one caller that took the user offline.
_SOCKET_REMOVE = """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if #last == 0 then
  redis.call('DEL', KEYS[1])
  return redis.call('ZREM', KEYS[2], ARGV[3])
end
if redis.call('ZSCORE', KEYS[2], ARGV[3]) then
  redis.call('ZADD', KEYS[2], last[2], ARGV[3])
end
return 0
"""

# KEYS: online zset; ARGV: now, user sockets key prefix. Returns the users reaped now.
_ONLINE_REAP = """
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
for _, uid in ipairs(gone) do
  redis.call('ZREM', KEYS[1], uid)
  redis.call('DEL', ARGV[2] .. uid .. ':socks')
end
return gone
"""

# KEYS: caller call key, callee call key, call record, ringing zset; ARGV: call_id, record, deadline, keep
# A user has at most one direct call (ringing or answered): 'busy' if the callee has one.
_CALL_START = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 'caller-busy' end
if redis.call('EXISTS', KEYS[2]) == 1 then return 'busy' end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[4])
redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[4])
redis.call('SET', KEYS[3], ARGV[2], 'EX', ARGV[4])
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[1])
return 'ok'
"""

# KEYS: call record, ringing zset, answered set, caller call key, callee call key
# ARGV: call_id, from, to, now, keep. Returns the updated record to the one caller that moved it.
_CALL_TRANSITION = """
local raw = redis.call('GET', KEYS[1])
if not raw then return false end
local call = cjson.decode(raw)
if call['status'] ~= ARGV[2] then return false end
call['status'] = ARGV[3]
redis.call('ZREM', KEYS[2], ARGV[1])
if ARGV[3] == 'answered' then
  call['answered_ts'] = tonumber(ARGV[4])
  redis.call('SADD', KEYS[3], ARGV[1])
else
  redis.call('SREM', KEYS[3], ARGV[1])
  for _, key in ipairs({KEYS[4], KEYS[5]}) do
    if redis.call('GET', key) == ARGV[1] then redis.call('DEL', key) end
  end
end
raw = cjson.encode(call)
redis.call('SET', KEYS[1], raw, 'EX', ARGV[5])
return raw
"""

# KEYS: call record; ARGV: keep
_CALL_SEEN_BOTH = """
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local call = cjson.decode(raw)
call['seen_both'] = true
redis.call('SET', KEYS[1], cjson.encode(call), 'EX', ARGV[1])
return 1
"""


# KEYS: answered set; ARGV: call record key prefix. Answered calls whose record is gone are dropped.
_CALLS_ANSWERED = """
local live = {}
for _, cid in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[1] .. cid) == 1 then table.insert(live, cid) else redis.call('SREM', KEYS[1], cid) end
end
return live
"""


async def presence_sockets_refresh(store: "PresenceStore", *, sockets: list[tuple[int, str]], ttl: float) -> list[int]:
    """Push back the expiry of live sockets; returns users who had been reaped meanwhile (back online)."""
    back = []
    for user_id, socket_id in sockets:
        if await store.socket_add(user_id=user_id, socket_id=socket_id, ttl=ttl, max_sockets=1 << 30):
            back.append(user_id)
    return back


class RedisPresenceStore:
    def __init__(self, *, client: aioredis.Redis, prefix: str) -> None:
        self.redis = client
        self.prefix = f"{prefix}:presence"
        self._socket_add = client.register_script(_SOCKET_ADD)
        self._socket_remove = client.register_script(_SOCKET_REMOVE)
        self._online_reap = client.register_script(_ONLINE_REAP)
        self._call_start = client.register_script(_CALL_START)
        self._call_transition = client.register_script(_CALL_TRANSITION)
        self._call_seen_both = client.register_script(_CALL_SEEN_BOTH)
        self._calls_answered = client.register_script(_CALLS_ANSWERED)

    def _socks_key(self, user_id: int) -> str:
        return f"{self.prefix}:user:{user_id}:socks"

    def _user_call_key(self, user_id: int) -> str:
        return f"{self.prefix}:user:{user_id}:call"

    def _call_key(self, call_id: str) -> str:
        return f"{self.prefix}:call:{call_id}"

    @property
    def _online_key(self) -> str:
        return f"{self.prefix}:online"

    @property
    def _ringing_key(self) -> str:
        return f"{self.prefix}:ringing"

    @property
    def _answered_key(self) -> str:
        return f"{self.prefix}:answered"

    async def socket_add(self, *, user_id, socket_id, ttl, max_sockets) -> bool:
        """Register a live socket; True if the user just came online."""
        now = time.time()
        result = await self._socket_add(
            keys=[self._socks_key(user_id), self._online_key], args=[socket_id, now + ttl, now, user_id, max_sockets]
        )
        if result == -1:
            raise TooManyPresenceSockets
        return result == 1

    async def socket_remove(self, *, user_id, socket_id) -> bool:
        """Forget a socket; True for the one caller that took the user offline."""
        removed = await self._socket_remove(
            keys=[self._socks_key(user_id), self._online_key], args=[socket_id, time.time(), user_id]
        )
        return removed == 1

    async def sockets_refresh(self, *, sockets, ttl) -> list[int]:
        return await presence_sockets_refresh(self, sockets=sockets, ttl=ttl)

    async def online_reap(self) -> list[int]:
        gone = await self._online_reap(keys=[self._online_key], args=[time.time(), f"{self.prefix}:user:"])
        return [int(uid) for uid in gone]

    async def online_list(self, *, limit) -> list[int]:
        raw = await self.redis.zrangebyscore(self._online_key, time.time(), "+inf", start=0, num=limit)
        return [int(uid) for uid in raw]

    async def is_online(self, *, user_id) -> bool:
        score = await self.redis.zscore(self._online_key, user_id)
        return score is not None and score > time.time()

    async def call_start(self, *, call) -> str:
        """Claim both users for a new ringing call: 'ok', 'busy' (callee) or 'caller-busy'."""
        caller_id, callee_id = call.user_ids
        result = await self._call_start(
            keys=[
                self._user_call_key(caller_id),
                self._user_call_key(callee_id),
                self._call_key(call.call_id),
                self._ringing_key,
            ],
            args=[call.call_id, call.dumps(), call.deadline, CALL_KEEP_SECONDS],
        )
        return result.decode()

    async def call_get(self, *, call_id) -> CallRecord | None:
        raw = await self.redis.get(self._call_key(call_id))
        return CallRecord.loads(raw) if raw else None

    async def call_transition(self, *, call_id, from_status, to_status) -> CallRecord | None:
        """Move the call from `from_status` to `to_status`; the record only for the one caller that did."""
        call = await self.call_get(call_id=call_id)
        if call is None:
            return None
        caller_id, callee_id = call.user_ids
        raw = await self._call_transition(
            keys=[
                self._call_key(call_id),
                self._ringing_key,
                self._answered_key,
                self._user_call_key(caller_id),
                self._user_call_key(callee_id),
            ],
            args=[call_id, from_status, to_status, time.time(), CALL_KEEP_SECONDS],
        )
        return CallRecord.loads(raw) if raw else None

    async def call_seen_both(self, *, call_id) -> None:
        await self._call_seen_both(keys=[self._call_key(call_id)], args=[CALL_KEEP_SECONDS])

    async def calls_overdue(self) -> list[str]:
        return [raw.decode() for raw in await self.redis.zrangebyscore(self._ringing_key, "-inf", time.time())]

    async def calls_answered(self) -> list[str]:
        live = await self._calls_answered(keys=[self._answered_key], args=[self._call_key("")])
        return [raw.decode() for raw in live]

    async def user_call(self, *, user_id) -> str | None:
        raw = await self.redis.get(self._user_call_key(user_id))
        return raw.decode() if raw else None

    async def close(self) -> None:
        await self.redis.aclose()
