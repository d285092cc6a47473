-- 0011: audit events written in the transaction of the change they record, so that a worker killed after the
-- commit (SIGKILL, the OOM killer) cannot take them with it; any worker's audit writer moves them into the
-- chain (audit_events), in id order, under the chain's lock.
CREATE TABLE audit_outbox (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at  timestamptz NOT NULL,
    actor        text NOT NULL,
    actor_role   text NOT NULL DEFAULT '',
    action       text NOT NULL,
    outcome      text NOT NULL CHECK (outcome IN ('OK', 'DENIED', 'UNAUTHENTICATED', 'FAILED')),
    subject      text NOT NULL DEFAULT '',
    details      jsonb NOT NULL DEFAULT '{}'
);
