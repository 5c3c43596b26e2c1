-- A queue item runs with the rights of the account that enqueued it (docs/security.md). user_id says who owns
-- the row and may change (a deleted user's history goes to an admin); enqueued_by never changes, so the rights a
-- graph runs with can never become someone else's.
ALTER TABLE session_queue ADD COLUMN enqueued_by TEXT NOT NULL DEFAULT '';
UPDATE session_queue SET enqueued_by = user_id;
CREATE INDEX idx_session_queue_enqueued_by ON session_queue(enqueued_by, status);

-- How many times the server process died while this item (or the item it retries) was running. Recovery fails
-- such an item with a clear reason, and an item whose graph has crashed the server too often never runs again.
ALTER TABLE session_queue ADD COLUMN crashes INTEGER NOT NULL DEFAULT 0;

-- Round-robin fairness: each user's last turn, kept apart from the queue rows so that pruning or deleting one's
-- own finished items does not move one ahead of the others.
CREATE TABLE queue_turns (
    user_id  TEXT PRIMARY KEY REFERENCES users(user_id) ON DELETE CASCADE,
    last_seq INTEGER NOT NULL
);
INSERT INTO queue_turns (user_id, last_seq)
    SELECT user_id, MAX(dequeue_seq) FROM session_queue WHERE dequeue_seq IS NOT NULL GROUP BY user_id;
