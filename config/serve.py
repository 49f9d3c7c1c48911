"""Parley's production server: `python -m config.serve [--host H] [--port P] [uvicorn options]`.

One command for every place that serves Parley in production or measures it: the Dockerfile,
`make serve-uvicorn`, the benchmark (bench/signaling.py) and the tests' uvicorn servers
(tests/cluster.py). It replaces itself (exec, same process id) with uvicorn and these options:

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
- `--backlog 2048`: a join storm of hundreds of sockets queues instead of being reset;
- `--lifespan on`: the process warms up before it listens (config.warmup), so that its first
  join storm costs what later ones do;
- no access log: one line per socket and per page costs set-ups in a storm;
- proxy headers (`X-Forwarded-For`, `X-Forwarded-Proto`) trusted only from `FORWARDED_ALLOW_IPS`
  (default 127.0.0.1): docker-compose sets Caddy's fixed address, so no other peer can claim
  another client address.

Options after the known ones go to uvicorn as they are; uvicorn keeps the last value of an
option given twice, so `--ws websockets` or `--log-level warning` override the defaults here.
"""

import argparse
import os
import sys

TRANSPORT_MAX_BYTES = 128 * 1024
WS_PROTOCOL = "config.ws_protocol:ParleyWebSocketsProtocol"


def uvicorn_options(*, host: str, port: int, forwarded_allow_ips: str) -> list[str]:
    """uvicorn's command-line options as production runs them (see the module's docstring)."""
    return [
        "config.asgi:application",
        "--host", host, "--port", str(port),
        "--loop", "uvloop", "--http", "httptools", "--ws", WS_PROTOCOL, "--ws-per-message-deflate", "false",
        "--ws-max-size", str(TRANSPORT_MAX_BYTES),
        "--backlog", "2048",
        "--lifespan", "on",
        "--no-access-log",
        "--proxy-headers", "--forwarded-allow-ips", forwarded_allow_ips,
    ]  # fmt: skip


def command(argv: list[str]) -> list[str]:
    parser = argparse.ArgumentParser(prog="python -m config.serve", add_help=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    known, extra = parser.parse_known_args(argv)
    trusted = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
    options = uvicorn_options(host=known.host, port=known.port, forwarded_allow_ips=trusted)
    return [sys.executable, "-m", "uvicorn", *options, *extra]


def main(argv: list[str]) -> None:
    args = command(argv)
    os.execv(args[0], args)


if __name__ == "__main__":
    main(sys.argv[1:])
