//! Signing keys for short-lived JWTs (EdDSA / Ed25519), kept in `<data folder>/jwt-keys.json`
//! (mode 0600). `siwe-server keys rotate` adds a key that is published in the JWKS at once but
//! signs only after `tokens.key_publish_secs`, so that relying parties with a cached JWKS know it
//! before they meet it; the key it replaces stops signing then, and stays published until every
//! token it signed has expired. A running server notices the file changed. What is particular
//! to the algorithm is in `ed25519.rs`.

use std::{
    path::{Path, PathBuf},
    sync::RwLock,
    time::SystemTime,
};

use anyhow::Context;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::ed25519;
use crate::{
    clock::Clock,
    error::{AppError, AppResult},
};

const FILE_NAME: &str = "jwt-keys.json";

#[derive(Clone, Serialize, Deserialize)]
struct StoredKey {
    kid: String,
    created_at: i64,
    /// When it starts signing; published from `created_at`. Absent in files from before keys
    /// were published ahead of use: such a key signs from its creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    activates_at: Option<i64>,
    /// When it stops signing (the next key's activation); published until tokens signed just
    /// before then have expired.
    retired_at: Option<i64>,
    /// The 32-byte Ed25519 seed, base64url.
    seed: String,
}

#[derive(Clone, Default, Serialize, Deserialize)]
struct KeyFile {
    keys: Vec<StoredKey>,
}

struct Loaded {
    modified: Option<SystemTime>,
    file: KeyFile,
}

pub struct JwtKeys {
    path: PathBuf,
    /// How long tokens live, in ms: retired keys are published this much longer.
    token_ttl_ms: i64,
    loaded: RwLock<Loaded>,
    clock: Clock,
}

fn new_key(created_at: i64, activates_at: i64) -> StoredKey {
    let mut kid = [0u8; 12];
    rand::rng().fill_bytes(&mut kid);
    StoredKey {
        kid: URL_SAFE_NO_PAD.encode(kid),
        created_at,
        activates_at: Some(activates_at),
        retired_at: None,
        seed: ed25519::new_seed(),
    }
}

impl StoredKey {
    fn signs_at(&self, now: i64) -> bool {
        self.activates_at.is_none_or(|at| at <= now) && self.retired_at.is_none_or(|at| at > now)
    }

    /// Published from creation until a token signed at retirement has expired.
    fn published_at(&self, now: i64, token_ttl_ms: i64) -> bool {
        self.retired_at.is_none_or(|at| at + token_ttl_ms > now)
    }
}

fn read(path: &Path) -> anyhow::Result<(KeyFile, Option<SystemTime>)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let file: KeyFile = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a key file", path.display()))?;
    for key in &file.keys {
        ed25519::check(&key.seed).with_context(|| format!("key {}", key.kid))?;
    }
    Ok((
        file,
        std::fs::metadata(path).and_then(|m| m.modified()).ok(),
    ))
}

fn write(path: &Path, file: &KeyFile) -> anyhow::Result<()> {
    let tmp = path.with_extension("json.tmp");
    let mut out = super::private_file_options()
        .create(true)
        .truncate(true)
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::io::Write::write_all(&mut out, serde_json::to_string_pretty(file)?.as_bytes())?;
    out.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

impl JwtKeys {
    /// Opens the key file in `data_dir`, creating it with one key on first start; `clock`
    /// says when keys start and stop signing.
    pub fn open(data_dir: &Path, token_ttl_secs: u64, clock: Clock) -> anyhow::Result<Self> {
        let path = data_dir.join(FILE_NAME);
        if !path.exists() {
            let now = clock.now_ms();
            write(
                &path,
                &KeyFile {
                    keys: vec![new_key(now, now)],
                },
            )?;
            tracing::info!(path = %path.display(), "generated a JWT signing key");
        }
        let (file, modified) = read(&path)?;
        Ok(Self {
            path,
            token_ttl_ms: token_ttl_secs as i64 * 1000,
            loaded: RwLock::new(Loaded { modified, file }),
            clock,
        })
    }

    /// Adds a key that signs from `publish_for` from now on (published in the JWKS at once),
    /// and schedules the keys signing until then to stop at that moment; forgets keys whose
    /// tokens have all expired. Returns the new key id and when it starts signing (Unix ms).
    pub fn rotate(
        data_dir: &Path,
        token_ttl_secs: u64,
        publish_for: std::time::Duration,
    ) -> anyhow::Result<(String, i64)> {
        let keys = Self::open(data_dir, token_ttl_secs, Clock::system())?;
        let mut file = keys.current()?;
        let now = keys.clock.now_ms();
        let activates_at = now + i64::try_from(publish_for.as_millis()).unwrap_or(i64::MAX / 2);
        for key in &mut file.keys {
            let stops = key
                .retired_at
                .map_or(activates_at, |at| at.min(activates_at));
            key.retired_at = Some(stops);
        }
        file.keys.retain(|k| k.published_at(now, keys.token_ttl_ms));
        let key = new_key(now, activates_at);
        let kid = key.kid.clone();
        file.keys.push(key);
        write(&keys.path, &file)?;
        Ok((kid, activates_at))
    }

    /// The keys as on disk, re-read when the file changed (after `keys rotate`).
    fn current(&self) -> anyhow::Result<KeyFile> {
        let modified = std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok();
        {
            let loaded = self
                .loaded
                .read()
                .map_err(|_| anyhow::anyhow!("key lock poisoned"))?;
            if loaded.modified == modified {
                return Ok(loaded.file.clone());
            }
        }
        let (file, modified) = read(&self.path)?;
        let mut loaded = self
            .loaded
            .write()
            .map_err(|_| anyhow::anyhow!("key lock poisoned"))?;
        *loaded = Loaded {
            modified,
            file: file.clone(),
        };
        Ok(file)
    }

    /// Signs claims with the newest key whose time to sign has come.
    pub fn sign<T: Serialize>(&self, claims: &T) -> AppResult<String> {
        let file = self.current()?;
        let now = self.clock.now_ms();
        let key = file
            .keys
            .iter()
            .rev()
            .find(|k| k.signs_at(now))
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("no active JWT signing key")))?;
        let mut header = jsonwebtoken::Header::new(ed25519::ALGORITHM);
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, claims, &ed25519::encoding_key(&key.seed)?)
            .map_err(|e| AppError::Internal(anyhow::anyhow!("signing a token: {e}")))
    }

    /// The public keys that verify current tokens, and the next key, as a JWK Set.
    pub fn jwks(&self) -> AppResult<serde_json::Value> {
        let now = self.clock.now_ms();
        let file = self.current()?;
        let keys: Vec<serde_json::Value> = file
            .keys
            .iter()
            .filter(|k| k.published_at(now, self.token_ttl_ms))
            .filter_map(|k| ed25519::public_jwk(&k.seed, &k.kid).ok())
            .collect();
        Ok(serde_json::json!({ "keys": keys }))
    }
}
