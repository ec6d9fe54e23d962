"""The Redis scripts of `companion.bot.delivery`: each is one round trip, and atomic, so a
worker that dies between two steps never leaves an update claimed but not held.

Keys: the claim (``...:bot:update:<id>``, a token with a day's TTL), the retry queue (a sorted
set scored by when an entry is due) and the held updates (a hash: update id -> the update as
it arrived). A held update sits in the queue as ``held:<id>``, due when its lease ends; the
worker handling it keeps pushing that back, so it comes due only if the worker stops.
"""

from __future__ import annotations

HELD_PREFIX = "held:"

# KEYS: claim, queue, held. ARGV: token, claim TTL, update id, the held payload ('' = do not
# hold), when the hold's lease ends. 1 when the update is ours to handle (new, or our own
# earlier claim whose answer was lost), else 0.
CLAIM = """
local fresh = redis.call('set', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2])
if not fresh and redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[4] ~= '' then
  redis.call('hset', KEYS[3], ARGV[3], ARGV[4])
  redis.call('zadd', KEYS[2], ARGV[5], 'held:' .. ARGV[3])
end
return 1
"""

# KEYS: queue, held. ARGV: now, the retry lease's end, at most how many, the hold lease's end.
# Due entries, each leased (re-scored) so another worker does not take it while this one
# handles it; a crash lets the lease run out. Returns [entry, held payload or '', ...]; a held
# entry whose payload is gone (released meanwhile) is dropped.
TAKE_DUE = """
local items = redis.call('zrangebyscore', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
local out = {}
for _, item in ipairs(items) do
  if string.sub(item, 1, 5) == 'held:' then
    local payload = redis.call('hget', KEYS[2], string.sub(item, 6))
    if payload then
      redis.call('zadd', KEYS[1], ARGV[4], item)
      table.insert(out, item)
      table.insert(out, payload)
    else
      redis.call('zrem', KEYS[1], item)
    end
  else
    redis.call('zadd', KEYS[1], ARGV[2], item)
    table.insert(out, item)
    table.insert(out, '')
  end
end
return out
"""

# KEYS: claim, queue, held. ARGV: token, update id. A claim whose answer was lost, once Redis
# answers again: deleted with its hold if it is still ours.
DELETE_IF_OURS = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  redis.call('hdel', KEYS[3], ARGV[2])
  redis.call('zrem', KEYS[2], 'held:' .. ARGV[2])
  return redis.call('del', KEYS[1])
end
return 0
"""
