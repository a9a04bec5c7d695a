//! Email against a real SMTP server: Python's aiosmtpd (tests/suites/requirements.txt), started
//! on a loopback port, writing what it receives to a maildir that the tests read.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use siwe_server::config::SmtpTls;

use super::TestApp;

pub struct SmtpSink {
    child: Child,
    pub port: u16,
    maildir: PathBuf,
}

impl SmtpSink {
    pub fn start(dir: &Path) -> Self {
        let maildir = dir.join("maildir");
        for sub in ["tmp", "new", "cur"] {
            std::fs::create_dir_all(maildir.join(sub)).unwrap();
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("python3")
            .args([
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
                "-c",
                "aiosmtpd.handlers.Mailbox",
            ])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 runs");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Self {
                    child,
                    port,
                    maildir,
                };
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let mut child = child;
        let _ = child.kill();
        let _ = child.wait();
        panic!("aiosmtpd did not start: `python3 -m pip install -r tests/suites/requirements.txt`");
    }

    /// Waits for the n-th message (1-based) and returns its raw text.
    pub async fn message(&self, n: usize) -> String {
        for _ in 0..100 {
            let mut files: Vec<_> = std::fs::read_dir(self.maildir.join("new"))
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            files.sort_by_key(|p| std::fs::metadata(p).unwrap().modified().unwrap());
            if files.len() >= n {
                return std::fs::read_to_string(&files[n - 1]).unwrap();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no message {n} arrived");
    }

    pub fn count(&self) -> usize {
        std::fs::read_dir(self.maildir.join("new")).unwrap().count()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A message with its quoted-printable soft breaks and escapes undone (enough for our mails).
pub fn decoded(message: &str) -> String {
    message.replace("=\n", "").replace("=3D", "=")
}

/// The path and query of the first link to this server in a message.
pub fn link_in(message: &str) -> String {
    let text = decoded(message);
    let start =
        text.find("http://localhost:8080/").expect("a link") + "http://localhost:8080".len();
    text[start..].split_whitespace().next().unwrap().to_string()
}

/// A server that sends its mail to `sink`, with other settings changed too.
pub async fn spawn_with_email_and(
    sink: &SmtpSink,
    configure: impl FnOnce(&mut siwe_server::Settings),
) -> TestApp {
    let port = sink.port;
    TestApp::spawn_with(move |s| {
        s.email.smtp_host = Some("127.0.0.1".into());
        s.email.smtp_port = port;
        s.email.smtp_tls = SmtpTls::None;
        s.email.from = "Sign-in <login@example.org>".into();
        configure(s);
    })
    .await
}
