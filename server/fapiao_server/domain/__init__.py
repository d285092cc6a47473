"""Pure rules of the invoice register: identifiers, types, money and tax, QR payloads, verification.

Nothing here performs I/O or reads the clock; callers pass "today" in.
"""
