-- A resident's own quiet hours for notifications, local "HH:MM" (both or neither); null: the street's.
ALTER TABLE residents ADD COLUMN IF NOT EXISTS quiet_hours_start text;
ALTER TABLE residents ADD COLUMN IF NOT EXISTS quiet_hours_end text;
