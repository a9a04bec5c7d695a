//! `[cors]`: other sites' origins allowed to call the API with credentials.

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::parse_origin;

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct CorsSettings {
    /// Origins (scheme://host[:port]) allowed to call the API with credentials; empty allows
    /// only the server's own origin.
    pub allowed_origins: Vec<String>,
}

/// `[cors]`, checked: origins in their ASCII form, each once, without the server's own.
#[derive(Debug, Clone)]
pub struct Cors {
    pub allowed_origins: Vec<String>,
}

impl CorsSettings {
    /// `public_origin` is the server's own origin, allowed anyway.
    pub fn validate(&self, public_origin: &str) -> anyhow::Result<Cors> {
        let mut allowed_origins: Vec<String> = Vec::new();
        for origin in &self.allowed_origins {
            let origin = parse_origin(origin)
                .with_context(|| format!("cors.allowed_origins: {origin:?}"))?;
            if origin != public_origin && !allowed_origins.contains(&origin) {
                allowed_origins.push(origin);
            }
        }
        Ok(Cors { allowed_origins })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_normalised_once_each_without_the_servers_own() {
        let settings = CorsSettings {
            allowed_origins: vec![
                "https://App.example.org".into(),
                "https://app.example.org/".into(),
                "http://localhost:8080".into(),
            ],
        };
        let cors = settings.validate("http://localhost:8080").unwrap();
        assert_eq!(cors.allowed_origins, vec!["https://app.example.org"]);
    }
}
