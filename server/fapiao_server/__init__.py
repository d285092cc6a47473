"""The Fapiao register's gRPC server.

Layers, inner to outer: ``domain`` (pure rules) <- ``services`` (use cases, talking to ports) <- adapters
(``storage`` for PostgreSQL, ``cache`` for Redis / in-process) and the ``transport`` (gRPC). ``app`` is the
one composition root that wires them; ``entrypoints`` (the commands and the supervisor) run it.
"""
