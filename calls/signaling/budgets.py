"""What a socket may send: a token bucket of its own (and its user's, shared by their sockets),
warnings before the close, and budgets of single frame types (views, reactions). Room and presence
sockets pace their frames the same way."""

import time

# Rate-limit warnings are forgotten after this long without another one.
WARNINGS_FORGOTTEN_AFTER = 10.0


class TokenBucket:
    """`rate` tokens a second, at most `burst` saved up."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = time.monotonic()

    def take(self, now: float) -> bool:
        # Two per frame (the socket's and its user's), with one clock read for both
        # (Session.receive): without min() and attribute writes back and forth, 485 -> 265 ns
        # a frame, ~4% of a relayed candidate's core-path CPU (docs/performance.md).
        tokens = self.tokens + (now - self.stamp) * self.rate
        if tokens > self.burst:
            tokens = self.burst
        self.stamp = now
        if tokens >= 1.0:
            self.tokens = tokens - 1.0
            return True
        self.tokens = tokens
        return False


class FrameBudget:
    """A socket's frame rate: `admit` says pass (True), drop with a warning (False) or close (None)."""

    __slots__ = ("bucket", "kinds", "max_warnings", "warned_at", "warnings")

    def __init__(self, *, rate: float, burst: float, max_warnings: int) -> None:
        self.bucket = TokenBucket(rate, burst)
        self.max_warnings = max_warnings
        self.warnings = 0
        self.warned_at = 0.0
        self.kinds: dict[str, TokenBucket] | None = None  # made on the first frame that has a budget

    def admit(self, now: float, shared: TokenBucket | None = None) -> bool | None:
        """The socket's bucket, then `shared` (its user's) only if that passed: a refused frame
        does not spend the user's tokens."""
        if self.bucket.take(now) and (shared is None or shared.take(now)):
            return True
        if now - self.warned_at > WARNINGS_FORGOTTEN_AFTER:
            self.warnings = 0
        self.warned_at = now
        self.warnings += 1
        return None if self.warnings > self.max_warnings else False

    def kind_allows(self, kind: str, *, rate: float, burst: float) -> bool:
        """A budget of its own for one kind of frame (views, reactions, …), on top of the socket's."""
        kinds = self.kinds
        if kinds is None:
            kinds = self.kinds = {}
        bucket = kinds.get(kind)
        if bucket is None:
            bucket = kinds[kind] = TokenBucket(rate, burst)
        return bucket.take(time.monotonic())
