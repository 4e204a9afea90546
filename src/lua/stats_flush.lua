-- stats_flush.lua - one statistics flush: every change an instance merged in one interval.
-- KEYS[1] = S applied (S = P{stats}:). ARGV: 1 S, 2 instance, 3 sequence ("boot:n"), 4 hour
-- (YYYYMMDDHH, UTC), 5 retention (s), 6 top domains cap, 7 events cap, 8 now (unix s),
-- 9 version, 10 GeoIP age (days, -1 none), 11 heartbeat TTL (s), then records:
--   T n f1 v1 ... fn vn               total counters
--   C id n f1 v1 ... fn vn            one client's counters
--   D id group domain count reason why    a domain labelled with group (why: "KIND:DETAIL")
--   Q client group reason domain action ts cap why    one recent labelled query
-- Exactly once: a batch carries (instance, seq), and a seq already in S applied is skipped
-- (returns 0; 1 when applied), so a batch whose reply was lost is resent unchanged. Every key
-- shares the {stats} hash tag. The schema is docs/redis-schema.md.
local b, inst, seq, hour = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local ret, topcap, evcap, now = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7], ARGV[8]
local hb = b .. 'instance:' .. inst
redis.call('HSET', hb, 'version', ARGV[9], 'geo_age_days', ARGV[10], 'last_flush', now)
redis.call('EXPIRE', hb, ARGV[11])
if redis.call('HGET', KEYS[1], inst) == seq then return 0 end
local function add(key, i)
  local n, first = tonumber(ARGV[i]), {}
  for k = 1, n do
    local f, v = ARGV[i + 2 * k - 1], tonumber(ARGV[i + 2 * k])
    if redis.call('HINCRBY', key, f, v) == v then first[#first + 1] = f end
  end
  return i + 1 + 2 * n, first
end
local function event(...)
  redis.call('XADD', b .. 'events', 'MAXLEN', '~', evcap, '*', ...)
end
local i = 12
while i <= #ARGV do
  local t = ARGV[i]
  if t == 'T' then
    local j = add(b .. 'total', i + 1)
    add(b .. 'total:' .. hour, i + 1)
    redis.call('EXPIRE', b .. 'total:' .. hour, ret)
    i = j
  elseif t == 'C' then
    local id = ARGV[i + 1]
    local key = b .. 'client:' .. id
    redis.call('SADD', b .. 'clients', id)
    local j, first = add(key, i + 2)
    add(key .. ':' .. hour, i + 2)
    redis.call('EXPIRE', key .. ':' .. hour, ret)
    redis.call('HSETNX', key, 'first_seen', now)
    redis.call('HSET', key, 'last_seen', now)
    for _, f in ipairs(first) do
      if string.sub(f, 1, 2) == 'g:' and not string.find(f, ':', 3, true) then
        event('type', 'group', 'client', id, 'group', string.sub(f, 3), 'ts', now, 'instance', inst)
      end
    end
    i = j
  elseif t == 'D' then
    local id, g, d, c = ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
    local kind, why = ARGV[i + 5], ARGV[i + 6]
    local top, whys = b .. 'top:' .. id .. ':' .. g, b .. 'why:' .. id .. ':' .. g
    redis.call('ZINCRBY', top, c, d)
    redis.call('HSET', whys, d, why)
    if redis.call('ZCARD', top) > topcap then
      -- the why hash holds the members of the top set only
      local gone = redis.call('ZRANGE', top, 0, -topcap - 1)
      redis.call('ZREMRANGEBYRANK', top, 0, -topcap - 1)
      for k = 1, #gone, 500 do redis.call('HDEL', whys, unpack(gone, k, math.min(k + 499, #gone))) end
    end
    redis.call('EXPIRE', top, ret)
    redis.call('EXPIRE', whys, ret)
    local seen = b .. 'seen:' .. id .. ':' .. g
    if redis.call('SADD', seen, d) == 1 then
      event('type', 'domain', 'client', id, 'group', g, 'domain', d, 'reason', kind, 'why', why, 'ts', now,
        'instance', inst)
    end
    redis.call('EXPIRE', seen, ret)
    i = i + 7
  elseif t == 'Q' then
    redis.call('XADD', b .. 'recent', 'MAXLEN', '~', ARGV[i + 7], '*', 'client', ARGV[i + 1],
      'group', ARGV[i + 2], 'reason', ARGV[i + 3], 'domain', ARGV[i + 4], 'action', ARGV[i + 5],
      'ts', ARGV[i + 6], 'instance', inst, 'why', ARGV[i + 8])
    i = i + 9
  else
    return redis.error_reply('jurisdns stats: bad record at ' .. i)
  end
end
redis.call('HSET', KEYS[1], inst, seq)
return 1
