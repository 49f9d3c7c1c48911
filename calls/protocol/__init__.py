"""The wire contract of docs/protocol.md: client frames in, server frames out, close codes.

- `frame_parse` decodes and validates a client frame in one pass (calls.protocol.incoming);
- one Struct per server frame type, `Frame(...).to_text()` builds the text sent: the room socket's in
  calls.protocol.outgoing, the knock's in knock_frames, the presence socket's in presence_frames;
  they are the schemas the test-suite checks every sent frame against (`OUTGOING`);
- `CLOSE_CODES` is the one table of close codes, shared with the browser client (close_codes).
"""

from .close_codes import CLOSE_CODES, CLOSE_TABLE, FATAL_CLOSE_CODES
from .common import ERROR_CODES, ProtocolError
from .incoming import INCOMING, PRESENCE_INCOMING, ClientFrame, FrameSet, Limits, frame_parse
from .outgoing import OUTGOING, PROTOCOL_VERSION, REASONS, error_frame, ice_frame_spliced, outgoing_validate

__all__ = [
    "CLOSE_CODES",
    "CLOSE_TABLE",
    "ERROR_CODES",
    "FATAL_CLOSE_CODES",
    "INCOMING",
    "OUTGOING",
    "PRESENCE_INCOMING",
    "PROTOCOL_VERSION",
    "REASONS",
    "ClientFrame",
    "FrameSet",
    "Limits",
    "ProtocolError",
    "error_frame",
    "frame_parse",
    "ice_frame_spliced",
    "outgoing_validate",
]
