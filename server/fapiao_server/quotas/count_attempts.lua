-- Count one more attempt on each counter, in order (a batch naming one invoice twice counts it twice).
-- KEYS = counters; ARGV[i] = unix time at which KEYS[i] lapses (the next Asia/Shanghai midnight; a batch that
-- straddles midnight holds counters of both days). Returns the new count of each counter.
local counts = {}
for i, key in ipairs(KEYS) do
  local n = redis.call('INCR', key)
  if n == 1 then
    redis.call('EXPIREAT', key, ARGV[i])
  end
  counts[i] = n
end
return counts
