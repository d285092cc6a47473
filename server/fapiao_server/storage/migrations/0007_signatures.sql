-- 0007: the register's signatures. Each invoice issued from now on carries an Ed25519 signature over its canonical
-- form (docs/signing.md) and the id of the key that made it; invoices from before have neither (both NULL). The
-- two are written together by the issuing code; no CHECK ties them, since adding one would scan every invoice
-- under an exclusive lock.
ALTER TABLE invoices ADD COLUMN signature_key_id text, ADD COLUMN signature bytea;

-- Every key the register has signed with. A server adds its key when it starts and marks the key it replaces as
-- retired then; keys are never deleted, so old signatures keep verifying.
CREATE TABLE signing_keys (
    key_id       text PRIMARY KEY,
    algorithm    text NOT NULL DEFAULT 'Ed25519' CHECK (algorithm = 'Ed25519'),
    public_key   bytea NOT NULL UNIQUE CHECK (length(public_key) = 32),
    activated_at timestamptz NOT NULL DEFAULT now(),
    retired_at   timestamptz
);

-- Answers carry the signature: the view gains its two columns at the end (CREATE OR REPLACE may only append).
CREATE OR REPLACE VIEW invoice_documents AS
SELECT
    i.id, i.invoice_type, i.invoice_code, i.invoice_number, i.issue_date, i.issue_time, i.state, i.region_code,
    i.seller_tax_id, i.seller_name, i.seller_address, i.seller_phone, i.seller_bank_name, i.seller_bank_account,
    i.buyer_tax_id, i.buyer_name, i.buyer_address, i.buyer_phone, i.buyer_bank_name, i.buyer_bank_account,
    i.amount_fen, i.tax_fen, i.total_fen, i.check_code, i.qr_payload, i.remarks,
    i.issuer_name, i.payee_name, i.reviewer_name,
    i.vehicle_vin, i.vehicle_brand_model, i.vehicle_type, i.vehicle_license_plate,
    i.reversed_amount_fen, i.certified_at, i.voided_at, i.updated_at, i.red_letter_form_id, i.data_key_id,
    o.id AS original_id, o.invoice_type AS original_type, o.invoice_code AS original_code,
    o.invoice_number AS original_number,
    (SELECT coalesce(json_agg(json_build_array(
                l.line_number, l.item_name, l.tax_classification_code, l.specification, l.unit,
                l.quantity::text, l.unit_price::text, l.amount_fen, l.tax_rate_basis_points, l.tax_fen)
            ORDER BY l.line_number), '[]')
       FROM invoice_lines l WHERE l.invoice_id = i.id) AS lines,
    (SELECT coalesce(json_agg(json_build_array(r.id, r.invoice_type, r.invoice_code, r.invoice_number)
            ORDER BY r.id), '[]')
       FROM invoices r WHERE r.original_invoice_id = i.id) AS red_letter_invoices,
    i.signature_key_id, i.signature
FROM invoices i
LEFT JOIN invoices o ON o.id = i.original_invoice_id;
