"""Realistic synthetic invoices for demos, tests and load tests (`fapiao seed`)."""
