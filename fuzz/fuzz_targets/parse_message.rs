//! Feeds arbitrary bytes to the EIP-4361 parser and, for what parses, the policy checks and
//! signature recovery. Run: `cargo +nightly fuzz run parse_message` (see docs/testing.md).
#![no_main]

use libfuzzer_sys::fuzz_target;
use siwe_server::domain::siwe;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(parsed) = siwe::parse_message(text) {
        let _ = siwe::recover_signer(text, &[0x1b; 65]);
        let _ = siwe::check_validity_window(&parsed.message, time::OffsetDateTime::now_utc(), time::Duration::ZERO);
    }
});
