//! The `oidc` scenario: one OpenID Connect authorization-code flow per iteration, as an app's
//! login does it for a person already signed in here: `GET /oidc/authorize` with the session
//! cookie (a trusted client: no consent page) answers a redirect carrying a code, which
//! `POST /oidc/token` (client_secret_basic, PKCE S256) exchanges for an access token and an
//! RS256 ID token.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use sha2::{Digest, Sha256};

/// The flow's settings (from the command line).
#[derive(clap::Args, Debug, Clone)]
pub struct OidcArgs {
    #[arg(long, default_value = "/oidc/authorize")]
    pub authorize_path: String,
    #[arg(long, default_value = "/oidc/token")]
    pub token_path: String,
    /// A trusted confidential client of the server under test.
    #[arg(long, default_value = "loadgen")]
    pub client_id: String,
    #[arg(long, default_value = "loadgen-bench-client-secret")]
    pub client_secret: String,
    /// One of the client's registered redirect URIs (never fetched).
    #[arg(long, default_value = "http://127.0.0.1:9/callback")]
    pub redirect_uri: String,
    #[arg(long, default_value = "openid profile")]
    pub scope: String,
}

/// One PKCE verifier for the run (the server sees a fresh code each time; the generator's
/// SHA-256 stays out of the measurement).
const VERIFIER: &str = "loadgen-pkce-verifier-0123456789abcdefghijklmnopqrstuvwxyz";

pub struct Flow {
    args: OidcArgs,
    authorize_url: String,
    token_url: String,
    challenge: String,
}

impl Flow {
    pub fn new(base_url: &str, args: OidcArgs) -> Self {
        let base = base_url.trim_end_matches('/');
        Self {
            authorize_url: format!("{base}{}", args.authorize_path),
            token_url: format!("{base}{}", args.token_path),
            challenge: URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER)),
            args,
        }
    }

    /// Authorize then exchange the code: the token response's status, or the authorize
    /// response's when it did not redirect with a code (a 4xx/5xx, or 200: a consent page).
    pub async fn run(&self, client: &reqwest::Client, state: usize) -> reqwest::Result<u16> {
        let state = state.to_string();
        let resp = client
            .get(&self.authorize_url)
            .query(&[
                ("response_type", "code"),
                ("client_id", &self.args.client_id),
                ("redirect_uri", &self.args.redirect_uri),
                ("scope", &self.args.scope),
                ("state", &state),
                ("code_challenge", &self.challenge),
                ("code_challenge_method", "S256"),
            ])
            .send()
            .await?;
        let code = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|location| url::Url::parse(location.to_str().ok()?).ok())
            .and_then(|location| {
                location
                    .query_pairs()
                    .find(|(k, _)| k == "code")
                    .map(|(_, v)| v.into_owned())
            });
        let Some(code) = code else {
            let status = resp.status().as_u16();
            let _ = resp.bytes().await;
            // A page instead of a redirect (consent asked: the client is not trusted) failed too.
            return Ok(if status < 300 { 599 } else { status });
        };
        let resp = client
            .post(&self.token_url)
            .basic_auth(&self.args.client_id, Some(&self.args.client_secret))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", self.args.redirect_uri.as_str()),
                ("code_verifier", VERIFIER),
            ])
            .send()
            .await?;
        let status = resp.status().as_u16();
        let _ = resp.bytes().await;
        Ok(status)
    }
}
