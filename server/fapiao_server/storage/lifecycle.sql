-- Named queries of the invoice lifecycle (issue, void, certify, red-letter forms, history). Same conventions as
-- queries.sql.

-- name: invoices_by_ids
-- Invoices by id, those in the caller's scope (fapiao_in_scope, migration 0005) only.
SELECT d.* FROM invoice_documents d
WHERE d.id = ANY(%(ids)b::bigint[]) AND fapiao_in_scope(d.seller_tax_id, d.buyer_tax_id, d.region_code, %(everything)s, %(tax_ids)b::text[], %(regions)b::text[]);

-- name: visible_invoice_by_key
SELECT d.* FROM invoice_documents d
WHERE d.invoice_number = %(number)s AND d.invoice_code = %(code)s
  AND fapiao_in_scope(d.seller_tax_id, d.buyer_tax_id, d.region_code, %(everything)s, %(tax_ids)b::text[], %(regions)b::text[]);

-- name: lock_invoice_by_id
-- Every change to an invoice (or to a form against it) first locks the invoice row, so changes to one invoice
-- happen one after another and the loser of a race sees the winner's result.
-- A caller's change may lock only what it may see: out of scope reads as "no such invoice".
SELECT id FROM invoices
WHERE id = %(id)s AND fapiao_in_scope(seller_tax_id, buyer_tax_id, region_code, %(everything)s, %(tax_ids)b::text[], %(regions)b::text[])
FOR UPDATE;

-- name: lock_invoice_by_key
SELECT id FROM invoices
WHERE invoice_number = %(number)s AND invoice_code = %(code)s
  AND fapiao_in_scope(seller_tax_id, buyer_tax_id, region_code, %(everything)s, %(tax_ids)b::text[], %(regions)b::text[])
FOR UPDATE;

-- name: list_seller_invoices
-- One page of a seller's invoices (optionally to one buyer), newest first; (after_time, after_id) is the keyset
-- cursor. The tax id is a plain equality, never "$1 IS NULL OR ...", so even a generic plan walks the index.
SELECT d.*
FROM invoice_documents d
WHERE d.seller_tax_id = %(seller)s
  AND (%(buyer)s::text IS NULL OR d.buyer_tax_id = %(buyer)s)
  AND (%(region)s::text IS NULL OR d.region_code = %(region)s)
  AND fapiao_in_scope(d.seller_tax_id, d.buyer_tax_id, d.region_code, %(everything)s, %(tax_ids)b::text[], %(regions)b::text[])
  AND (%(state)s::smallint IS NULL OR d.state = %(state)s)
  AND (%(invoice_type)s::smallint IS NULL OR d.invoice_type = %(invoice_type)s)
  AND d.issue_date >= coalesce(%(start_date)s::date, '-infinity')
  AND d.issue_date <= coalesce(%(end_date)s::date, 'infinity')
  AND (%(after_time)s::timestamptz IS NULL OR (d.issue_time, d.id) < (%(after_time)s::timestamptz, %(after_id)s::bigint))
ORDER BY d.issue_time DESC, d.id DESC
LIMIT %(limit)s;

-- name: list_buyer_invoices
-- The same for a buyer's invoices from any seller.
SELECT d.*
FROM invoice_documents d
WHERE d.buyer_tax_id = %(buyer)s
  AND (%(region)s::text IS NULL OR d.region_code = %(region)s)
  AND fapiao_in_scope(d.seller_tax_id, d.buyer_tax_id, d.region_code, %(everything)s, %(tax_ids)b::text[], %(regions)b::text[])
  AND (%(state)s::smallint IS NULL OR d.state = %(state)s)
  AND (%(invoice_type)s::smallint IS NULL OR d.invoice_type = %(invoice_type)s)
  AND d.issue_date >= coalesce(%(start_date)s::date, '-infinity')
  AND d.issue_date <= coalesce(%(end_date)s::date, 'infinity')
  AND (%(after_time)s::timestamptz IS NULL OR (d.issue_time, d.id) < (%(after_time)s::timestamptz, %(after_id)s::bigint))
ORDER BY d.issue_time DESC, d.id DESC
LIMIT %(limit)s;

-- name: list_region_invoices
-- The same for a region's invoices (a tax officer's listing).
SELECT d.*
FROM invoice_documents d
WHERE d.region_code = %(region)s
  AND fapiao_in_scope(d.seller_tax_id, d.buyer_tax_id, d.region_code, %(everything)s, %(tax_ids)b::text[], %(regions)b::text[])
  AND (%(state)s::smallint IS NULL OR d.state = %(state)s)
  AND (%(invoice_type)s::smallint IS NULL OR d.invoice_type = %(invoice_type)s)
  AND d.issue_date >= coalesce(%(start_date)s::date, '-infinity')
  AND d.issue_date <= coalesce(%(end_date)s::date, 'infinity')
  AND (%(after_time)s::timestamptz IS NULL OR (d.issue_time, d.id) < (%(after_time)s::timestamptz, %(after_id)s::bigint))
ORDER BY d.issue_time DESC, d.id DESC
LIMIT %(limit)s;

-- name: period_reported
SELECT EXISTS (SELECT 1 FROM tax_period_reports WHERE tax_id = %(tax_id)s AND period = %(period)s);

-- name: report_period
-- Reporting is idempotent: the first report's time stands.
WITH inserted AS (
    INSERT INTO tax_period_reports (tax_id, period, actor) VALUES (%(tax_id)s, %(period)s, %(actor)s)
    ON CONFLICT (tax_id, period) DO NOTHING
    RETURNING reported_at
)
SELECT reported_at FROM inserted
UNION ALL
SELECT reported_at FROM tax_period_reports WHERE tax_id = %(tax_id)s AND period = %(period)s
LIMIT 1;

-- name: reversed_by_line
-- How much of each line of an original its red invoices have reversed (positive amounts). sum() of bigint is
-- numeric: cast back, so the rules compute in integers like every other amount.
SELECT l.reverses_line_number, (-sum(l.amount_fen))::bigint, (-sum(l.tax_fen))::bigint
FROM invoices r JOIN invoice_lines l ON l.invoice_id = r.id
WHERE r.original_invoice_id = %(id)s AND l.reverses_line_number IS NOT NULL
GROUP BY l.reverses_line_number;

-- name: set_invoice_state
UPDATE invoices
SET state = %(state)s,
    voided_at = CASE WHEN %(state)s = 2 THEN %(now)s ELSE voided_at END,
    reversed_amount_fen = coalesce(%(reversed_amount_fen)s, reversed_amount_fen)
WHERE id = %(id)s;

-- name: certify_invoice
UPDATE invoices SET certified_at = %(now)s WHERE id = %(id)s;

-- name: claim_requests
-- Claims AIP-155 request ids. A claim held by a transaction still running waits for it; the ids returned are
-- the ones this transaction now owns (the others were used before: see requests_used).
INSERT INTO idempotency_keys (caller, request_id, fingerprint)
SELECT * FROM unnest(%(callers)b::text[], %(request_ids)b::uuid[], %(fingerprints)b::bytea[])
ON CONFLICT (caller, request_id) DO NOTHING
RETURNING caller, request_id::text;

-- name: requests_used
SELECT k.caller, k.request_id::text, k.fingerprint, k.result_id
FROM unnest(%(callers)b::text[], %(request_ids)b::uuid[]) AS q (caller, request_id)
JOIN idempotency_keys k ON k.caller = q.caller AND k.request_id = q.request_id;

-- name: finish_requests
UPDATE idempotency_keys k SET result_id = r.result_id
FROM unnest(%(callers)b::text[], %(request_ids)b::uuid[], %(result_ids)b::bigint[]) AS r (caller, request_id, result_id)
WHERE k.caller = r.caller AND k.request_id = r.request_id;

-- name: forget_old_requests
-- Request ids are remembered for a week: far longer than any client retries.
DELETE FROM idempotency_keys WHERE created_at < %(before)s;

-- name: reserve_number_blocks
-- Reserves `count` consecutive numbers under each prefix in one statement, locking the counter rows in prefix
-- order (so two batches never deadlock); returns each prefix's new next value (its block ends just before it).
INSERT INTO number_counters AS c (prefix, next_value)
SELECT prefix, 1 + count
FROM unnest(%(prefixes)b::text[], %(counts)b::bigint[]) AS r (prefix, count)
ORDER BY prefix
ON CONFLICT (prefix) DO UPDATE SET next_value = c.next_value + excluded.next_value - 1
RETURNING prefix, next_value;

-- name: insert_invoices
-- Personal details arrive sealed (storage/encryption.py), all with the data key data_key_id.
INSERT INTO invoices (
    id, invoice_type, invoice_code, invoice_number, issue_date, issue_time, state, region_code,
    seller_tax_id, seller_name, seller_address, seller_phone, seller_bank_name, seller_bank_account,
    buyer_tax_id, buyer_name, buyer_address, buyer_phone, buyer_bank_name, buyer_bank_account,
    amount_fen, tax_fen, total_fen, check_code, qr_payload, remarks, issuer_name, payee_name, reviewer_name,
    vehicle_vin, vehicle_brand_model, vehicle_type, vehicle_license_plate,
    original_invoice_id, red_letter_form_id, created_at, updated_at, data_key_id, signature_key_id, signature
)
SELECT id, invoice_type, invoice_code, invoice_number, issue_date, issue_time, 1, region_code,
    seller_tax_id, seller_name, seller_address, seller_phone, seller_bank_name, seller_bank_account,
    buyer_tax_id, buyer_name, buyer_address, buyer_phone, buyer_bank_name, buyer_bank_account,
    amount_fen, tax_fen, amount_fen + tax_fen, check_code, qr_payload, remarks, issuer_name, payee_name,
    reviewer_name, vehicle_vin, vehicle_brand_model, vehicle_type, vehicle_license_plate,
    original_invoice_id, red_letter_form_id, issue_time, issue_time, %(data_key_id)s::integer, signature_key_id,
    signature
FROM unnest(
    %(ids)b::bigint[], %(invoice_types)b::smallint[], %(invoice_codes)b::text[], %(invoice_numbers)b::text[],
    %(issue_dates)b::date[], %(issue_times)b::timestamptz[], %(region_codes)b::text[],
    %(seller_tax_ids)b::text[], %(seller_names)b::bytea[], %(seller_addresses)b::bytea[], %(seller_phones)b::bytea[],
    %(seller_bank_names)b::bytea[], %(seller_bank_accounts)b::bytea[],
    %(buyer_tax_ids)b::text[], %(buyer_names)b::bytea[], %(buyer_addresses)b::bytea[], %(buyer_phones)b::bytea[],
    %(buyer_bank_names)b::bytea[], %(buyer_bank_accounts)b::bytea[],
    %(amounts)b::bigint[], %(taxes)b::bigint[], %(check_codes)b::text[], %(qr_payloads)b::text[],
    %(remarks)b::text[], %(issuer_names)b::bytea[], %(payee_names)b::bytea[], %(reviewer_names)b::bytea[],
    %(vins)b::text[], %(brand_models)b::text[], %(vehicle_types)b::text[], %(license_plates)b::text[],
    %(original_ids)b::bigint[], %(form_ids)b::bigint[], %(signature_key_ids)b::text[], %(signatures)b::bytea[]
) AS v (
    id, invoice_type, invoice_code, invoice_number, issue_date, issue_time, region_code,
    seller_tax_id, seller_name, seller_address, seller_phone, seller_bank_name, seller_bank_account,
    buyer_tax_id, buyer_name, buyer_address, buyer_phone, buyer_bank_name, buyer_bank_account,
    amount_fen, tax_fen, check_code, qr_payload, remarks, issuer_name, payee_name, reviewer_name,
    vehicle_vin, vehicle_brand_model, vehicle_type, vehicle_license_plate, original_invoice_id, red_letter_form_id,
    signature_key_id, signature
);

-- name: insert_invoice_lines
INSERT INTO invoice_lines (
    invoice_id, line_number, item_name, tax_classification_code, specification, unit, quantity, unit_price,
    amount_fen, tax_rate_basis_points, tax_fen, reverses_line_number
)
SELECT * FROM unnest(
    %(invoice_ids)b::bigint[], %(line_numbers)b::smallint[], %(item_names)b::text[],
    %(classifications)b::text[], %(specifications)b::text[], %(units)b::text[], %(quantities)b::numeric[],
    %(unit_prices)b::numeric[], %(amounts)b::bigint[], %(rates)b::integer[], %(taxes)b::bigint[],
    %(reverses)b::smallint[]
);

-- name: insert_events
INSERT INTO invoice_events (
    event_type, invoice_id, seller_tax_id, buyer_tax_id, region_code, actor, reason, state_before, state_after,
    form_id, form_state_before, form_state_after, reversed_amount_fen, red_invoice_id
)
SELECT * FROM unnest(
    %(event_types)b::smallint[], %(invoice_ids)b::bigint[], %(sellers)b::text[], %(buyers)b::text[],
    %(regions)b::text[],
    %(actors)b::text[], %(reasons)b::text[], %(states_before)b::smallint[], %(states_after)b::smallint[],
    %(form_ids)b::bigint[], %(form_states_before)b::smallint[], %(form_states_after)b::smallint[],
    %(reversed)b::bigint[], %(red_invoice_ids)b::bigint[]
);

-- name: insert_form
-- Amounts are cast: psycopg sends a small Python int as a smallint, and smallint arithmetic overflows.
INSERT INTO red_letter_forms (
    original_invoice_id, reason, state, initiator, seller_tax_id, buyer_tax_id, amount_fen, tax_fen, total_fen,
    remarks, created_at, updated_at, expires_at
)
VALUES (
    %(original_id)s, %(reason)s, %(state)s, %(initiator)s, %(seller)s, %(buyer)s, %(amount)s, %(tax)s,
    %(amount)s::bigint + %(tax)s::bigint, %(remarks)s, %(now)s, %(now)s, %(expires_at)s
)
RETURNING id;

-- name: insert_form_lines
INSERT INTO red_letter_form_lines (
    form_id, line_number, item_name, tax_classification_code, specification, unit, quantity, unit_price,
    amount_fen, tax_rate_basis_points, tax_fen
)
SELECT %(form_id)s, * FROM unnest(
    %(line_numbers)b::smallint[], %(item_names)b::text[], %(classifications)b::text[],
    %(specifications)b::text[], %(units)b::text[], %(quantities)b::numeric[], %(unit_prices)b::numeric[],
    %(amounts)b::bigint[], %(rates)b::integer[], %(taxes)b::bigint[]
);

-- name: forms
-- Whole forms: lines, and the references of their original and red invoices.
SELECT f.id, f.original_invoice_id, o.invoice_type AS original_type, o.invoice_code AS original_code,
       o.invoice_number AS original_number, f.reason, f.state, f.initiator, f.seller_tax_id, f.buyer_tax_id,
       f.amount_fen, f.tax_fen, f.total_fen, f.remarks, f.created_at, f.updated_at, f.expires_at,
       f.red_invoice_id, r.invoice_type AS red_type, r.invoice_code AS red_code, r.invoice_number AS red_number,
       (SELECT coalesce(json_agg(json_build_array(
                   l.line_number, l.item_name, l.tax_classification_code, l.specification, l.unit,
                   l.quantity::text, l.unit_price::text, l.amount_fen, l.tax_rate_basis_points, l.tax_fen)
               ORDER BY l.line_number), '[]')
          FROM red_letter_form_lines l WHERE l.form_id = f.id) AS lines
FROM red_letter_forms f
JOIN invoices o ON o.id = f.original_invoice_id
LEFT JOIN invoices r ON r.id = f.red_invoice_id
WHERE f.id = ANY(%(ids)b::bigint[]) AND fapiao_in_scope(f.seller_tax_id, f.buyer_tax_id, o.region_code, %(everything)s, %(tax_ids)b::text[], %(regions)b::text[]);

-- name: lock_form
SELECT f.original_invoice_id FROM red_letter_forms f JOIN invoices o ON o.id = f.original_invoice_id
WHERE f.id = %(id)s AND fapiao_in_scope(f.seller_tax_id, f.buyer_tax_id, o.region_code, %(everything)s, %(tax_ids)b::text[], %(regions)b::text[]);

-- name: open_form_of
SELECT id FROM red_letter_forms
WHERE original_invoice_id = %(id)s AND state IN (1, 2, 3, 4) AND red_invoice_id IS NULL;

-- name: set_form_state
UPDATE red_letter_forms
SET state = %(state)s, red_invoice_id = coalesce(%(red_invoice_id)s, red_invoice_id)
WHERE id = %(id)s;

-- name: list_invoice_forms
-- Forms against one invoice (optionally also by seller / buyer), newest first; a form past its 72 hours
-- unanswered counts as state 07 whether or not the sweep has written it yet.
SELECT f.id FROM red_letter_forms f JOIN invoices o ON o.id = f.original_invoice_id
WHERE fapiao_in_scope(f.seller_tax_id, f.buyer_tax_id, o.region_code, %(everything)s, %(tax_ids)b::text[], %(regions)b::text[])
  AND f.original_invoice_id = %(invoice_id)s
  AND (%(seller)s::text IS NULL OR f.seller_tax_id = %(seller)s)
  AND (%(buyer)s::text IS NULL OR f.buyer_tax_id = %(buyer)s)
  AND (%(state)s::smallint IS NULL OR
       CASE WHEN f.state IN (2, 3) AND f.expires_at <= now() THEN 7 ELSE f.state END = %(state)s)
  AND (%(after_time)s::timestamptz IS NULL OR (f.created_at, f.id) < (%(after_time)s::timestamptz, %(after_id)s::bigint))
ORDER BY f.created_at DESC, f.id DESC
LIMIT %(limit)s;

-- name: list_seller_forms
SELECT f.id FROM red_letter_forms f JOIN invoices o ON o.id = f.original_invoice_id
WHERE fapiao_in_scope(f.seller_tax_id, f.buyer_tax_id, o.region_code, %(everything)s, %(tax_ids)b::text[], %(regions)b::text[])
  AND f.seller_tax_id = %(seller)s
  AND (%(buyer)s::text IS NULL OR f.buyer_tax_id = %(buyer)s)
  AND (%(state)s::smallint IS NULL OR
       CASE WHEN f.state IN (2, 3) AND f.expires_at <= now() THEN 7 ELSE f.state END = %(state)s)
  AND (%(after_time)s::timestamptz IS NULL OR (f.created_at, f.id) < (%(after_time)s::timestamptz, %(after_id)s::bigint))
ORDER BY f.created_at DESC, f.id DESC
LIMIT %(limit)s;

-- name: list_buyer_forms
SELECT f.id FROM red_letter_forms f JOIN invoices o ON o.id = f.original_invoice_id
WHERE fapiao_in_scope(f.seller_tax_id, f.buyer_tax_id, o.region_code, %(everything)s, %(tax_ids)b::text[], %(regions)b::text[])
  AND f.buyer_tax_id = %(buyer)s
  AND (%(state)s::smallint IS NULL OR
       CASE WHEN f.state IN (2, 3) AND f.expires_at <= now() THEN 7 ELSE f.state END = %(state)s)
  AND (%(after_time)s::timestamptz IS NULL OR (f.created_at, f.id) < (%(after_time)s::timestamptz, %(after_id)s::bigint))
ORDER BY f.created_at DESC, f.id DESC
LIMIT %(limit)s;

-- name: expired_forms
-- Forms past their 72 hours still awaiting an answer, oldest first; the sweep locks each invoice, then acts.
SELECT id, original_invoice_id FROM red_letter_forms
WHERE state IN (2, 3) AND expires_at <= %(now)s
ORDER BY expires_at
LIMIT %(limit)s;

-- name: events
-- Events with their invoices' identifiers; the WHERE is appended by the caller's query (see events_*).
SELECT e.xid::text::bigint AS xid, e.id, e.event_type, e.invoice_id, i.invoice_type, i.invoice_code,
       i.invoice_number, e.seller_tax_id, e.buyer_tax_id, e.region_code, e.actor, e.occurred_at, e.reason,
       e.state_before, e.state_after, e.form_id, e.form_state_before, e.form_state_after, e.reversed_amount_fen,
       e.red_invoice_id, r.invoice_type AS red_type, r.invoice_code AS red_code, r.invoice_number AS red_number
FROM invoice_events e
JOIN invoices i ON i.id = e.invoice_id
LEFT JOIN invoices r ON r.id = e.red_invoice_id
WHERE e.id = ANY(%(ids)b::bigint[])
ORDER BY e.xid, e.id;

-- name: invoice_event_ids
-- One page of an invoice's history, in the register's order (committed events, stable or not).
SELECT id FROM invoice_events
WHERE invoice_id = %(invoice_id)s AND (xid, id) > (%(after_xid)s::text::xid8, %(after_id)s::bigint)
ORDER BY xid, id
LIMIT %(limit)s;

-- name: stable_event_ids
-- Events after a position that can no longer be preceded by another: written by transactions older than the
-- oldest one still running. Watchers read only these, so a cursor never skips a late commit.
SELECT id FROM invoice_events
WHERE (xid, id) > (%(after_xid)s::text::xid8, %(after_id)s::bigint)
  AND xid < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY xid, id
LIMIT %(limit)s;

-- name: stable_invoice_event_ids
SELECT id FROM invoice_events
WHERE invoice_id = %(invoice_id)s AND (xid, id) > (%(after_xid)s::text::xid8, %(after_id)s::bigint)
  AND xid < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY xid, id
LIMIT %(limit)s;

-- name: stable_tax_id_event_ids
-- A tax id's events as seller or as buyer, merged from the two indexes.
SELECT id FROM (
    (SELECT xid, id FROM invoice_events
     WHERE seller_tax_id = %(tax_id)s AND (xid, id) > (%(after_xid)s::text::xid8, %(after_id)s::bigint)
     ORDER BY xid, id LIMIT %(limit)s)
    UNION
    (SELECT xid, id FROM invoice_events
     WHERE buyer_tax_id = %(tax_id)s AND buyer_tax_id <> ''
       AND (xid, id) > (%(after_xid)s::text::xid8, %(after_id)s::bigint)
     ORDER BY xid, id LIMIT %(limit)s)
) AS e
WHERE xid < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY xid, id
LIMIT %(limit)s;

-- name: stable_region_event_ids
-- A region's events (a tax officer's watch).
SELECT id FROM invoice_events
WHERE region_code = %(region)s AND (xid, id) > (%(after_xid)s::text::xid8, %(after_id)s::bigint)
  AND xid < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY xid, id
LIMIT %(limit)s;

-- name: stable_head
-- The last stable position: where a watch that starts "now" begins.
SELECT xid::text::bigint, id FROM invoice_events
WHERE xid < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY xid DESC, id DESC
LIMIT 1;
