//! The pages' theme from `[ui] accent_color`: the accent made readable (WCAG 2 contrast) on
//! light pages and on dark ones, and the text colour on an accent background. A light accent
//! such as #ffcc00 is darkened for light pages, a dark one such as #3b4cca lightened for dark
//! pages, so links, outlines and buttons stay legible whatever colour was configured.

/// The contrast asked of text in the accent colour and of text on it (WCAG AA, normal text).
const MIN_CONTRAST: f64 = 4.5;
/// The darkest light-mode background the pages use (`--bg` of app.css).
const LIGHT_BACKGROUND: Rgb = Rgb(0xf6, 0xf7, 0xf9);
/// A dark-mode background at least as light as any the pages use, so that the lightened accent
/// is readable on all of them.
const DARK_BACKGROUND: Rgb = Rgb(0x2c, 0x2f, 0x38);
const WHITE: Rgb = Rgb(0xff, 0xff, 0xff);
const BLACK: Rgb = Rgb(0x11, 0x11, 0x11);
/// The accent when the configured one cannot be read (configuration refuses that already).
const DEFAULT_ACCENT: Rgb = Rgb(0x3b, 0x4c, 0xca);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rgb(u8, u8, u8);

impl Rgb {
    fn parse(hex: &str) -> Option<Self> {
        let digits = hex.strip_prefix('#').filter(|d| d.len() == 6)?;
        let channel = |at: usize| u8::from_str_radix(digits.get(at..at + 2)?, 16).ok();
        Some(Self(channel(0)?, channel(2)?, channel(4)?))
    }

    fn hex(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }

    /// WCAG 2 relative luminance.
    fn luminance(self) -> f64 {
        let linear = |c: u8| {
            let c = f64::from(c) / 255.0;
            if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * linear(self.0) + 0.7152 * linear(self.1) + 0.0722 * linear(self.2)
    }

    fn contrast(self, other: Self) -> f64 {
        let (a, b) = (self.luminance(), other.luminance());
        (a.max(b) + 0.05) / (a.min(b) + 0.05)
    }

    /// `share` (0..=1) of `other` mixed in.
    fn mix(self, other: Self, share: f64) -> Self {
        let channel = |a: u8, b: u8| {
            (f64::from(a) * (1.0 - share) + f64::from(b) * share)
                .round()
                .clamp(0.0, 255.0) as u8
        };
        Self(
            channel(self.0, other.0),
            channel(self.1, other.1),
            channel(self.2, other.2),
        )
    }

    /// This colour moved towards `towards` in small steps until it is readable on `background`.
    fn readable_on(self, background: Self, towards: Self) -> Self {
        (0..=20)
            .map(|step| self.mix(towards, f64::from(step) / 20.0))
            .find(|colour| colour.contrast(background) >= MIN_CONTRAST)
            .unwrap_or(towards)
    }

    /// White or near-black, whichever reads better on this colour.
    fn text_on(self) -> Self {
        if WHITE.contrast(self) >= BLACK.contrast(self) {
            WHITE
        } else {
            BLACK
        }
    }
}

/// The stylesheet served at `/theme.css`, after app.css: the accent as `--accent` and the text
/// on it as `--on-accent`, each `light-dark()` so that they follow the page's `color-scheme`;
/// and the language switcher's layout.
pub fn stylesheet(accent_color: &str) -> String {
    let accent = Rgb::parse(accent_color).unwrap_or(DEFAULT_ACCENT);
    let light = accent.readable_on(LIGHT_BACKGROUND, BLACK);
    let dark = accent.readable_on(DARK_BACKGROUND, WHITE);
    format!(
        "/* From [ui] accent_color {configured}: readable on light pages ({light}) and on dark \
         ones ({dark}). */\n\
         :root {{\n  --accent: light-dark({light}, {dark});\n  \
         --on-accent: light-dark({on_light}, {on_dark});\n}}\n\
         .language-switcher {{ display: flex; flex-wrap: wrap; align-items: center; gap: .5rem; \
         margin-top: .75rem; }}\n\
         .language-switcher label {{ margin: 0; }}\n\
         .language-switcher select {{ width: auto; }}\n\
         .language-switcher button {{ min-height: 2.75rem; }}\n",
        configured = accent.hex(),
        light = light.hex(),
        dark = dark.hex(),
        on_light = light.text_on().hex(),
        on_dark = dark.text_on().hex(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn colours(css: &str) -> Vec<Rgb> {
        css.split("light-dark(")
            .skip(1)
            .flat_map(|part| {
                let inner = part.split(')').next().unwrap();
                inner
                    .split(", ")
                    .map(|c| Rgb::parse(c).unwrap())
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn every_accent_is_readable_in_both_schemes() {
        for accent in [
            "#3b4cca", "#ffcc00", "#000000", "#ffffff", "#22aa55", "#ff0000",
        ] {
            let css = stylesheet(accent);
            let [light, dark, on_light, on_dark] = colours(&css)[..] else {
                panic!("{css}")
            };
            assert!(light.contrast(LIGHT_BACKGROUND) >= MIN_CONTRAST, "{accent}");
            assert!(light.contrast(WHITE) >= MIN_CONTRAST, "{accent}");
            assert!(dark.contrast(DARK_BACKGROUND) >= MIN_CONTRAST, "{accent}");
            assert!(on_light.contrast(light) >= MIN_CONTRAST, "{accent}");
            assert!(on_dark.contrast(dark) >= MIN_CONTRAST, "{accent}");
        }
    }

    #[test]
    fn a_readable_accent_is_kept_and_a_light_one_darkened() {
        let css = stylesheet("#3b4cca");
        assert!(css.contains("--accent: light-dark(#3b4cca, "), "{css}");
        assert!(css.contains("--on-accent: light-dark(#ffffff, "), "{css}");
        assert!(!stylesheet("#ffcc00").contains("light-dark(#ffcc00"));
        assert_eq!(Rgb::parse("#3B4CCA"), Some(Rgb(0x3b, 0x4c, 0xca)));
        assert_eq!(Rgb::parse("3b4cca"), None);
        assert!(stylesheet("nonsense").contains("#3b4cca"));
    }
}
