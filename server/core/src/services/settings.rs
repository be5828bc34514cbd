//! Server-wide settings (SPEC §5), stored in `settings` as key → JSON value; a key never written
//! reads as its default. Also the server's SSH public key.
use cyborg_dto::{FieldErrors, Settings, SshPublicKey};
use sea_orm::{ActiveValue::Set, EntityTrait, TransactionTrait, sea_query::OnConflict};
use serde_json::{Map, Value};

use super::{Actor, now, validate};
use crate::{
    entities::setting,
    error::{Error, Result},
    ssh_keys,
    state::AppState,
};

const KEYS: &[&str] = &["catalog_enabled", "auto_prune", "backup_user"];

pub use crate::settings::load;

pub async fn get(st: &AppState, _actor: &Actor) -> Result<Settings> {
    load(&st.db).await
}

/// Changes the settings sent. Every key must be known and every value valid, else 400 and
/// nothing is written.
pub async fn update(st: &AppState, actor: &Actor, input: Map<String, Value>) -> Result<Settings> {
    actor.require_superuser()?;
    let mut errors = FieldErrors::new();
    let mut add = |k: &str, m: String| errors.entry(k.to_string()).or_default().push(m);
    let mut writes: Vec<(String, Value)> = Vec::new();
    for (key, value) in input {
        match key.as_str() {
            "catalog_enabled" | "auto_prune" => match value {
                Value::Bool(_) => writes.push((key, value)),
                other => add(&key, format!("Must be true or false, not {other}.")),
            },
            "backup_user" => match &value {
                Value::String(u) => match validate::unix_user(u) {
                    Ok(()) => writes.push((key, value)),
                    Err(m) => add(&key, m),
                },
                other => add(&key, format!("Must be a user name string, not {other}.")),
            },
            _ => add(
                &key,
                format!("Unknown setting; known: {}.", KEYS.join(", ")),
            ),
        }
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let t = now();
    let txn = st.db.begin().await?;
    for (key, value) in writes {
        setting::Entity::insert(setting::ActiveModel {
            key: Set(key),
            value: Set(value.to_string()),
            modified: Set(t),
        })
        .on_conflict(
            OnConflict::column(setting::Column::Key)
                .update_columns([setting::Column::Value, setting::Column::Modified])
                .to_owned(),
        )
        .exec(&txn)
        .await?;
    }
    txn.commit().await?;
    load(&st.db).await
}

/// The public half of the server's key pair, the line clients put in `authorized_keys`.
pub async fn ssh_public_key(st: &AppState, _actor: &Actor) -> Result<SshPublicKey> {
    let pubkey = ssh_keys::public_key(&st.data_dir)?;
    Ok(SshPublicKey {
        authorized_keys: ssh_keys::client_authorized_line(&pubkey),
        pubkey,
    })
}
