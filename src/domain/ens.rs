//! A wallet's ENS primary name and avatar, and what this server accepts of them. Display only:
//! a name never decides access. Pure: `chains/ens.rs` reads them from the chain, `db/ens.rs`
//! caches them.

/// The longest name kept (a DNS name's limit); longer ones are treated as no name.
pub const NAME_MAX_BYTES: usize = 255;

/// The longest avatar URL kept.
pub const AVATAR_MAX_BYTES: usize = 2048;

/// A wallet's primary name (its reverse record, confirmed by the name's forward address) and
/// the name's avatar URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnsName {
    pub name: String,
    /// An https URL, or none.
    pub avatar: Option<String>,
}

/// Whether `name` may be shown as a primary name. Not full ENSIP-15 normalisation (no
/// maintained Rust crate is in the tree): a subset that a normalised name always passes and
/// that refuses what could mislead on a page: labels separated by single dots, none empty;
/// no upper case (normalisation lowercases); no whitespace, control or invisible formatting
/// characters (zero-width, bidirectional overrides, variation selectors, which normalisation
/// removes or refuses); no characters ENSIP-15 disallows that look like URL syntax.
pub fn is_displayable_name(name: &str) -> bool {
    name.len() <= NAME_MAX_BYTES
        && name.contains('.')
        && name.split('.').all(|label| !label.is_empty())
        && name.chars().all(|c| {
            !c.is_uppercase()
                && !c.is_whitespace()
                && !c.is_control()
                && !is_invisible(c)
                && !matches!(
                    c,
                    '/' | '\\'
                        | '@'
                        | '#'
                        | '?'
                        | '%'
                        | ':'
                        | '<'
                        | '>'
                        | '"'
                        | '\''
                        | '`'
                        | '&'
                        | '。'
                        | '．'
                        | '｡'
                )
        })
}

/// Formatting characters that show nothing (or reorder what follows). ZWJ (U+200D) stays: it
/// joins emoji sequences, which ENSIP-15 allows.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'
            | '\u{200C}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

/// The avatar URL kept from a name's `avatar` text record: only an https URL (a page loads
/// it as an image; anything else, `ipfs://`, `eip155:` NFT references, `data:` and `http:`,
/// would need a gateway or be mixed content, so it is dropped).
pub fn displayable_avatar(record: &str) -> Option<String> {
    let record = record.trim();
    let url = url::Url::parse(record).ok()?;
    (url.scheme() == "https"
        && url.host().is_some()
        && record.len() <= AVATAR_MAX_BYTES
        && !record.chars().any(|c| c.is_control() || c.is_whitespace()))
    .then(|| url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_normalised_names_and_refuses_misleading_ones() {
        for good in [
            "alice.eth",
            "vitalik.eth",
            "sub.alice.eth",
            "🦊.eth",
            "café.eth",
        ] {
            assert!(is_displayable_name(good), "{good}");
        }
        for bad in [
            "",
            "eth",
            "Alice.eth",
            "alice..eth",
            ".eth",
            "alice.eth.",
            "ali ce.eth",
            "alice\u{200B}.eth",
            "alice\u{202E}.eth",
            "alice\n.eth",
            "a/b.eth",
            "<b>.eth",
            "alice。eth",
        ] {
            assert!(!is_displayable_name(bad), "{bad:?}");
        }
        assert!(!is_displayable_name(&format!("{}.eth", "a".repeat(252))));
    }

    #[test]
    fn keeps_only_https_avatars() {
        assert_eq!(
            displayable_avatar("https://example.org/a.png").as_deref(),
            Some("https://example.org/a.png")
        );
        for dropped in [
            "http://example.org/a.png",
            "ipfs://QmHash",
            "eip155:1/erc721:0xb47e3cd837dDF8e4c57F05d70Ab865de6e193BBB/1",
            "data:image/svg+xml;base64,PHN2Zz4=",
            "javascript:alert(1)",
            "not a url",
        ] {
            assert_eq!(displayable_avatar(dropped), None, "{dropped}");
        }
    }
}
