//! `[ui]`: branding of the built-in pages.

use anyhow::bail;
use serde::{Deserialize, Serialize};

/// Branding of the built-in pages.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UiSettings {
    /// The name shown on the pages ("Sign in to <app_name>").
    pub app_name: String,
    /// An https (or same-origin path) URL of a logo image; none when unset.
    pub logo_url: Option<String>,
    /// The accent colour of buttons and links, as #rrggbb.
    pub accent_color: String,
}

impl Default for UiSettings {
    fn default() -> Self {
        Self {
            app_name: "siwe-server".into(),
            logo_url: None,
            accent_color: "#3b4cca".into(),
        }
    }
}

impl UiSettings {
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.app_name.trim().is_empty()
            || self.app_name.chars().count() > 64
            || self.app_name.chars().any(char::is_control)
        {
            bail!("ui.app_name must be 1 to 64 characters");
        }
        let hex_colour = self.accent_color.len() == 7
            && self.accent_color.starts_with('#')
            && self.accent_color[1..]
                .bytes()
                .all(|b| b.is_ascii_hexdigit());
        if !hex_colour {
            bail!(
                "ui.accent_color {:?} must be a colour such as #3b4cca",
                self.accent_color
            );
        }
        if let Some(logo) = &self.logo_url {
            let same_origin_path = logo.starts_with('/') && !logo.starts_with("//");
            if !(same_origin_path || logo.starts_with("https://"))
                || logo.contains(['"', '\'', '<', '>', ' '])
            {
                bail!("ui.logo_url {logo:?} must be an https:// URL or a path on this server");
            }
        }
        Ok(())
    }
}
