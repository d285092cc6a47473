"""Cache adapters: a shared Redis cache or an in-process one, behind the same backend protocol, and the
cache-aside lookup of invoices (positive and negative entries, leases against stampedes and stale fills)."""
