//! OpenID Connect clients: `siwe-server clients` through the real binary beside a server that
//! has the database open, clients of the configuration, `check`, and how a client proves who
//! it is (`Oidc::authenticate_client`).

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use siwe_server::{
    error::ErrorCode,
    oidc::{
        clients::{ClientAuthMethod, ClientCredentials},
        Oidc,
    },
    Application, Settings,
};
use tempfile::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_siwe-server");
const CONFIGURED_SECRET: &str = "configured-secret-from-a-file";

/// A config file in `dir` with its database there, and `extra` TOML after it.
fn write_config(dir: &Path, extra: &str) -> PathBuf {
    let path = dir.join("config.toml");
    let db = dir.join("data").join("siwe.db");
    std::fs::write(
        &path,
        format!(
            "[server]\nbind = \"127.0.0.1:0\"\n[database]\npath = {:?}\n[log]\nlevel = \"warn\"\n{extra}",
            db.display().to_string()
        ),
    )
    .unwrap();
    path
}

/// A configured confidential client whose secret is in a file.
fn configured_client(dir: &Path) -> String {
    let secret_file = dir.join("configured.secret");
    std::fs::write(&secret_file, format!("{CONFIGURED_SECRET}\n")).unwrap();
    format!(
        "[[oidc.clients]]\nid = \"configured\"\nsecret_file = {:?}\n\
         redirect_uris = [\"https://configured.example.org/cb\"]\n",
        secret_file.display().to_string()
    )
}

/// Runs `siwe-server --config <config> <args>`: success, stdout, stderr.
fn cli(config: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .env_remove("SIWE_CONFIG")
        .env_remove("RUST_LOG")
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn secret_in(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("client_secret: "))
        .unwrap_or_else(|| panic!("a secret is printed: {stdout}"))
        .to_string()
}

async fn server(config: &Path) -> Application {
    let settings: Settings = Settings::load(Some(config)).unwrap().settings;
    Application::build(settings).await.unwrap()
}

async fn authenticate(oidc: &Oidc, id: &str, secret: Option<&str>) -> Result<String, ErrorCode> {
    let method = if secret.is_some() {
        ClientAuthMethod::Basic
    } else {
        ClientAuthMethod::None
    };
    oidc.authenticate_client(ClientCredentials {
        client_id: Some(id.to_string()),
        secret: secret.map(str::to_string),
        method,
    })
    .await
    .map(|client| client.id)
    .map_err(|e| e.code())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_added_with_the_cli_work_at_once_on_a_running_server() {
    let dir = TempDir::new().unwrap();
    let config = write_config(dir.path(), &configured_client(dir.path()));
    let app = server(&config).await;
    let oidc = app.oidc();

    let (ok, out, err) = cli(
        &config,
        &[
            "clients",
            "add",
            "cli-app",
            "--name",
            "CLI App",
            "--redirect-uri",
            "https://app.example.org/cb",
            "--scope",
            "openid",
            "--scope",
            "email",
        ],
    );
    assert!(ok, "{err}");
    let secret = secret_in(&out);
    let client = oidc.client("cli-app").await.unwrap().expect("seen at once");
    assert_eq!(
        (client.name.as_str(), client.scopes.to_string().as_str()),
        ("CLI App", "openid email")
    );
    assert_eq!(
        authenticate(&oidc, "cli-app", Some(&secret)).await,
        Ok("cli-app".into())
    );
    let wrong = format!("{secret}x");
    for presented in [Some(wrong.as_str()), None] {
        assert_eq!(
            authenticate(&oidc, "cli-app", presented).await,
            Err(ErrorCode::InvalidClient),
            "{presented:?}"
        );
    }

    // Refused: a taken id, an id of the configuration, a redirect URI breaking the rules.
    let add = |id: &'static str, uri: &'static str| {
        cli(&config, &["clients", "add", id, "--redirect-uri", uri])
    };
    let (ok, _, err) = add("cli-app", "https://app.example.org/cb");
    assert!(!ok && err.contains("exists already"), "{err}");
    let (ok, _, err) = add("configured", "https://app.example.org/cb");
    assert!(!ok && err.contains("configuration"), "{err}");
    let (ok, _, err) = add("plain", "http://app.example.org/cb");
    assert!(!ok && err.contains("redirect_uris"), "{err}");

    // A public client: no secret printed, none accepted.
    let (ok, out, err) = cli(
        &config,
        &[
            "clients",
            "add",
            "spa",
            "--public",
            "--redirect-uri",
            "http://127.0.0.1:5173/cb",
        ],
    );
    assert!(ok && !out.contains("client_secret"), "{out}{err}");
    assert_eq!(authenticate(&oidc, "spa", None).await, Ok("spa".into()));
    assert_eq!(
        authenticate(&oidc, "spa", Some("anything-at-all-here")).await,
        Err(ErrorCode::InvalidClient)
    );

    let (ok, out, _) = cli(&config, &["clients", "list"]);
    assert!(ok);
    assert!(out.contains("cli-app\tCLI App\tconfidential"), "{out}");
    assert!(out.contains("spa\tspa\tpublic"), "{out}");
    assert!(out.contains("configured\t(in the configuration)"), "{out}");
    assert!(!out.contains(&secret), "list never shows a secret");

    let (ok, out, err) = cli(&config, &["clients", "rotate-secret", "cli-app"]);
    assert!(ok, "{err}");
    let rotated = secret_in(&out);
    assert_eq!(
        authenticate(&oidc, "cli-app", Some(&secret)).await,
        Err(ErrorCode::InvalidClient),
        "the old secret stops at once"
    );
    assert_eq!(
        authenticate(&oidc, "cli-app", Some(&rotated)).await,
        Ok("cli-app".into())
    );
    let (ok, _, err) = cli(&config, &["clients", "rotate-secret", "spa"]);
    assert!(!ok && err.contains("public"), "{err}");

    let (ok, _, err) = cli(&config, &["clients", "remove", "cli-app"]);
    assert!(ok, "{err}");
    assert!(oidc.client("cli-app").await.unwrap().is_none());
    assert_eq!(
        authenticate(&oidc, "cli-app", Some(&rotated)).await,
        Err(ErrorCode::InvalidClient)
    );
    let (ok, _, err) = cli(&config, &["clients", "remove", "configured"]);
    assert!(!ok && err.contains("configuration"), "{err}");

    // The configured client: its secret came from the file.
    assert_eq!(
        authenticate(&oidc, "configured", Some(CONFIGURED_SECRET)).await,
        Ok("configured".into())
    );
    assert_eq!(
        authenticate(&oidc, "configured", None).await,
        Err(ErrorCode::InvalidClient)
    );
    assert_eq!(
        authenticate(&oidc, "nobody", None).await,
        Err(ErrorCode::InvalidClient)
    );
    let anonymous = oidc
        .authenticate_client(ClientCredentials {
            client_id: None,
            secret: Some(CONFIGURED_SECRET.into()),
            method: ClientAuthMethod::Post,
        })
        .await;
    assert_eq!(
        anonymous.map_err(|e| e.code()).err(),
        Some(ErrorCode::InvalidClient)
    );

    let (ok, out, err) = cli(&config, &["check"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("1 OpenID Connect client(s) in the database [\"spa\"]"),
        "{out}"
    );
    assert!(
        out.contains("1 OpenID Connect client(s) in the configuration"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_in_both_the_configuration_and_the_database_is_refused() {
    let dir = TempDir::new().unwrap();
    let config = write_config(dir.path(), "");
    let (ok, _, err) = cli(
        &config,
        &[
            "clients",
            "add",
            "configured",
            "--redirect-uri",
            "https://a.example.org/cb",
        ],
    );
    assert!(ok, "{err}");
    let config = write_config(dir.path(), &configured_client(dir.path()));
    let (ok, _, err) = cli(&config, &["check"]);
    assert!(
        !ok && err.contains("oidc.clients[0]") && err.contains("database"),
        "{err}"
    );
    let settings = Settings::load(Some(&config)).unwrap().settings;
    let err = Application::build(settings)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("oidc.clients[0]"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_client_breaking_a_rule_stops_start_up_naming_the_key() {
    let dir = TempDir::new().unwrap();
    let start = |extra: &str| {
        let config = write_config(dir.path(), extra);
        async move {
            let settings = Settings::load(Some(&config)).unwrap().settings;
            Application::build(settings)
                .await
                .err()
                .unwrap()
                .to_string()
        }
    };
    let err =
        start("[[oidc.clients]]\nid = \"x\"\nredirect_uris = [\"https://x.example.org/cb#f\"]\n")
            .await;
    assert!(
        err.contains("oidc.clients[0] (\"x\").redirect_uris"),
        "{err}"
    );
    let err = start(
        "[[oidc.clients]]\nid = \"x\"\nscopes = [\"email\"]\n\
         redirect_uris = [\"https://x.example.org/cb\"]\n",
    )
    .await;
    assert!(err.contains("scopes") && err.contains("openid"), "{err}");
    let err = start(
        "[[oidc.clients]]\nid = \"x\"\nsecret_file = \"/nonexistent/secret\"\n\
         redirect_uris = [\"https://x.example.org/cb\"]\n",
    )
    .await;
    assert!(err.contains("secret_file"), "{err}");
}
