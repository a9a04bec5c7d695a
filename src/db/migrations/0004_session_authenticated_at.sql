-- When a session last proved a signature (sign-in or re-authentication), for the changes that
-- need a recent one ("sudo mode"). Null for sessions opened by an emailed link. Sessions from
-- before this column stay signed in but are not recent: their first sensitive change asks for
-- a signature.
ALTER TABLE sessions ADD COLUMN authenticated_at INTEGER;
