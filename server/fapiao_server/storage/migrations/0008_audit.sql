-- 0008: the audit log: who did or tried what, with what outcome; append-only and hash-chained
-- (domain/audit.py has the chain rule, docs/audit.md the format an auditor re-checks it with).
CREATE TABLE audit_events (
    -- The chain's order: rows are appended under one lock, so ids increase in the order the chain links them.
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at  timestamptz NOT NULL,
    actor        text NOT NULL,
    -- A domain.access.Role name, or '' when the actor has none (not authenticated).
    actor_role   text NOT NULL DEFAULT '',
    -- The full RPC method name, or a name such as auth.login.
    action       text NOT NULL,
    outcome      text NOT NULL CHECK (outcome IN ('OK', 'DENIED', 'UNAUTHENTICATED', 'FAILED')),
    subject      text NOT NULL DEFAULT '',
    -- A flat object of strings.
    details      jsonb NOT NULL DEFAULT '{}',
    prev_hash    bytea NOT NULL CHECK (length(prev_hash) = 32),
    hash         bytea NOT NULL CHECK (length(hash) = 32)
);

-- Listing filters; each lists newest first by id. Times grow with ids, so a BRIN index serves time ranges at a
-- fraction of a btree's cost per insert.
CREATE INDEX audit_events_actor_idx ON audit_events (actor, id);
CREATE INDEX audit_events_action_idx ON audit_events (action, id);
CREATE INDEX audit_events_time_idx ON audit_events USING brin (occurred_at);

CREATE FUNCTION fapiao_refuse_audit_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only' USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION fapiao_refuse_audit_change();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION fapiao_refuse_audit_change();
