"""Infrastructure under the signaling core: Redis clients and auto-pipelining, read-only SQL on
the event loop, a WebSocket's session and user. It imports nothing of `calls.services`, so that
`config` (settings, middleware, the channel layer) may import it."""
