//! Host keys of clients and remote repository hosts as the API shows and changes them: fetch
//! the key a host presents now (`…/host_key/scan/`), pin the fetched key once the operator
//! compared its fingerprint (`…/host_key/accept/`), or give the key outright on create/update.
use cyborg_dto::{
    Client, HostKeyAccept, HostKeyOp, HostKeyState, HostKeyView, HostKind, Repository,
};
use sea_orm::{ActiveModelTrait, Set};

use super::{Actor, clients, find, now, repositories, validate::Check};
use crate::{
    engine::{host_keys, location},
    entities::{client, repository},
    error::{Error, Result},
    state::AppState,
};

/// What the API shows of a pinned and a last-seen key.
pub fn state(pinned: &str, seen: &str) -> HostKeyState {
    HostKeyState {
        host_key_status: host_keys::status(pinned, seen).into(),
        host_key: pinned.into(),
        host_key_fingerprint: host_keys::fingerprint_of(pinned),
        host_key_seen: seen.into(),
        host_key_seen_fingerprint: host_keys::fingerprint_of(seen),
    }
}

/// A key given in a create or update, checked and in its stored form.
pub fn given(c: &mut Check, field: &str, key: Option<&str>) -> Option<String> {
    let key = key?;
    match host_keys::HostKey::parse(key) {
        Ok(k) => Some(k.line()),
        Err(m) => {
            c.error(field, m);
            None
        }
    }
}

/// Fetches the key the client presents now (502 when it cannot be reached).
pub async fn scan_client(st: &AppState, actor: &Actor, id: i32) -> Result<Client> {
    actor.require_superuser()?;
    let c = find::<client::Entity>(&st.db, id).await?;
    st.engine
        .observe_client(&c)
        .await
        .map_err(Error::BadGateway)?;
    clients::get(st, actor, id).await
}

/// Pins the key the client presented last, if it has the fingerprint the operator checked.
pub async fn accept_client(
    st: &AppState,
    actor: &Actor,
    id: i32,
    input: HostKeyAccept,
) -> Result<Client> {
    actor.require_superuser()?;
    let c = find::<client::Entity>(&st.db, id).await?;
    let key = accepted(&c.host_key_seen, input.fingerprint.as_deref(), || {
        format!("/api/v1/clients/{id}/host_key/scan/")
    })?;
    client::ActiveModel {
        id: Set(id),
        host_key: Set(key),
        host_key_seen: Set(String::new()),
        modified: Set(now()),
        modified_by: Set(Some(actor.id())),
        ..Default::default()
    }
    .update(&st.db)
    .await?;
    clients::get(st, actor, id).await
}

/// Fetches the key a remote repository's host presents now.
pub async fn scan_repository(st: &AppState, actor: &Actor, id: i32) -> Result<Repository> {
    actor.require_superuser()?;
    let r = find::<repository::Entity>(&st.db, id).await?;
    refuse_folder(&r)?;
    st.engine
        .observe_repository(&r)
        .await
        .map_err(Error::BadGateway)?;
    repositories::get(st, actor, id).await
}

/// Pins the key a remote repository's host presented last (see [`accept_client`]).
pub async fn accept_repository(
    st: &AppState,
    actor: &Actor,
    id: i32,
    input: HostKeyAccept,
) -> Result<Repository> {
    actor.require_superuser()?;
    let r = find::<repository::Entity>(&st.db, id).await?;
    refuse_folder(&r)?;
    let key = accepted(&r.host_key_seen, input.fingerprint.as_deref(), || {
        format!("/api/v1/repositories/{id}/host_key/scan/")
    })?;
    repository::ActiveModel {
        id: Set(id),
        host_key: Set(key),
        host_key_seen: Set(String::new()),
        modified: Set(now()),
        modified_by: Set(Some(actor.id())),
        ..Default::default()
    }
    .update(&st.db)
    .await?;
    repositories::get(st, actor, id).await
}

fn refuse_folder(r: &repository::Model) -> Result<()> {
    if location::remote_of(&r.path).is_none() {
        return Err(Error::Conflict(format!(
            "The repository {} is a folder, not on a host reached over SSH: it has no host key.",
            r.path
        )));
    }
    Ok(())
}

/// The seen key to pin, when the given fingerprint is its own.
fn accepted(seen: &str, fingerprint: Option<&str>, scan: impl Fn() -> String) -> Result<String> {
    let Some(given) = fingerprint.map(str::trim).filter(|f| !f.is_empty()) else {
        return Err(Error::field(
            "fingerprint",
            "Give the fingerprint you compared (SHA256:…).",
        ));
    };
    if seen.is_empty() {
        return Err(Error::Conflict(format!(
            "No new host key to accept: fetch the key the host presents first (POST {}).",
            scan()
        )));
    }
    let actual = host_keys::fingerprint_of(seen);
    if actual != given {
        return Err(Error::field(
            "fingerprint",
            format!(
                "The key the host presented has the fingerprint {actual}, not {given}; nothing \
                 was pinned."
            ),
        ));
    }
    Ok(seen.to_string())
}

/// The host key page of a client or a remote repository's host after `op`: read as it is, fetch
/// the key presented now, or pin the fetched one whose fingerprint the operator compared.
pub async fn page(
    st: &AppState,
    actor: &Actor,
    kind: HostKind,
    id: i32,
    op: HostKeyOp,
) -> Result<HostKeyView> {
    match (op, kind) {
        (HostKeyOp::Read, _) => {}
        (HostKeyOp::Scan, HostKind::Client) => drop(scan_client(st, actor, id).await?),
        (HostKeyOp::Scan, HostKind::Repository) => drop(scan_repository(st, actor, id).await?),
        (HostKeyOp::Accept(fingerprint), kind) => {
            let input = HostKeyAccept {
                fingerprint: Some(fingerprint),
            };
            match kind {
                HostKind::Client => drop(accept_client(st, actor, id, input).await?),
                HostKind::Repository => drop(accept_repository(st, actor, id, input).await?),
            }
        }
    }
    Ok(match kind {
        HostKind::Client => {
            let c = clients::get(st, actor, id).await?;
            HostKeyView {
                kind,
                id,
                address: format!("{}@{}:{}", c.username, c.hostname, c.port),
                label: c.hostname,
                state: c.host_key,
                authorized_keys: c.authorized_keys,
            }
        }
        HostKind::Repository => {
            let r = repositories::get(st, actor, id).await?;
            let remote = location::remote_of(&r.path).ok_or_else(|| {
                Error::Conflict(format!(
                    "The repository {} is a folder: it has no host key.",
                    r.path
                ))
            })?;
            HostKeyView {
                kind,
                id,
                address: format!("{}@{}:{}", remote.user, remote.host, remote.port),
                label: r.name,
                state: r.host_key,
                authorized_keys: r.authorized_keys,
            }
        }
    })
}
