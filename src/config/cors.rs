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

impl CorsSettings {
    pub fn validate(&self) -> anyhow::Result<()> {
        for origin in &self.allowed_origins {
            parse_origin(origin).with_context(|| format!("cors.allowed_origins: {origin:?}"))?;
        }
        Ok(())
    }
}
