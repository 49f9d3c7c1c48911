"""The counters of a node: plain integers an operator, a benchmark or a metrics exporter reads
(`node.stats`); nothing lost goes uncounted."""

from collections import defaultdict


class Stats:
    # Room frame types whose relaying is counted (`relayed_<type>`, dashes as underscores).
    RELAYED = ("offer", "answer", "ice", "chat", "media", "lock", "kick", "ping", "ice_servers")
    REFUSALS = ("unauthenticated", "no-such-room", "forbidden", "room-full", "locked", "rate-limited", "unavailable")

    def __init__(self) -> None:
        self.delivered_local = 0  # frames put into a socket's outbox on this process
        self.bus_published = 0  # envelopes published for other processes
        self.bus_received = 0  # envelopes received from other processes
        self.publish_errors = 0
        self.dropped_overflow = 0  # outbox overflows: slow sockets closed
        self.dropped_no_peer = 0
        self.buffered_suspended = 0
        self.stashed_unreachable = 0  # frames for a dead process's peers kept for their resume
        self.dropped_unreachable = 0
        self.rate_warnings = 0
        self.rate_closes = 0
        self.resumed_local = 0  # a peer resumed on the process it was suspended on
        self.resumed_remote = 0  # ... on another one
        self.resumed_adopted = 0  # taken over from a process that stopped answering
        self.frames: defaultdict[type, int] = defaultdict(int)  # room frames received from clients, by class
        for kind in self.RELAYED:
            setattr(self, f"relayed_{kind}", 0)
        for code in self.REFUSALS:
            setattr(self, "refused_" + code.replace("-", "_"), 0)

    def count(self, name: str) -> None:
        """Add one to counter `name` (made on first use: a new frame type or refusal code)."""
        name = name.replace("-", "_")
        setattr(self, name, getattr(self, name, 0) + 1)

    def as_dict(self) -> dict[str, int]:
        return dict(vars(self))
