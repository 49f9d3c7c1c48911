"""A node's periodic jobs, each named and run on its own: one that fails is logged and tried again
within the same sweep (a Redis that just came back fails the first command of each pooled
connection), and one broken socket or room never stops the liveness of the others.

- sockets: time out the silent ones, park idle outbox writers;
- refresh: keep this process's peers alive in the registry (restoring them if Redis lost them);
- reap: announce the expired peers of the rooms this process watches (crashed processes' peers);
- session check: close the sockets of a sign-in that ended;
- channel-layer renewal: re-join the room groups now and then.
"""

import asyncio
import logging
import time
from functools import partial

from calls.infra.batches import slices
from calls.infra.tasks import background
from calls.services.outages import outage_failed, outages_over, repeat_forever

from .envelopes import Frames

logger = logging.getLogger(__name__)

# Channel-layer memberships are renewed every this many sweeps (a minute at the default heartbeat).
EVENTS_RENEW_SWEEPS = 12
# Rooms reaped per Redis pipeline by the sweeper.
REAP_SLICE = 50
# A failed job is tried again this many times in a sweep, after these pauses.
JOB_RETRIES = (0.1, 0.3)


class Housekeeping:
    def __init__(self, node) -> None:
        self.node = node
        self.sweeps = 0
        self.task: asyncio.Task | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._forever())

    def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()

    async def _forever(self) -> None:
        interval = max(0.2, self.node.config["HEARTBEAT"] / 3)
        await repeat_forever(every=interval, step=self.sweep, what="sweep", log=logger)

    async def sweep(self) -> None:
        """Drop silent sockets, keep local peers alive, reap peers of dead processes."""
        sessions, live = self._sockets(time.monotonic())
        self.sweeps += 1
        jobs = [("refresh", partial(self._refresh, live)), ("reap", self._reap)]
        if sessions:
            jobs.append(("session check", partial(self._sessions_check, sessions)))
        if self.node.inlet is not None and self.sweeps % EVENTS_RENEW_SWEEPS == 0:
            jobs.append(("channel-layer renewal", self.node.inlet.renew))
        results = [await self._run(name, job) for name, job in jobs]
        if all(results):
            outages_over(log=logger)

    async def _run(self, name: str, job) -> bool:
        for pause in (*JOB_RETRIES, None):
            try:
                await job()
                return True
            except Exception as error:
                if pause is None:
                    outage_failed(what=f"sweep: {name}", error=error, log=logger)
                    return False
                await asyncio.sleep(pause)
        return False

    def _sockets(self, now: float) -> tuple[list, list]:
        """The sessions that answered lately and their (slug, peer); the silent ones are timed out."""
        silent_after = 2 * self.node.config["HEARTBEAT"]
        sessions, live = [], []
        for room in list(self.node.rooms.values()):
            for peer_id, session in list(room.local.items()):
                try:
                    peer = session.peer
                    if peer is None:
                        raise LookupError("the session has no peer (its socket ended)")
                    session.outbox.park()
                    if now - session.last_seen > silent_after:
                        session.control("timeout")
                    else:
                        live.append((room.slug, peer))
                except Exception:
                    # Not refreshed, its peer times out for the others; not retried every sweep.
                    logger.exception("sweep: the socket of peer %s failed and is dropped from the sweep", peer_id)
                    if room.local.get(peer_id) is session:
                        del room.local[peer_id]
                    continue
                sessions.append(session)
        return sessions, live

    async def _refresh(self, live: list, *, restore: bool = False) -> None:
        node = self.node
        if await node.registry.refresh(peers=live, ttl=node.config["PEER_TTL"], restore=restore):
            await self._rooms_met({slug for slug, _peer in live})

    async def _rooms_met(self, slugs: set[str]) -> None:
        """After a restore: peers that joined meanwhile go into the mirrors."""
        for slug in slugs:
            room = self.node.rooms.get(slug)
            if room is not None:
                room.peers_met(await self.node.registry.peers_list(slug=slug))

    async def _reap(self) -> None:
        """Announce the expired peers of the rooms this process watches, each room on its own."""
        node = self.node
        if self.sweeps % 5 == 0:  # now and then every room, also those where no peer of ours is left
            slugs = set(node.rooms) | set(await node.registry.rooms_list())
        else:  # rooms with peers of other processes (this one keeps its own alive, or times them out)
            slugs = {slug for slug, room in node.rooms.items() if any(n != node.node_id for n in room.mirror.values())}
        # A slice of rooms at a time, each slice one Redis pipeline: reaping 400 rooms one round
        # trip after another kept the loop busy in bursts that delayed relayed frames.
        for chunk in slices(sorted(slugs), REAP_SLICE):
            results = await asyncio.gather(*(node.registry.reap(slug=slug) for slug in chunk), return_exceptions=True)
            for slug, result in zip(chunk, results, strict=True):
                try:
                    if isinstance(result, BaseException):
                        raise result
                    room = node.room(slug)
                    room.peers_gone(*result)
                    node.room_release(room)
                except Exception as error:
                    outage_failed(what=f"sweep: reaping room {slug}", error=error, log=logger)

    async def _sessions_check(self, sessions: list) -> None:
        from calls.services.sessions import sockets_signed_out

        for session in await sockets_signed_out(sockets=sessions):
            try:
                session.control("evict")
            except Exception:
                logger.exception("sweep: evicting the socket of peer %s failed", session.peer.peer_id)

    # Redis and other processes lost --------------------------------------------------------------
    def redis_back(self) -> None:
        """The bus is subscribed again after losing Redis, which may have restarted empty: put this
        process's peers back now, not at the next sweep (joins wait for it: RESTORE_GATE)."""
        _sessions, live = self._sockets(float("-inf"))
        background(self._run("restore", partial(self._refresh, live, restore=True)))

    def node_lost(self, node_id: str, envelopes: list) -> None:
        """Node `node_id` never heard `envelopes` (it died): keep its peers' frames for their resume."""
        background(self._stash(node_id, envelopes))

    async def _stash(self, node_id: str, envelopes: list) -> None:
        node = self.node
        texts: dict[tuple[str, str], list[str]] = {}
        for envelope in envelopes:
            if type(envelope) is Frames and not envelope.snapshot:
                for peer_id in envelope.peers:
                    texts.setdefault((envelope.slug, peer_id), []).append(envelope.text)
        for (slug, peer_id), kept in texts.items():
            try:
                where = await node.registry.stash(
                    slug=slug, peer_id=peer_id, node=node_id, texts=kept, limit=node.config["RESUME_BUFFER"]
                )
            except Exception as error:
                node.stats.dropped_unreachable += len(kept)
                outage_failed(what="keeping frames of an unreachable node", error=error, log=logger)
                continue
            if where == "buffered":
                node.stats.stashed_unreachable += len(kept)
            elif where == "gone":
                node.stats.dropped_unreachable += len(kept)
            else:  # adopted by `where` meanwhile
                room = node.room(slug)
                for text in kept:
                    room.send(where, peer_id, text)
                node.room_release(room)
