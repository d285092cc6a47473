"""Quotas: each principal's request rate across the fleet (``FleetRateLimiter``) and the daily count of
verifications of one invoice by one caller (``VerificationAttempts``). Both share their state through Redis
(``RedisQuotaStore``, Lua scripts beside it) and fall back to per-worker counting in memory while Redis cannot
answer. The rules themselves (limits, refusals) are in ``domain.quotas``; docs/quotas.md explains the design."""
