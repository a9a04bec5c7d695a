//! The session cookie stays away from the apps behind forward-auth: README.md's nginx `map`
//! strips it before the app (through a real nginx), and the check refuses a request that carries
//! it twice, so the copy a `map` leaves can never reach the app.

mod common;

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::Duration,
};

use common::*;
use reqwest::{Client, StatusCode};
use serde_json::Value;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

const README: &str = include_str!("../README.md");

/// The README's block that starts with `first` (inside a list item, so indented), dedented.
fn readme_block(first: &str) -> String {
    let start = README.find(first).expect("README.md has the block");
    let line_start = README[..start].rfind('\n').map_or(0, |i| i + 1);
    let indent = start - line_start;
    let len = README[line_start..].find("```").unwrap();
    README[line_start..line_start + len]
        .lines()
        .map(|l| l.get(indent..).unwrap_or(l.trim_start()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// README's forward-auth locations, with its line that strips the cookie added to `location /`.
fn protected_locations() -> String {
    let start = README
        .find("```nginx\nlocation = /_siwe_auth {")
        .expect("README.md has the forward-auth nginx block")
        + "```nginx\n".len();
    let len = README[start..].find("```").unwrap();
    let strip = readme_block("proxy_set_header Cookie $cookie_for_app;");
    let strip = strip.trim().split('#').next().unwrap().trim();
    let locations = &README[start..start + len];
    let proxy_pass = "    proxy_pass http://127.0.0.1:3000;";
    assert!(locations.contains(proxy_pass));
    locations.replacen(proxy_pass, &format!("    {strip}\n{proxy_pass}"), 1)
}

struct Nginx(Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// nginx with README's map in front of an app that echoes the Cookie header it receives.
fn start_nginx(dir: &Path, app_port: u16) -> (Nginx, u16) {
    let (proxy, backend) = (free_port(), free_port());
    let map = readme_block("map $http_cookie $cookie_for_app {");
    let locations = protected_locations()
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{app_port}"))
        .replace("127.0.0.1:3000", &format!("127.0.0.1:{backend}"));
    let d = dir.display();
    let conf = format!(
        r#"
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;

{map}

    server {{
        listen 127.0.0.1:{backend};
        location / {{
            default_type text/plain;
            return 200 "cookie=[$http_cookie] user=$http_x_auth_user_id";
        }}
    }}

    server {{
        listen 127.0.0.1:{proxy};

        {locations}
    }}
}}
"#
    );
    for sub in ["body", "proxy", "fastcgi", "uwsgi", "scgi"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf).unwrap();
    let nginx = ["/usr/sbin/nginx", "nginx"]
        .into_iter()
        .find(|p| {
            Command::new(p)
                .arg("-v")
                .stderr(Stdio::null())
                .status()
                .is_ok()
        })
        .expect("nginx is installed (bash tests/setup.sh)");
    let child = Command::new(nginx)
        .args(["-e", &format!("{d}/error.log"), "-p", &d.to_string(), "-c"])
        .arg(&path)
        .args(["-g", "daemon off; master_process off;"])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let guard = Nginx(child);
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", proxy)).is_ok() {
            return (guard, proxy);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "nginx did not start: {}",
        std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
    );
}

/// Signs a wallet in on `app` (whose public URL is `origin`); returns its session token.
async fn session_token(app: &TestApp, origin: &str) -> (String, String) {
    let wallet = Wallet::random();
    let mut spec = MessageSpec::new(&wallet, &app.nonce().await);
    spec.uri = origin.into();
    let resp = app.verify_spec(&wallet, &spec).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    (
        body["token"].as_str().unwrap().to_string(),
        body["user"]["id"].as_str().unwrap().to_string(),
    )
}

async fn through_nginx(origin: &str, name: &str) {
    let app = TestApp::spawn_with(|s| {
        s.server.public_url = origin.into();
        s.server.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    let app_port: u16 = app.base.rsplit(':').next().unwrap().parse().unwrap();
    let dir = tempfile::TempDir::new().unwrap();
    let (_nginx, proxy) = start_nginx(dir.path(), app_port);
    let (token, user) = session_token(&app, origin).await;
    let protected = format!("http://127.0.0.1:{proxy}/private/page");
    let get = |cookie: String| {
        let request = Client::new().get(&protected).header("cookie", cookie);
        async move {
            let resp = request.send().await.unwrap();
            (resp.status(), resp.text().await.unwrap())
        }
    };
    let session = format!("{name}={token}");
    for (sent, seen) in [
        (session.clone(), ""),
        (format!("a=1; {session}; b=2"), "a=1; b=2"),
        (format!("{session}; b=2"), "; b=2"),
        (format!("a=1; {session}"), "a=1"),
        (format!("my_{name}=x; {session}"), &format!("my_{name}=x")),
    ] {
        let (status, body) = get(sent.clone()).await;
        assert_eq!(status, StatusCode::OK, "{sent}: {body}");
        assert!(
            body.starts_with(&format!("cookie=[{seen}] user={user}")),
            "{sent}: {body}"
        );
        assert!(!body.contains(&token), "{sent}: {body}");
    }
    // Twice (a second copy planted by another app on the domain): the map would strip only one,
    // so the check refuses and nothing reaches the app.
    for sent in [
        format!("{name}=junk; {session}"),
        format!("{session}; a=1; {session}"),
    ] {
        let (status, body) = get(sent.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{sent}: {body}");
        assert!(!body.contains(&token), "{sent}: {body}");
    }
}

#[tokio::test]
async fn readme_nginx_map_keeps_the_session_cookie_from_the_app() {
    through_nginx("http://localhost:8080", "siwe_session").await;
    // Over https the cookie is __Host- prefixed; the same map strips it.
    through_nginx("https://localhost:8080", "__Host-siwe_session").await;
}

#[tokio::test]
async fn forward_auth_refuses_two_session_cookies() {
    let app = TestApp::spawn().await;
    let (token, _) = session_token(&app, URI).await;
    let check = |cookie: String, bearer: bool| {
        let mut request = Client::new()
            .get(app.url("/api/auth/forward"))
            .header("cookie", cookie);
        if bearer {
            request = request.bearer_auth(&token);
        }
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(
        check(format!("siwe_session={token}"), false).await,
        StatusCode::OK
    );
    for cookie in [
        format!("siwe_session=junk; siwe_session={token}"),
        format!("siwe_session={token}; siwe_session={token}"),
    ] {
        assert_eq!(
            check(cookie.clone(), false).await,
            StatusCode::UNAUTHORIZED,
            "{cookie}"
        );
        assert_eq!(
            check(cookie.clone(), true).await,
            StatusCode::UNAUTHORIZED,
            "{cookie} with a bearer token"
        );
    }
    // Other cookies that merely end in the name are not the session cookie.
    assert_eq!(
        check(format!("my_siwe_session=x; siwe_session={token}"), false).await,
        StatusCode::OK
    );
}
