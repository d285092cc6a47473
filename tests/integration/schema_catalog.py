"""A comparable description of a database schema, read from the catalogs (no pg_dump needed).

Everything a reader of the schema, or a query, can tell apart is described: relations and their kinds, columns
with their position, type, nullability, default, identity and collation, constraints, indexes, views, functions,
triggers (and whether they are enabled), sequences, partitions, types, extensions, rules, policies, privileges and
comments. Object ids and creation order are left out: two databases built by different scripts differ in those
and nobody can tell. The bookkeeping table of the migrator (fapiao_schema_migrations) is left out too: it exists
only where migrations ran.

A column's position is its rank among the table's live columns, not its attnum: `SELECT *`, `INSERT ... SELECT *`
and a view's `d.*` see that order, while a column a migration dropped leaves an attnum gap nobody can see.
"""

from __future__ import annotations

from typing import Any

import psycopg

_IGNORED = "'fapiao_schema_migrations', 'fapiao_schema_migrations_pkey'"

# Relations in the public schema that are ours (not the migrator's).
_OURS = f"n.nspname = 'public' AND c.relname NOT IN ({_IGNORED})"

_QUERIES = {
    "relations": f"""
        SELECT c.relname, c.relkind, c.relpersistence, c.reloptions, c.relrowsecurity, c.relforcerowsecurity,
               c.relreplident, CASE c.relkind WHEN 'p' THEN pg_get_partkeydef(c.oid) END,
               (SELECT amname FROM pg_am WHERE oid = c.relam)
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE {_OURS}
        ORDER BY 1""",
    "columns": f"""
        SELECT c.relname,
               row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum) AS position,
               a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
               pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated,
               CASE WHEN a.attcollation <> t.typcollation THEN a.attcollation::regcollation::text END,
               a.attstorage, a.attcompression, a.attstattarget,
               -- This server stamps every column with a pg_attver option whose value differs from one database
               -- to the next; it is not part of the schema.
               ARRAY(SELECT o FROM unnest(a.attoptions) AS o WHERE o NOT LIKE 'pg_attver=%' ORDER BY 1)
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_type t ON t.oid = a.atttypid
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE {_OURS} AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'c') AND a.attnum > 0 AND NOT a.attisdropped
        ORDER BY 1, 2""",
    "constraints": f"""
        SELECT coalesce(c.conrelid::regclass::text, ''), c.conname, c.contype, pg_get_constraintdef(c.oid),
               c.condeferrable, c.condeferred, c.convalidated, c.connoinherit
        FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
        WHERE n.nspname = 'public' AND c.conrelid::regclass::text NOT IN ({_IGNORED})
        ORDER BY 1, 2""",
    "indexes": f"""
        SELECT t.relname, c.relname, pg_get_indexdef(i.indexrelid), i.indisvalid, i.indisclustered,
               i.indisreplident, c.reloptions
        FROM pg_index i
        JOIN pg_class c ON c.oid = i.indexrelid
        JOIN pg_class t ON t.oid = i.indrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE {_OURS}
        ORDER BY 1, 2""",
    "views": f"""
        SELECT c.relname, pg_get_viewdef(c.oid), c.reloptions
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE {_OURS} AND c.relkind IN ('v', 'm')
        ORDER BY 1""",
    "functions": """
        SELECT p.oid::regprocedure::text, pg_get_functiondef(p.oid), p.proacl
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'public' AND p.prokind IN ('f', 'p', 'w')
        UNION ALL
        SELECT p.oid::regprocedure::text, p.prokind::text, p.proacl
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'public' AND p.prokind = 'a'
        ORDER BY 1""",
    "triggers": """
        SELECT t.tgrelid::regclass::text, t.tgname, pg_get_triggerdef(t.oid), t.tgenabled
        FROM pg_trigger t WHERE NOT t.tgisinternal ORDER BY 1, 2""",
    "sequences": """
        SELECT sequencename, data_type::text, start_value, min_value, max_value, increment_by, cycle, cache_size
        FROM pg_sequences WHERE schemaname = 'public' ORDER BY 1""",
    # Which table owns each sequence (serial and identity columns, OWNED BY).
    "sequence_owners": """
        SELECT s.relname, t.relname, a.attname, d.deptype
        FROM pg_depend d
        JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
        JOIN pg_class t ON t.oid = d.refobjid
        JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
        JOIN pg_namespace n ON n.oid = s.relnamespace
        WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND n.nspname = 'public'
        ORDER BY 1""",
    "partitions": """
        SELECT child.relname, parent.relname, pg_get_expr(child.relpartbound, child.oid)
        FROM pg_inherits i
        JOIN pg_class child ON child.oid = i.inhrelid
        JOIN pg_class parent ON parent.oid = i.inhparent
        ORDER BY 1""",
    # Enums, domains, composite and range types of our own (a table's row type comes with the table).
    "types": """
        SELECT t.typname, t.typtype, format_type(t.typbasetype, t.typtypmod), t.typnotnull, t.typdefault,
               (SELECT array_agg(e.enumlabel ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid),
               (SELECT array_agg(pg_get_constraintdef(c.oid) ORDER BY c.conname)
                FROM pg_constraint c WHERE c.contypid = t.oid)
        FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE n.nspname = 'public' AND t.typtype IN ('e', 'd', 'r', 'm')
           OR n.nspname = 'public' AND t.typtype = 'c'
              AND (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c'
        ORDER BY 1""",
    "extensions": "SELECT extname, extversion FROM pg_extension ORDER BY 1",
    "rules": "SELECT tablename, rulename, definition FROM pg_rules WHERE schemaname = 'public' ORDER BY 1, 2",
    "policies": """
        SELECT tablename, policyname, permissive, roles, cmd, qual, with_check
        FROM pg_policies WHERE schemaname = 'public' ORDER BY 1, 2""",
    "privileges": f"""
        SELECT c.relname, c.relacl, (SELECT array_agg(a.attname || '=' || a.attacl::text ORDER BY a.attnum)
                                     FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attacl IS NOT NULL)
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE {_OURS} AND (c.relacl IS NOT NULL OR EXISTS (
            SELECT FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attacl IS NOT NULL))
        ORDER BY 1""",
    # COMMENT ON anything in the database, named by what it describes rather than by object id.
    "comments": """
        SELECT (pg_identify_object(d.classoid, d.objoid, d.objsubid)).type,
               (pg_identify_object(d.classoid, d.objoid, d.objsubid)).identity, d.description
        FROM pg_description d
        WHERE (pg_identify_object(d.classoid, d.objoid, d.objsubid)).schema = 'public'
           OR d.classoid = 'pg_database'::regclass AND d.objoid = (SELECT oid FROM pg_database
                                                                  WHERE datname = current_database())
        ORDER BY 1, 2""",
}


def describe_schema(url: str) -> dict[str, list[tuple[Any, ...]]]:
    with psycopg.connect(url) as conn:
        return {name: [_hashable(row) for row in conn.execute(sql).fetchall()] for name, sql in _QUERIES.items()}


def _hashable(value: Any) -> Any:
    """Arrays (options, ACLs) arrive as lists; as tuples, rows can be compared as sets."""
    if isinstance(value, list | tuple):
        return tuple(_hashable(item) for item in value)
    return value


def schema_differences(left: dict[str, list[tuple[Any, ...]]], right: dict[str, list[tuple[Any, ...]]]) -> list[str]:
    """What one description has that the other lacks, one line per row, to say why two schemas differ."""
    lines = []
    for kind in sorted(left.keys() | right.keys()):
        only_left = set(left.get(kind, [])) - set(right.get(kind, []))
        only_right = set(right.get(kind, [])) - set(left.get(kind, []))
        lines += [f"{kind}: only in the first:  {row!r}" for row in sorted(only_left, key=repr)]
        lines += [f"{kind}: only in the second: {row!r}" for row in sorted(only_right, key=repr)]
    return lines
