-- Named queries used by the storage adapters. Each starts with "-- name: <name>"; the comment lines after it
-- say what it is for. Parameters are psycopg's %(name)s placeholders; arrays go as %(name)b, in binary, which
-- costs the worker a seventh of the CPU of text arrays (dumping insert_invoices' parameters for 20 invoices: 25
-- against 175 microseconds an invoice), because text arrays of bytea and strings are escaped and quoted in Python.

-- name: invoices_by_keys
-- The invoices with the given (number, code) keys, whole (see the invoice_documents view). One statement
-- serves single and batch lookups.
SELECT d.*
FROM unnest(%(numbers)b::text[], %(codes)b::text[]) AS k (invoice_number, invoice_code)
JOIN invoice_documents d ON d.invoice_number = k.invoice_number AND d.invoice_code = k.invoice_code;

-- name: reserve_verification_record_ids
-- The first id of a block of 1,000 this worker may hand out (the sequence steps by 1,000).
SELECT nextval('verification_records_id_seq');

-- name: insert_verification_records
-- A small group commit in one statement: one array per column; mismatched fields arrive comma-joined ('' for
-- none).
INSERT INTO verification_records (
    id, verified_at, caller, channel, invoice_type, invoice_code, invoice_number, issue_date,
    outcome, mismatched_fields, invoice_state, invoice_id
)
SELECT id, verified_at, caller, channel, invoice_type, invoice_code, invoice_number, issue_date,
       outcome, string_to_array(mismatched, ','), invoice_state, invoice_id
FROM unnest(
    %(ids)b::bigint[], %(verified_at)b::timestamptz[], %(callers)b::text[], %(channels)b::smallint[],
    %(invoice_types)b::smallint[], %(invoice_codes)b::text[], %(invoice_numbers)b::text[], %(issue_dates)b::date[],
    %(outcomes)b::smallint[], %(mismatched)b::text[], %(invoice_states)b::smallint[], %(invoice_ids)b::bigint[]
) AS r (id, verified_at, caller, channel, invoice_type, invoice_code, invoice_number, issue_date,
        outcome, mismatched, invoice_state, invoice_id);

-- name: copy_verification_records
COPY verification_records (
    id, verified_at, caller, channel, invoice_type, invoice_code, invoice_number, issue_date,
    outcome, mismatched_fields, invoice_state, invoice_id
) FROM STDIN;

-- name: list_verification_records
-- One page of a caller's history, newest first; (after_time, after_id) is the keyset cursor of the last row seen.
SELECT id, verified_at, caller, channel, invoice_type, invoice_code, invoice_number, issue_date,
       outcome, mismatched_fields, invoice_state, invoice_id
FROM verification_records
WHERE caller = %(caller)s
  AND (%(invoice_code)s::text IS NULL OR invoice_code = %(invoice_code)s)
  AND (%(invoice_number)s::text IS NULL OR invoice_number = %(invoice_number)s)
  AND (%(outcome)s::smallint IS NULL OR outcome = %(outcome)s)
  AND verified_at >= coalesce(%(start_time)s::timestamptz, '-infinity')
  AND verified_at < coalesce(%(end_time)s::timestamptz, 'infinity')
  AND (%(after_time)s::timestamptz IS NULL OR (verified_at, id) < (%(after_time)s::timestamptz, %(after_id)s::bigint))
ORDER BY verified_at DESC, id DESC
LIMIT %(limit)s;

-- name: ensure_verification_partitions
SELECT fapiao_ensure_verification_partitions(%(start)s::date, %(months)s);

-- name: next_invoice_ids
SELECT nextval(pg_get_serial_sequence('invoices', 'id')) FROM generate_series(1, %(count)s);

-- name: copy_invoices
COPY invoices (
    id, invoice_type, invoice_code, invoice_number, issue_date, issue_time, state, region_code,
    seller_tax_id, seller_name, seller_address, seller_phone, seller_bank_name, seller_bank_account,
    buyer_tax_id, buyer_name, buyer_address, buyer_phone, buyer_bank_name, buyer_bank_account,
    amount_fen, tax_fen, total_fen, check_code, qr_payload, remarks, issuer_name, payee_name, reviewer_name,
    vehicle_vin, vehicle_brand_model, vehicle_type, vehicle_license_plate,
    original_invoice_id, reversed_amount_fen, certified_at, voided_at, data_key_id, signature_key_id, signature
) FROM STDIN;

-- name: copy_invoice_lines
COPY invoice_lines (
    invoice_id, line_number, item_name, tax_classification_code, specification, unit, quantity, unit_price,
    amount_fen, tax_rate_basis_points, tax_fen, reverses_line_number
) FROM STDIN;

-- name: copy_invoice_events
-- The generated history of seeded invoices (their ISSUED events and the change that led to their state).
COPY invoice_events (
    event_type, invoice_id, seller_tax_id, buyer_tax_id, region_code, actor, occurred_at, reason, state_before,
    state_after, reversed_amount_fen, red_invoice_id
) FROM STDIN;

-- name: count_invoices
SELECT count(*) FROM invoices;

-- name: ping
-- The health probe's question: an answer says PostgreSQL is up, a changed one that it restarted meanwhile.
SELECT pg_postmaster_start_time();

-- name: lock_migrations
-- Held while migrating so that workers and nodes starting together migrate one at a time.
SELECT pg_advisory_lock(hashtext('fapiao_migrations'));

-- name: unlock_migrations
SELECT pg_advisory_unlock(hashtext('fapiao_migrations'));

-- name: create_migrations_table
CREATE TABLE IF NOT EXISTS fapiao_schema_migrations (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);

-- name: migrations_table_exists
SELECT to_regclass('fapiao_schema_migrations') IS NOT NULL;

-- name: applied_migrations
SELECT version FROM fapiao_schema_migrations ORDER BY version;

-- name: record_migration
INSERT INTO fapiao_schema_migrations (version, name) VALUES (%(version)s, %(name)s);

-- name: embedded_database_exists
SELECT 1 FROM pg_database WHERE datname = 'fapiao';

-- name: create_embedded_database
CREATE DATABASE fapiao;

-- name: demo_sample_invoice
-- An invoice in force, verifiable by check code, recent enough for the verification window: the one the demo
-- banner shows how to verify (and its seller, whom the demo taxpayer acts for).
SELECT invoice_code, invoice_number, issue_date, check_code, seller_tax_id, region_code
FROM invoices
WHERE state = 1 AND check_code <> '' AND original_invoice_id IS NULL AND issue_date >= %(since)s
ORDER BY id
LIMIT 1;
