//! Where every "now" comes from. The application holds one [`Clock`] and hands it to the
//! service and the signing keys, so tests can move an application's time instead of sleeping;
//! it is a value per application, not a global, as tests run many applications in one process.
//! Depends on nothing else in the crate.

use std::sync::{
    atomic::{AtomicI64, Ordering},
    Arc,
};

use time::{Duration, OffsetDateTime};

/// Unix milliseconds, the unit every stored time uses.
pub fn unix_ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// The inverse of [`unix_ms`]; out-of-range values clamp to the epoch.
pub fn from_unix_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// The system time, or (for tests) the system time moved by an amount the test sets. Clones
/// share the amount, so moving one moves the application's time everywhere.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    /// Milliseconds added to the system time; `None` on the system clock, which cannot move.
    offset_ms: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// The system time.
    pub fn system() -> Self {
        Self::default()
    }

    /// The system time until [`Clock::advance`] moves it.
    pub fn adjustable() -> Self {
        Self {
            offset_ms: Some(Arc::default()),
        }
    }

    pub fn now(&self) -> OffsetDateTime {
        let now = OffsetDateTime::now_utc();
        match &self.offset_ms {
            Some(offset) => now + Duration::milliseconds(offset.load(Ordering::Relaxed)),
            None => now,
        }
    }

    /// [`Clock::now`] in Unix milliseconds.
    pub fn now_ms(&self) -> i64 {
        unix_ms(self.now())
    }

    /// Moves an adjustable clock by `by` (backwards when negative); a system clock ignores it.
    pub fn advance(&self, by: Duration) {
        if let Some(offset) = &self.offset_ms {
            let by = i64::try_from(by.whole_milliseconds()).unwrap_or(i64::MAX / 2);
            offset.fetch_add(by, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_ms_round_trips() {
        let t = OffsetDateTime::from_unix_timestamp(1_795_000_000).unwrap()
            + Duration::milliseconds(123);
        assert_eq!(unix_ms(t), 1_795_000_000_123);
        assert_eq!(from_unix_ms(unix_ms(t)), t);
        assert_eq!(from_unix_ms(i64::MAX), OffsetDateTime::UNIX_EPOCH);
    }

    /// Every "now" comes from the application's clock: outside this file, no code of `src/`
    /// (test modules aside) reads the wall clock, so tests can move all of it at once.
    #[test]
    fn nothing_else_reads_the_wall_clock() {
        fn visit(dir: &std::path::Path, found: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    visit(&path, found);
                } else if path.extension().is_some_and(|e| e == "rs")
                    && !path.ends_with("src/clock.rs")
                {
                    let text = std::fs::read_to_string(&path).unwrap();
                    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
                    if ["now_utc()", "SystemTime::now()"]
                        .iter()
                        .any(|call| code.contains(call))
                    {
                        found.push(path.display().to_string());
                    }
                }
            }
        }
        let mut found = Vec::new();
        visit(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut found,
        );
        assert!(found.is_empty(), "read the time from the Clock: {found:?}");
    }

    #[test]
    fn an_adjustable_clock_moves_for_every_clone_and_the_system_clock_does_not() {
        let clock = Clock::adjustable();
        let shared = clock.clone();
        let before = clock.now_ms();
        shared.advance(Duration::hours(1));
        let moved = clock.now_ms() - before;
        assert!((3_600_000..3_660_000).contains(&moved), "{moved}");

        let system = Clock::system();
        system.advance(Duration::hours(1));
        assert!(system.now() < OffsetDateTime::now_utc() + Duration::minutes(1));
    }
}
