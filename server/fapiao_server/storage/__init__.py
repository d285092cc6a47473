"""PostgreSQL adapters (psycopg 3): SQL in the *.sql files beside them; the schema is built by the numbered
migrations/*.sql, and schema.sql shows its end state for reading (a test proves the two equal).

psycopg errors never leave this package raw: connection-level failures become ``domain.errors.Unavailable``.
"""
