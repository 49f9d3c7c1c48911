"""A fixed-window rate limit on Django's cache (per process unless the cache is shared)."""

import time

from django.core.cache import cache


def ratelimit_hit(*, key: str, limit: int, period: int) -> bool:
    """Count one hit for `key`; False once more than `limit` hits fall in the current window."""
    window = int(time.time() // period)
    cache_key = f"rl:{key}:{window}"
    cache.add(cache_key, 0, timeout=period + 1)
    try:
        count = cache.incr(cache_key)
    except ValueError:
        cache.set(cache_key, 1, timeout=period + 1)
        count = 1
    return count <= limit
