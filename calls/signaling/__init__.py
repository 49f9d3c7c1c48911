"""The signaling core: rooms relayed within a process, a bus between processes (docs/architecture.md).

- node: the per-process runtime (`node_get`), its counters (stats) and housekeeping;
- room: one room on this process (its peers, the mirror of the others, sending), suspension;
- registry, registry_memory, scripts, records: who is in which room, in Redis or in memory;
- bus, envelopes, layer_inlet: everything that crosses processes, as typed envelopes;
- session, joining, admission, frames, outbox: one socket, from admission to its last frame.
"""
