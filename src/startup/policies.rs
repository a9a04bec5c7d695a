//! What the settings mean to the domain, checked before anything touches the disk: who this
//! server is in a message, what a message may name, which hosts forward-auth protects.

use anyhow::bail;

use super::span;
use crate::{
    config::{Config, Settings},
    domain::{
        address::Address,
        forward_auth::{ForwardAuthPolicy, HostRule, ProtectedHost},
        siwe::{self, SiwePolicy},
    },
    service::Identity,
};

/// The settings checked: config's own checks, then what only the domain can judge (the
/// statement, forward-auth rule hosts and addresses), all before anything touches the disk.
pub(super) fn check_config(settings: &Settings) -> anyhow::Result<(Config, ForwardAuthPolicy)> {
    let config = settings.validate()?;
    identity(&config)?;
    let forward = forward_auth_policy(&config)?;
    Ok((config, forward))
}

/// Logs settings that are valid but cannot work together (at start and on every reload).
pub(super) fn warn_about(config: &Config) {
    if !config.forward_auth.rules.is_empty() && config.server.trusted_proxies.is_empty() {
        tracing::warn!(
            "forward_auth.rules are set but server.trusted_proxies is empty: the proxy's \
             headers naming the protected site are not believed, so every signed-in \
             forward-auth check is refused; add the proxy's address"
        );
    }
}

/// Who this server is to a message: public_url's domain and origin, and the statement it
/// suggests (which must be one EIP-4361 line).
pub(super) fn identity(config: &Config) -> anyhow::Result<Identity> {
    if let Some(statement) = &config.siwe.statement {
        if !siwe::is_valid_statement(statement) {
            bail!(
                "siwe.statement must be one line of letters, digits, spaces and URI \
                 punctuation (EIP-4361 allows no other characters)"
            );
        }
    }
    Ok(Identity {
        domain: config.server.public_domain.clone(),
        origin: config.server.public_origin.clone(),
        statement: config.siwe.statement.clone(),
    })
}

/// What a message may name: public_url's domain and origin first, then `[siwe]`'s extras.
pub(super) fn siwe_policy(config: &Config) -> SiwePolicy {
    let siwe = &config.siwe;
    let mut domains = vec![config.server.public_domain.clone()];
    domains.extend(siwe.domains.iter().cloned());
    let mut uri_origins = vec![config.server.public_url.origin()];
    uri_origins.extend(siwe.uri_origins.iter().cloned());
    SiwePolicy {
        domains,
        uri_origins,
        chain_ids: siwe.chain_ids.clone(),
        nonce_ttl: span(siwe.nonce_ttl),
        clock_skew: span(siwe.clock_skew),
        max_signature_bytes: siwe.max_signature_bytes,
    }
}

/// `[forward_auth]` as the domain's policy; a rule's host or address it cannot parse is refused.
fn forward_auth_policy(config: &Config) -> anyhow::Result<ForwardAuthPolicy> {
    let mut rules = Vec::new();
    for rule in &config.forward_auth.rules {
        let Some(host) = ProtectedHost::parse_rule(&rule.host) else {
            bail!(
                "forward_auth.rules: host {:?} must be a host name such as admin.example.org \
                 (optionally with a port)",
                rule.host
            );
        };
        let addresses = rule
            .addresses
            .iter()
            .map(|address| {
                Address::parse(address).map(|a| a.to_string()).map_err(|_| {
                    anyhow::anyhow!(
                        "forward_auth.rules ({}): {address:?} is not an address",
                        rule.host
                    )
                })
            })
            .collect::<anyhow::Result<_>>()?;
        rules.push(HostRule { host, addresses });
    }
    Ok(ForwardAuthPolicy {
        rules,
        return_origins: config.return_origins(),
    })
}
