-- Reporting (数据统计): counts and sums of invoices, by the groupings asked for (a grouping not asked for is NULL
-- in every row, so it does not split the groups). The party or region is a plain equality, never "$1 IS NULL OR
-- ...", so each statement walks its own index (seller, buyer or region, then issue time), narrowed by the issue
-- times of the dates asked (an invoice's issue_date is its issue_time's Asia/Shanghai date, so both conditions
-- select the same rows: the time range is for the index); the caller orders the groups. Sums of bigint are numeric in
-- PostgreSQL: exact, whatever their size.

-- name: summarize_seller_invoices
-- A seller's invoices.
SELECT CASE WHEN %(by_type)s THEN invoice_type END AS invoice_type,
       CASE WHEN %(by_state)s THEN state END AS state,
       CASE WHEN %(by_month)s THEN to_char(issue_date, 'YYYY-MM') END AS month,
       CASE WHEN %(by_region)s THEN region_code END AS region_code,
       count(*) AS invoice_count, sum(amount_fen) AS amount_fen, sum(tax_fen) AS tax_fen,
       sum(total_fen) AS total_fen
FROM invoices
WHERE seller_tax_id = %(seller)s
  AND fapiao_in_scope(seller_tax_id, buyer_tax_id, region_code, %(everything)s, %(tax_ids)b::text[], %(regions)b::text[])
  AND issue_time >= %(start_time)s AND issue_time < %(end_time)s
  AND issue_date BETWEEN %(start_date)s AND %(end_date)s
  AND (%(state)s::smallint IS NULL OR state = %(state)s)
  AND (%(invoice_type)s::smallint IS NULL OR invoice_type = %(invoice_type)s)
GROUP BY 1, 2, 3, 4;

-- name: summarize_buyer_invoices
-- A buyer's invoices.
SELECT CASE WHEN %(by_type)s THEN invoice_type END AS invoice_type,
       CASE WHEN %(by_state)s THEN state END AS state,
       CASE WHEN %(by_month)s THEN to_char(issue_date, 'YYYY-MM') END AS month,
       CASE WHEN %(by_region)s THEN region_code END AS region_code,
       count(*) AS invoice_count, sum(amount_fen) AS amount_fen, sum(tax_fen) AS tax_fen,
       sum(total_fen) AS total_fen
FROM invoices
WHERE buyer_tax_id = %(buyer)s AND buyer_tax_id <> ''
  AND fapiao_in_scope(seller_tax_id, buyer_tax_id, region_code, %(everything)s, %(tax_ids)b::text[], %(regions)b::text[])
  AND issue_time >= %(start_time)s AND issue_time < %(end_time)s
  AND issue_date BETWEEN %(start_date)s AND %(end_date)s
  AND (%(state)s::smallint IS NULL OR state = %(state)s)
  AND (%(invoice_type)s::smallint IS NULL OR invoice_type = %(invoice_type)s)
GROUP BY 1, 2, 3, 4;

-- name: summarize_region_invoices
-- A region's invoices.
SELECT CASE WHEN %(by_type)s THEN invoice_type END AS invoice_type,
       CASE WHEN %(by_state)s THEN state END AS state,
       CASE WHEN %(by_month)s THEN to_char(issue_date, 'YYYY-MM') END AS month,
       CASE WHEN %(by_region)s THEN region_code END AS region_code,
       count(*) AS invoice_count, sum(amount_fen) AS amount_fen, sum(tax_fen) AS tax_fen,
       sum(total_fen) AS total_fen
FROM invoices
WHERE region_code = %(region)s
  AND fapiao_in_scope(seller_tax_id, buyer_tax_id, region_code, %(everything)s, %(tax_ids)b::text[], %(regions)b::text[])
  AND issue_time >= %(start_time)s AND issue_time < %(end_time)s
  AND issue_date BETWEEN %(start_date)s AND %(end_date)s
  AND (%(state)s::smallint IS NULL OR state = %(state)s)
  AND (%(invoice_type)s::smallint IS NULL OR invoice_type = %(invoice_type)s)
GROUP BY 1, 2, 3, 4;
