"""The audit trail of who was in which room, and when.

Rows are written behind, in batches: a join or a leave only queues its open or close
(no database hop on the join path), and one job on Django's database thread writes
everything queued when it starts (one INSERT for the opens, one UPDATE for the closes).
A job is submitted as soon as something is queued and no job is waiting to start, so
writes keep the order of the database thread (a query issued after a leave sees its
close) while a join storm, which queues behind that thread, is written in a few batches.
"""

import asyncio
import functools
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

from channels.db import database_sync_to_async
from django.db import IntegrityError, connection, transaction
from django.db.models import Case, Value, When
from django.utils import timezone

from calls.models import Participation

logger = logging.getLogger(__name__)

# A close whose row does not exist yet (its open is still queued on another process that
# had the peer first) is tried again this often, for this long.
CLOSE_RETRY_DELAY = 0.5
CLOSE_WAIT_SECONDS = 30.0
# A batch the database refused (it is down) is tried again this often, for this long.
WRITE_RETRY_DELAY = 1.0
WRITE_GIVE_UP_SECONDS = 120.0


@dataclass(slots=True)
class ParticipationOpen:
    room_id: int
    user_id: int
    peer_id: str
    joined_at: datetime = field(default_factory=timezone.now)


@dataclass(slots=True)
class ParticipationClose:
    peer_id: str
    reason: str
    queued_at: float = field(default_factory=time.monotonic)


def participations_write(
    *, opens: list[ParticipationOpen], closes: list[ParticipationClose]
) -> list[ParticipationClose]:
    """Insert the opens, then close the open rows of `closes` (a resumed peer keeps one row
    across its sockets). Returns the closes whose row does not exist yet."""
    if opens:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.executemany(_insert_sql(), [_insert_args(o) for o in opens])
        except IntegrityError:
            _participations_insert_each(opens)
    if not closes:
        return []
    peer_ids = {close.peer_id for close in closes}
    existing = set(Participation.objects.filter(peer_id__in=peer_ids).values_list("peer_id", flat=True))
    ready = [close for close in closes if close.peer_id in existing]
    if ready:
        reasons = {close.reason for close in ready}
        if len(reasons) == 1:
            reason = Value(ready[0].reason)
        else:  # the first close of a peer wins, as with one UPDATE per close
            reason = Case(*(When(peer_id=close.peer_id, then=Value(close.reason)) for close in ready))
        Participation.objects.filter(peer_id__in={close.peer_id for close in ready}, left_at__isnull=True).update(
            left_at=timezone.now(), reason=reason
        )
    return [close for close in closes if close.peer_id not in existing]


def _participations_insert_each(opens: list[ParticipationOpen]) -> None:
    """The batch failed on a row whose room or user was deleted meanwhile: write the others."""
    for row in opens:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(_insert_sql(), _insert_args(row))
        except IntegrityError:
            logger.warning("participation of %s not recorded: its room or user is gone", row.peer_id)


@functools.cache
def _insert_sql() -> str:
    """One INSERT per row, sent as one batch: the ORM's bulk_create spent more CPU composing
    a storm's INSERT than PostgreSQL spent running it (docs/performance.md)."""
    return (
        f"INSERT INTO {Participation._meta.db_table} (room_id, user_id, peer_id, joined_at, reason)"
        " VALUES (%s, %s, %s, %s, '')"
    )


def _insert_args(row: ParticipationOpen) -> tuple:
    return (row.room_id, row.user_id, row.peer_id, connection.ops.adapt_datetimefield_value(row.joined_at))


class ParticipationLog:
    """This process's queue of audit rows to write, and the jobs writing them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # the queue is drained on the database thread
        self._opens: list[ParticipationOpen] = []
        self._closes: list[ParticipationClose] = []
        self._job_waiting = False
        self._failing_since: float | None = None
        self._jobs: set[asyncio.Task] = set()
        self._timers: set[asyncio.TimerHandle] = set()

    def open(self, *, room_id: int, user_id: int, peer_id: str) -> None:
        self._queue(opens=[ParticipationOpen(room_id=room_id, user_id=user_id, peer_id=peer_id)])

    def close(self, *, peer_id: str, reason: str) -> None:
        self._queue(closes=[ParticipationClose(peer_id=peer_id, reason=reason)])

    def close_many(self, gone: list[tuple[str, str]]) -> None:
        """Close the rows of peers the server removed, as (peer_id, reason) pairs."""
        self._queue(closes=[ParticipationClose(peer_id=peer_id, reason=reason) for peer_id, reason in gone])

    async def flushed(self) -> None:
        """Wait until everything queued so far is written (or has failed and waits for a retry)."""
        while self._jobs:
            await asyncio.gather(*self._jobs, return_exceptions=True)

    async def close_log(self) -> None:
        """Write what is queued; closes still waiting for their row on another process, and
        batches the database refused, are dropped."""
        self._timers_cancel()
        await self.flushed()
        self._timers_cancel()  # the retries those last jobs scheduled

    def _timers_cancel(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()

    def _queue(
        self, *, opens: list[ParticipationOpen] | None = None, closes: list[ParticipationClose] | None = None
    ) -> None:
        with self._lock:
            self._opens.extend(opens or ())
            self._closes.extend(closes or ())
            if self._job_waiting:
                return  # the waiting job takes these too
            self._job_waiting = True
        job = asyncio.get_running_loop().create_task(self._write())
        self._jobs.add(job)
        job.add_done_callback(self._jobs.discard)

    def _take(self) -> tuple[list[ParticipationOpen], list[ParticipationClose]]:
        with self._lock:
            self._job_waiting = False
            opens, closes = self._opens, self._closes
            self._opens, self._closes = [], []
        return opens, closes

    def _write_taken(self) -> tuple[list[ParticipationOpen], list[ParticipationClose], list[ParticipationClose]]:
        opens, closes = self._take()
        try:
            return [], [], participations_write(opens=opens, closes=closes)
        except Exception:
            logger.exception("could not write %d participation opens and %d closes", len(opens), len(closes))
            return opens, closes, []

    async def _write(self) -> None:
        failed_opens, failed_closes, missing = await database_sync_to_async(self._write_taken)()
        loop = asyncio.get_running_loop()
        if failed_opens or failed_closes:
            self._failing_since = self._failing_since or time.monotonic()
            if time.monotonic() - self._failing_since > WRITE_GIVE_UP_SECONDS:
                logger.error("dropping %d participation opens and %d closes", len(failed_opens), len(failed_closes))
            else:
                with self._lock:  # in front of anything queued since, so a close never precedes its open
                    self._opens[:0] = failed_opens
                    self._closes[:0] = failed_closes
                self._later(loop, WRITE_RETRY_DELAY, [])
        else:
            self._failing_since = None
        now = time.monotonic()
        waiting = [close for close in missing if now - close.queued_at < CLOSE_WAIT_SECONDS]
        if len(waiting) < len(missing):
            logger.warning("no participation row to close for %d peers", len(missing) - len(waiting))
        if waiting:
            self._later(loop, CLOSE_RETRY_DELAY, waiting)

    def _later(self, loop: asyncio.AbstractEventLoop, delay: float, closes: list[ParticipationClose]) -> None:
        def fire() -> None:
            self._timers.discard(timer)
            self._queue(closes=closes)

        timer = loop.call_later(delay, fire)
        self._timers.add(timer)
