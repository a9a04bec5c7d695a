//! Signing keys for short-lived JWTs (EdDSA / Ed25519), kept in `<data folder>/jwt-keys.json`
//! (mode 0600). The newest key signs; retired keys stay published in the JWKS until every token
//! they signed has expired. `siwe-server keys rotate` adds a key; a running server notices the
//! file changed.

use std::{
    path::{Path, PathBuf},
    sync::RwLock,
    time::SystemTime,
};

use anyhow::Context;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use ed25519_dalek::{pkcs8::EncodePrivateKey, SigningKey};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::{AppError, AppResult};

const FILE_NAME: &str = "jwt-keys.json";

#[derive(Clone, Serialize, Deserialize)]
struct StoredKey {
    kid: String,
    created_at: i64,
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
}

fn now_ms() -> i64 {
    crate::service::unix_ms(time::OffsetDateTime::now_utc())
}

fn new_key() -> StoredKey {
    let mut seed = [0u8; 32];
    rand::rng().fill_bytes(&mut seed);
    let mut kid = [0u8; 12];
    rand::rng().fill_bytes(&mut kid);
    StoredKey {
        kid: URL_SAFE_NO_PAD.encode(kid),
        created_at: now_ms(),
        retired_at: None,
        seed: URL_SAFE_NO_PAD.encode(seed),
    }
}

fn signing_key(key: &StoredKey) -> anyhow::Result<SigningKey> {
    let seed: [u8; 32] = URL_SAFE_NO_PAD
        .decode(&key.seed)?
        .try_into()
        .map_err(|_| anyhow::anyhow!("key {} is not 32 bytes", key.kid))?;
    Ok(SigningKey::from_bytes(&seed))
}

fn read(path: &Path) -> anyhow::Result<(KeyFile, Option<SystemTime>)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let file: KeyFile = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a key file", path.display()))?;
    for key in &file.keys {
        signing_key(key)?;
    }
    Ok((
        file,
        std::fs::metadata(path).and_then(|m| m.modified()).ok(),
    ))
}

fn write(path: &Path, file: &KeyFile) -> anyhow::Result<()> {
    let tmp = path.with_extension("json.tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut out = options
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::io::Write::write_all(&mut out, serde_json::to_string_pretty(file)?.as_bytes())?;
    out.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

impl JwtKeys {
    /// Opens the key file in `data_dir`, creating it with one key on first start.
    pub fn open(data_dir: &Path, token_ttl_secs: u64) -> anyhow::Result<Self> {
        let path = data_dir.join(FILE_NAME);
        if !path.exists() {
            write(
                &path,
                &KeyFile {
                    keys: vec![new_key()],
                },
            )?;
            tracing::info!(path = %path.display(), "generated a JWT signing key");
        }
        let (file, modified) = read(&path)?;
        Ok(Self {
            path,
            token_ttl_ms: token_ttl_secs as i64 * 1000,
            loaded: RwLock::new(Loaded { modified, file }),
        })
    }

    /// Retires the signing key and adds a new one; forgets keys retired longer than a token
    /// lives. Returns the new key id.
    pub fn rotate(data_dir: &Path, token_ttl_secs: u64) -> anyhow::Result<String> {
        let keys = Self::open(data_dir, token_ttl_secs)?;
        let mut file = keys.current()?;
        let now = now_ms();
        for key in &mut file.keys {
            key.retired_at.get_or_insert(now);
        }
        file.keys
            .retain(|k| k.retired_at.is_none_or(|at| at + keys.token_ttl_ms > now));
        let key = new_key();
        let kid = key.kid.clone();
        file.keys.push(key);
        write(&keys.path, &file)?;
        Ok(kid)
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

    /// Signs claims with the newest active key.
    pub fn sign<T: Serialize>(&self, claims: &T) -> AppResult<String> {
        let file = self.current()?;
        let key = file
            .keys
            .iter()
            .rev()
            .find(|k| k.retired_at.is_none())
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("no active JWT signing key")))?;
        let der = signing_key(key)?
            .to_pkcs8_der()
            .map_err(|e| AppError::Internal(anyhow::anyhow!("key encoding: {e}")))?;
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(
            &header,
            claims,
            &jsonwebtoken::EncodingKey::from_ed_der(der.as_bytes()),
        )
        .map_err(|e| AppError::Internal(anyhow::anyhow!("signing a token: {e}")))
    }

    /// The public keys that verify current tokens, as a JWK Set.
    pub fn jwks(&self) -> AppResult<serde_json::Value> {
        let now = now_ms();
        let file = self.current()?;
        let keys: Vec<serde_json::Value> = file
            .keys
            .iter()
            .filter(|k| k.retired_at.is_none_or(|at| at + self.token_ttl_ms > now))
            .filter_map(|k| {
                let public = signing_key(k).ok()?.verifying_key().to_bytes();
                Some(serde_json::json!({
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "x": URL_SAFE_NO_PAD.encode(public),
                    "kid": k.kid,
                    "alg": "EdDSA",
                    "use": "sig",
                }))
            })
            .collect();
        Ok(serde_json::json!({ "keys": keys }))
    }
}
