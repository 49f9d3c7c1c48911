"""The room registry in one process's memory: RedisRegistry's semantics, nothing shared.

The embedded single-process default (no Redis needed); tests run both against the same cases.
"""

import math
import time

from .records import BUFFERED, GONE, Banned, BanRecord, Gone, JoinResult, PeerRecord, Resumed, RoomFull, TooManySockets


class MemoryRegistry:
    def __init__(self) -> None:
        self.rooms: dict[str, dict[str, PeerRecord]] = {}
        self.expiry: dict[str, float] = {}
        self.user_sockets: dict[int, set[str]] = {}
        self.bans: dict[tuple[str, int], float] = {}
        self.banned_by: dict[tuple[str, int], dict | None] = {}
        self.suspended: set[str] = set()
        self.buffers: dict[str, list[str]] = {}  # peer_id -> frames kept while it is away

    def _reap_now(self, slug: str) -> list[Gone]:
        room = self.rooms.get(slug, {})
        now = time.time()
        expired = [peer for pid, peer in room.items() if self.expiry.get(pid, 0) <= now]
        reaped = [
            Gone(peer=peer, reason="disconnected" if peer.peer_id in self.suspended else "timeout") for peer in expired
        ]
        for peer in expired:
            self._remove(slug, peer)
        return reaped

    def _remove(self, slug: str, peer: PeerRecord) -> bool:
        room = self.rooms.get(slug)
        if not room or peer.peer_id not in room:
            return False
        del room[peer.peer_id]
        self.expiry.pop(peer.peer_id, None)
        self.suspended.discard(peer.peer_id)
        self.buffers.pop(peer.peer_id, None)
        self.user_sockets.get(peer.user_id, set()).discard(peer.peer_id)
        if not room:
            del self.rooms[slug]
        return True

    async def join(self, *, slug, peer, capacity, max_per_user, ttl, refuse_banned) -> JoinResult:
        reaped = self._reap_now(slug)
        now = time.time()
        if refuse_banned and self.bans.get((slug, peer.user_id), 0) > now:
            raise Banned(reaped)
        sockets = {pid for pid in self.user_sockets.get(peer.user_id, set()) if self.expiry.get(pid, 0) > now}
        self.user_sockets[peer.user_id] = sockets
        if len(sockets) >= max_per_user:
            raise TooManySockets(reaped)
        room = self.rooms.setdefault(slug, {})
        if len(room) >= capacity:
            if not room:
                del self.rooms[slug]
            raise RoomFull(reaped)
        others = list(room.values())
        room[peer.peer_id] = peer
        self.expiry[peer.peer_id] = now + ttl
        sockets.add(peer.peer_id)
        return JoinResult(peers=others, reaped=reaped)

    async def leave(self, *, slug, peer) -> tuple[bool, list[PeerRecord]]:
        current = self.rooms.get(slug, {}).get(peer.peer_id)
        removed = current is not None and current.node == peer.node and self._remove(slug, peer)
        return removed, list(self.rooms.get(slug, {}).values())

    async def peer_get(self, *, slug, peer_id) -> PeerRecord | None:
        return self.rooms.get(slug, {}).get(peer_id)

    async def peers_list(self, *, slug) -> list[PeerRecord]:
        return list(self.rooms.get(slug, {}).values())

    async def media_set(self, *, slug, peer) -> None:
        room = self.rooms.get(slug, {})
        if peer.peer_id in room:
            room[peer.peer_id] = peer

    async def refresh(self, *, peers, ttl, restore: bool = False) -> bool:
        until = time.time() + ttl
        for _slug, peer in peers:
            if peer.peer_id in self.expiry:
                self.expiry[peer.peer_id] = until
        return False

    async def reap(self, *, slug) -> tuple[list[Gone], list[PeerRecord]]:
        reaped = self._reap_now(slug)
        return reaped, list(self.rooms.get(slug, {}).values())

    async def rooms_list(self) -> list[str]:
        return list(self.rooms)

    async def ban(self, *, slug, user_id, seconds, by=None) -> None:
        self.bans[(slug, user_id)] = time.time() + seconds
        self.banned_by[(slug, user_id)] = by

    async def ban_get(self, *, slug, user_id) -> BanRecord | None:
        left = self.bans.get((slug, user_id), 0) - time.time()
        if left <= 0:
            self.bans.pop((slug, user_id), None)
            self.banned_by.pop((slug, user_id), None)
            return None
        return BanRecord(by=self.banned_by.get((slug, user_id)), seconds_left=max(1, math.ceil(left)))

    async def occupancy(self, *, slugs) -> dict[str, list[PeerRecord]]:
        now = time.time()
        rooms = {}
        for slug in dict.fromkeys(slugs):
            peers = [peer for pid, peer in self.rooms.get(slug, {}).items() if self.expiry.get(pid, 0) > now]
            if peers:
                rooms[slug] = peers
        return rooms

    async def user_sockets_live(self, *, user_id) -> int:
        now = time.time()
        return sum(1 for pid in self.user_sockets.get(user_id, ()) if self.expiry.get(pid, 0) > now)

    async def suspend(self, *, slug, peer, grace) -> bool:
        current = self.rooms.get(slug, {}).get(peer.peer_id)
        if current is None or current.node != peer.node:
            return False
        self.suspended.add(peer.peer_id)
        self.buffers[peer.peer_id] = []
        self.expiry[peer.peer_id] = time.time() + grace
        return True

    async def buffer(self, *, slug, peer_id, node, text, limit) -> str:
        return self._keep(slug, peer_id, node, [text], limit, suspended=True)

    async def stash(self, *, slug, peer_id, node, texts, limit) -> str:
        return self._keep(slug, peer_id, node, texts, limit, suspended=False)

    def _keep(self, slug, peer_id, node, texts, limit, *, suspended: bool) -> str:
        current = self.rooms.get(slug, {}).get(peer_id)
        if current is None:
            return GONE
        if current.node != node or (suspended and peer_id not in self.suspended):
            return current.node
        frames = self.buffers.setdefault(peer_id, [])
        frames.extend(texts[: max(0, limit - len(frames))])
        return BUFFERED

    async def resume(self, *, slug, peer_id, user_id, node, ttl) -> Resumed | None:
        if peer_id not in self.suspended:
            return None
        self.suspended.discard(peer_id)
        moved = self._move(slug, peer_id, user_id, node, ttl)
        if moved is None:
            self.suspended.add(peer_id)
        return moved

    async def adopt(self, *, slug, peer_id, user_id, old_node, node, ttl) -> Resumed | None:
        current = self.rooms.get(slug, {}).get(peer_id)
        if current is None or peer_id in self.suspended or current.node != old_node:
            return None
        return self._move(slug, peer_id, user_id, node, ttl)

    def _move(self, slug, peer_id, user_id, node, ttl) -> Resumed | None:
        current = self.rooms.get(slug, {}).get(peer_id)
        now = time.time()
        if current is None or current.user_id != user_id or self.expiry.get(peer_id, 0) <= now:
            return None
        moved = current.moved(node)
        self.rooms[slug][peer_id] = moved
        self.expiry[peer_id] = now + ttl
        others = [peer for pid, peer in self.rooms[slug].items() if pid != peer_id]
        buffered = self.buffers.pop(peer_id, [])
        return Resumed(peer=moved, previous_node=current.node, buffered=buffered, others=others)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None
