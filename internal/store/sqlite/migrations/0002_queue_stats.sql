-- Indexes for QueueStats (the /metrics queue gauges), so a scrape does not
-- scan every message.
CREATE INDEX messages_dead ON messages (id) WHERE state = 'dead';
CREATE INDEX messages_undelivered_created ON messages (created_at) WHERE state IN ('pending', 'leased');
