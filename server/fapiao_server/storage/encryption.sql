-- Named queries of the data keys and their rotation (storage/data_keys.py, storage/key_rotation.py). Sealed
-- values live in invoices (personal details, migration 0006) and logins (TOTP secrets, migration 0010).

-- name: data_keys
SELECT id, state, wrapped_key, master_fingerprint FROM data_keys ORDER BY id;

-- name: primary_data_key
-- Checked by every write that seals values, so a rotation reaches every worker's next write.
SELECT id FROM data_keys WHERE state = 'primary';

-- name: lock_data_keys
-- Held while creating or promoting a key, so workers starting together create one first key, not several.
SELECT pg_advisory_xact_lock(hashtext('fapiao_data_keys'));

-- name: next_data_key_id
-- Taken before the key is wrapped: the wrapping is bound to the id.
SELECT nextval(pg_get_serial_sequence('data_keys', 'id'));

-- name: demote_primary_data_key
UPDATE data_keys SET state = 'retiring' WHERE state = 'primary';

-- name: insert_data_key
INSERT INTO data_keys (id, state, wrapped_key, master_fingerprint)
VALUES (%(id)s, 'primary', %(wrapped)s, %(fingerprint)s);

-- name: rewrap_data_key
-- The same data key, wrapped by another master key (`fapiao keys rewrap`); the sealed values do not change.
UPDATE data_keys SET wrapped_key = %(wrapped)s, master_fingerprint = %(fingerprint)s WHERE id = %(id)s;

-- name: retiring_data_keys
SELECT id FROM data_keys WHERE state = 'retiring' ORDER BY id;

-- name: data_key_usage
-- Every key with how many invoices and logins it seals; a NULL id counts the rows carried over by migrations
-- 0006 and 0010.
SELECT coalesce(k.id, u.data_key_id) AS id, k.state, k.created_at, k.retired_at,
       coalesce(u.invoices, 0) AS invoices, coalesce(u.logins, 0) AS logins, k.master_fingerprint
FROM data_keys k
FULL JOIN (
    SELECT data_key_id, sum(invoices)::bigint AS invoices, sum(logins)::bigint AS logins
    FROM (SELECT data_key_id, count(*) AS invoices, 0 AS logins FROM invoices GROUP BY data_key_id
          UNION ALL
          SELECT data_key_id, 0, count(*) FROM logins GROUP BY data_key_id) AS c
    GROUP BY data_key_id
) AS u ON u.data_key_id = k.id
ORDER BY 1 NULLS FIRST;

-- name: rows_on_data_key
SELECT (SELECT count(*) FROM invoices WHERE data_key_id = %(key)s)
     + (SELECT count(*) FROM logins WHERE data_key_id = %(key)s);

-- name: rows_carried_over
SELECT (SELECT count(*) FROM invoices WHERE data_key_id IS NULL)
     + (SELECT count(*) FROM logins WHERE data_key_id IS NULL);

-- name: quiet_reencryption
-- For this transaction only: the triggers neither move updated_at nor announce a change (migration 0006).
SELECT set_config('fapiao.reencrypting', 'on', true);

-- name: sealed_batch_on_key
-- A small batch of rows sealed with a retiring key, locked; rows a change holds are skipped, not waited for.
SELECT id, data_key_id, seller_name, seller_address, seller_phone, seller_bank_name, seller_bank_account,
       buyer_name, buyer_address, buyer_phone, buyer_bank_name, buyer_bank_account,
       issuer_name, payee_name, reviewer_name
FROM invoices
WHERE data_key_id = %(key)s
ORDER BY data_key_id, id
LIMIT %(limit)s
FOR UPDATE SKIP LOCKED;

-- name: sealed_batch_carried_over
SELECT id, data_key_id, seller_name, seller_address, seller_phone, seller_bank_name, seller_bank_account,
       buyer_name, buyer_address, buyer_phone, buyer_bank_name, buyer_bank_account,
       issuer_name, payee_name, reviewer_name
FROM invoices
WHERE data_key_id IS NULL
ORDER BY data_key_id, id
LIMIT %(limit)s
FOR UPDATE SKIP LOCKED;

-- name: reseal_invoices
UPDATE invoices AS i SET
    seller_name = v.seller_name, seller_address = v.seller_address, seller_phone = v.seller_phone,
    seller_bank_name = v.seller_bank_name, seller_bank_account = v.seller_bank_account,
    buyer_name = v.buyer_name, buyer_address = v.buyer_address, buyer_phone = v.buyer_phone,
    buyer_bank_name = v.buyer_bank_name, buyer_bank_account = v.buyer_bank_account,
    issuer_name = v.issuer_name, payee_name = v.payee_name, reviewer_name = v.reviewer_name,
    data_key_id = %(key)s
FROM unnest(
    %(ids)b::bigint[], %(seller_name)b::bytea[], %(seller_address)b::bytea[], %(seller_phone)b::bytea[],
    %(seller_bank_name)b::bytea[], %(seller_bank_account)b::bytea[],
    %(buyer_name)b::bytea[], %(buyer_address)b::bytea[], %(buyer_phone)b::bytea[],
    %(buyer_bank_name)b::bytea[], %(buyer_bank_account)b::bytea[],
    %(issuer_name)b::bytea[], %(payee_name)b::bytea[], %(reviewer_name)b::bytea[]
) AS v (id, seller_name, seller_address, seller_phone, seller_bank_name, seller_bank_account,
        buyer_name, buyer_address, buyer_phone, buyer_bank_name, buyer_bank_account,
        issuer_name, payee_name, reviewer_name)
WHERE i.id = v.id;

-- name: sealed_logins_on_key
-- Logins whose TOTP secret is sealed with a retiring key, locked and skipped as the invoices of a batch are.
SELECT principal_id, totp_secret
FROM logins
WHERE data_key_id = %(key)s
ORDER BY principal_id
LIMIT %(limit)s
FOR UPDATE SKIP LOCKED;

-- name: sealed_logins_carried_over
SELECT principal_id, totp_secret
FROM logins
WHERE data_key_id IS NULL
ORDER BY principal_id
LIMIT %(limit)s
FOR UPDATE SKIP LOCKED;

-- name: reseal_logins
-- Neither updated_at nor the TOTP step moves: the login is the same, only how its secret is stored changed.
UPDATE logins AS l SET totp_secret = v.totp_secret, data_key_id = %(key)s
FROM unnest(%(ids)b::text[], %(totp_secret)b::bytea[]) AS v (principal_id, totp_secret)
WHERE l.principal_id = v.principal_id;

-- name: bound_lock_wait
-- While the retirement waits for the lock, new writes queue behind it: give up soon and try again later rather
-- than stall issuing behind a long transaction.
SELECT set_config('lock_timeout', '500ms', true);

-- name: hold_sealed_writes
-- Retiring a key: wait for every write in flight (one may have sealed with the old key before the rotation
-- committed) and hold new ones for the moment the final count takes. No transaction writes both tables, so
-- taking the two locks in this order cannot deadlock with one.
LOCK TABLE invoices, logins IN SHARE MODE;

-- name: retire_data_key
UPDATE data_keys SET state = 'retired', retired_at = now()
WHERE id = %(key)s AND state = 'retiring'
  AND NOT EXISTS (SELECT 1 FROM invoices WHERE data_key_id = %(key)s)
  AND NOT EXISTS (SELECT 1 FROM logins WHERE data_key_id = %(key)s)
RETURNING id;
