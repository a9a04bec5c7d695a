//! SIGHUP: the configuration read again as start-up read it (same file, same environment),
//! and what can change while serving applied to the next requests, with no connection
//! dropped: `rate_limit.*`, `cors.allowed_origins`, `forward_auth.*`,
//! `server.trusted_proxies`, and the SMTP client of `[email]`. Any other changed key is named in
//! a warning and waits for a restart. A file that does not load or check keeps everything as
//! it runs, and the log says why, naming the key.

use std::{path::PathBuf, sync::Arc};

use super::policies::{check_config, warn_about};
use crate::{
    api::AppState,
    config::{Config, Settings},
    http::{ClientIpResolver, Cors, OriginCheck, RateLimiter},
    mail::{Mailer, PreparedSmtp},
};

/// The keys of `[email]` that only the SMTP client reads.
const SMTP_KEYS: [&str; 6] = [
    "email.smtp_host",
    "email.smtp_port",
    "email.smtp_tls",
    "email.smtp_username",
    "email.smtp_password",
    "email.from",
];

/// The parts that read reloadable settings, each shared with the requests that use it.
#[derive(Clone)]
pub(super) struct Reloadable {
    pub limiter: Arc<RateLimiter>,
    pub cors: Cors,
    pub origin_check: OriginCheck,
    /// Shared by the client-address layer, the connection limits and forward-auth.
    pub client_ip: ClientIpResolver,
    pub state: Arc<AppState>,
}

/// Reloads on request, one reload at a time.
pub(super) struct Reloader {
    config_path: Option<PathBuf>,
    /// The settings the server started with: what restart-only keys still are.
    started: Settings,
    /// The settings the reloadable parts run with now.
    live: Settings,
    parts: Reloadable,
}

/// What a successful reload did.
struct Outcome {
    applied: Vec<String>,
    needs_restart: Vec<String>,
}

impl Reloader {
    pub(super) fn new(config_path: Option<PathBuf>, started: Settings, parts: Reloadable) -> Self {
        Self {
            config_path,
            live: started.clone(),
            started,
            parts,
        }
    }

    /// Reads the configuration again and applies it, or keeps the running one; logs either.
    pub(super) fn reload(&mut self) {
        let result = self.try_reload();
        if let Some(m) = crate::metrics::metrics() {
            let label = if result.is_ok() { "applied" } else { "refused" };
            m.config_reloads.with_label_values(&[label]).inc();
        }
        match result {
            Ok(outcome) => {
                if !outcome.needs_restart.is_empty() {
                    tracing::warn!(
                        keys = %outcome.needs_restart.join(", "),
                        "configuration changes not applied: these keys need a restart"
                    );
                }
                let changed = match outcome.applied.is_empty() {
                    true => "nothing".to_string(),
                    false => outcome.applied.join(", "),
                };
                tracing::info!(changed = %changed, "configuration reloaded");
            }
            // The error names the key (`server.trusted_proxies: ...`), never a secret's value.
            Err(err) => tracing::error!("reload refused: {err:#}"),
        }
    }

    fn try_reload(&mut self) -> anyhow::Result<Outcome> {
        let settings = Settings::load(self.config_path.as_deref())?.settings;
        let (config, forward) = check_config(&settings)?;
        let email_switched =
            self.started.email.smtp_host.is_some() != settings.email.smtp_host.is_some();
        let live = |key: &str| is_live(key, email_switched);
        let applied: Vec<String> = self
            .live
            .changed_keys(&settings)
            .into_iter()
            .filter(|key| live(key))
            .collect();
        let needs_restart: Vec<String> = self
            .started
            .changed_keys(&settings)
            .into_iter()
            .filter(|key| !live(key))
            .collect();
        // Everything that can fail is built before anything is applied.
        let smtp = self.prepare_smtp(&config, &applied)?;
        let parts = &self.parts;
        parts.limiter.reload(&config.rate_limit);
        parts
            .state
            .oidc
            .reload_client_rate_limit(&config.rate_limit);
        parts.cors.reload(config.cors.allowed_origins.clone());
        parts.origin_check.reload(config.trusted_origins());
        parts
            .client_ip
            .reload(config.server.trusted_proxies.clone());
        parts.state.forward.store(Arc::new(forward));
        if let (Some(mailer), Some(smtp)) = (parts.state.service.mailer(), smtp) {
            mailer.reload(smtp);
        }
        warn_about(&config);
        self.live = settings;
        Ok(Outcome {
            applied,
            needs_restart,
        })
    }

    /// A new SMTP client when an SMTP key changed and email stays on.
    fn prepare_smtp(
        &self,
        config: &Config,
        applied: &[String],
    ) -> anyhow::Result<Option<PreparedSmtp>> {
        let changed = applied.iter().any(|key| SMTP_KEYS.contains(&key.as_str()));
        match (&config.email.smtp, self.parts.state.service.mailer()) {
            (Some(smtp), Some(_)) if changed => Mailer::prepare(smtp)
                .map(Some)
                .map_err(|err| err.context("email.smtp_host: the SMTP client cannot be built")),
            _ => Ok(None),
        }
    }
}

/// Whether a changed key takes effect on reload. Email's SMTP keys do while email stays on or
/// off; turning it on or off changes the pages and the API, so that waits for a restart.
fn is_live(key: &str, email_switched: bool) -> bool {
    // Where requests are counted is chosen at start.
    (key.starts_with("rate_limit.") && key != "rate_limit.shared")
        || key.starts_with("forward_auth.")
        || key == "cors.allowed_origins"
        || key == "server.trusted_proxies"
        || (SMTP_KEYS.contains(&key) && !email_switched)
}

/// Reloads at every SIGHUP, one after another. The handler is installed when this is called,
/// so a SIGHUP after the "listening" line never kills the process.
#[cfg(unix)]
pub(super) fn on_hangup(
    mut reloader: Reloader,
) -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangup = signal(SignalKind::hangup())?;
    Ok(async move {
        while hangup.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading the configuration");
            reloader.reload();
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_keys_reload() {
        for key in [
            "rate_limit.auth_per_minute",
            "cors.allowed_origins",
            "forward_auth.rules",
            "forward_auth.origins",
            "server.trusted_proxies",
            "email.smtp_password",
        ] {
            assert!(is_live(key, false), "{key}");
        }
        for key in [
            "server.bind",
            "server.public_url",
            "database.path",
            "email.link_ttl_secs",
            "email.wallet_attach",
            "ui.app_name",
        ] {
            assert!(!is_live(key, false), "{key}");
        }
        assert!(
            !is_live("email.smtp_host", true),
            "email on or off needs a restart"
        );
    }

    #[test]
    fn changed_keys_are_named_by_their_dotted_path() {
        let before = Settings::default();
        let mut after = before.clone();
        after.rate_limit.auth_burst += 1;
        after.server.trusted_proxies = vec!["10.0.0.0/8".into()];
        after.email.smtp_password = Some("hunter2".to_string().into());
        assert_eq!(
            before.changed_keys(&after),
            [
                "email.smtp_password",
                "rate_limit.auth_burst",
                "server.trusted_proxies"
            ]
        );
        assert!(before.changed_keys(&before).is_empty());
    }
}
