-- Token usage per connector instance, UTC day and model (`handler: usage` reports it).
CREATE TABLE usage_daily (
    instance          TEXT NOT NULL,
    day               TEXT NOT NULL,
    model             TEXT NOT NULL,
    calls             INTEGER NOT NULL,
    prompt_tokens     INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    total_tokens      INTEGER NOT NULL,
    PRIMARY KEY (instance, day, model)
);
