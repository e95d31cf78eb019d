-- Named, expiring keys per user; users can be disabled; refresh failures are recorded.
CREATE TABLE IF NOT EXISTS server_users (
    id         TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL UNIQUE,
    admin      INTEGER NOT NULL,
    key_sha256 TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);
ALTER TABLE server_users RENAME TO server_users_v1;
CREATE TABLE server_users (
    id         TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL UNIQUE,
    admin      INTEGER NOT NULL,
    disabled   INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);
INSERT INTO server_users (id, name, admin, disabled, created_at)
    SELECT id, name, admin, 0, created_at FROM server_users_v1;
CREATE TABLE server_user_keys (
    id           TEXT PRIMARY KEY NOT NULL,
    user_id      TEXT NOT NULL REFERENCES server_users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    key_sha256   TEXT NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    last_used_at INTEGER,
    UNIQUE (user_id, name)
);
INSERT INTO server_user_keys (id, user_id, name, key_sha256, created_at)
    SELECT 'k_' || lower(hex(randomblob(16))), id, 'default', key_sha256, created_at
    FROM server_users_v1;
DROP TABLE server_users_v1;
ALTER TABLE tokens ADD COLUMN refresh_failed_at INTEGER;
