-- Invoices for the load test: a random sample of the register, issued inside the verification window (with a
-- month to spare, so none ages out during a run), each with a number of the same shape that the register does
-- not hold, for NOT_FOUND lookups ('' in the unlikely case the register holds it after all).
--
-- TABLESAMPLE SYSTEM reads only the pages needed for about four times the rows asked for, so a large register
-- is not scanned whole; a small or never-analysed one is read whole (reltuples is -1 until ANALYZE).
-- Parameters: limit (rows wanted), window_years (FAPIAO_VERIFICATION_WINDOW_YEARS).
WITH sampled AS (
    SELECT invoice_type, invoice_code, invoice_number, issue_date, check_code, amount_fen, total_fen, qr_payload,
           CASE WHEN invoice_code = ''
                -- 数电: keep year, province and channel (5 digits), take the top of the 15-digit sequence.
                THEN left(invoice_number, 5) || '999' || right(invoice_number, 12)
                -- Legacy: registers count numbers up from 1 per invoice code, so 9xxxxxxx is seldom reached.
                ELSE '9' || right(invoice_number, 7)
           END AS absent_number
    FROM invoices TABLESAMPLE SYSTEM ((
        SELECT least(100, 400.0 * %(limit)s / greatest(reltuples, 1)) FROM pg_class WHERE oid = 'invoices'::regclass
    ))
    WHERE issue_date >= ((now() AT TIME ZONE 'Asia/Shanghai')
                         - make_interval(years => %(window_years)s) + interval '1 month')::date
)
SELECT s.invoice_type, s.invoice_code, s.invoice_number, s.issue_date, s.check_code, s.amount_fen, s.total_fen,
       s.qr_payload,
       CASE WHEN EXISTS (SELECT FROM invoices i WHERE i.invoice_number = s.absent_number
                                                  AND i.invoice_code = s.invoice_code)
            THEN '' ELSE s.absent_number
       END AS absent_number
FROM sampled s
ORDER BY random()
LIMIT %(limit)s;
