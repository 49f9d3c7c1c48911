"""daphne as Parley runs it: `python -m config.daphne_server [daphne's options] config.asgi:application`.

Two differences from plain daphne, both about messages over the transport limit:
- a WebSocket message is limited to TRANSPORT_MAX_BYTES (128 KiB) unless the command line says
  otherwise; the protocol's own limit (96 KiB) is below it and answered with error `too-large`
  (docs/protocol.md, Limits);
- a message over it is answered with a close frame, 1009 and a reason. autobahn, daphne's
  WebSocket layer, drops the TCP connection without one by default (its `failByDrop` option), which
  a browser cannot tell from a network fault (1006).
"""

from daphne.cli import CommandLineInterface
from daphne.server import Server
from twisted.internet import reactor

TRANSPORT_MAX_BYTES = 128 * 1024


class ParleyDaphneServer(Server):
    def run(self) -> None:
        # daphne makes its WebSocket factory inside run(); the option is set before the first connection.
        reactor.callWhenRunning(self.close_frames_enable)
        super().run()

    def close_frames_enable(self) -> None:
        """Fail a WebSocket with a close frame (1009 "message too big", 1002 …), never a bare drop."""
        self.ws_factory.setProtocolOptions(failByDrop=False)


class ParleyDaphneCommandLine(CommandLineInterface):
    server_class = ParleyDaphneServer

    def run(self, args: list[str]) -> None:
        # argparse keeps the last value: options given on the command line win over these defaults.
        limits = ["--websocket-max-message-size", str(TRANSPORT_MAX_BYTES)]
        limits += ["--websocket-max-frame-size", str(TRANSPORT_MAX_BYTES)]
        super().run(limits + list(args))


if __name__ == "__main__":
    ParleyDaphneCommandLine.entrypoint()
