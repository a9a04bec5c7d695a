-- An unverified email reserves nothing: it is pending until verified, and only a verified
-- address is unique (whatever its case). Naming somebody else's address blocks nobody.
DROP INDEX users_by_email;
CREATE UNIQUE INDEX users_by_verified_email ON users(lower(email))
 WHERE email IS NOT NULL AND email_verified = 1;

-- Mail sent to each recipient in the last hour, for the per-recipient throttle (rows older
-- than that are deleted with the other expired rows).
CREATE TABLE mail_log (
    recipient TEXT NOT NULL,                -- lower case
    sent_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX mail_log_by_recipient ON mail_log(recipient, sent_at);
CREATE INDEX mail_log_by_time ON mail_log(sent_at);
