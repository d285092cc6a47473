"""PostgreSQL adapters (psycopg 3): SQL in queries.sql, schema.sql and numbered migrations/*.sql.

psycopg errors never leave this package raw: connection-level failures become ``domain.errors.Unavailable``.
"""
