//! A real nginx on loopback in front of siwe-server and a stand-in for a protected app, running
//! the nginx configuration docs/proxies.md documents (or another one given as text).

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::Duration,
};

/// The proxy guide, whose nginx blocks the tests run as people copy them.
pub const PROXY_GUIDE: &str = include_str!("../../docs/proxies.md");

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The nginx locations of docs/proxies.md's forward-auth section, as people copy them.
pub fn documented_nginx_locations() -> String {
    let start = PROXY_GUIDE
        .find("```nginx\nlocation = /_siwe_auth {")
        .expect("docs/proxies.md has the forward-auth nginx block")
        + "```nginx\n".len();
    let len = PROXY_GUIDE[start..].find("```").unwrap();
    PROXY_GUIDE[start..start + len].to_string()
}

/// nginx, stopped when dropped.
pub struct Nginx {
    child: Child,
    /// The port of the server that serves `locations`.
    pub port: u16,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a test's nginx serves: `locations` written for siwe-server on 127.0.0.1:8080 and the
/// protected app on 127.0.0.1:3000 (as documented), and that app, which answers every request
/// with `app_reply` (an nginx string, e.g. echoing the headers it received).
pub struct NginxConfig<'a> {
    pub app_port: u16,
    pub locations: &'a str,
    pub app_reply: &'a str,
    /// Directives for the `http` block (e.g. a `map`).
    pub http: &'a str,
}

pub fn start_nginx(dir: &Path, config: &NginxConfig<'_>) -> Nginx {
    let (proxy, backend) = (free_port(), free_port());
    let locations = config
        .locations
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{}", config.app_port))
        .replace("127.0.0.1:3000", &format!("127.0.0.1:{backend}"));
    assert!(locations.contains("auth_request /_siwe_auth"));
    let (http, reply) = (config.http, config.app_reply);
    let servers = format!(
        r#"
{http}

    server {{
        listen 127.0.0.1:{backend};
        location / {{
            default_type text/plain;
            return 200 "{reply}";
        }}
    }}

    server {{
        listen 127.0.0.1:{proxy};

        {locations}
    }}
"#
    );
    run_nginx(dir, &servers, proxy)
}

/// nginx in `dir` with `http` (the `http` block's contents: servers, upstreams) inside the
/// settings every test's nginx needs, once it answers on `port`.
pub fn run_nginx(dir: &Path, http: &str, port: u16) -> Nginx {
    let d = dir.display();
    let conf = format!(
        r#"
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
{http}
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
        .expect("nginx is installed (bash tests/suites/setup.sh)");
    let child = Command::new(nginx)
        .args(["-e", &format!("{d}/error.log"), "-p", &d.to_string(), "-c"])
        .arg(&path)
        .args(["-g", "daemon off; master_process off;"])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let nginx = Nginx { child, port };
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return nginx;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "nginx did not start: {}",
        std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
    );
}
