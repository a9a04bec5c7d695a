//! What `siwe-server clients` does: adds, lists and removes the apps kept in the database and
//! gives them new secrets. It works beside a running server (SQLite in WAL mode; the server
//! reads these clients on each request). Secrets are generated here, shown once, stored as MACs.

use anyhow::{anyhow, bail};

use super::clients::secret_mac;
use crate::{
    clock::Clock,
    config::Config,
    db::{self, Db},
    domain::{
        oidc::client::{Client, ClientSpec},
        token::{random_secret, Keys},
    },
};

/// The stored clients, for the command line.
pub struct ClientAdmin {
    db: Db,
    keys: Keys,
    /// Ids of `[[oidc.clients]]`: the database may not have them too.
    configured: Vec<String>,
    clock: Clock,
}

impl ClientAdmin {
    /// Opens (migrating if needed) the database `config` names, with the server secret.
    pub async fn open(config: &Config, clock: Clock) -> anyhow::Result<Self> {
        let keys = crate::keys::secret::token_keys(
            config.security.secret.as_ref(),
            &config.database.data_dir,
            config.database.url.is_none(),
        )?;
        let db = match &config.database.url {
            Some(url) => Db::open_postgres(url.expose(), 1).await?,
            None => Db::open(&config.database.path, 1)?,
        };
        let configured = config
            .oidc
            .clients
            .iter()
            .map(|c| c.settings.id.clone())
            .collect();
        Ok(Self {
            db,
            keys,
            configured,
            clock,
        })
    }

    fn refuse_configured(&self, id: &str) -> anyhow::Result<()> {
        if self.configured.iter().any(|c| c == id) {
            bail!("client {id:?} is in the configuration ([[oidc.clients]]); change it there");
        }
        Ok(())
    }

    /// Stores a new client; a confidential one gets a secret, returned here only.
    pub async fn add(
        &self,
        spec: ClientSpec,
        public: bool,
    ) -> anyhow::Result<(Client, Option<String>)> {
        self.refuse_configured(&spec.id)?;
        let secret = (!public).then(random_secret);
        let mac = secret.as_ref().map(|s| secret_mac(&self.keys, &spec.id, s));
        let client = spec.check(mac).map_err(|e| anyhow!("{e}"))?;
        let stored = client.clone();
        let now = self.clock.now_ms();
        let inserted = self
            .db
            .write(move |conn| db::oidc::insert_client(conn, &stored, now))
            .await?;
        if !inserted {
            bail!("a client {:?} exists already", client.id);
        }
        Ok((client, secret))
    }

    /// The stored clients, and the ids of the configured ones.
    pub fn list(&self) -> anyhow::Result<(Vec<Client>, &[String])> {
        let stored = self.db.read(db::oidc::list_clients)?;
        Ok((stored, &self.configured))
    }

    /// Removes a stored client: its consents go and its grants end.
    pub async fn remove(&self, id: &str) -> anyhow::Result<()> {
        self.refuse_configured(id)?;
        let now = self.clock.now_ms();
        let owned = id.to_string();
        let removed = self
            .db
            .write(move |conn| db::oidc::delete_client(conn, &owned, now))
            .await?;
        if !removed {
            bail!("there is no stored client {id:?}");
        }
        Ok(())
    }

    /// Gives a confidential stored client a new secret (the old one stops working at once).
    pub async fn rotate_secret(&self, id: &str) -> anyhow::Result<String> {
        self.refuse_configured(id)?;
        let client = self
            .db
            .read(|conn| db::oidc::find_client(conn, id))?
            .ok_or_else(|| anyhow!("there is no stored client {id:?}"))?;
        if client.is_public() {
            bail!("client {id:?} is public: it has no secret");
        }
        let secret = random_secret();
        let mac = secret_mac(&self.keys, id, &secret);
        let owned = id.to_string();
        self.db
            .write(move |conn| db::oidc::set_client_secret(conn, &owned, &mac))
            .await?;
        Ok(secret)
    }
}
