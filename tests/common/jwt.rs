//! JWTs in tests: an independent verifier (PyJWT, tests/suites/helpers/verify_jwt.py) against
//! the server's published JWKS, a token's header, and tokens signed with the server's own keys
//! as the OpenID Connect code signs them.

use std::{path::Path, sync::OnceLock};

use serde_json::{json, Value};
use siwe_server::{
    clock::Clock,
    keys::{JwtKeys, SigningAlg},
};

use super::{TestApp, URI};

/// PyJWT's verdict on `token` (accepting `alg` only, issuer this server, `audience`), its clock
/// `moved_secs` ahead as the test moved the server's: the claims, or the error text.
pub async fn pyjwt_verify(
    app: &TestApp,
    token: &str,
    audience: &str,
    moved_secs: i64,
    alg: &str,
) -> Result<Value, String> {
    let out = tokio::process::Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/suites/helpers/verify_jwt.py"
        ))
        .args([
            &app.url("/.well-known/jwks.json"),
            token,
            audience,
            URI,
            &moved_secs.to_string(),
            alg,
        ])
        .output()
        .await
        .expect("python3 runs (bash tests/suites/setup.sh installs PyJWT)");
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if out.status.success() {
        Ok(serde_json::from_str(&text).unwrap())
    } else {
        Err(format!("{text}{}", String::from_utf8_lossy(&out.stderr)))
    }
}

/// The decoded JOSE header of `token`.
pub fn jwt_header(token: &str) -> Value {
    use base64::Engine;
    let header = token.split('.').next().unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap(),
    )
    .unwrap()
}

/// The server's signing keys, as the OpenID Connect code uses them (same file, same clock).
pub fn server_keys(app: &TestApp) -> JwtKeys {
    JwtKeys::open(app.db_path().parent().unwrap(), 300, app.clock.clone()).unwrap()
}

/// An RS256 access token (`typ` at+jwt) signed with the server's keys, for `aud`, valid `ttl`
/// seconds.
pub fn rs256_token(app: &TestApp, aud: &str, ttl: i64) -> String {
    let iat = app.clock.now().unix_timestamp();
    let claims = json!({"iss": URI, "sub": "someone", "aud": aud, "iat": iat, "exp": iat + ttl});
    server_keys(app)
        .sign_as(SigningAlg::Rs256, Some("at+jwt"), &claims)
        .unwrap()
}

/// The key id in `token`'s header.
pub fn jwt_kid(token: &str) -> String {
    jwt_header(token)["kid"].as_str().unwrap().to_string()
}

/// The JWK Set the server publishes.
pub async fn published_jwks(app: &TestApp) -> Value {
    app.get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap()
}

/// Puts a key file, generated once per test process, into `data_dir` unless one is there:
/// generating an RSA key takes a few hundred ms in a debug build, and a test binary starts
/// dozens of servers. (First-start generation is tested in signing_keys.rs and by the binary.)
pub fn seed_key_file(data_dir: &Path) {
    static KEY_FILE: OnceLock<Vec<u8>> = OnceLock::new();
    let path = data_dir.join("jwt-keys.json");
    if path.exists() {
        return;
    }
    let text = KEY_FILE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        JwtKeys::open(dir.path(), 300, Clock::system()).unwrap();
        std::fs::read(dir.path().join("jwt-keys.json")).unwrap()
    });
    std::fs::create_dir_all(data_dir).unwrap();
    std::fs::write(&path, text).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}
