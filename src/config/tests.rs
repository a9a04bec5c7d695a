//! Loading and checking settings: files, environment, defaults, refusals.

use super::*;

#[test]
fn defaults_are_valid() {
    Settings::default().validate().unwrap();
}

#[test]
fn file_and_environment_layer_over_defaults() {
    figment::Jail::expect_with(|jail| {
        jail.create_file(
            "siwe.toml",
            r#"
            [server]
            public_url = "https://login.example.org"
            [siwe]
            chain_ids = [1, 10]
            "#,
        )?;
        jail.set_env("SIWE_SESSION__SAME_SITE", "none");
        jail.set_env("SIWE_SERVER__BIND", "127.0.0.1:9999");
        jail.set_env("SIWE_NOT__A_KEY", "x");
        let loaded = Settings::load(Some(Path::new("siwe.toml"))).map_err(|e| e.to_string())?;
        let s = loaded.settings;
        assert_eq!(s.server.public_url, "https://login.example.org");
        assert_eq!(s.server.bind, "127.0.0.1:9999");
        assert_eq!(s.siwe.chain_ids, vec![1, 10]);
        assert_eq!(s.session.same_site, SameSite::None);
        assert!(s.validate().map_err(|e| e.to_string())?.session.secure);
        assert_eq!(loaded.warnings.len(), 1);
        assert!(loaded.warnings[0].contains("SIWE_NOT__A_KEY"));
        Ok(())
    });
}

#[test]
fn unknown_key_in_file_names_the_key() {
    figment::Jail::expect_with(|jail| {
        jail.create_file("c.toml", "[server]\nbnid = \"x\"\n")?;
        let err = Settings::load(Some(Path::new("c.toml")))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("bnid"), "{err}");
        Ok(())
    });
}

#[test]
fn postgresql_takes_no_file_backups() {
    figment::Jail::expect_with(|jail| {
        jail.set_env("SIWE_DATABASE__URL", "postgres://siwe@127.0.0.1/siwe");
        assert!(Settings::load(None).is_ok());
        jail.set_env("SIWE_BACKUP__DIR", "backups");
        let err = Settings::load(None).err().unwrap().to_string();
        assert!(err.contains("pg_dump"), "{err}");
        jail.set_env("SIWE_DATABASE__URL", "mysql://siwe@127.0.0.1/siwe");
        let err = Settings::load(None).err().unwrap().to_string();
        assert!(err.contains("postgres://"), "{err}");
        Ok(())
    });
}

#[test]
fn same_site_none_without_https_is_refused() {
    figment::Jail::expect_with(|jail| {
        jail.set_env("SIWE_SESSION__SAME_SITE", "none");
        let err = Settings::load(None).err().unwrap().to_string();
        assert!(err.contains("same_site"), "{err}");
        Ok(())
    });
}

#[test]
fn invalid_values_name_the_key() {
    figment::Jail::expect_with(|jail| {
        jail.set_env("SIWE_SESSION__TTL_SECS", "soon");
        let err = Settings::load(None).err().unwrap().to_string();
        assert!(err.contains("session.ttl_secs"), "{err}");
        jail.set_env("SIWE_SESSION__TTL_SECS", "60");
        jail.set_env("SIWE_SERVER__PUBLIC_URL", "login.example.org");
        let err = Settings::load(None).err().unwrap().to_string();
        assert!(err.contains("server.public_url"), "{err}");
        Ok(())
    });
}

#[test]
fn a_zero_reauth_window_is_refused() {
    figment::Jail::expect_with(|jail| {
        jail.set_env("SIWE_SESSION__REAUTH_WINDOW_SECS", "0");
        let err = Settings::load(None).err().unwrap().to_string();
        assert!(err.contains("session.reauth_window_secs"), "{err}");
        Ok(())
    });
}

#[test]
fn the_example_config_loads_and_names_every_key() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml.example");
    let text = std::fs::read_to_string(&path).unwrap();
    figment::Jail::expect_with(|_| {
        let loaded = Settings::load(Some(&path)).map_err(|e| e.to_string())?;
        let defaults = serde_json::to_value(Settings::default()).unwrap();
        assert_eq!(
            serde_json::to_value(loaded.settings).unwrap(),
            defaults,
            "its values are the defaults"
        );
        Ok(())
    });
    for key in known_keys() {
        let leaf = key.rsplit('.').next().unwrap();
        let section = key.split('.').next().unwrap();
        if key.contains('.') {
            let documented = text.lines().any(|l| {
                let l = l.trim_start_matches("# ").trim_start_matches('#').trim();
                l.starts_with(&format!("{leaf} ="))
                    || l.starts_with(&format!("[[{section}.{leaf}]]"))
            });
            assert!(documented, "config.toml.example documents {key}");
        } else {
            assert!(
                text.contains(&format!("[{key}]")),
                "config.toml.example has [{key}]"
            );
        }
    }
}

#[test]
fn chain_endpoints_come_from_the_environment_too() {
    figment::Jail::expect_with(|jail| {
        jail.set_env("SIWE_CHAINS__31337__RPC_URL", "http://127.0.0.1:8545");
        jail.set_env(
            "SIWE_CHAINS__1__RPC_URL",
            "[http://127.0.0.1:1, https://eth.example.org]",
        );
        jail.set_env("SIWE_CHAINS__1__TIMEOUT_MS", "500");
        jail.set_env("SIWE_CHAINS__1__NOT_A_KEY", "x");
        jail.set_env("SIWE_CHAINS__MAINNET__RPC_URL", "http://127.0.0.1:2");
        let loaded = Settings::load(None).map_err(|e| e.to_string())?;
        let mut chains = loaded.config.chains;
        chains.sort_by_key(|chain| chain.chain_id);
        let urls = |i: usize| -> Vec<String> {
            chains[i].rpc_urls.iter().map(|u| u.to_string()).collect()
        };
        assert_eq!(chains.len(), 2);
        assert_eq!(chains[0].chain_id, 1);
        assert_eq!(urls(0), ["http://127.0.0.1:1/", "https://eth.example.org/"]);
        assert_eq!(chains[0].timeout.as_millis(), 500);
        assert_eq!(chains[1].chain_id, 31337);
        assert_eq!(urls(1), ["http://127.0.0.1:8545/"]);
        assert_eq!(loaded.warnings.len(), 2, "{:?}", loaded.warnings);
        Ok(())
    });
}
