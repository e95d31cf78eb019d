-- Token usage per connector instance, UTC day and model (`handler: usage` reports it).
CREATE TABLE usage_daily (
    instance          TEXT NOT NULL,
    day               TEXT NOT NULL,
    model             TEXT NOT NULL,
    calls             BIGINT NOT NULL,
    prompt_tokens     BIGINT NOT NULL,
    completion_tokens BIGINT NOT NULL,
    total_tokens      BIGINT NOT NULL,
    PRIMARY KEY (instance, day, model)
);
