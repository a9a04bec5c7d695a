//! Scopes this provider knows. Unknown scopes in a request are ignored (RFC 6749 section 3.3
//! lets the server grant fewer than asked); `openid` is what makes a request OpenID Connect.

use std::{collections::BTreeSet, fmt};

/// A scope this provider grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    OpenId,
    /// `preferred_username`, `name`, `eth_address`, `wallets`.
    Profile,
    /// `email`, `email_verified`.
    Email,
    /// `eth_address` and `wallets` alone.
    Wallets,
    /// A refresh token.
    OfflineAccess,
}

impl Scope {
    pub const ALL: [Scope; 5] = [
        Scope::OpenId,
        Scope::Profile,
        Scope::Email,
        Scope::Wallets,
        Scope::OfflineAccess,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::OpenId => "openid",
            Scope::Profile => "profile",
            Scope::Email => "email",
            Scope::Wallets => "wallets",
            Scope::OfflineAccess => "offline_access",
        }
    }

    pub fn parse(name: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// A set of scopes, always written sorted and space-separated (so equal sets compare and store
/// equal).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scopes(BTreeSet<Scope>);

impl Scopes {
    /// The known scopes of a space-separated list; unknown names are left out.
    pub fn parse_known(text: &str) -> Scopes {
        Scopes(text.split(' ').filter_map(Scope::parse).collect())
    }

    /// Every scope of a list, or the first unknown name.
    pub fn parse_all<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Scopes, String> {
        names
            .into_iter()
            .map(|n| Scope::parse(n).ok_or_else(|| n.to_string()))
            .collect::<Result<_, _>>()
            .map(Scopes)
    }

    pub fn all() -> Scopes {
        Scopes(Scope::ALL.into_iter().collect())
    }

    pub fn contains(&self, scope: Scope) -> bool {
        self.0.contains(&scope)
    }

    /// Whether every scope of `other` is in this set.
    pub fn covers(&self, other: &Scopes) -> bool {
        other.0.is_subset(&self.0)
    }

    /// The scopes in both sets.
    pub fn intersection(&self, other: &Scopes) -> Scopes {
        Scopes(self.0.intersection(&other.0).copied().collect())
    }

    /// Both sets together.
    pub fn union(&self, other: &Scopes) -> Scopes {
        Scopes(self.0.union(&other.0).copied().collect())
    }

    pub fn iter(&self) -> impl Iterator<Item = Scope> + '_ {
        self.0.iter().copied()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, scope) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(scope.as_str())?;
        }
        Ok(())
    }
}

impl FromIterator<Scope> for Scopes {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        Scopes(iter.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_scopes_are_left_out_and_the_rest_sorted() {
        let scopes = Scopes::parse_known("email  openid address offline_access");
        assert_eq!(scopes.to_string(), "openid email offline_access");
        assert!(!scopes.contains(Scope::Profile));
    }

    #[test]
    fn a_list_with_an_unknown_name_names_it() {
        assert_eq!(Scopes::parse_all(["openid", "phone"]), Err("phone".into()));
        assert_eq!(
            Scopes::parse_all(["email", "openid"]).unwrap().to_string(),
            "openid email"
        );
    }

    #[test]
    fn covers_is_a_subset_check() {
        let granted = Scopes::parse_known("openid profile email");
        assert!(granted.covers(&Scopes::parse_known("openid email")));
        assert!(!granted.covers(&Scopes::parse_known("openid wallets")));
    }
}
