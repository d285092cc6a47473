-- 0010: TOTP secrets sealed at rest like personal details (docs/encryption.md), each bound to its login's
-- principal. Existing secrets are carried over as migration 0006 carried names: version byte 0 + the UTF-8 text,
-- read as is, so logins keep working, and sealed by the next `fapiao keys rotate`.
ALTER TABLE logins
    ALTER COLUMN totp_secret TYPE bytea USING '\x00'::bytea || convert_to(totp_secret, 'UTF8'),
    -- The data key that sealed the secret (NULL: carried over, not sealed yet). Rotation counts and walks logins
    -- by it; people are few, so no index.
    ADD COLUMN data_key_id integer;
