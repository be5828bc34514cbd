//! Server-wide settings as the API reads and changes them (`crate::settings` stores them; the
//! fields of `Settings` are the keys). Also the server's SSH public key.
use cyborg_dto::{FieldErrors, Settings, SshPublicKey};
use sea_orm::{ActiveValue::Set, EntityTrait, TransactionTrait, sea_query::OnConflict};
use serde_json::{Map, Value};

use super::{Actor, now};
use crate::{
    entities::setting,
    error::{Error, Result},
    ssh_keys,
    state::AppState,
};

pub use crate::settings::load;

pub async fn get(st: &AppState, _actor: &Actor) -> Result<Settings> {
    load(&st.db).await
}

/// Changes the settings sent. Every key must be known and every value valid, else 400 and
/// nothing is written.
pub async fn update(st: &AppState, actor: &Actor, input: Map<String, Value>) -> Result<Settings> {
    actor.require_superuser()?;
    let mut errors = FieldErrors::new();
    let mut next = load(&st.db).await?;
    let mut writes: Vec<(String, Value)> = Vec::new();
    for (key, value) in input {
        match crate::settings::with(&next, &key, value.clone()) {
            Ok(changed) => {
                next = changed;
                writes.push((key, value));
            }
            Err(m) => errors.entry(key).or_default().push(m),
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
