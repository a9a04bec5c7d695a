//! Which browser on which operating system a user agent names, as people call them ("Firefox on
//! macOS"): shown in the session list and written into the statement a phone signs to sign in
//! another device, so every name is short, plain ASCII and safe to put anywhere.

use woothee::parser::Parser;

/// Longest name kept of a browser or an operating system.
const NAME_MAX: usize = 32;
/// Only the start of a user agent is read: the names are near the front, and parsing stays
/// bounded whatever a client sends.
const USER_AGENT_READ_MAX: usize = 512;

/// Mobile wallets whose in-app browser adds its own token to the system web view's user agent,
/// which no parser's data knows: (token, name shown).
const WALLET_BROWSERS: &[(&str, &str)] = &[
    ("MetaMaskMobile", "MetaMask"),
    ("CoinbaseWallet", "Coinbase Wallet"),
    ("CoinbaseBrowser", "Coinbase Wallet"),
];

/// A browser and the operating system it runs on, each unknown when the user agent does not say.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Device {
    pub browser: Option<String>,
    pub os: Option<String>,
}

impl Device {
    /// What the user agent names, by the woothee parser; names it does not know are left out.
    pub fn from_user_agent(user_agent: &str) -> Device {
        let user_agent = &user_agent[..user_agent.floor_char_boundary(USER_AGENT_READ_MAX)];
        let Some(parsed) = Parser::new().parse(user_agent) else {
            return Device::default();
        };
        let wallet = WALLET_BROWSERS
            .iter()
            .find(|(token, _)| user_agent.contains(token))
            .map(|(_, name)| *name);
        let browser = match (wallet, parsed.name) {
            (Some(wallet), _) => Some(wallet),
            // curl, wget, HTTP client libraries: woothee names the category, the version field
            // names the program.
            (None, "HTTP Library") => Some(parsed.version),
            (None, name) => friendly_browser(name),
        };
        Device {
            browser: browser.and_then(sanitised),
            os: friendly_os(parsed.os).and_then(sanitised),
        }
    }

    /// "Firefox on macOS", or the one that is known, or None when neither is.
    pub fn label(&self) -> Option<String> {
        match (&self.browser, &self.os) {
            (Some(browser), Some(os)) => Some(format!("{browser} on {os}")),
            (Some(one), None) | (None, Some(one)) => Some(one.clone()),
            (None, None) => None,
        }
    }
}

fn friendly_browser(name: &str) -> Option<&str> {
    match name {
        "UNKNOWN" | "" => None,
        "SamsungBrowser" => Some("Samsung Internet"),
        "Webview" => Some("Web view"),
        other => Some(other),
    }
}

fn friendly_os(name: &str) -> Option<&str> {
    match name {
        "UNKNOWN" | "" => None,
        "Mac OSX" | "Mac OS Classic" => Some("macOS"),
        "iPhone" | "iPad" | "iPod" | "iOS" => Some("iOS"),
        "Windows Phone OS" => Some("Windows Phone"),
        windows if windows.starts_with("Windows") => Some("Windows"),
        other => Some(other),
    }
}

/// Keeps `[A-Za-z0-9 ._()-]` (any white space becomes a space), one space between words, at most
/// [`NAME_MAX`] characters; None when nothing is left.
fn sanitised(name: &str) -> Option<String> {
    let kept: String = name
        .chars()
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .filter(|c| c.is_ascii_alphanumeric() || " ._()-".contains(*c))
        .collect();
    let mut words = kept.split_whitespace().collect::<Vec<_>>().join(" ");
    words.truncate(NAME_MAX);
    let words = words.trim_end();
    (!words.is_empty()).then(|| words.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(user_agent: &str) -> (Option<String>, Option<String>) {
        let device = Device::from_user_agent(user_agent);
        (device.browser, device.os)
    }

    fn label(user_agent: &str) -> Option<String> {
        Device::from_user_agent(user_agent).label()
    }

    fn assert_labels(cases: &[(&str, &str)]) {
        for (user_agent, expected) in cases {
            assert_eq!(
                label(user_agent).as_deref(),
                Some(*expected),
                "{user_agent}"
            );
        }
    }

    #[test]
    fn desktop_browsers() {
        let cases = [
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:133.0) Gecko/20100101 Firefox/133.0",
                "Firefox on macOS",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
                "Firefox on Windows",
            ),
            (
                "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
                "Firefox on Linux",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
                 Chrome/131.0.0.0 Safari/537.36",
                "Chrome on Windows",
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like \
                 Gecko) Chrome/131.0.0.0 Safari/537.36",
                "Chrome on macOS",
            ),
            (
                "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) \
                 Chrome/131.0.0.0 Safari/537.36",
                "Chrome on ChromeOS",
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like \
                 Gecko) Version/18.1 Safari/605.1.15",
                "Safari on macOS",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
                 Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.70",
                "Edge on Windows",
            ),
        ];
        assert_labels(&cases);
    }

    #[test]
    fn phone_and_wallet_browsers() {
        let cases = [
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 \
                 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
                "Safari on iOS",
            ),
            (
                "Mozilla/5.0 (iPad; CPU OS 17_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like \
                 Gecko) Version/17.7 Mobile/15E148 Safari/604.1",
                "Safari on iOS",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 \
                 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1",
                "Chrome on iOS",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 \
                 (KHTML, like Gecko) FxiOS/133.0 Mobile/15E148 Safari/605.1.15",
                "Firefox on iOS",
            ),
            (
                "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) \
                 Chrome/131.0.6778.81 Mobile Safari/537.36",
                "Chrome on Android",
            ),
            (
                "Mozilla/5.0 (Android 15; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0",
                "Firefox on Android",
            ),
            (
                "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) \
                 Chrome/131.0.0.0 Mobile Safari/537.36 EdgA/131.0.2903.87",
                "Edge on Android",
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S921B) AppleWebKit/537.36 (KHTML, like \
                 Gecko) SamsungBrowser/27.0 Chrome/125.0.0.0 Mobile Safari/537.36",
                "Samsung Internet on Android",
            ),
            // Wallets' in-app browsers.
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 \
                 (KHTML, like Gecko) Mobile/15E148 WebView MetaMaskMobile",
                "MetaMask on iOS",
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/AP2A.240805.005; wv) \
                 AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/131.0.6778.81 Mobile \
                 Safari/537.36 WebView MetaMaskMobile",
                "MetaMask on Android",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 \
                 (KHTML, like Gecko) Mobile/15E148 CoinbaseWallet/29.52",
                "Coinbase Wallet on iOS",
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/AP2A.240805.005; wv) \
                 AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/131.0.6778.81 Mobile \
                 Safari/537.36 CoinbaseBrowser/29.51.0",
                "Coinbase Wallet on Android",
            ),
        ];
        assert_labels(&cases);
    }

    #[test]
    fn command_line_clients_are_named_without_an_os() {
        assert_eq!(names("curl/8.11.0"), (Some("curl".into()), None));
        assert_eq!(label("curl/8.11.0").as_deref(), Some("curl"));
    }

    #[test]
    fn unknown_user_agents_name_nothing() {
        for user_agent in ["", "-", "x", "definitely not a browser", "Mozilla/5.0"] {
            assert_eq!(label(user_agent), None, "{user_agent:?}");
        }
    }

    #[test]
    fn hostile_user_agents_give_short_plain_names() {
        let huge = format!(
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:133.0) Gecko/20100101 Firefox/133.0 {}",
            "A".repeat(1 << 20)
        );
        let hostile = [
            huge,
            "A".repeat(1 << 20),
            "(".repeat(100_000),
            "Mozilla/5.0 (\u{0}\n\r\t\u{1b}[31m; Windows NT 10.0) Firefox/1\u{7f}".to_string(),
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
             Chrome/131 Safari/537.36 Edg/131 \u{202e}\u{feff}日本語 😀"
                .to_string(),
            "\u{fffd}".repeat(10_000),
            "curl/<script>alert(1)</script>\n\u{0}".to_string(),
            format!("curl/{}", "\u{e9}x".repeat(1000)),
        ];
        for user_agent in &hostile {
            let device = Device::from_user_agent(user_agent);
            for name in [&device.browser, &device.os].into_iter().flatten() {
                assert!(!name.is_empty() && name.len() <= NAME_MAX, "{name:?}");
                assert!(
                    name.chars()
                        .all(|c| c.is_ascii_alphanumeric() || " ._()-".contains(c)),
                    "{name:?}"
                );
                assert_eq!(name.trim(), name);
            }
        }
        assert_eq!(label(&hostile[0]).as_deref(), Some("Firefox on macOS"));
    }

    #[test]
    fn sanitising_keeps_safe_ascii_and_bounds_the_length() {
        assert_eq!(
            sanitised("Opera (Mini) 1.2_3-4").as_deref(),
            Some("Opera (Mini) 1.2_3-4")
        );
        assert_eq!(sanitised("a\n\tb  <c>\u{0} é").as_deref(), Some("a b c"));
        assert_eq!(sanitised(&"x".repeat(100)).map(|s| s.len()), Some(NAME_MAX));
        assert_eq!(
            sanitised(&format!("{} b", "a".repeat(NAME_MAX - 1))).as_deref(),
            Some("a".repeat(NAME_MAX - 1).as_str())
        );
        assert_eq!(sanitised("<>{}\u{1b}"), None);
        assert_eq!(sanitised("   "), None);
    }

    #[test]
    fn label_says_what_is_known() {
        let both = Device {
            browser: Some("Firefox".into()),
            os: Some("macOS".into()),
        };
        let browser = Device {
            browser: Some("Chrome".into()),
            os: None,
        };
        let os = Device {
            browser: None,
            os: Some("Linux".into()),
        };
        assert_eq!(both.label().as_deref(), Some("Firefox on macOS"));
        assert_eq!(browser.label().as_deref(), Some("Chrome"));
        assert_eq!(os.label().as_deref(), Some("Linux"));
        assert_eq!(Device::default().label(), None);
    }
}
