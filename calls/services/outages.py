"""What the log says while Redis or the database is unreachable.

Every sweep (each second or so), every publish and every resubscription fails while Redis
is down: logged one by one, with tracebacks, an outage of a minute buried the log in
hundreds of ERROR lines. So the first failure of an outage is one WARNING, the failures
after it are only counted, and the first success after it is one INFO with the count and
the duration. Failures that are not a lost connection (a bug, a refused command) are still
logged in full, each time.
"""

import asyncio
import logging
import time

from django.db import InterfaceError, OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

# A lost connection, as Django's database layer and redis-py (or the socket under it) raise it.
DATABASE_ERRORS = (OperationalError, InterfaceError)
REDIS_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)


class OutageLog:
    """One dependency's outages, for the whole process (every component that uses it)."""

    def __init__(self, dependency: str) -> None:
        self.dependency = dependency
        self.failures = 0  # since the outage began; 0 while the dependency answers
        self.failures_total = 0  # since the process started (an operator's counter)
        self.recoveries = 0  # outages that ended, since the process started (an operator's counter)
        self.since: float | None = None

    def failed(self, what: str, error: BaseException, *, log: logging.Logger) -> None:
        """`what` lost its connection: a WARNING if an outage begins, a count while it lasts."""
        self.failures += 1
        self.failures_total += 1
        if self.since is None:
            self.since = time.monotonic()
            log.warning("%s unreachable (%s: %s); failures are counted until it is back", self.dependency, what, error)

    def succeeded(self, *, log: logging.Logger) -> None:
        """Something that needs the dependency worked: an outage, if there was one, is over."""
        if self.since is None:
            return
        log.info(
            "%s is back after %.1fs (%d failed operations meanwhile)",
            self.dependency,
            time.monotonic() - self.since,
            self.failures,
        )
        self.since = None
        self.failures = 0
        self.recoveries += 1

    @property
    def down(self) -> bool:
        return self.since is not None


redis_outage = OutageLog("Redis")
database_outage = OutageLog("The database")


def outage_failed(*, what: str, error: BaseException, log: logging.Logger = logger) -> None:
    """Log a failed step: a lost connection as part of its dependency's outage, anything else
    (a bug, a refused command) with its traceback."""
    if isinstance(error, DATABASE_ERRORS):
        database_outage.failed(what, error, log=log)
    elif isinstance(error, REDIS_ERRORS):
        redis_outage.failed(what, error, log=log)
    else:
        log.error("%s failed", what, exc_info=error)


async def repeat_forever(*, every: float, step, what: str, log: logging.Logger = logger) -> None:
    """Run `step()` every `every` seconds for good (a sweeper): a failure is logged as outage_failed
    says, and the next round comes all the same."""
    while True:
        await asyncio.sleep(every)
        try:
            await step()
        except asyncio.CancelledError:
            raise
        except Exception as error:
            outage_failed(what=what, error=error, log=log)


def outages_over(*, log: logging.Logger = logger) -> None:
    """A round of work that needs Redis and the database went through: any outage is over."""
    redis_outage.succeeded(log=log)
    database_outage.succeeded(log=log)


class ChannelLayerCleanupFilter(logging.Filter):
    """For the `asyncio` logger: channels-redis starts a task per received message to clear it
    from its backup queue and never collects the task's result, so when Redis goes away at that
    moment asyncio logs "Task exception was never retrieved" with a traceback. That is a lost
    connection like any other: it is counted in the Redis outage and the line is dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, REDIS_ERRORS) and "channels_redis" in record.getMessage():
            redis_outage.failed("channel layer clean-up", error, log=logger)
            return False
        return True
