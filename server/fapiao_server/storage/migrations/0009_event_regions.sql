-- Tax officers watch the invoices of their regions (WatchInvoices by region). Each event carries its invoice's
-- region, indexed like the seller's and buyer's tax ids, so catching a region up reads that region's events only.
ALTER TABLE invoice_events ADD COLUMN region_code text;

-- The history is append-only; filling in the new column for events written before it existed is the one
-- change it ever takes, made here with the guard off, inside this migration's transaction.
ALTER TABLE invoice_events DISABLE TRIGGER invoice_events_append_only;
UPDATE invoice_events e SET region_code = i.region_code FROM invoices i WHERE i.id = e.invoice_id;
ALTER TABLE invoice_events ENABLE TRIGGER invoice_events_append_only;

ALTER TABLE invoice_events ALTER COLUMN region_code SET NOT NULL;
CREATE INDEX invoice_events_region_idx ON invoice_events (region_code, xid, id);

-- Officers list a region's invoices, newest first, like a seller's or buyer's.
CREATE INDEX invoices_region_idx ON invoices (region_code, issue_time DESC, id DESC);
