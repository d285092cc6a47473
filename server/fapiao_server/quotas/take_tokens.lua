-- The fleet-wide token bucket of one principal: refill by the time elapsed (Redis's own clock, so workers'
-- clocks never disagree), then take up to ARGV[3] whole tokens. Same arithmetic as quotas/bucket.py.
-- KEYS[1] = bucket hash {tokens, at}; ARGV = rate (tokens/s), burst, want.
-- Returns {taken, seconds until a token as a string (0 when some were taken)}.
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil or at == nil then
  tokens = burst
  at = now
end
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local taken = math.min(want, math.floor(tokens))
tokens = tokens - taken
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(math.max(at, now)))
-- Once full again the bucket is the same as no bucket: let it go then (plus a second of slack).
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
local wait = 0
if taken == 0 then
  wait = (1 - tokens) / rate
end
return {taken, tostring(wait)}
