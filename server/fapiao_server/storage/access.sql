-- Principals and their credentials (migration 0005). Named queries; see queries.py.

-- name: principal_accounts
-- Principals by id, with what they cover and their login name.
SELECT p.id, p.role, p.display_name, p.rate_limit, p.certificate_name, p.disabled_at, p.created_at,
       ARRAY(SELECT t.tax_id FROM principal_tax_ids t WHERE t.principal_id = p.id ORDER BY t.tax_id) AS tax_ids,
       ARRAY(SELECT r.region_code FROM principal_regions r WHERE r.principal_id = p.id ORDER BY r.region_code)
           AS regions,
       l.username
  FROM principals p
  LEFT JOIN logins l ON l.principal_id = p.id
 WHERE p.id = ANY(%(ids)s);

-- name: principal_by_certificate
SELECT id FROM principals WHERE certificate_name = %(name)s;

-- name: list_principal_ids
-- A page of principal ids after %(after)s (AIP-158 keyset), optionally of one role.
SELECT id FROM principals
 WHERE id > %(after)s AND (%(role)s::text IS NULL OR role = %(role)s)
 ORDER BY id
 LIMIT %(limit)s;

-- name: insert_principal
INSERT INTO principals (id, role, display_name, rate_limit, certificate_name)
VALUES (%(id)s, %(role)s, %(display_name)s, %(rate_limit)s, %(certificate_name)s)
ON CONFLICT (id) DO NOTHING
RETURNING id;

-- name: update_principal
-- Every field is written; the service fills the ones the update mask leaves alone from the current row.
UPDATE principals
   SET role = %(role)s, display_name = %(display_name)s, rate_limit = %(rate_limit)s,
       certificate_name = %(certificate_name)s,
       disabled_at = CASE WHEN NOT %(disabled)s THEN NULL ELSE coalesce(disabled_at, now()) END
 WHERE id = %(id)s
RETURNING id;

-- name: replace_principal_tax_ids
-- One statement sees one snapshot, so the rows it keeps are left alone rather than deleted and re-inserted.
WITH gone AS (
    DELETE FROM principal_tax_ids WHERE principal_id = %(id)s AND tax_id <> ALL(%(tax_ids)b::text[])
)
INSERT INTO principal_tax_ids (principal_id, tax_id)
SELECT %(id)s, unnest(%(tax_ids)b::text[])
ON CONFLICT DO NOTHING;

-- name: replace_principal_regions
WITH gone AS (
    DELETE FROM principal_regions WHERE principal_id = %(id)s AND region_code <> ALL(%(regions)b::text[])
)
INSERT INTO principal_regions (principal_id, region_code)
SELECT %(id)s, unnest(%(regions)b::text[])
ON CONFLICT DO NOTHING;

-- name: login_by_username
-- totp_secret is sealed (storage/encryption.py), bound to principal_id.
SELECT principal_id, password_hash, totp_secret, totp_last_step, data_key_id
  FROM logins WHERE username = %(username)s;

-- name: accept_totp_step
-- Takes the step only if no later (or equal) one was taken meanwhile: a code is good once, even when two
-- logins race with it.
UPDATE logins SET totp_last_step = %(step)s
 WHERE principal_id = %(principal_id)s AND totp_last_step < %(step)s
RETURNING principal_id;

-- name: upsert_login
INSERT INTO logins (principal_id, username, password_hash, totp_secret, data_key_id)
VALUES (%(principal_id)s, %(username)s, %(password_hash)s, %(totp_secret)s, %(data_key_id)s)
ON CONFLICT (principal_id) DO UPDATE
   SET username = excluded.username, password_hash = excluded.password_hash,
       totp_secret = excluded.totp_secret, data_key_id = excluded.data_key_id, totp_last_step = 0,
       updated_at = now();

-- name: insert_session
INSERT INTO sessions (id, principal_id, refresh_hash, expires_at)
VALUES (%(id)s, %(principal_id)s, %(refresh_hash)s, %(expires_at)s);

-- name: session_state
SELECT principal_id, expires_at, revoked_at FROM sessions WHERE id = %(id)s;

-- name: rotate_refresh_token
-- Moves a live session to a new refresh token, if the one presented is its current one.
UPDATE sessions SET refresh_hash = %(new_hash)s
 WHERE id = %(id)s AND refresh_hash = %(old_hash)s AND revoked_at IS NULL AND expires_at > now()
RETURNING principal_id, expires_at, revoked_at;

-- name: revoke_session
UPDATE sessions SET revoked_at = now() WHERE id = %(id)s AND revoked_at IS NULL;

-- name: revoke_sessions_of
UPDATE sessions SET revoked_at = now()
 WHERE principal_id = %(principal_id)s AND revoked_at IS NULL AND expires_at > now()
RETURNING id;

-- name: insert_api_key
INSERT INTO api_keys (id, principal_id, secret_hash, description, expires_at)
VALUES (%(id)s, %(principal_id)s, %(secret_hash)s, %(description)s, %(expires_at)s)
RETURNING id, principal_id, description, created_at, expires_at, revoked_at;

-- name: api_key_secret
SELECT principal_id, secret_hash, expires_at, revoked_at FROM api_keys WHERE id = %(id)s;

-- name: api_keys_of
SELECT id, principal_id, description, created_at, expires_at, revoked_at
  FROM api_keys WHERE principal_id = %(principal_id)s ORDER BY created_at, id;

-- name: revoke_api_key
UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = %(id)s
RETURNING id, principal_id, description, created_at, expires_at, revoked_at;
