"""The room registry's Lua scripts: each change of a room is one atomic step in Redis.

Keys of a room `<p>:room:<slug>`: `:peers` (hash peer_id -> record), `:exp` (zset of expiries),
`:susp` (hash of suspended peers), `:buf:<peer_id>` (list of frames kept for a peer that is away).
`<p>:user:<id>:socks` (zset) counts a user's sockets, `<p>:rooms` (set) lists the rooms,
`<p>:epoch` says Redis still has the registry, `<p>:restoring` holds joins while it is rebuilt.
"""

# Removes expired peers with their suspension mark and buffer; returns {record, was_suspended, ...}.
REAP_EXPIRED = """
local function reap_expired(peers, exp, susp, now, bufbase)
  local reaped = {}
  for _, pid in ipairs(redis.call('ZRANGEBYSCORE', exp, '-inf', now)) do
    local rec = redis.call('HGET', peers, pid)
    if rec then
      table.insert(reaped, rec)
      table.insert(reaped, redis.call('HDEL', susp, pid))
    end
    redis.call('HDEL', peers, pid)
    redis.call('ZREM', exp, pid)
    redis.call('DEL', bufbase .. pid)
  end
  return reaped
end
"""

# Opens the restore window when Redis lost the registry (it restarted empty): every process puts its
# peers back within the window, and joins wait for it to end (issue #20: a join in between saw a part).
RESTORE_GATE = """
local function restoring(epoch, gate, window)
  if redis.call('EXISTS', epoch) == 0 then
    redis.call('SET', epoch, 1)
    redis.call('SET', gate, 1, 'PX', window)
    return true
  end
  return redis.call('EXISTS', gate) == 1
end
"""

# KEYS: peers hash, expiry zset, user sockets zset, rooms set, suspended hash, ban key, epoch, restoring
# ARGV: now, buffer key base, peer_id, record, expiry, capacity, max_per_user, slug, refuse banned (1/0),
# restore window ms
JOIN = (
    REAP_EXPIRED
    + RESTORE_GATE
    + """
if restoring(KEYS[7], KEYS[8], ARGV[10]) then return {-4, {}, {}} end
local reaped = reap_expired(KEYS[1], KEYS[2], KEYS[5], ARGV[1], ARGV[2])
if ARGV[9] == '1' and redis.call('EXISTS', KEYS[6]) == 1 then return {-3, reaped, {}} end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[7]) then return {-2, reaped, {}} end
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[6]) then return {-1, reaped, {}} end
local others = redis.call('HVALS', KEYS[1])
redis.call('HSET', KEYS[1], ARGV[3], ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[3])
redis.call('SADD', KEYS[4], ARGV[8])
return {1, reaped, others}
"""
)

# KEYS: epoch, restoring; ARGV: restore window ms. Run by a process that finds its peers lost.
GATE = RESTORE_GATE + "\nreturn restoring(KEYS[1], KEYS[2], ARGV[1]) and 1 or 0\n"

# KEYS: peers hash, expiry zset, user sockets zset, rooms set, suspended hash, buffer list; ARGV: peer_id, slug, node
# Only the peer's own node removes it (a peer adopted by another node is no longer this one's).
LEAVE = """
local rec = redis.call('HGET', KEYS[1], ARGV[1])
if rec and cjson.decode(rec)['n'] ~= ARGV[3] then return {0, redis.call('HVALS', KEYS[1])} end
local removed = redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[5], ARGV[1])
redis.call('DEL', KEYS[6])
if redis.call('HLEN', KEYS[1]) == 0 then
  redis.call('SREM', KEYS[4], ARGV[2])
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[5])
end
return {removed, redis.call('HVALS', KEYS[1])}
"""

# KEYS: peers hash, expiry zset, rooms set, suspended hash; ARGV: now, buffer key base, slug
REAP = (
    REAP_EXPIRED
    + """
local reaped = reap_expired(KEYS[1], KEYS[2], KEYS[4], ARGV[1], ARGV[2])
if redis.call('HLEN', KEYS[1]) == 0 then
  redis.call('SREM', KEYS[3], ARGV[3])
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[4])
end
return {reaped, redis.call('HVALS', KEYS[1])}
"""
)

# KEYS: peers hash; ARGV: peer_id, record. Only updates a peer still present.
MEDIA = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
end
return 1
"""

# KEYS: peers hash, expiry zset, user sockets zset, suspended hash; ARGV: peer_id, node, until
# Marks a present peer of `node` suspended until `until` (it keeps its seat meanwhile).
SUSPEND = """
local rec = redis.call('HGET', KEYS[1], ARGV[1])
if not rec or cjson.decode(rec)['n'] ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[4], ARGV[1], 1)
redis.call('ZADD', KEYS[2], 'XX', ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[3], 'XX', ARGV[3], ARGV[1])
return 1
"""

# KEYS: peers hash, suspended hash, buffer list; ARGV: peer_id, node, limit, ttl ms, texts...
# Keeps frames for a peer of `node` that is away: suspended there (`require suspended`, ARGV[5] = 1)
# or on a node that stopped answering (0). Else says where the peer is now, or that it is gone.
BUFFER = """
local rec = redis.call('HGET', KEYS[1], ARGV[1])
if not rec then return 'gone' end
local node = cjson.decode(rec)['n']
if node ~= ARGV[2] then return node end
if ARGV[5] == '1' and redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 then return node end
for i = 6, #ARGV do
  if redis.call('LLEN', KEYS[3]) < tonumber(ARGV[3]) then redis.call('RPUSH', KEYS[3], ARGV[i]) end
end
redis.call('PEXPIRE', KEYS[3], ARGV[4])
return 'buffered'
"""

# KEYS: peers hash, expiry zset, user sockets zset, suspended hash, buffer list
# ARGV: peer_id, user_id, new record, now, until
# Takes over a suspended, unexpired peer of `user_id`: returns {old record, buffered frames, all records}.
RESUME = """
if redis.call('HEXISTS', KEYS[4], ARGV[1]) == 0 then return nil end
local rec = redis.call('HGET', KEYS[1], ARGV[1])
local expiry = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not rec or not expiry or tonumber(expiry) <= tonumber(ARGV[4]) then return nil end
if tostring(cjson.decode(rec)['u']['id']) ~= ARGV[2] then return nil end
local buffered = redis.call('LRANGE', KEYS[5], 0, -1)
redis.call('DEL', KEYS[5])
redis.call('HDEL', KEYS[4], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[1])
return {rec, buffered, redis.call('HVALS', KEYS[1])}
"""

# KEYS: peers hash, expiry zset, user sockets zset, suspended hash, buffer list; ARGV: peer_id, user_id,
# old node, new record, now, until. Moves an unexpired, unsuspended peer of `user_id` off `old node` (which
# did not answer) with the frames kept for it meanwhile.
ADOPT = """
local rec = redis.call('HGET', KEYS[1], ARGV[1])
if not rec or redis.call('HEXISTS', KEYS[4], ARGV[1]) == 1 then return nil end
local data = cjson.decode(rec)
if data['n'] ~= ARGV[3] or tostring(data['u']['id']) ~= ARGV[2] then return nil end
local expiry = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not expiry or tonumber(expiry) <= tonumber(ARGV[5]) then return nil end
local buffered = redis.call('LRANGE', KEYS[5], 0, -1)
redis.call('DEL', KEYS[5])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[6], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[6], ARGV[1])
return {rec, buffered, redis.call('HVALS', KEYS[1])}
"""
