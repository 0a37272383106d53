-- One row that Ping rewrites after a failed write, to find out whether the
-- disk takes writes again (an empty transaction would not tell).
CREATE TABLE heartbeat (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    beats INTEGER NOT NULL
) STRICT;
