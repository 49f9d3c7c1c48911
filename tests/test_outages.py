"""An outage is one WARNING and one INFO, whatever reports it (calls.services.outages)."""

import logging

from redis.exceptions import ConnectionError as RedisConnectionError

from calls.services.outages import ChannelLayerCleanupFilter, OutageLog


def test_an_outage_is_one_warning_then_a_count_then_one_info(caplog):
    log = logging.getLogger("parley.test.outage")
    outage = OutageLog("Redis")
    with caplog.at_level(logging.INFO, logger="parley.test.outage"):
        for _ in range(5):
            outage.failed("sweep", RedisConnectionError("refused"), log=log)
        outage.succeeded(log=log)
        outage.succeeded(log=log)  # nothing more to say
    assert [(r.levelname, r.getMessage().split(" (")[0]) for r in caplog.records] == [
        ("WARNING", "Redis unreachable"),
        ("INFO", "Redis is back after 0.0s"),
    ]
    assert "5 failed operations" in caplog.records[1].getMessage()
    assert outage.failures_total == 5 and not outage.down


def asyncio_record(message: str, error: BaseException) -> logging.LogRecord:
    return logging.LogRecord("asyncio", logging.ERROR, __file__, 1, message, None, (type(error), error, None))


def test_channels_redis_cleanup_tasks_lost_in_an_outage_are_counted_not_logged():
    found = ChannelLayerCleanupFilter()
    lost = asyncio_record(
        "Task exception was never retrieved\nfuture: <Task finished coro=<RedisChannelLayer._clean_receive_backup()"
        " done, defined at /x/channels_redis/core.py:243> exception=ConnectionError()>",
        RedisConnectionError("Connection refused"),
    )
    assert found.filter(lost) is False
    # Anything else asyncio reports is still logged: a bug in our tasks, or another library's.
    assert found.filter(
        asyncio_record("Task exception was never retrieved\nfuture: <Task coro=<ours()>>", KeyError("x"))
    )
    assert found.filter(asyncio_record("Task exception was never retrieved", RedisConnectionError("ours")))
