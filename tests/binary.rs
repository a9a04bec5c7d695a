//! The real binary: command line, start-up errors, restarts on the same data folder (graceful
//! and kill -9), and what reaches the logs.

mod common;

use std::{
    process::{Command, Stdio},
    time::Duration,
};

use common::{process::*, *};
use reqwest::StatusCode;
use serde_json::Value;
use tempfile::TempDir;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_keep_users_sessions_and_the_secret() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let wallet = Wallet::random();

    let server = Server::start(&data);
    let first = sign_in(&server.base, &wallet).await;
    let token = first["token"].as_str().unwrap().to_string();
    let secret = std::fs::read_to_string(data.join("secret.key")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("secret.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "secret.key is private");
    }
    assert!(server.terminate().success(), "SIGTERM exits cleanly");

    let server = Server::start(&data);
    assert_eq!(session_status(&server.base, &token).await, StatusCode::OK);
    let again = sign_in(&server.base, &wallet).await;
    assert_eq!(again["created"], false);
    assert_eq!(again["user"]["id"], first["user"]["id"]);
    assert_eq!(
        std::fs::read_to_string(data.join("secret.key")).unwrap(),
        secret
    );

    // kill -9 loses nothing that was answered.
    let other = Wallet::random();
    let third = sign_in(&server.base, &other).await;
    server.kill_hard();
    let server = Server::start(&data);
    assert_eq!(
        session_status(&server.base, third["token"].as_str().unwrap()).await,
        StatusCode::OK
    );
    assert_eq!(
        sign_in(&server.base, &other).await["user"]["id"],
        third["user"]["id"]
    );
    assert_eq!(session_status(&server.base, &token).await, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_carry_no_secrets() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir.path().join("data"));
    let wallet = Wallet::random();
    let body = sign_in(&server.base, &wallet).await;
    let token = body["token"].as_str().unwrap();
    let csrf = body["csrfToken"].as_str().unwrap();
    assert_eq!(session_status(&server.base, token).await, StatusCode::OK);
    // A refused sign-in, with its signature in the request.
    let nonce: Value = reqwest::get(server.url("/api/auth/nonce"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let nonce = nonce["nonce"].as_str().unwrap().to_string();
    let message = MessageSpec::new(&wallet, &nonce).render();
    let bad_signature = Wallet::random().sign(&message);
    let resp = reqwest::Client::new()
        .post(server.url("/api/auth/verify"))
        .json(&serde_json::json!({ "message": message, "signature": bad_signature }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    // The server's log lines arrive as it writes them: wait for the refusal's, however slow.
    let mut logs = server.logs();
    for _ in 0..100 {
        if logs.contains("invalid_signature") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        logs = server.logs();
    }
    let secret = std::fs::read_to_string(dir.path().join("data/secret.key")).unwrap();
    assert!(
        logs.contains("sign-in succeeded") && logs.contains(&wallet.address),
        "logs say who signed in"
    );
    assert!(
        logs.contains("invalid_signature"),
        "logs say why a sign-in was refused"
    );
    for (what, value) in [
        ("session token", token),
        ("csrf token", csrf),
        ("signature", bad_signature.trim_start_matches("0x")),
        ("nonce", nonce.as_str()),
        ("secret", secret.trim()),
    ] {
        assert!(!logs.contains(value), "the {what} reached the logs");
    }
}

#[test]
fn invalid_configuration_stops_start_up_naming_the_key() {
    let dir = TempDir::new().unwrap();
    let run = |cmd: &mut Command| {
        let out = cmd.stderr(Stdio::piped()).output().unwrap();
        assert!(!out.status.success());
        String::from_utf8(out.stderr).unwrap()
    };
    let data = dir.path().join("data");
    let err = run(command(&data).env("SIWE_SESSION__SAME_SITE", "none"));
    assert!(err.contains("same_site") && err.contains("Secure"), "{err}");
    let err = run(command(&data).env("SIWE_SIWE__NONCE_TTL_SECS", "five"));
    assert!(err.contains("siwe.nonce_ttl_secs"), "{err}");
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "[server]\npublic_url = \"https://x.org/path\"\n").unwrap();
    let err = run(command(&data).arg("--config").arg(&config));
    assert!(err.contains("server.public_url"), "{err}");
    std::fs::write(&config, "[sesion]\nttl_secs = 5\n").unwrap();
    let err = run(command(&data).env("SIWE_CONFIG", &config));
    assert!(err.contains("sesion"), "{err}");
    let err = run(command(&data)
        .arg("--config")
        .arg(dir.path().join("missing.toml")));
    assert!(err.contains("missing.toml"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_file_and_environment_apply() {
    let dir = TempDir::new().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "[siwe]\nchain_ids = [10]\nstatement = \"From the file.\"\n[session]\ncookie_name = \"from_file\"\n",
    )
    .unwrap();
    let mut cmd = command(&dir.path().join("data"));
    cmd.arg("--config")
        .arg(&config)
        .env("SIWE_SESSION__COOKIE_NAME", "from_env");
    let server = Server::start_with(cmd);
    let nonce: Value = reqwest::get(server.url("/api/auth/nonce"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(nonce["chainIds"], serde_json::json!([10]));
    assert_eq!(nonce["statement"], "From the file.");
    let wallet = Wallet::random();
    let mut spec = MessageSpec::new(&wallet, nonce["nonce"].as_str().unwrap());
    spec.chain_id = "10".into();
    let message = spec.render();
    let resp = reqwest::Client::new()
        .post(server.url("/api/auth/verify"))
        .json(&serde_json::json!({ "message": message, "signature": wallet.sign(&message) }))
        .send()
        .await
        .unwrap();
    assert!(
        set_cookie(resp.headers()).starts_with("from_env="),
        "environment wins over the file"
    );
}

#[test]
fn a_database_from_a_newer_version_is_refused() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let conn = rusqlite::Connection::open(data.join("siwe.db")).unwrap();
    conn.pragma_update(None, "user_version", 999).unwrap();
    drop(conn);
    let out = command(&data).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("newer"), "{err}");
}

#[test]
fn cli_prints_help_version_and_spec() {
    let out = Command::new(bin()).arg("--version").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8(out.stdout)
        .unwrap()
        .contains(env!("CARGO_PKG_VERSION")));
    let out = Command::new(bin()).arg("--help").output().unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(help.contains("serve") && help.contains("openapi") && help.contains("--config"));
    let out = Command::new(bin()).arg("openapi").output().unwrap();
    let spec: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    let out = Command::new(bin()).arg("frobnicate").output().unwrap();
    assert!(!out.status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_is_the_default_and_explicit_command() {
    let dir = TempDir::new().unwrap();
    let mut cmd = command(&dir.path().join("data"));
    cmd.arg("serve");
    let server = Server::start_with(cmd);
    let health = reqwest::get(server.url("/healthz")).await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let health: Value = health.json().await.unwrap();
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
    // The start-up line tells a newcomer where to go.
    let logs = server.logs();
    let listening = logs
        .lines()
        .find(|line| line.contains("\"listening\""))
        .unwrap();
    assert!(
        listening.contains("/login") && listening.contains("/docs"),
        "{listening}"
    );
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
fn set_mode(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The data folder is the server's alone: created 0700, its database (with WAL and SHM) and
/// key files 0600; a database left world-readable by an older version is made private; a
/// secret file others can read stops start-up, naming the file and the fix.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_files_are_private_and_readable_secrets_are_refused() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data);
    sign_in(&server.base, &Wallet::random()).await;
    assert_eq!(mode(&data), 0o700, "data folder");
    for file in [
        "siwe.db",
        "siwe.db-wal",
        "siwe.db-shm",
        "secret.key",
        "jwt-keys.json",
    ] {
        assert_eq!(mode(&data.join(file)), 0o600, "{file}");
    }
    assert!(server.terminate().success());

    set_mode(&data.join("siwe.db"), 0o644);
    let server = Server::start(&data);
    assert_eq!(mode(&data.join("siwe.db")), 0o600, "made private at start");
    assert!(server.logs().contains("readable by its owner only"));
    assert!(server.terminate().success());

    for secret in ["secret.key", "jwt-keys.json"] {
        let path = data.join(secret);
        set_mode(&path, 0o640);
        let out = command(&data).output().unwrap();
        assert!(
            !out.status.success(),
            "{secret} readable by others is refused"
        );
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(
            err.contains(&format!("chmod 600 {}", path.display())),
            "{err}"
        );
        set_mode(&path, 0o600);
    }
    let server = Server::start(&data);
    assert_eq!(
        reqwest::get(server.url("/healthz")).await.unwrap().status(),
        StatusCode::OK
    );
}

/// forward-auth rules without a trusted proxy refuse every signed-in check (the host cannot be
/// believed): the server says so when it starts.
#[test]
fn forward_auth_rules_without_trusted_proxies_warn_at_start_up() {
    let dir = TempDir::new().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "[[forward_auth.rules]]\nhost = \"admin.example.org\"\naddresses = [\"0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2\"]\n",
    )
    .unwrap();
    let warning = "server.trusted_proxies is empty";
    let mut cmd = command(&dir.path().join("data"));
    cmd.arg("--config").arg(&config);
    let server = Server::start_with(cmd);
    assert!(server.logs().contains(warning), "{}", server.logs());
    drop(server);
    let mut cmd = command(&dir.path().join("data"));
    cmd.arg("--config")
        .arg(&config)
        .env("SIWE_SERVER__TRUSTED_PROXIES", "[\"127.0.0.1\"]");
    let server = Server::start_with(cmd);
    assert!(!server.logs().contains(warning), "{}", server.logs());
}

/// packaging/siwe-server.service passes `systemd-analyze verify` without a single warning (its
/// ExecStart pointed at the binary under test, which must exist for the check).
#[cfg(target_os = "linux")]
#[test]
fn the_systemd_unit_verifies_cleanly() {
    let unit = include_str!("../packaging/siwe-server.service");
    assert!(unit.contains("ExecStart=/usr/local/bin/siwe-server --config"));
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("siwe-server.service");
    std::fs::write(&path, unit.replace("/usr/local/bin/siwe-server", bin())).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze (Debian's systemd; tests/suites/setup.sh installs it)");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && said.trim().is_empty(), "{said}");
}

/// The container's settings (the Dockerfile's ENV lines) are a valid configuration.
#[test]
fn the_container_settings_pass_check() {
    let dockerfile = include_str!("../Dockerfile");
    let settings: Vec<(&str, &str)> = dockerfile
        .split(char::is_whitespace)
        .filter(|word| word.starts_with("SIWE_"))
        .filter_map(|word| word.split_once('='))
        .collect();
    assert!(settings.iter().any(|(key, _)| *key == "SIWE_SERVER__BIND"));
    let dir = TempDir::new().unwrap();
    let mut cmd = command(&dir.path().join("data"));
    cmd.env_remove("SIWE_SERVER__BIND")
        .env_remove("SIWE_DATABASE__PATH");
    for (key, value) in settings {
        cmd.env(key, value);
    }
    // Only the database's folder is the test's: /data is the container's volume.
    cmd.env(
        "SIWE_DATABASE__PATH",
        dir.path().join("data/siwe-server.db"),
    );
    let out = cmd.arg("check").stdout(Stdio::piped()).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
