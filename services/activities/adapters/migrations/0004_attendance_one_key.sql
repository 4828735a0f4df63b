-- One attendance per resident per session is carried by the primary key: attendance_id is derived
-- from (resident_id, session_id) (domain.model.attendance_id, a uuid5), so a second row for the same
-- pair conflicts on it. The UNIQUE (resident_id, session_id) index duplicated that guarantee and
-- cost a third index entry per attendance on the check-in hot path; reads by pair go by the id.
ALTER TABLE attendance DROP CONSTRAINT IF EXISTS attendance_resident_id_session_id_key;
