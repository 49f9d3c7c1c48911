"""Parley's production server: `python -m config.serve [--host H] [--port P] [uvicorn options]`.

One command for every place that serves Parley in production or measures it: the Dockerfile,
`make serve-uvicorn`, the benchmark (bench/signaling.py) and the tests' uvicorn servers
(tests/cluster.py). It runs uvicorn in this process (a uvicorn.Config and a uvicorn.Server) with
these options:

- uvloop, httptools and websockets' sans-I/O implementation: the fastest combination measured
  (docs/performance.md);
- `--ws config.ws_protocol:ParleyWebSocketsProtocol`: that implementation with a fast path for
  signaling's text frames, and the frames a socket is sent in one event-loop turn written in one
  system call (config/ws_protocol.py);
- `--ws-per-message-deflate false`: browsers offer compression and uvicorn would accept it,
  spending zlib CPU on every frame and a compressor per idle socket for small JSON frames
  (daphne and the seed's Node server do not compress either);
- `--ws-max-size 131072`: a WebSocket message over 128 KiB is refused by the server with a close
  frame 1009; the protocol's own limit (96 KiB) is below it and answered with error `too-large`;
- `--ws-ping-interval 0`: no uvicorn keepalive pings; Parley's clients ping every heartbeat and
  the sweeper closes a silent socket (4408), so uvicorn's timer per socket (~550 B) found nothing;
- `--backlog 2048`: a join storm of hundreds of sockets queues instead of being reset;
- `--lifespan on`: the process warms up before it listens (config.warmup), so that its first
  join storm costs what later ones do;
- no access log: one line per socket and per page costs set-ups in a storm;
- proxy headers (`X-Forwarded-For`, `X-Forwarded-Proto`) trusted only from `FORWARDED_ALLOW_IPS`
  (default 127.0.0.1): docker-compose sets Caddy's fixed address, so no other peer can claim
  another client address.

Options after the known ones go to uvicorn as they are (read by uvicorn's own command-line
parser); uvicorn keeps the last value of an option given twice, so `--ws websockets` or
`--log-level warning` override the defaults here.

SIGTERM drains the process instead of uvicorn's shutdown, which would close every WebSocket with
1012 and drop the calls on it (`DrainingServer`; the socket side is calls.services.draining):

1. /readyz answers 503 at once, for DRAIN_NOTICE seconds (2): Caddy's active health checks (every
   second) and compose's take the process out; the sockets keep working meanwhile;
2. every room socket's peer is handed over silently and the socket closed with 4012 `moving`,
   presence sockets too: the clients resume on another process at once. A WebSocket that still
   reaches the process is closed with 4012 before it joins; HTTP is served as before (/readyz
   503, /metrics: `parley_sockets_drained_total`);
3. the process exits with status 0 once those sockets are gone and the other processes have taken
   their peers, or DRAIN_TIMEOUT seconds (10) after the SIGTERM, whichever comes first.

A second SIGTERM, or SIGINT (Ctrl+C), is uvicorn's own shutdown. With `--workers N` or `--reload`
uvicorn's supervisor runs servers of its own, which do not drain: run one process per container.
"""

import argparse
import asyncio
import logging
import os
import signal
import sys
import time

import click
import uvicorn
from uvicorn.config import LOGGING_CONFIG, STARTUP_FAILURE
from uvicorn.main import main as uvicorn_command

TRANSPORT_MAX_BYTES = 128 * 1024
WS_PROTOCOL = "config.ws_protocol:ParleyWebSocketsProtocol"
DRAIN_POLL = 0.05  # seconds between two looks at what the drain still waits for

logger = logging.getLogger("uvicorn.error")


def uvicorn_options(*, host: str, port: int, forwarded_allow_ips: str) -> list[str]:
    """uvicorn's command-line options as production runs them (see the module's docstring)."""
    return [
        "config.asgi:application",
        "--host", host, "--port", str(port),
        "--loop", "uvloop", "--http", "httptools", "--ws", WS_PROTOCOL, "--ws-per-message-deflate", "false",
        "--ws-max-size", str(TRANSPORT_MAX_BYTES), "--ws-ping-interval", "0",
        "--backlog", "2048",
        "--lifespan", "on",
        "--no-access-log",
        "--proxy-headers", "--forwarded-allow-ips", forwarded_allow_ips,
    ]  # fmt: skip


def command(argv: list[str]) -> list[str]:
    """uvicorn's command line: Parley's options, then the caller's extra ones."""
    parser = argparse.ArgumentParser(prog="python -m config.serve", add_help=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    known, extra = parser.parse_known_args(argv)
    trusted = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
    return [*uvicorn_options(host=known.host, port=known.port, forwarded_allow_ips=trusted), *extra]


def uvicorn_arguments(args: list[str]) -> tuple[str, dict]:
    """The application and `uvicorn.run`'s keyword arguments for a uvicorn command line, read by
    uvicorn's own parser (every option it has works here) and converted as its `main` does."""
    try:
        with uvicorn_command.make_context("python -m config.serve", list(args)) as context:
            params = dict(context.params)
    except click.ClickException as error:  # an unknown option or a bad value: uvicorn's message
        error.show()
        sys.exit(error.exit_code)
    app = params.pop("app")
    params["log_config"] = LOGGING_CONFIG if params["log_config"] is None else params["log_config"]
    params["headers"] = [header.split(":", 1) for header in params["headers"]]
    for name in ("reload_dirs", "reload_includes", "reload_excludes"):
        params[name] = params[name] or None
    return app, params


class DrainingServer(uvicorn.Server):
    """uvicorn's server, with SIGTERM draining the process (see the module's docstring)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.drain_started: float | None = None
        self.drain: asyncio.Task | None = None

    def handle_exit(self, sig: int, frame) -> None:
        if sig == signal.SIGTERM and self.drain_started is None and self.started:
            from calls.services.draining import drain_begin

            self.drain_started = time.monotonic()
            drain_begin()  # /readyz answers 503 from the next probe on
            return  # not uvicorn's exit, which ends the process by the signal again: status 0 here
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        if self.drain_started is not None and self.drain is None:
            self.drain = asyncio.get_running_loop().create_task(self._drain())
        return await super().on_tick(counter)

    async def _drain(self) -> None:
        from django.conf import settings

        from calls.services.draining import handovers_pending, sockets_move

        notice, bound = settings.DRAIN_NOTICE, settings.DRAIN_TIMEOUT
        deadline = self.drain_started + bound
        logger.info("SIGTERM: draining (not ready for %.1f s, exit within %.1f s)", notice, bound)
        await asyncio.sleep(max(0.0, self.drain_started + notice - time.monotonic()))
        moved = 0
        while time.monotonic() < deadline:
            moved += await sockets_move()
            if not self._websockets_open() and not handovers_pending():
                break
            await asyncio.sleep(DRAIN_POLL)
        logger.info(
            "drained %d sockets in %.2f s (%d still open, %d handovers pending)",
            moved, time.monotonic() - self.drain_started, self._websockets_open(), handovers_pending(),
        )  # fmt: skip
        if self.config.timeout_graceful_shutdown is None:  # uvicorn's shutdown gets what is left of the bound
            self.config.timeout_graceful_shutdown = max(1, round(deadline - time.monotonic()))
        self.should_exit = True

    def _websockets_open(self) -> int:
        """WebSocket connections still open (a knock waiting for its answer included)."""
        ws_class = self.config.ws_protocol_class
        return sum(1 for connection in list(self.server_state.connections) if isinstance(connection, ws_class))


def main(argv: list[str]) -> None:
    app, params = uvicorn_arguments(command(argv))
    if (params["workers"] or 1) > 1 or params["reload"]:
        uvicorn.run(app, **params)  # uvicorn's supervisor and servers: no drain (see the module)
        return
    app_dir = params.pop("app_dir")
    if app_dir is not None:
        sys.path.insert(0, app_dir)
    server = DrainingServer(uvicorn.Config(app, **params))
    server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)


if __name__ == "__main__":
    main(sys.argv[1:])
