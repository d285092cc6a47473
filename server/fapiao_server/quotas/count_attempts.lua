-- Count one more attempt on each counter, in order (a batch naming one invoice twice counts it twice).
-- KEYS = counters; ARGV[1] = unix time at which the counters lapse (the next Asia/Shanghai midnight).
-- Returns the new count of each counter.
local counts = {}
for i, key in ipairs(KEYS) do
  local n = redis.call('INCR', key)
  if n == 1 then
    redis.call('EXPIREAT', key, ARGV[1])
  end
  counts[i] = n
end
return counts
