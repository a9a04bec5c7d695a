//! Security headers on every response, and a Content-Security-Policy on HTML with no inline
//! script. Swagger UI's page is inline scripts only, so /docs gets a policy that allows exactly
//! those scripts by hash.

use std::sync::OnceLock;

use poem::{
    http::{header, HeaderValue},
    Endpoint, IntoResponse, Request, Response,
};
use sha2::{Digest, Sha256};

use super::{client_address::ClientAddress, Around};
use crate::config::SecuritySettings;

/// The middleware that sets the headers; built once from the settings. Needs the
/// [`ClientAddress`] stored outside it (a client that came over https gets HSTS).
#[derive(Clone)]
pub struct SecurityHeaders {
    page_policy: String,
    page_csp: HeaderValue,
    /// Made on first use: hashing Swagger UI's page means building it (megabytes).
    docs_csp: OnceLock<HeaderValue>,
    docs_html: fn() -> String,
    frame_ancestors: String,
    frameable: bool,
    hsts: bool,
}

fn sources(extra: &[String], none_if_empty: bool) -> String {
    if extra.is_empty() && none_if_empty {
        "'none'".into()
    } else {
        extra.join(" ")
    }
}

/// `'sha256-…'` of every inline `<script>` in a page.
fn inline_script_hashes(html: &str) -> Vec<String> {
    use base64::{engine::general_purpose::STANDARD, Engine};
    let mut hashes = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<script") {
        let after_tag = &rest[start..];
        let Some(open_end) = after_tag.find('>') else {
            break;
        };
        let body_and_more = &after_tag[open_end + 1..];
        let Some(close) = body_and_more.find("</script>") else {
            break;
        };
        let body = &body_and_more[..close];
        if !after_tag[..open_end].contains(" src=") {
            hashes.push(format!(
                "'sha256-{}'",
                STANDARD.encode(Sha256::digest(body.as_bytes()))
            ));
        }
        rest = &body_and_more[close + "</script>".len()..];
    }
    hashes
}

impl SecurityHeaders {
    /// `hsts` when the server is reached over https; `docs_html` makes the /docs page, whose
    /// inline scripts its policy allows.
    pub fn new(security: &SecuritySettings, hsts: bool, docs_html: fn() -> String) -> Self {
        let frame_ancestors = sources(&security.csp_frame_ancestors, true);
        let page = format!(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; \
             font-src 'self'; connect-src 'self' {connect}; frame-src {frame}; \
             frame-ancestors {frame_ancestors}; base-uri 'none'; form-action 'self'; object-src 'none'",
            connect = sources(&security.csp_connect_src, false),
            frame = sources(&security.csp_frame_src, true),
        );
        Self {
            page_csp: HeaderValue::from_str(page.trim())
                .unwrap_or(HeaderValue::from_static("default-src 'self'")),
            page_policy: page,
            docs_csp: OnceLock::new(),
            docs_html,
            frame_ancestors,
            frameable: !security.csp_frame_ancestors.is_empty(),
            hsts,
        }
    }
}

impl SecurityHeaders {
    /// The page policy; a page whose form's answer redirects to another origin (an OpenID
    /// Connect client: browsers check `form-action` on redirects too) says so by setting
    /// `Content-Security-Policy: form-action <sources>` itself, which replaces ours.
    fn page_csp(&self, own: Option<&HeaderValue>) -> HeaderValue {
        let form_action = own
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("form-action "))
            .filter(|sources| !sources.contains([';', ',']));
        match form_action {
            Some(sources) => HeaderValue::from_str(
                &self
                    .page_policy
                    .replace("form-action 'self'", &format!("form-action {sources}")),
            )
            .unwrap_or_else(|_| self.page_csp.clone()),
            None => self.page_csp.clone(),
        }
    }

    fn docs_csp(&self) -> &HeaderValue {
        self.docs_csp.get_or_init(|| {
            let docs = format!(
                "default-src 'none'; script-src {scripts}; style-src 'self' 'unsafe-inline'; \
                 img-src 'self' data:; font-src 'self' data:; connect-src 'self'; \
                 frame-ancestors {frame_ancestors}; base-uri 'none'; form-action 'self'; object-src 'none'",
                scripts = inline_script_hashes(&(self.docs_html)()).join(" "),
                frame_ancestors = self.frame_ancestors,
            );
            HeaderValue::from_str(&docs).unwrap_or(HeaderValue::from_static("default-src 'self'"))
        })
    }
}

impl Around for SecurityHeaders {
    async fn around<E: Endpoint>(&self, inner: &E, req: Request) -> poem::Result<Response> {
        let path = req.uri().path();
        let is_api = path.starts_with("/api/");
        let is_docs = path == "/docs" || path.starts_with("/docs/");
        let https = ClientAddress::of(&req).https;
        let mut resp = inner.call(req).await?.into_response();
        let is_html = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("text/html"));
        let h = resp.headers_mut();
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        // Lets pages open wallet pop-ups (and read their window.opener replies) while still
        // isolating this origin from windows it did not open.
        h.insert(
            "cross-origin-opener-policy",
            HeaderValue::from_static("same-origin-allow-popups"),
        );
        if is_api && !h.contains_key(header::CACHE_CONTROL) {
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
        let policy = self;
        if is_html {
            let csp = if is_docs {
                policy.docs_csp().clone()
            } else {
                policy.page_csp(h.get(header::CONTENT_SECURITY_POLICY))
            };
            h.insert(header::CONTENT_SECURITY_POLICY, csp);
            if !policy.frameable {
                h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
            }
        }
        if policy.hsts || https {
            h.insert(
                header::STRICT_TRANSPORT_SECURITY,
                HeaderValue::from_static("max-age=31536000; includeSubDomains"),
            );
        }
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_inline_scripts_only() {
        let html = "<script src=\"/a.js\"></script><script>let a = '<script';</script><script type=\"x\">b()</script>";
        let hashes = inline_script_hashes(html);
        assert_eq!(hashes.len(), 2);
        assert!(hashes.iter().all(|h| h.starts_with("'sha256-")));
    }

    async fn headers(path: &str, content_type: &'static str, https: bool) -> Response {
        let policy = SecurityHeaders::new(&SecuritySettings::default(), false, || {
            "<script>docs()</script>".into()
        });
        let app = poem::EndpointExt::with(
            poem::endpoint::make_sync(move |_| {
                Response::builder().content_type(content_type).body("x")
            }),
            policy,
        );
        let mut req = Request::builder().uri_str(path).finish();
        req.extensions_mut().insert(ClientAddress {
            ip: "192.0.2.1".parse().unwrap(),
            https,
            via_trusted_proxy: https,
        });
        app.call(req).await.unwrap()
    }

    #[tokio::test]
    async fn pages_get_a_policy_and_api_answers_no_store() {
        let page = headers("/login", "text/html; charset=utf-8", false).await;
        let csp = page.header(header::CONTENT_SECURITY_POLICY).unwrap();
        assert!(csp.contains("script-src 'self'"), "{csp}");
        assert_eq!(page.header(header::X_FRAME_OPTIONS), Some("DENY"));
        assert_eq!(page.header(header::STRICT_TRANSPORT_SECURITY), None);
        let docs = headers("/docs", "text/html", false).await;
        let csp = docs.header(header::CONTENT_SECURITY_POLICY).unwrap();
        assert!(csp.contains("'sha256-"), "{csp}");
        let api = headers("/api/x", "application/json", true).await;
        assert_eq!(api.header(header::CACHE_CONTROL), Some("no-store"));
        assert_eq!(api.header(header::CONTENT_SECURITY_POLICY), None);
        assert_eq!(api.header(header::X_CONTENT_TYPE_OPTIONS), Some("nosniff"));
        assert!(api.header(header::STRICT_TRANSPORT_SECURITY).is_some());
    }

    #[tokio::test]
    async fn a_page_may_widen_form_action_only() {
        let policy = SecurityHeaders::new(&SecuritySettings::default(), false, String::new);
        let page = |own: &'static str| {
            let app = poem::EndpointExt::with(
                poem::endpoint::make_sync(move |_| {
                    Response::builder()
                        .content_type("text/html")
                        .header(header::CONTENT_SECURITY_POLICY, own)
                        .body("x")
                }),
                policy.clone(),
            );
            let mut req = Request::builder().uri_str("/oidc/authorize").finish();
            req.extensions_mut().insert(ClientAddress {
                ip: "192.0.2.1".parse().unwrap(),
                https: false,
                via_trusted_proxy: false,
            });
            async move { app.call(req).await.unwrap() }
        };
        let widened = page("form-action 'self' https://app.example").await;
        let csp = widened.header(header::CONTENT_SECURITY_POLICY).unwrap();
        assert!(
            csp.contains("form-action 'self' https://app.example;"),
            "{csp}"
        );
        assert!(csp.contains("script-src 'self'"), "{csp}");
        let sneaky = page("form-action *; script-src *").await;
        let csp = sneaky.header(header::CONTENT_SECURITY_POLICY).unwrap();
        assert!(
            csp.contains("form-action 'self';") && !csp.contains("script-src *"),
            "{csp}"
        );
    }
}
