// A peer whose socket dropped is "Reconnecting…" on its tile (docs/protocol.md `peer-suspended`),
// until it is back (`peer-resumed`) or the grace runs out (`peer-left` removes the tile).

/** Follow the room socket's frames and mark the tiles and people-list entries of the peers that are away. */
export function watchAway(signal, tiles, participants) {
  const mark = (peerId, away) => {
    tiles.setAway(peerId, away);
    participants.setAway(peerId, away);
  };
  signal.addEventListener("frame", ({ detail: frame }) => {
    if (frame.type === "peer-suspended") mark(frame.peer_id, true);
    else if (frame.type === "peer-resumed") mark(frame.peer_id, false);
    // Anything it sends us means it is back, whatever order two servers' frames came in.
    else if (frame.from) mark(frame.from, false);
  });
}
