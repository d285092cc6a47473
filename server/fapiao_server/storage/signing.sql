-- Named queries of the register's signing keys (see fapiao_server.signing_keys).

-- name: publish_signing_key
-- A server publishes the key it signs with before it serves. A key seen for the first time becomes the current
-- one and retires the key it replaces (at the new key's activation); a key already known changes nothing, so
-- every worker of a fleet, and a restart, may publish the same key again.
WITH added AS (
    INSERT INTO signing_keys (key_id, public_key) VALUES (%(key_id)s, %(public_key)s)
    ON CONFLICT (key_id) DO NOTHING
    RETURNING key_id, activated_at
)
UPDATE signing_keys k SET retired_at = a.activated_at
FROM added a
WHERE k.retired_at IS NULL AND k.key_id <> a.key_id;

-- name: signing_keys
-- Every key ever used, newest first.
SELECT key_id, algorithm, public_key, activated_at, retired_at FROM signing_keys ORDER BY activated_at DESC, key_id;
