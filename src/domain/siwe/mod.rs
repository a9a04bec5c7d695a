//! EIP-4361 messages: parsing (with the `signinwithethereum` crate plus the checks it leaves out)
//! and building; binding to this server's domains, URIs, chains and clock in `policy.rs`; EIP-191
//! signature recovery over the exact bytes the client signed in `signature.rs`.

mod policy;
mod signature;

pub use policy::{check_validity_window, SiwePolicy};
pub use signature::{
    eip191_hash, is_eip6492, parse_signature, recover_signer, verify_signature, ContractSigner,
    EIP6492_SUFFIX, KEY_SIGNATURE_BYTES,
};
pub use signinwithethereum::Message;
use time::OffsetDateTime;

use crate::{
    domain::address::Address,
    error::{AppError, AppResult, ErrorCode},
};

fn invalid_message(why: impl Into<String>) -> AppError {
    AppError::new(
        ErrorCode::InvalidMessage,
        format!(
            "The message is not a valid EIP-4361 message: {}.",
            why.into()
        ),
    )
}

/// A parsed EIP-4361 message with its domain as written (the crate's `http` authority type is
/// stricter and looser than RFC 3986 in places, so the domain is checked with `iri-string`).
#[derive(Debug, Clone)]
pub struct SiweMessage {
    pub message: Message,
    /// The RFC 3986 authority of the first line, without scheme.
    pub domain: String,
    /// The scheme of the first line, when it has one (`https://example.com wants you ...`).
    pub scheme: Option<String>,
}

const PREAMBLE: &str = " wants you to sign in with your Ethereum account:";
/// What the domain is replaced with for the crate's parser, once we have validated it.
const PLACEHOLDER_DOMAIN: &str = "localhost";

/// Parses a message. Signatures are checked over the received text, never a re-rendering, so
/// forms the crate renders differently (an empty `Resources:` list) still verify.
pub fn parse_message(text: &str) -> AppResult<SiweMessage> {
    if text.contains('\r') {
        return Err(invalid_message(
            "it contains a carriage return; EIP-4361 lines end with a bare line feed (\\n)",
        ));
    }
    if text.ends_with('\n') {
        return Err(invalid_message(
            "it ends with a line break; the last line must not",
        ));
    }
    let (first_line, rest) = text.split_once('\n').unwrap_or((text, ""));
    let prefix = first_line.strip_suffix(PREAMBLE).ok_or_else(|| {
        invalid_message(
            "the first line must end with \"wants you to sign in with your Ethereum account:\"",
        )
    })?;
    let (scheme, domain) = match prefix.split_once("://") {
        Some((scheme, domain)) => (Some(scheme), domain),
        None => (None, prefix),
    };
    if !is_authority(domain) {
        return Err(invalid_message(
            "the domain is not a valid RFC 3986 authority",
        ));
    }
    let scheme_part = scheme.map(|s| format!("{s}://")).unwrap_or_default();
    let for_crate = format!("{scheme_part}{PLACEHOLDER_DOMAIN}{PREAMBLE}\n{rest}");
    let parsed = match for_crate.parse::<Message>() {
        Err(signinwithethereum::ParseError::Uri(_)) => {
            let lenient = with_plain_ipv4_octets(&for_crate);
            lenient.parse::<Message>().map(|m| (m, lenient))
        }
        other => other.map(|m| (m, for_crate)),
    };
    let (message, parsed_text) = parsed.map_err(|e| invalid_message(format!("{e}")))?;
    check_grammar(&message, &parsed_text)?;
    Ok(SiweMessage {
        scheme: message.scheme.clone(),
        message,
        domain: domain.to_string(),
    })
}

/// RFC 3986 `authority` with a non-empty host: `//authority` parses to exactly that.
fn is_authority(domain: &str) -> bool {
    iri_string::types::UriReferenceStr::new(&format!("//{domain}")).is_ok_and(|r| {
        r.authority_str() == Some(domain)
            && r.authority_components()
                .is_some_and(|a| !a.host().is_empty())
            && r.path_str().is_empty()
            && r.query().is_none()
            && r.fragment().is_none()
    })
}

/// The shared vectors accept leading zeros in the dotted IPv4 part of an IPv6 literal
/// (`[::001.099.200.255]`), which iri-string refuses; drop them in URI and resource lines.
fn with_plain_ipv4_octets(text: &str) -> String {
    let fix_line = |line: &str| -> String {
        if !(line.starts_with("URI: ") || line.starts_with("- ")) {
            return line.to_string();
        }
        let mut out = String::with_capacity(line.len());
        let mut rest = line;
        while let Some(open) = rest.find('[') {
            let Some(close) = rest[open..].find(']').map(|c| open + c) else {
                break;
            };
            out.push_str(&rest[..=open]);
            let literal = &rest[open + 1..close];
            match literal.rsplit_once(':') {
                Some((head, quad)) if quad.contains('.') => {
                    let octets: Vec<String> = quad
                        .split('.')
                        .map(|o| match o.trim_start_matches('0') {
                            "" if !o.is_empty() => "0".to_string(),
                            t => t.to_string(),
                        })
                        .collect();
                    out.push_str(&format!("{head}:{}", octets.join(".")));
                }
                _ => out.push_str(literal),
            }
            out.push(']');
            rest = &rest[close + 1..];
        }
        out.push_str(rest);
        out
    };
    text.split('\n')
        .map(fix_line)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The grammar rules of EIP-4361 that the crate's parser does not enforce.
fn check_grammar(message: &Message, text: &str) -> AppResult<()> {
    if !chain_id_is_digits(message, text) {
        return Err(invalid_message(
            "the Chain ID must be written as decimal digits only",
        ));
    }
    if let Some(statement) = &message.statement {
        if !is_valid_statement(statement) {
            return Err(invalid_message(
                "the statement may only contain letters, digits, spaces and URI punctuation",
            ));
        }
    }
    if let Some(request_id) = &message.request_id {
        if !is_pchars(request_id) {
            return Err(invalid_message(
                "the Request ID has characters a URI path segment cannot",
            ));
        }
    }
    Ok(())
}

/// chain-id = 1*DIGIT; the crate's integer parser would also take a sign.
fn chain_id_is_digits(message: &Message, text: &str) -> bool {
    let uri_line = format!("URI: {}", message.uri);
    let lines: Vec<&str> = text.split('\n').collect();
    // The statement is one line, so it cannot fake this three-line window.
    lines
        .windows(3)
        .find(|w| w[0] == uri_line && w[1] == "Version: 1")
        .and_then(|w| w[2].strip_prefix("Chain ID: "))
        .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
}

/// EIP-4361: statement = *( reserved / unreserved / " " ).
pub fn is_valid_statement(statement: &str) -> bool {
    statement
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b" -._~:/?#[]@!$&'()*+,;=".contains(&b))
}

/// RFC 3986 `*pchar`.
fn is_pchars(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = |j: usize| bytes.get(j).is_some_and(u8::is_ascii_hexdigit);
            if !(hex(i + 1) && hex(i + 2)) {
                return false;
            }
            i += 3;
            continue;
        }
        if !(b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(&b)) {
            return false;
        }
        i += 1;
    }
    true
}

/// The fields of a message this server writes itself (link challenges).
pub struct MessageParts<'a> {
    pub domain: &'a str,
    pub address: Address,
    pub statement: &'a str,
    pub uri: &'a str,
    pub chain_id: u64,
    pub nonce: &'a str,
    pub issued_at: OffsetDateTime,
    pub expiration_time: Option<OffsetDateTime>,
}

/// Renders a message with the crate and parses it back, so only valid messages leave here.
pub fn build_message(parts: &MessageParts<'_>) -> AppResult<String> {
    let internal =
        |what: &str| AppError::Internal(anyhow::anyhow!("cannot build a message: {what}"));
    // Milliseconds are what wallets and libraries write; nanoseconds only make it longer.
    let millis = |t: OffsetDateTime| {
        t.replace_nanosecond(t.nanosecond() / 1_000_000 * 1_000_000)
            .unwrap_or(t)
    };
    let message = Message {
        scheme: None,
        domain: parts.domain.parse().map_err(|_| internal("domain"))?,
        address: *parts.address.as_bytes(),
        address_raw: None,
        statement: Some(parts.statement.to_string()),
        uri: parts.uri.parse().map_err(|_| internal("uri"))?,
        version: signinwithethereum::Version::V1,
        chain_id: parts.chain_id,
        nonce: parts.nonce.to_string(),
        issued_at: millis(parts.issued_at).into(),
        expiration_time: parts.expiration_time.map(|t| millis(t).into()),
        not_before: None,
        request_id: None,
        resources: Vec::new(),
        warnings: Vec::new(),
    };
    let text = message.to_string();
    parse_message(&text)?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_rfc3986_authorities() {
        for ok in [
            "example.com",
            "example.com:8080",
            "[::1]:443",
            "user@example.com:1",
            "a!$&'()*+,;=%20b",
        ] {
            assert!(is_authority(ok), "{ok}");
        }
        for bad in [
            "",
            "@",
            "u@",
            ":80",
            "example.com:abc",
            "[@]",
            "@@example.com",
            "exa mple.com",
            "example.com/x",
        ] {
            assert!(!is_authority(bad), "{bad}");
        }
    }

    #[test]
    fn leading_zero_octets_are_dropped_in_ip_literals_only() {
        let text =
            "Statement [::001.2.3.4]\nURI: uri://[::000.000.010.001]/p\n- x://[::001.099.200.255]";
        assert_eq!(
            with_plain_ipv4_octets(text),
            "Statement [::001.2.3.4]\nURI: uri://[::0.0.10.1]/p\n- x://[::1.99.200.255]"
        );
    }

    #[test]
    fn statement_and_request_id_grammar() {
        assert!(is_valid_statement(
            "I accept the Terms: https://x.org/tos?a=1&b=2"
        ));
        assert!(!is_valid_statement("no <script> here"));
        assert!(!is_valid_statement("100% sure"));
        assert!(is_pchars("abc%20def:@!"));
        assert!(!is_pchars("a b"));
        assert!(!is_pchars("%zz"));
    }

    #[test]
    fn built_messages_parse_back() {
        let now = OffsetDateTime::now_utc();
        let text = build_message(&MessageParts {
            domain: "localhost:8080",
            address: Address::parse("0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2").unwrap(),
            statement: "Link this wallet to account 1f0e-22 on localhost:8080.",
            uri: "http://localhost:8080",
            chain_id: 10,
            nonce: "abcdefgh12345678",
            issued_at: now,
            expiration_time: Some(now + time::Duration::minutes(5)),
        })
        .unwrap();
        let parsed = parse_message(&text).unwrap();
        assert_eq!(parsed.domain, "localhost:8080");
        assert_eq!(parsed.message.chain_id, 10);
        assert!(text.contains("0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2"));
    }
}
