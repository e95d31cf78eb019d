-- Tokens, OAuth states and connector instances.
CREATE TABLE tokens (
    id                       TEXT PRIMARY KEY NOT NULL,
    scope                    TEXT NOT NULL CHECK (scope IN ('shared', 'per-user')),
    user_id                  TEXT NOT NULL,
    connector_id             TEXT NOT NULL,
    credential_type          TEXT NOT NULL,
    access_token             BLOB NOT NULL,
    refresh_token            BLOB,
    token_type               TEXT NOT NULL,
    granted_scope            TEXT,
    expires_at               INTEGER,
    refresh_token_expires_at INTEGER,
    created_at               INTEGER NOT NULL,
    updated_at               INTEGER NOT NULL,
    last_used_at             INTEGER,
    revoked                  INTEGER NOT NULL DEFAULT 0,
    version                  INTEGER NOT NULL,
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
    pkce_verifier   BLOB,
    metadata        TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    consumed_at     INTEGER
);
CREATE INDEX oauth_states_by_expiry ON oauth_states (expires_at);
CREATE TABLE connector_instances (
    id             TEXT PRIMARY KEY NOT NULL,
    connector_type TEXT NOT NULL,
    name           TEXT NOT NULL,
    auth_type      TEXT NOT NULL,
    auth_mode      TEXT NOT NULL,
    config         TEXT NOT NULL,
    secrets        BLOB NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);
