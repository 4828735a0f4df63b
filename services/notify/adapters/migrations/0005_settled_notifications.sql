-- The retention task deletes settled messages by age (services/notify/adapters/retention.py).
CREATE INDEX IF NOT EXISTS notifications_settled ON notifications (updated_at)
    WHERE status NOT IN ('queued', 'deferred', 'sending');
