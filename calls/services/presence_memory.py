"""Presence in one process's memory: RedisPresenceStore's semantics, nothing shared (the embedded
single-process default; tests run both against the same cases)."""

import time

from calls.services.presence import (
    ANSWERED,
    CALL_KEEP_SECONDS,
    RINGING,
    CallRecord,
    TooManyPresenceSockets,
    presence_sockets_refresh,
)


class MemoryPresenceStore:
    """The same semantics in one process's memory (no Redis needed). Not shared across processes.

    Every method runs without awaiting, so each is atomic on the event loop.
    """

    def __init__(self) -> None:
        self.sockets: dict[int, dict[str, float]] = {}  # user -> {socket: expiry}
        self.online: dict[int, float] = {}  # user -> latest socket expiry
        self.calls: dict[str, CallRecord] = {}
        self.user_calls: dict[int, str] = {}

    async def socket_add(self, *, user_id, socket_id, ttl, max_sockets) -> bool:
        now = time.time()
        socks = {sid: exp for sid, exp in self.sockets.get(user_id, {}).items() if exp > now}
        if socket_id not in socks and len(socks) >= max_sockets:
            raise TooManyPresenceSockets
        socks[socket_id] = now + ttl
        self.sockets[user_id] = socks
        was = self.online.get(user_id, 0.0)
        self.online[user_id] = max(was, now + ttl)
        return was <= now

    async def socket_remove(self, *, user_id, socket_id) -> bool:
        now = time.time()
        socks = {sid: exp for sid, exp in self.sockets.get(user_id, {}).items() if exp > now and sid != socket_id}
        if socks:
            self.sockets[user_id] = socks
            if user_id in self.online:
                self.online[user_id] = max(socks.values())
            return False
        self.sockets.pop(user_id, None)
        return self.online.pop(user_id, None) is not None

    async def sockets_refresh(self, *, sockets, ttl) -> list[int]:
        return await presence_sockets_refresh(self, sockets=sockets, ttl=ttl)

    async def online_reap(self) -> list[int]:
        now = time.time()
        gone = [uid for uid, exp in self.online.items() if exp <= now]
        for uid in gone:
            del self.online[uid]
            self.sockets.pop(uid, None)
        return gone

    async def online_list(self, *, limit) -> list[int]:
        now = time.time()
        return [uid for uid, exp in self.online.items() if exp > now][:limit]

    async def is_online(self, *, user_id) -> bool:
        return self.online.get(user_id, 0.0) > time.time()

    async def call_start(self, *, call) -> str:
        caller_id, callee_id = call.user_ids
        if caller_id in self.user_calls:
            return "caller-busy"
        if callee_id in self.user_calls:
            return "busy"
        self.user_calls[caller_id] = self.user_calls[callee_id] = call.call_id
        self.calls[call.call_id] = CallRecord.loads(call.dumps())
        self._forget_old()
        return "ok"

    def _forget_old(self) -> None:
        horizon = time.time() - CALL_KEEP_SECONDS
        for call_id in [cid for cid, call in self.calls.items() if call.deadline < horizon]:
            del self.calls[call_id]

    async def call_get(self, *, call_id) -> CallRecord | None:
        call = self.calls.get(call_id)
        return CallRecord.loads(call.dumps()) if call else None

    async def call_transition(self, *, call_id, from_status, to_status) -> CallRecord | None:
        call = self.calls.get(call_id)
        if call is None or call.status != from_status:
            return None
        call.status = to_status
        if to_status == ANSWERED:
            call.answered_ts = time.time()
        else:
            for user_id in call.user_ids:
                if self.user_calls.get(user_id) == call_id:
                    del self.user_calls[user_id]
        return CallRecord.loads(call.dumps())

    async def call_seen_both(self, *, call_id) -> None:
        if call_id in self.calls:
            self.calls[call_id].seen_both = True

    async def calls_overdue(self) -> list[str]:
        now = time.time()
        return [cid for cid, call in self.calls.items() if call.status == RINGING and call.deadline <= now]

    async def calls_answered(self) -> list[str]:
        return [cid for cid, call in self.calls.items() if call.status == ANSWERED]

    async def user_call(self, *, user_id) -> str | None:
        return self.user_calls.get(user_id)

    async def close(self) -> None:
        return None
