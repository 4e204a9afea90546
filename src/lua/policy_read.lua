-- policy_read.lua - the whole policy as one text snapshot (the format of src/dynpol.h), in one
-- round trip and one consistent view (a script runs atomically). Read-only.
-- KEYS[1] = P{policy}:version, ARGV[1] = P{policy}: (the base of every other policy key).
-- Returns {1, text}, or {0, text} when there is no version key (Redis has no policy).
-- DHCP leases come first and come even without a policy. Sets and hashes come out sorted, so an
-- unchanged policy reads as the same text. A key of the wrong type becomes an "error" record,
-- which the parser logs and skips. The schema is docs/redis-schema.md.
local b = ARGV[1]
local out = {'jurisdns-policy 1'}
local function esc(s)
  return (string.gsub(s, '[%c\\]', function(c)
    if c == '\\' then return '\\\\' elseif c == '\t' then return '\\t'
    elseif c == '\n' then return '\\n' elseif c == '\r' then return '\\r' end
    return string.format('\\x%02x', string.byte(c)) end))
end
local function call(cmd, key)
  local r = redis.pcall(cmd, key)
  if type(r) == 'table' and r.err then
    out[#out + 1] = 'error\t' .. esc(key) .. '\t' .. esc(r.err)
    return nil
  end
  return r
end
local function hash(key, rec)
  local r = call('HGETALL', key)
  if not r then return end
  local f = {}
  for i = 1, #r, 2 do f[#f + 1] = {r[i], r[i + 1]} end
  table.sort(f, function(x, y) return x[1] < y[1] end)
  for _, kv in ipairs(f) do out[#out + 1] = rec .. '\t' .. esc(kv[1]) .. '\t' .. esc(kv[2]) end
end
local ips = call('SMEMBERS', b .. 'leases')
if ips then
  table.sort(ips)
  for _, ip in ipairs(ips) do
    local n = redis.pcall('HGET', b .. 'lease:' .. ip, 'hostname')
    if type(n) == 'string' and n ~= '' then out[#out + 1] = 'lease\t' .. esc(ip) .. '\t' .. esc(n) end
  end
end
local v = call('GET', KEYS[1])
if not v then return {0, table.concat(out, '\n') .. '\n'} end
out[#out + 1] = 'version\t' .. esc(v)
hash(b .. 'default', 'default')
for _, what in ipairs({'allow', 'deny'}) do
  local m = call('SMEMBERS', b .. what)
  if m then
    table.sort(m)
    for _, d in ipairs(m) do out[#out + 1] = what .. '\t' .. esc(d) end
  end
end
local ids = call('SMEMBERS', b .. 'clients')
if ids then
  table.sort(ids)
  for _, id in ipairs(ids) do
    out[#out + 1] = 'client\t' .. esc(id)
    hash(b .. 'client:' .. id, 'client\t' .. esc(id))
  end
end
return {1, table.concat(out, '\n') .. '\n'}
