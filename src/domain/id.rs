//! Typed ids: an account's and a session's ids are both UUIDs as text, and a type each keeps one
//! from being passed where the other is meant. Stored and shown as their text. Pure.

use std::fmt;

/// Declares a text id type with its constructor, borrowed text and `Display`.
macro_rules! text_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            pub fn new(id: String) -> Self {
                Self(id)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text_id!(
    /// The id of an account.
    UserId
);
text_id!(
    /// The id of a session (not its token, which is secret and never stored as such).
    SessionId
);
