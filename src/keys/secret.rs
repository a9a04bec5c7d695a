//! The server secret: `security.secret`, or 32 random bytes kept as hex in
//! `<data folder>/secret.key` (mode 0600), generated on first start. Every token, CSRF and
//! nonce MAC key is derived from it (`domain::token::Keys::from_secret`).

use std::{io::Write, path::Path};

use anyhow::{bail, Context};
use rand::Rng;

use crate::{config::Secret, domain::token::Keys, files};

const FILE_NAME: &str = "secret.key";

/// Where the generated secret is kept.
pub fn path(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join(FILE_NAME)
}

/// The MAC keys derived from the configured secret, or from the one in the data folder
/// (generated there when `generate` allows).
pub fn token_keys(
    configured: Option<&Secret>,
    data_dir: &Path,
    generate: bool,
) -> anyhow::Result<Keys> {
    if configured.is_none() && !generate && !path(data_dir).exists() {
        bail!(
            "with database.url, every instance needs the same secret: set security.secret, or \
             put the secret.key of the installation the data came from in {} (a secret \
             generated here would be this instance's alone)",
            data_dir.display()
        );
    }
    Ok(Keys::from_secret(&load_or_create(configured, data_dir)?))
}

/// The configured secret, or the one in `data_dir`, generated there on first start.
pub fn load_or_create(configured: Option<&Secret>, data_dir: &Path) -> anyhow::Result<Vec<u8>> {
    if let Some(secret) = configured {
        return Ok(secret.expose().as_bytes().to_vec());
    }
    files::create_private_dir(data_dir)?;
    let path = path(data_dir);
    if !path.exists() {
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        match files::private_file_options().create_new(true).open(&path) {
            Ok(mut file) => {
                file.write_all(hex::encode(secret).as_bytes())?;
                file.sync_all()?;
                tracing::info!(path = %path.display(), "generated a new secret key");
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e).with_context(|| format!("cannot create {}", path.display())),
        }
    }
    files::check_secret_file(&path)?;
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read the secret key {}", path.display()))?;
    let secret = hex::decode(text.trim())
        .with_context(|| format!("{} must hold the secret as hex", path.display()))?;
    if secret.len() < 32 {
        bail!(
            "{} holds fewer than 32 bytes; delete it to generate a new one",
            path.display()
        );
    }
    Ok(secret)
}
