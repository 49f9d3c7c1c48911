// Whether the TURN server answers: a throwaway peer connection that may only gather relay candidates.

const PROBE_TIMEOUT_MS = 2000; // a TURN server that answers allocates well within this, even far away

/** The TURN entries of an iceServers list, with their credentials (STUN entries cannot relay). */
export function turnServers(iceServers) {
  return (iceServers || []).flatMap((server) => {
    const urls = [].concat(server.urls).filter((url) => /^turns?:/.test(url));
    return urls.length ? [{ ...server, urls }] : [];
  });
}

/**
 * True once a relay candidate is gathered, false when gathering ends without one or the timeout
 * passes first; null when there is no TURN server to ask.
 */
export async function relayProbe(iceServers, timeoutMs = PROBE_TIMEOUT_MS) {
  const servers = turnServers(iceServers);
  if (!servers.length) return null;
  const pc = new RTCPeerConnection({ iceServers: servers, iceTransportPolicy: "relay" });
  try {
    return await new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      pc.addEventListener("icecandidate", ({ candidate }) => {
        if (candidate && candidate.type !== "relay") return;
        clearTimeout(timer);
        resolve(Boolean(candidate)); // null: gathering ended with no relay candidate
      });
      pc.createDataChannel("probe"); // something to negotiate, so that gathering starts
      pc.setLocalDescription().catch(() => resolve(false));
    });
  } finally {
    pc.close();
  }
}
