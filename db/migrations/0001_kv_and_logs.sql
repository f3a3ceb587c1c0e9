-- ringwire 0001: keys with versions, and append-only logs (the store API of ringwire-db).
-- Everything is plain SQL that PostgreSQL-compatible engines share: BYTEA, BIGINT, a
-- SEQUENCE, INSERT .. ON CONFLICT, UPDATE/DELETE .. RETURNING, common table expressions and
-- window functions (see docs/STORAGE.md).

-- Versions come from one sequence, as the embedded store's counter: a key written, deleted
-- and written again never gets a version it had before.
CREATE SEQUENCE ringwire_version AS BIGINT START 1;

CREATE TABLE ringwire_kv (
    key     BYTEA  PRIMARY KEY,
    value   BYTEA  NOT NULL,
    version BIGINT NOT NULL
);

-- One row per log: the next sequence number and what is kept. Appends lock this row, so a
-- log's records become visible in sequence order, without gaps.
CREATE TABLE ringwire_logs (
    name      BYTEA  PRIMARY KEY,
    first_seq BIGINT NOT NULL,
    next_seq  BIGINT NOT NULL,
    count     BIGINT NOT NULL,
    bytes     BIGINT NOT NULL
);

CREATE TABLE ringwire_log_records (
    name    BYTEA  NOT NULL,
    seq     BIGINT NOT NULL,
    time_ms BIGINT NOT NULL,
    data    BYTEA  NOT NULL,
    PRIMARY KEY (name, seq)
);
