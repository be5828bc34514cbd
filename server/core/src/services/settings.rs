//! Server-wide settings as the API reads and changes them (`crate::settings` stores them; the
//! fields of `Settings` are the keys). Also the server's SSH public key.
use cyborg_dto::{FieldErrors, SelfBackupRun, Settings, SshPublicKey};
use sea_orm::{ActiveValue::Set, EntityTrait, TransactionTrait, sea_query::OnConflict};
use serde_json::{Map, Value};

use super::{Actor, now};
use crate::{
    engine::repo_options,
    entities::{repository, schedule, self_backup, setting},
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
    // The self-backup's repository and schedule must exist.
    if let Some(id) = next.self_backup_repository {
        match repository::Entity::find_by_id(id).one(&st.db).await? {
            None => errors
                .entry("self_backup_repository".into())
                .or_default()
                .push(super::missing("repository", id)),
            // The archive holds the secret key that decrypts every stored secret.
            Some(r) if !repo_options::encrypts(&r.encryption) => errors
                .entry("self_backup_repository".into())
                .or_default()
                .push(format!(
                    "The self-backup holds the server's secret key: choose an encrypted \
                     repository ({} is {}).",
                    r.name, r.encryption
                )),
            Some(_) => {}
        }
    }
    if let Some(id) = next.self_backup_schedule
        && schedule::Entity::find_by_id(id)
            .one(&st.db)
            .await?
            .is_none()
    {
        errors
            .entry("self_backup_schedule".into())
            .or_default()
            .push(super::missing("schedule", id));
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

fn run_dto(r: self_backup::Model) -> SelfBackupRun {
    SelfBackupRun {
        id: r.id,
        node: r.node,
        started: r.started,
        finished: r.finished,
        status: r.status,
        repository: r.repository_id,
        archive: r.archive,
        original_size: r.original_size,
        deduplicated_size: r.deduplicated_size,
        message: r.message,
        created_by: r.created_by,
    }
}

/// `POST /api/v1/settings/self_backup/`: the server's own backup, now (superuser); answers the
/// finished run (`failed` with its message when borg or the dump failed).
pub async fn self_backup_now(st: &AppState, actor: &Actor) -> Result<SelfBackupRun> {
    actor.require_superuser()?;
    Ok(run_dto(
        crate::self_backup::run_now(st, Some(actor.id())).await?,
    ))
}

/// `GET /api/v1/settings/self_backup/`: the recent runs, newest first (superuser).
pub async fn self_backup_runs(st: &AppState, actor: &Actor) -> Result<Vec<SelfBackupRun>> {
    actor.require_superuser()?;
    Ok(crate::self_backup::recent(st)
        .await?
        .into_iter()
        .map(run_dto)
        .collect())
}
