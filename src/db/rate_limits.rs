//! Rate-limit counts shared by every instance (`rate_limit.shared`, PostgreSQL): requests per
//! policy, client and clock minute.

use rusqlite::params;

use super::Conn;
use crate::error::AppResult;

/// Counts one request of `client` under `policy` in the minute starting at `window_start`;
/// the count so far, this one included. One statement: racing requests each get their own.
pub fn hit(conn: &Conn, policy: &str, client: &str, window_start: i64) -> AppResult<i64> {
    conn.query_one(
        "INSERT INTO rate_limit_hits (policy, client, window_start, hits) VALUES (?1, ?2, ?3, 1)
         ON CONFLICT (policy, client, window_start)
         DO UPDATE SET hits = rate_limit_hits.hits + 1
         RETURNING hits",
        params![policy, client, window_start],
        |row| row.get(0),
    )
}

/// Deletes up to `batch` counts of minutes that started before `before_ms`.
pub fn delete_before(conn: &Conn, before_ms: i64, batch: u32) -> AppResult<usize> {
    conn.execute(
        "DELETE FROM rate_limit_hits WHERE (policy, client, window_start) IN
           (SELECT policy, client, window_start FROM rate_limit_hits
             WHERE window_start < ?1 LIMIT ?2)",
        params![before_ms, batch],
    )
}
