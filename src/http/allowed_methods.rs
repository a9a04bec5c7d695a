//! The methods each API path answers, read from the OpenAPI document, and the `Allow` header of
//! a 405.

use poem::{
    http::{header, HeaderValue, StatusCode},
    Endpoint, IntoResponse, Request, Response,
};

use super::state;

/// The methods of every path template of an OpenAPI document (`/api/wallets/{address}`).
#[derive(Debug, Default)]
pub struct AllowedMethods {
    templates: Vec<PathTemplate>,
}

#[derive(Debug)]
struct PathTemplate {
    path: String,
    segments: Vec<String>,
    methods: String,
}

impl AllowedMethods {
    pub fn from_spec(spec_json: &str) -> Self {
        let spec: serde_json::Value = serde_json::from_str(spec_json).unwrap_or_default();
        let templates = spec["paths"]
            .as_object()
            .map(|paths| {
                paths
                    .iter()
                    .map(|(path, item)| {
                        let mut methods: Vec<String> = item
                            .as_object()
                            .map(|ops| ops.keys().map(|m| m.to_ascii_uppercase()).collect())
                            .unwrap_or_default();
                        if methods.iter().any(|m| m == "GET")
                            && !methods.iter().any(|m| m == "HEAD")
                        {
                            methods.push("HEAD".into());
                        }
                        PathTemplate {
                            path: path.clone(),
                            segments: path.split('/').map(str::to_string).collect(),
                            methods: methods.join(", "),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self { templates }
    }

    /// `Allow` for a request path; a `{name}` segment matches any one segment.
    pub fn for_path(&self, path: &str) -> Option<&str> {
        self.find(path).map(|t| t.methods.as_str())
    }

    /// The spec's path template a request path matches, e.g. `/api/wallets/{address}`.
    pub fn template_for(&self, path: &str) -> Option<&str> {
        self.find(path).map(|t| t.path.as_str())
    }

    fn find(&self, path: &str) -> Option<&PathTemplate> {
        let segments: Vec<&str> = path.split('/').collect();
        self.templates.iter().find(|template| {
            template.segments.len() == segments.len()
                && template.segments.iter().zip(&segments).all(|(t, s)| {
                    t == s || (t.starts_with('{') && t.ends_with('}') && !s.is_empty())
                })
        })
    }
}

/// RFC 9110: a 405 says which methods the resource does answer.
pub(super) async fn allow_header<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let state = state(&req);
    let path = req.uri().path().to_string();
    let mut resp = next.call(req).await?.into_response();
    if resp.status() == StatusCode::METHOD_NOT_ALLOWED
        && !resp.headers().contains_key(header::ALLOW)
    {
        let allowed = state
            .as_ref()
            .and_then(|s| s.http.allowed_methods.for_path(&path).map(str::to_string))
            .unwrap_or_else(|| "GET, HEAD".to_string());
        if let Ok(value) = HeaderValue::from_str(&allowed) {
            resp.headers_mut().insert(header::ALLOW, value);
        }
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_matches_path_templates() {
        let allowed = AllowedMethods::from_spec(
            r#"{"paths": {"/api/wallets": {"get": {}, "post": {}}, "/api/wallets/{address}": {"delete": {}},
                "/api/wallets/{address}/primary": {"post": {}}}}"#,
        );
        assert_eq!(allowed.for_path("/api/wallets"), Some("GET, POST, HEAD"));
        assert_eq!(allowed.for_path("/api/wallets/0xabc"), Some("DELETE"));
        assert_eq!(allowed.for_path("/api/wallets/0xabc/primary"), Some("POST"));
        assert_eq!(allowed.for_path("/api/wallets//primary"), None);
        assert_eq!(allowed.for_path("/elsewhere"), None);
    }
}
