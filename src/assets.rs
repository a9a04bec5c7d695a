//! Front-end files from `assets/`, embedded in the binary.

use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "assets/"]
pub struct Assets;
