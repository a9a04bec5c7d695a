//! Signing keys for short-lived JWTs, kept in `<data folder>/jwt-keys.json` (mode 0600): an
//! Ed25519 key (EdDSA, the tokens of `POST /api/auth/token`) and an RSA key (RS256, what OpenID
//! Connect requires), each with its rotation. `siwe-server keys rotate` adds a key of each
//! algorithm that is published in the JWKS at once but signs only after
//! `tokens.key_publish_secs`, so that relying parties with a cached JWKS know it before they meet
//! it; the key it replaces stops signing then, and stays published until every token it signed
//! has expired. A running server notices the file changed. With PostgreSQL the key set is kept
//! in the database instead (see [`KeyStore`]), so that every instance signs with the same keys
//! and publishes the same JWKS. What is particular to an algorithm is in `ed25519.rs` and
//! `rsa.rs`.

use std::{
    path::Path,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use anyhow::Context;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use rand::Rng;
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use super::{ed25519, rsa};
use crate::{
    clock::Clock,
    domain::signing_alg::SigningAlg,
    error::{AppError, AppResult, ErrorCode},
};

mod store;

use store::{read_file, Stamp};
pub use store::{KeyStore, SharedKeySet};

const FILE_NAME: &str = "jwt-keys.json";
/// How often an instance asks the database whether the key set changed: a rotation is seen by
/// every instance within this time (keys are published well ahead of signing).
const DATABASE_POLL: Duration = Duration::from_secs(10);

#[derive(Clone, Serialize, Deserialize)]
struct StoredKey {
    kid: String,
    /// Absent in files from before RSA keys, which hold Ed25519 keys only.
    #[serde(default)]
    alg: SigningAlg,
    created_at: i64,
    /// When it starts signing; published from `created_at`. Absent in files from before keys
    /// were published ahead of use: such a key signs from its creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    activates_at: Option<i64>,
    /// When it stops signing (the next key's activation); published until tokens signed just
    /// before then have expired.
    retired_at: Option<i64>,
    /// EdDSA: the 32-byte Ed25519 seed, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    seed: Option<String>,
    /// RS256: the RSA private key, PKCS#8 PEM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    private_key: Option<String>,
}

#[derive(Clone, Default, Serialize, Deserialize)]
struct KeyFile {
    keys: Vec<StoredKey>,
}

/// What a stored key gives, made by the file of its algorithm: the key that signs, the key
/// that verifies, and the public JWK members particular to the algorithm (`kty` and the key).
pub(super) struct KeyMaterial {
    pub encoding: jsonwebtoken::EncodingKey,
    pub decoding: jsonwebtoken::DecodingKey,
    pub public_jwk: serde_json::Map<String, serde_json::Value>,
}

struct Key {
    stored: StoredKey,
    material: KeyMaterial,
}

struct Loaded {
    stamp: Stamp,
    checked: Instant,
    keys: Arc<Vec<Key>>,
}

pub struct JwtKeys {
    store: KeyStore,
    /// How long the longest-lived token lives, in ms: retired keys are published this much longer.
    max_token_ttl_ms: i64,
    loaded: RwLock<Loaded>,
    clock: Clock,
}

fn jws_algorithm(alg: SigningAlg) -> jsonwebtoken::Algorithm {
    match alg {
        SigningAlg::Rs256 => jsonwebtoken::Algorithm::RS256,
        SigningAlg::EdDsa => jsonwebtoken::Algorithm::EdDSA,
    }
}

fn new_key(alg: SigningAlg, created_at: i64, activates_at: i64) -> anyhow::Result<StoredKey> {
    let mut kid = [0u8; 12];
    rand::rng().fill_bytes(&mut kid);
    let (seed, private_key) = match alg {
        SigningAlg::EdDsa => (Some(ed25519::new_seed()), None),
        SigningAlg::Rs256 => (None, Some(rsa::new_private_key()?)),
    };
    Ok(StoredKey {
        kid: URL_SAFE_NO_PAD.encode(kid),
        alg,
        created_at,
        activates_at: Some(activates_at),
        retired_at: None,
        seed,
        private_key,
    })
}

impl StoredKey {
    fn signs_at(&self, now: i64) -> bool {
        self.activates_at.is_none_or(|at| at <= now) && self.retired_at.is_none_or(|at| at > now)
    }

    /// Published from creation until a token signed at retirement has expired.
    fn published_at(&self, now: i64, max_token_ttl_ms: i64) -> bool {
        self.retired_at.is_none_or(|at| at + max_token_ttl_ms > now)
    }

    fn material(&self) -> anyhow::Result<KeyMaterial> {
        let missing = || anyhow::anyhow!("no key material for {}", self.alg);
        match self.alg {
            SigningAlg::EdDsa => ed25519::load(self.seed.as_deref().ok_or_else(missing)?),
            SigningAlg::Rs256 => rsa::load(self.private_key.as_deref().ok_or_else(missing)?),
        }
    }
}

fn with_material(stored: Vec<StoredKey>) -> anyhow::Result<Vec<Key>> {
    stored
        .into_iter()
        .map(|stored| {
            let material = stored
                .material()
                .with_context(|| format!("key {}", stored.kid))?;
            Ok(Key { stored, material })
        })
        .collect()
}

fn invalid_token(why: &str) -> AppError {
    AppError::new(
        ErrorCode::InvalidToken,
        format!("The token is not valid: {why}."),
    )
}

impl JwtKeys {
    /// Opens the key file in `data_dir` (see [`JwtKeys::open_in`]).
    pub fn open(data_dir: &Path, max_token_ttl_secs: u64, clock: Clock) -> anyhow::Result<Self> {
        Self::open_in(KeyStore::file(data_dir), max_token_ttl_secs, clock)
    }

    /// Opens the keys in `store`, storing a key of each algorithm on first start and adding an
    /// RSA key (signing at once) to a set from before RSA keys. Retired keys stay published
    /// `max_token_ttl_secs` (the longest life of a token they signed); `clock` says when keys
    /// start and stop signing.
    pub fn open_in(store: KeyStore, max_token_ttl_secs: u64, clock: Clock) -> anyhow::Result<Self> {
        let now = clock.now_ms();
        let added = store.update(|stored, stamp| {
            let missing: Vec<SigningAlg> = SigningAlg::ALL
                .into_iter()
                .filter(|alg| !stored.iter().any(|k| k.alg == *alg))
                .collect();
            for alg in &missing {
                stored.push(new_key(*alg, now, now)?);
            }
            // A set the data folder's file seeded is stored, whole, as the database's first.
            let seeded = stamp == Stamp::Version(0) && !stored.is_empty();
            Ok((!missing.is_empty() || seeded).then_some(missing))
        })?;
        if let Some(algorithms) = added.filter(|added| !added.is_empty()) {
            tracing::info!(store = %store, ?algorithms, "generated JWT signing keys");
        }
        let (stored, stamp) = store.load()?;
        let keys = with_material(stored).with_context(|| format!("the keys in {store}"))?;
        Ok(Self {
            store,
            max_token_ttl_ms: i64::try_from(max_token_ttl_secs.saturating_mul(1000))
                .unwrap_or(i64::MAX / 2),
            loaded: RwLock::new(Loaded {
                stamp,
                checked: Instant::now(),
                keys: Arc::new(keys),
            }),
            clock,
        })
    }

    /// Reads the key file in `data_dir` and says what it holds, changing nothing (`check`).
    pub fn check(data_dir: &Path) -> anyhow::Result<String> {
        let path = data_dir.join(FILE_NAME);
        let keys = with_material(read_file(&path)?)?;
        Ok(format!(
            "token signing keys {} ({} keys)",
            path.display(),
            keys.len()
        ))
    }

    /// Adds a key of each algorithm to `store` that signs from `publish_for` from now on
    /// (published in the JWKS at once), and schedules the keys signing until then to stop at
    /// that moment; forgets keys whose tokens have all expired. Returns the new key ids and
    /// when they start signing (Unix ms).
    pub fn rotate(
        store: KeyStore,
        max_token_ttl_secs: u64,
        publish_for: std::time::Duration,
    ) -> anyhow::Result<(Vec<String>, i64)> {
        let keys = Self::open_in(store, max_token_ttl_secs, Clock::system())?;
        let now = keys.clock.now_ms();
        let activates_at = now + i64::try_from(publish_for.as_millis()).unwrap_or(i64::MAX / 2);
        let rotated = keys.store.update(|stored, _| {
            for key in stored.iter_mut() {
                let stops = key
                    .retired_at
                    .map_or(activates_at, |at| at.min(activates_at));
                key.retired_at = Some(stops);
            }
            stored.retain(|k| k.published_at(now, keys.max_token_ttl_ms));
            let mut kids = Vec::new();
            for alg in SigningAlg::ALL {
                let key = new_key(alg, now, activates_at)?;
                kids.push(key.kid.clone());
                stored.push(key);
            }
            Ok(Some(kids))
        })?;
        Ok((rotated.unwrap_or_default(), activates_at))
    }

    /// The stored keys, read again when they changed (after `keys rotate`): a file is looked
    /// at on every use, the database every [`DATABASE_POLL`].
    fn current(&self) -> anyhow::Result<Arc<Vec<Key>>> {
        let poisoned = || anyhow::anyhow!("key lock poisoned");
        let polled = matches!(self.store, KeyStore::Database { .. });
        let stamp = {
            let loaded = self.loaded.read().map_err(|_| poisoned())?;
            if polled && loaded.checked.elapsed() < DATABASE_POLL {
                return Ok(Arc::clone(&loaded.keys));
            }
            let stamp = self.store.stamp()?;
            if stamp == loaded.stamp && !polled {
                return Ok(Arc::clone(&loaded.keys));
            }
            stamp
        };
        let mut loaded = self.loaded.write().map_err(|_| poisoned())?;
        if stamp != loaded.stamp {
            let (stored, read_at) = self.store.load()?;
            loaded.keys = Arc::new(with_material(stored)?);
            loaded.stamp = read_at;
        }
        loaded.checked = Instant::now();
        Ok(Arc::clone(&loaded.keys))
    }

    /// Signs claims with the newest Ed25519 key whose time to sign has come (EdDSA).
    pub fn sign<T: Serialize>(&self, claims: &T) -> AppResult<String> {
        self.sign_as(SigningAlg::EdDsa, None, claims)
    }

    /// Signs claims with the newest key of `alg` whose time to sign has come; `typ` is the
    /// header's type (`at+jwt` for an RFC 9068 access token; `JWT` when `None`).
    pub fn sign_as<T: Serialize>(
        &self,
        alg: SigningAlg,
        typ: Option<&str>,
        claims: &T,
    ) -> AppResult<String> {
        let keys = self.current()?;
        let now = self.clock.now_ms();
        let key = keys
            .iter()
            .rev()
            .find(|k| k.stored.alg == alg && k.stored.signs_at(now))
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("no active {alg} signing key")))?;
        let mut header = jsonwebtoken::Header::new(jws_algorithm(alg));
        header.kid = Some(key.stored.kid.clone());
        if let Some(typ) = typ {
            header.typ = Some(typ.to_owned());
        }
        jsonwebtoken::encode(&header, claims, &key.material.encoding)
            .map_err(|e| AppError::Internal(anyhow::anyhow!("signing a token: {e}")))
    }

    /// The claims of a token one of our published keys signed (found by the header's `kid`,
    /// with that key's algorithm) that has not expired by the application clock. The audience
    /// and the rest are the caller's to check.
    pub fn verify<T: DeserializeOwned>(&self, token: &str) -> AppResult<T> {
        let now = self.clock.now_ms();
        let claims = self.signed_claims(token, now)?;
        match claims.get("exp").and_then(serde_json::Value::as_i64) {
            Some(exp) if exp.saturating_mul(1000) > now => {}
            Some(_) => return Err(invalid_token("expired")),
            None => return Err(invalid_token("no expiry")),
        }
        serde_json::from_value(claims).map_err(|_| invalid_token("unexpected claims"))
    }

    /// [`JwtKeys::verify`] without the expiry check, for a token presented as a hint that may
    /// have expired: logout's `id_token_hint` (RP-Initiated Logout 1.0 section 2: accepted
    /// "even when the exp time has passed"). Its key must still be published.
    pub fn verify_allowing_expired<T: DeserializeOwned>(&self, token: &str) -> AppResult<T> {
        let claims = self.signed_claims(token, self.clock.now_ms())?;
        serde_json::from_value(claims).map_err(|_| invalid_token("unexpected claims"))
    }

    /// The claims of a token whose signature one of our keys published at `now` verifies.
    fn signed_claims(&self, token: &str, now: i64) -> AppResult<serde_json::Value> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid_token("malformed"))?;
        let keys = self.current()?;
        let key = keys
            .iter()
            .find(|k| {
                Some(&k.stored.kid) == header.kid.as_ref()
                    && k.stored.published_at(now, self.max_token_ttl_ms)
            })
            .ok_or_else(|| invalid_token("not signed by a key of this server"))?;
        let alg = jws_algorithm(key.stored.alg);
        if header.alg != alg {
            return Err(invalid_token("wrong algorithm for its key"));
        }
        // exp is the caller's to check, against the application clock (not the wall clock).
        let mut validation = jsonwebtoken::Validation::new(alg);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        Ok(
            jsonwebtoken::decode(token, &key.material.decoding, &validation)
                .map_err(|_| invalid_token("bad signature"))?
                .claims,
        )
    }

    /// The public keys that verify current tokens, and the next keys, as a JWK Set.
    pub fn jwks(&self) -> AppResult<serde_json::Value> {
        let now = self.clock.now_ms();
        let keys: Vec<serde_json::Value> = self
            .current()?
            .iter()
            .filter(|k| k.stored.published_at(now, self.max_token_ttl_ms))
            .map(|k| {
                let mut jwk = k.material.public_jwk.clone();
                jwk.insert("kid".into(), k.stored.kid.clone().into());
                jwk.insert("alg".into(), k.stored.alg.as_str().into());
                jwk.insert("use".into(), "sig".into());
                serde_json::Value::Object(jwk)
            })
            .collect();
        Ok(serde_json::json!({ "keys": keys }))
    }
}
