"""Prometheus metrics of one web process (docs/deploy.md, Monitoring).

Two kinds, so that relaying a frame costs nothing more than it did:
- what the signaling core counts anyway (frames by type, deliveries, refusals, resumes, rate
  limits: the plain integers of `calls.signaling.stats.Stats`) is read when Prometheus scrapes,
  by `SignalingCollector`; so are the gauges (open sockets, rooms, peers per room), computed
  from the process's node and presence service at scrape time;
- other rare events (a join's time to `welcome`, TURN credentials, direct call outcomes, refusals
  of presence sockets and of room sockets when no node could start) are prometheus-client
  Counters and Histograms or plain counts here, each counted by a one-line hook where it happens.

Each process serves its own figures (`/metrics`, config.metrics_endpoint); Prometheus scrapes
every web container and sums them.
"""

import time
from collections.abc import Iterator

from prometheus_client import (
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

# --- Rare events: counted where they happen ---------------------------------------------------
JOIN_SECONDS = Histogram(
    "parley_join_seconds",
    "Time from a room socket's handshake to its welcome frame (joins and resumes).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)
TURN_CREDENTIALS = Counter("parley_turn_credentials_issued", "TURN credentials issued.", registry=REGISTRY)
DIRECT_CALLS = Counter(
    "parley_direct_calls",
    "Direct calls by outcome (answered, declined, missed, cancelled, busy, offline).",
    ["outcome"],
    registry=REGISTRY,
)
SOCKETS_DRAINED = Counter(
    "parley_sockets_drained",
    "Sockets told to resume on another process (close 4012) while this one stopped, by socket (room, presence).",
    ["socket"],
    registry=REGISTRY,
)

# Refusals the nodes' Stats do not see: presence sockets', and room sockets' when no node started.
_refusals: dict[tuple[str, str], int] = {}


def join_observe(*, started: float) -> None:
    """A socket got its `welcome`; `started` is the time.monotonic() of its handshake."""
    JOIN_SECONDS.observe(time.monotonic() - started)


def refusal_count(code: str, *, socket: str = "room") -> None:
    """A socket refused outside a node (a node counts its own: `Stats.refused_<code>`)."""
    _refusals[socket, code] = _refusals.get((socket, code), 0) + 1


def sockets_drained_count(socket: str) -> None:
    """A socket moved away from a draining process (calls.services.draining)."""
    SOCKETS_DRAINED.labels(socket=socket).inc()


def direct_call_count(outcome: str) -> None:
    """A direct call's outcome; the end of an answered call (`ended`) is not a new one."""
    if outcome != "ended":
        DIRECT_CALLS.labels(outcome=str(outcome)).inc()


# --- Read at scrape time ------------------------------------------------------------------------
PEERS_PER_ROOM_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16)


def signaling_sources() -> tuple[list, list]:
    """The process's signaling nodes (each holding its `Stats`) and presence services: the only
    place that knows where they live. One per event loop; a server has one loop, a test may have several."""
    from calls.services.presence_service import presence_services
    from calls.signaling.node import nodes_serving

    return [node for _, node in nodes_serving()], presence_services()


class SignalingCollector:
    """Figures of the signaling nodes and presence service, read from their plain counters at scrape time."""

    def collect(self) -> Iterator[Metric]:
        nodes, presence = signaling_sources()
        stats = [node.stats for node in nodes]
        yield from _socket_gauges(nodes, presence)
        yield _peers_per_room(nodes)
        yield from _frame_counters(stats)
        yield from _event_counters(stats)
        yield from _outage_counters()


def _rooms(nodes: list) -> list:
    """The rooms with people on these nodes (a node also holds rooms it is only joining or reaping)."""
    return [room for node in nodes for room in list(node.rooms.values()) if room.local or room.suspended]


def _socket_gauges(nodes: list, presence: list) -> Iterator[Metric]:
    rooms = _rooms(nodes)
    yield GaugeMetricFamily("parley_room_sockets", "Open room sockets.", value=sum(len(r.local) for r in rooms))
    yield GaugeMetricFamily(
        "parley_suspended_peers",
        "Peers whose socket dropped, held for a resume.",
        value=sum(len(r.suspended.peers) for r in rooms),
    )
    yield GaugeMetricFamily(
        "parley_presence_sockets", "Open presence sockets.", value=sum(len(s.local) for s in presence)
    )
    yield GaugeMetricFamily("parley_rooms_active", "Rooms with people on this process.", value=len(rooms))


def _peers_per_room(nodes: list) -> HistogramMetricFamily:
    """Peers per room (on any process) of the rooms this process has people in."""
    sizes = [len(room.mirror) for room in _rooms(nodes)]
    buckets = [(str(bound), sum(1 for size in sizes if size <= bound)) for bound in PEERS_PER_ROOM_BUCKETS]
    buckets.append(("+Inf", len(sizes)))
    return HistogramMetricFamily(
        "parley_room_peers", "Peers per room, rooms with people on this process.", buckets=buckets, sum_value=sum(sizes)
    )


# (metric, help, Stats attribute): the nodes' plain counters, summed over the process's nodes.
STATS_COUNTERS = (
    ("parley_frames_delivered_local", "Frames delivered to a socket of this process.", "delivered_local"),
    ("parley_frames_published", "Bus envelopes (a frame for some peers) sent to another process.", "bus_published"),
    ("parley_frames_received_remote", "Bus envelopes received from another process.", "bus_received"),
    ("parley_frames_buffered", "Frames kept for a suspended peer's resume.", "buffered_suspended"),
    ("parley_frames_stashed", "Frames kept for the peers of a process that stopped answering.", "stashed_unreachable"),
    ("parley_outbox_overflows", "Slow sockets closed because their outbox overflowed.", "dropped_overflow"),
    ("parley_relay_publish_errors", "Relay batches that failed to publish (retried).", "publish_errors"),
)


def _total(stats: list, attribute: str) -> int:
    return sum(getattr(one, attribute, 0) for one in stats)


def _frame_counters(stats: list) -> Iterator[Metric]:
    received = CounterMetricFamily("parley_frames_received", "Room frames from clients, by type.", labels=["type"])
    by_type: dict[str, int] = {}
    for one in stats:
        for frame_class, count in list(one.frames.items()):
            config = getattr(frame_class, "__struct_config__", None)
            name = config.tag if config is not None else str(frame_class)
            by_type[name] = by_type.get(name, 0) + count
    for name, count in sorted(by_type.items()):
        received.add_metric([name], count)
    yield received
    for name, documentation, attribute in STATS_COUNTERS:
        yield CounterMetricFamily(name, documentation, value=_total(stats, attribute))
    dropped = CounterMetricFamily("parley_frames_dropped", "Frames dropped, by reason.", labels=["reason"])
    dropped.add_metric(["no-peer"], _total(stats, "dropped_no_peer"))
    dropped.add_metric(["unreachable-node"], _total(stats, "dropped_unreachable"))
    yield dropped


# (label, Stats attribute) of the resumes and of the rate limit's two actions.
RESUME_KINDS = (("same-process", "resumed_local"), ("other-process", "resumed_remote"), ("adopted", "resumed_adopted"))
RATE_ACTIONS = (("warned", "rate_warnings"), ("closed", "rate_closes"))


def _event_counters(stats: list) -> Iterator[Metric]:
    """Refusals, resumes and rate limiting: the nodes' counters (and the refusals counted here)."""
    refusals = CounterMetricFamily("parley_refusals", "Sockets refused, by error code.", labels=["socket", "code"])
    counts = dict(_refusals)
    for one in stats:
        for attribute, value in list(vars(one).items()):
            if attribute.startswith("refused_"):
                key = ("room", attribute.removeprefix("refused_").replace("_", "-"))
                counts[key] = counts.get(key, 0) + value
    for (socket, code), value in sorted(counts.items()):
        refusals.add_metric([socket, code], value)
    yield refusals
    yield _by_label(
        stats,
        "parley_resumes",
        "Peers resumed on a new socket: on the same process, from another process, or adopted from a dead one.",
        "kind",
        RESUME_KINDS,
    )
    yield _by_label(
        stats,
        "parley_rate_limited",
        "Room frames over the rate limit: dropped with a warning, or the socket closed (4429).",
        "action",
        RATE_ACTIONS,
    )


def _by_label(stats: list, name: str, documentation: str, label: str, pairs: tuple) -> Metric:
    """A counter family with one sample per (label value, Stats attribute) of `pairs`."""
    family = CounterMetricFamily(name, documentation, labels=[label])
    for value, attribute in pairs:
        family.add_metric([value], _total(stats, attribute))
    return family


def _outage_counters() -> Iterator[Metric]:
    from calls.services.outages import database_outage, redis_outage

    yield CounterMetricFamily(
        "parley_redis_errors", "Redis operations failed for a lost connection.", value=redis_outage.failures_total
    )
    yield CounterMetricFamily(
        "parley_redis_reconnects", "Redis outages that ended (it answered again).", value=redis_outage.recoveries
    )
    yield CounterMetricFamily(
        "parley_database_errors", "Database operations failed (lost connection).", value=database_outage.failures_total
    )
    yield GaugeMetricFamily("parley_redis_up", "0 while a Redis outage goes on.", value=0 if redis_outage.down else 1)


REGISTRY.register(SignalingCollector())


def metrics_exposition() -> bytes:
    """The process's metrics in Prometheus's text format."""
    return generate_latest(REGISTRY)
