-- Who may call the register: principals with a role and what they cover, their password logins,
-- login sessions (refresh tokens), API keys, and the announcement every worker listens to so that a revoked or
-- changed credential stops working at once everywhere.

CREATE TABLE principals (
    id                text PRIMARY KEY CHECK (id ~ '^[a-z][a-z0-9._-]{0,63}$'),
    role              text NOT NULL CHECK (role IN ('VERIFIER', 'TAXPAYER', 'TAX_OFFICER', 'AUDITOR', 'ADMIN')),
    display_name      text NOT NULL DEFAULT '',
    -- Requests per second across the fleet; NULL means the configured default.
    rate_limit        double precision CHECK (rate_limit > 0),
    certificate_name  text UNIQUE,
    disabled_at       timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE principal_tax_ids (
    principal_id  text NOT NULL REFERENCES principals (id),
    tax_id        text NOT NULL,
    PRIMARY KEY (principal_id, tax_id)
);

CREATE TABLE principal_regions (
    principal_id  text NOT NULL REFERENCES principals (id),
    region_code   text NOT NULL CHECK (region_code ~ '^[0-9]{4}$'),
    PRIMARY KEY (principal_id, region_code)
);

CREATE TABLE logins (
    principal_id   text PRIMARY KEY REFERENCES principals (id),
    username       text NOT NULL UNIQUE,
    -- argon2id, in the encoded form argon2-cffi writes (parameters and salt included).
    password_hash  text NOT NULL,
    totp_secret    text NOT NULL,
    -- The last TOTP time step accepted, so a code is never accepted twice.
    totp_last_step bigint NOT NULL DEFAULT 0,
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sessions (
    id             uuid PRIMARY KEY,
    principal_id   text NOT NULL REFERENCES principals (id),
    -- SHA-256 of the current refresh token; rotated on every refresh.
    refresh_hash   bytea NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    revoked_at     timestamptz
);
CREATE INDEX sessions_by_principal ON sessions (principal_id) WHERE revoked_at IS NULL;

CREATE TABLE api_keys (
    id            text PRIMARY KEY,
    principal_id  text NOT NULL REFERENCES principals (id),
    -- SHA-256 of the secret part: the secret has 256 random bits, so a slow hash would add nothing but cost
    -- on every call.
    secret_hash   bytea NOT NULL,
    description   text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz,
    revoked_at    timestamptz
);
CREATE INDEX api_keys_by_principal ON api_keys (principal_id);

-- Workers keep authenticated credentials in memory; any change to who may do what tells them to forget.
CREATE FUNCTION fapiao_announce_access_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('fapiao_access_changed', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER principals_announce AFTER INSERT OR UPDATE OR DELETE ON principals
    FOR EACH STATEMENT EXECUTE FUNCTION fapiao_announce_access_change();
CREATE TRIGGER principal_tax_ids_announce AFTER INSERT OR UPDATE OR DELETE ON principal_tax_ids
    FOR EACH STATEMENT EXECUTE FUNCTION fapiao_announce_access_change();
CREATE TRIGGER principal_regions_announce AFTER INSERT OR UPDATE OR DELETE ON principal_regions
    FOR EACH STATEMENT EXECUTE FUNCTION fapiao_announce_access_change();
CREATE TRIGGER sessions_announce AFTER UPDATE OR DELETE ON sessions
    FOR EACH STATEMENT EXECUTE FUNCTION fapiao_announce_access_change();
CREATE TRIGGER api_keys_announce AFTER UPDATE OR DELETE ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION fapiao_announce_access_change();

-- Tenant scoping, written once and used by every query that reads invoices or forms for a caller: the rows a
-- principal may see are those whose seller or buyer is one of its tax ids, or whose region is one of its regions
-- (or all, for the register's own upkeep). A plain SQL function, so the planner inlines it.
CREATE FUNCTION fapiao_in_scope(seller text, buyer text, region text, everything boolean, tax_ids text[],
                                regions text[]) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT everything OR seller = ANY(tax_ids) OR buyer = ANY(tax_ids) OR region = ANY(regions)
$$;
