"""Use cases. They validate through the domain, talk to ports (services.ports) and know nothing of gRPC,
psycopg or Redis."""
