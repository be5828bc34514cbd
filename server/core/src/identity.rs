//! The identity every node of one database shares: the secret key (checked, never stored) and
//! the SSH key pair clients authorize. Several server processes on one PostgreSQL must decrypt
//! the same stored passphrases and present the same key to every client; a node given another
//! secret key would otherwise start, then fail every job it takes.
use std::path::Path;

use anyhow::{Context, bail};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, DatabaseConnection, EntityTrait};

use crate::{entities::server_identity, secrets::Secrets, ssh_keys};

/// What `secret_check` decrypts to under the right key.
const CHECK_TEXT: &str = "cyborgbackup secret key check v1";

/// The one row's id.
const ROW: i32 = 1;

/// Checks this node's secret key against the database's and puts the shared SSH key pair in
/// `<data dir>/ssh/`. The first node of a database (or the first start after an upgrade) records
/// its own: its secret key's check and its key pair, so nothing changes for a single server.
pub async fn establish(
    db: &DatabaseConnection,
    secrets: &Secrets,
    data_dir: &Path,
) -> anyhow::Result<()> {
    let row = match server_identity::Entity::find_by_id(ROW).one(db).await? {
        Some(row) => row,
        None => record_own(db, secrets, data_dir).await?,
    };
    check_secret(secrets, &row.secret_check)?;
    let private = secrets
        .decrypt(&row.ssh_private_key)
        .context("decrypting the shared SSH key")?;
    let key_path = ssh_keys::private_key_path(data_dir);
    let replaced = std::fs::read_to_string(&key_path).is_ok_and(|local| local != private);
    ssh_keys::write_private_file(&key_path, &private)?;
    ssh_keys::write_private_file(
        &ssh_keys::public_key_path(data_dir),
        &format!("{}\n", row.ssh_public_key.trim()),
    )?;
    if replaced {
        tracing::warn!(
            "this data directory's SSH key pair was replaced by the one every node of this \
             database presents ({})",
            row.ssh_public_key.trim()
        );
    }
    Ok(())
}

fn check_secret(secrets: &Secrets, stored: &str) -> anyhow::Result<()> {
    match secrets.decrypt(stored) {
        Ok(text) if text == CHECK_TEXT => Ok(()),
        _ => bail!(
            "this server's secret key is not the one this database was set up with: it could not \
             decrypt the stored passphrases and keys. Give every node of one database the same \
             CYBORG_SECRET_KEY (or CYBORG_SECRET_KEY_FILE, or copy <data dir>/secret_key from \
             the first node)"
        ),
    }
}

/// Records this node's secret key check and key pair as the database's; when another node did
/// so at the same moment, its row wins and is answered.
async fn record_own(
    db: &DatabaseConnection,
    secrets: &Secrets,
    data_dir: &Path,
) -> anyhow::Result<server_identity::Model> {
    let key = ssh_keys::ensure_key_pair(data_dir).context("preparing the server's SSH key pair")?;
    let private =
        std::fs::read_to_string(&key).with_context(|| format!("reading {}", key.display()))?;
    let public = ssh_keys::public_key(data_dir)?;
    let row = server_identity::ActiveModel {
        id: Set(ROW),
        secret_check: Set(secrets.encrypt(CHECK_TEXT)),
        ssh_private_key: Set(secrets.encrypt(&private)),
        ssh_public_key: Set(public),
        created: Set(crate::stamps::now()),
    };
    match row.insert(db).await {
        Ok(row) => Ok(row),
        Err(insert) => server_identity::Entity::find_by_id(ROW)
            .one(db)
            .await?
            .ok_or(insert)
            .context("recording the server's identity"),
    }
}
