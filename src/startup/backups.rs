//! Scheduled backups (`[backup]`): every interval, a consistent copy of the database into
//! `backup.dir`, the oldest beyond `backup.keep` deleted. A failed backup is logged and tried
//! again at the next interval; it never stops the server.

use std::{path::PathBuf, sync::Arc, time::Duration};

use crate::{config::Backup, db, service::Service};

pub(super) async fn backup_loop(service: Arc<Service>, db_path: PathBuf, schedule: Backup) {
    let every: Duration = schedule.interval;
    // The first one comes one interval after start: a restart loop must not fill the disk.
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let (db_path, schedule) = (db_path.clone(), schedule.clone());
        let now = service.clock().now();
        let taken = tokio::task::spawn_blocking(move || {
            db::backup::scheduled(&db_path, &schedule.dir, now, schedule.keep)
        })
        .await;
        match taken {
            Ok(Ok((path, deleted))) => {
                tracing::info!(path = %path.display(), deleted, "scheduled backup taken")
            }
            Ok(Err(err)) => tracing::error!(error = %format!("{err:#}"), "scheduled backup failed"),
            Err(err) => tracing::error!(error = %err, "scheduled backup task failed"),
        }
    }
}
