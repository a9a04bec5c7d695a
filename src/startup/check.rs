//! `siwe-server check`: the settings, secret, signing keys, database, backups and OpenID
//! Connect clients, checked without changing anything.

use super::policies::check_config;
use crate::{
    config::Settings,
    db::{self, Db},
    keys::{secret, JwtKeys},
    mail::Mailer,
};

/// Checks settings, secret, signing keys and database without changing anything; returns what
/// was checked.
pub fn check(settings: &Settings) -> anyhow::Result<Vec<String>> {
    let (config, _) = check_config(settings)?;
    let mut done = vec![format!(
        "configuration (public_url {})",
        settings.server.public_url
    )];
    if config.security.secret.is_none() {
        let path = secret::path(&config.database.data_dir);
        if path.exists() {
            secret::load_or_create(None, &config.database.data_dir)?;
            done.push(format!("secret {}", path.display()));
        } else {
            done.push(format!(
                "secret {} will be generated on first start",
                path.display()
            ));
        }
    }
    let keys = config.database.data_dir.join("jwt-keys.json");
    if keys.exists() {
        done.push(JwtKeys::check(&config.database.data_dir)?);
    }
    let path = &config.database.path;
    if path.exists() {
        done.push(format!("database {}: {}", path.display(), Db::check(path)?));
    } else {
        done.push(format!(
            "database {} will be created on first start",
            path.display()
        ));
    }
    if db::backup::ServerLock::is_held(path)? {
        done.push("a server is running on the database (it holds its lock)".into());
    }
    done.push(match &config.backup {
        Some(schedule) => format!(
            "backups every {} s into {}, keeping {}",
            schedule.interval.as_secs(),
            schedule.dir.display(),
            schedule.keep
        ),
        None => {
            "no scheduled backups (backup.dir is unset; `siwe-server backup FILE` takes one)".into()
        }
    });
    done.extend(crate::oidc::clients::check(&config.oidc, path)?);
    if let Some(mailer) = Mailer::from_settings(&config.email)? {
        drop(mailer);
        done.push("email settings".into());
    }
    Ok(done)
}
