-- The PostgreSQL schema: SQLite's after its migration 3, plus rate_windows and store_meta.
-- Millisecond timestamps are BIGINT, sealed values BYTEA, flags BOOLEAN.
CREATE TABLE tokens (
    id                       TEXT PRIMARY KEY NOT NULL,
    scope                    TEXT NOT NULL CHECK (scope IN ('shared', 'per-user')),
    user_id                  TEXT NOT NULL,
    connector_id             TEXT NOT NULL,
    credential_type          TEXT NOT NULL,
    access_token             BYTEA NOT NULL,
    refresh_token            BYTEA,
    token_type               TEXT NOT NULL,
    granted_scope            TEXT,
    expires_at               BIGINT,
    refresh_token_expires_at BIGINT,
    created_at               BIGINT NOT NULL,
    updated_at               BIGINT NOT NULL,
    last_used_at             BIGINT,
    revoked                  BOOLEAN NOT NULL DEFAULT FALSE,
    version                  BIGINT NOT NULL,
    refresh_failed_at        BIGINT,
    UNIQUE (scope, user_id, connector_id, credential_type),
    CHECK ((scope = 'shared') = (user_id = ''))
);
CREATE INDEX tokens_by_connector ON tokens (connector_id);

CREATE TABLE oauth_states (
    state           TEXT PRIMARY KEY NOT NULL,
    connector_id    TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    credential_type TEXT NOT NULL,
    tenant          TEXT,
    return_url      TEXT,
    pkce_verifier   BYTEA,
    metadata        TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    consumed_at     BIGINT
);
CREATE INDEX oauth_states_by_expiry ON oauth_states (expires_at);

CREATE TABLE connector_instances (
    id             TEXT PRIMARY KEY NOT NULL,
    connector_type TEXT NOT NULL,
    name           TEXT NOT NULL,
    auth_type      TEXT NOT NULL,
    auth_mode      TEXT NOT NULL,
    config         TEXT NOT NULL,
    secrets        BYTEA NOT NULL,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    access         TEXT
);

CREATE TABLE server_users (
    id         TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL UNIQUE,
    admin      BOOLEAN NOT NULL,
    disabled   BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL
);

CREATE TABLE server_user_keys (
    id           TEXT PRIMARY KEY NOT NULL,
    user_id      TEXT NOT NULL REFERENCES server_users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    key_sha256   TEXT NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    last_used_at BIGINT,
    UNIQUE (user_id, name)
);

CREATE TABLE audit_events (
    id           BIGSERIAL PRIMARY KEY,
    at           BIGINT NOT NULL,
    operation    TEXT NOT NULL,
    actor        TEXT,
    on_behalf_of TEXT,
    instance     TEXT,
    action       TEXT,
    target       TEXT,
    outcome      TEXT NOT NULL,
    code         TEXT,
    duration_ms  BIGINT NOT NULL,
    request_id   TEXT
);
CREATE INDEX audit_events_by_at ON audit_events (at);

CREATE TABLE rate_windows (
    user_id      TEXT NOT NULL,
    bucket       TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    count        BIGINT NOT NULL,
    PRIMARY KEY (user_id, bucket)
);

CREATE TABLE store_meta (
    name  TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);
