//! The methods each API path answers, read from the OpenAPI document, and the `Allow` header of
//! a 405.

use std::{collections::HashMap, sync::Arc};

use poem::{
    http::{header, HeaderValue, StatusCode},
    Endpoint, IntoResponse, Request, Response,
};

use super::Around;

/// The methods of every path template of an OpenAPI document (`/api/wallets/{address}`).
#[derive(Debug, Default)]
pub struct AllowedMethods {
    /// The templates without a `{name}` segment, by path: most requests find theirs here, and
    /// a fixed path wins over a template that would also match it.
    fixed: HashMap<String, PathTemplate>,
    /// The others, tried in turn.
    parameterized: Vec<PathTemplate>,
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
        let templates: Vec<PathTemplate> = spec["paths"]
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
        let (parameterized, fixed): (Vec<_>, Vec<_>) =
            templates.into_iter().partition(PathTemplate::has_parameter);
        Self {
            fixed: fixed.into_iter().map(|t| (t.path.clone(), t)).collect(),
            parameterized,
        }
    }

    /// `Allow` for a request path; a `{name}` segment matches any one segment.
    pub fn for_path(&self, path: &str) -> Option<&str> {
        self.find(path).map(|t| t.methods.as_str())
    }

    /// The spec's path template a request path matches, e.g. `/api/wallets/{address}`.
    pub fn template_for(&self, path: &str) -> Option<&str> {
        self.find(path).map(|t| t.path.as_str())
    }

    /// Runs for every request (the metrics' route label): no allocation, one hash lookup for
    /// fixed paths.
    fn find(&self, path: &str) -> Option<&PathTemplate> {
        self.fixed
            .get(path)
            .or_else(|| self.parameterized.iter().find(|t| t.matches(path)))
    }
}

fn is_parameter(segment: &str) -> bool {
    segment.starts_with('{') && segment.ends_with('}')
}

impl PathTemplate {
    fn has_parameter(&self) -> bool {
        self.segments.iter().any(|segment| is_parameter(segment))
    }

    /// Segment by segment; a `{name}` segment matches any one non-empty segment.
    fn matches(&self, path: &str) -> bool {
        let mut segments = path.split('/');
        self.segments.iter().all(|t| {
            segments
                .next()
                .is_some_and(|s| t == s || (is_parameter(t) && !s.is_empty()))
        }) && segments.next().is_none()
    }
}

/// RFC 9110: a 405 says which methods the resource does answer. Paths outside the API answer
/// GET and HEAD.
#[derive(Debug, Clone)]
pub struct AllowHeader {
    methods: Arc<AllowedMethods>,
}

impl AllowHeader {
    pub fn new(methods: Arc<AllowedMethods>) -> Self {
        Self { methods }
    }
}

impl Around for AllowHeader {
    async fn around<E: Endpoint>(&self, inner: &E, req: Request) -> poem::Result<Response> {
        // A clone of the URI shares its bytes: no copy of the path on every request.
        let uri = req.uri().clone();
        let mut resp = inner.call(req).await?.into_response();
        if resp.status() == StatusCode::METHOD_NOT_ALLOWED
            && !resp.headers().contains_key(header::ALLOW)
        {
            let allowed = self.methods.for_path(uri.path()).unwrap_or("GET, HEAD");
            if let Ok(value) = HeaderValue::from_str(allowed) {
                resp.headers_mut().insert(header::ALLOW, value);
            }
        }
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    use poem::{endpoint::make_sync, EndpointExt};

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
        assert_eq!(allowed.for_path("/api/wallets/0xabc/primary/x"), None);
        assert_eq!(allowed.for_path("/api"), None);
        let both = AllowedMethods::from_spec(
            r#"{"paths": {"/api/a/{id}": {"delete": {}}, "/api/a/b": {"get": {}}}}"#,
        );
        assert_eq!(both.template_for("/api/a/b"), Some("/api/a/b"));
        assert_eq!(both.template_for("/api/a/c"), Some("/api/a/{id}"));
    }

    #[tokio::test]
    async fn a_405_names_the_methods_of_its_path() {
        let methods = AllowedMethods::from_spec(r#"{"paths": {"/api/x": {"post": {}}}}"#);
        let app =
            make_sync(|_| StatusCode::METHOD_NOT_ALLOWED).with(AllowHeader::new(Arc::new(methods)));
        let allow = |path: &str| Request::builder().uri_str(path).finish();
        let resp = app.call(allow("/api/x")).await.unwrap();
        assert_eq!(resp.header(header::ALLOW), Some("POST"));
        let resp = app.call(allow("/login")).await.unwrap();
        assert_eq!(resp.header(header::ALLOW), Some("GET, HEAD"));
        let ok = make_sync(|_| "ok").with(AllowHeader::new(Arc::default()));
        let resp = ok.call(allow("/api/x")).await.unwrap();
        assert_eq!(resp.header(header::ALLOW), None);
    }
}
